"""How the training budget moves a fitted scaling-law slope: fixed epochs against fixed steps.

For each dataset (PneumoniaMNIST normal-vs-pneumonia, MNIST 3-vs-5; balanced two-class tasks,
28x28 scaled to [0, 1]) and each training size N, the small CNN is trained under two budgets:

- ``epochs``: ``max_epochs`` passes over the N images (``ceil(N / 64)`` steps each), the
  paper's fixed-epoch budget: small N gets few updates;
- ``steps``: ``steps_per_epoch`` chosen so that every N gets the updates that the largest N
  gets under the epoch budget.

The test loss L (mean cross-entropy on a held-out balanced set) is regressed as
``log L = slope * log N + b`` by least squares over every (N, seed) run; ``-1/slope`` is the
dimension that such a fit would report.  The final training loss shows how far the small-N
networks fit their few images.

Usage::

    python benchmarks/bench_training_budget.py --data-home ../shared/data --out budget.json

prints a Markdown table for benchmarks/README.md ("Training budget").  1 torch thread.
"""

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _tasks(data_home, n_test, seed):
    from skintrinsic.datasets import binary_task, load_medmnist, load_mnist

    X, y = load_mnist("test", data_home=data_home, download_if_missing=False, return_X_y=True)
    Xb, yb = binary_task(X, y, classes=(3, 5), random_state=seed)
    yield "MNIST 3v5", Xb[n_test:], yb[n_test:], Xb[:n_test], yb[:n_test]
    path = Path(data_home) / "pneumoniamnist.npz"
    X_tr, y_tr = load_medmnist(path, split="train", return_X_y=True)
    X_te, y_te = load_medmnist(path, split="test", return_X_y=True)
    X_tr, y_tr = binary_task(X_tr, y_tr.ravel(), classes=(0, 1), random_state=seed)
    X_te, y_te = binary_task(X_te, y_te.ravel(), classes=(0, 1), random_state=seed)
    yield "PneumoniaMNIST", X_tr, y_tr, X_te, y_te


def _prepare(X):
    X = np.asarray(X, dtype=np.float32)
    return (X / 255.0).reshape(len(X), 1, 28, 28)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-home", required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200, 400, 700])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--n-test", type=int, default=600)
    parser.add_argument("--out")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    import torch

    torch.set_num_threads(1)
    from skintrinsic.nets import ImageClassifier

    n_max = max(args.sizes)
    steps_per_epoch = math.ceil(n_max / args.batch_size)
    rows = []
    start = time.perf_counter()
    for name, X, y, X_test, y_test in _tasks(args.data_home, args.n_test, seed=0):
        X, X_test = _prepare(X), _prepare(X_test)
        for budget in ("epochs", "steps"):
            for size in args.sizes:
                for seed in range(args.seeds):
                    net = ImageClassifier(
                        max_epochs=args.epochs, batch_size=args.batch_size, train_size=size,
                        steps_per_epoch=steps_per_epoch if budget == "steps" else None,
                        random_state=seed).fit(X, y)
                    rows.append(dict(
                        dataset=name, budget=budget, N=size, seed=seed,
                        steps=int(sum(net.history_[:, "train_batch_count"])),
                        train_loss=float(net.history_[-1, "train_loss"]),
                        test_loss=net.loss_score(X_test, y_test),
                        test_accuracy=float(net.score(X_test, y_test))))
                    print(rows[-1], flush=True)
    elapsed = time.perf_counter() - start
    load = os.getloadavg()
    summary = []
    for name in dict.fromkeys(r["dataset"] for r in rows):
        for budget in ("epochs", "steps"):
            runs = [r for r in rows if r["dataset"] == name and r["budget"] == budget]
            log_n = np.log([r["N"] for r in runs])
            log_l = np.log([r["test_loss"] for r in runs])
            slope, _ = np.polyfit(log_n, log_l, 1)
            by_n = {n: [r for r in runs if r["N"] == n] for n in args.sizes}
            summary.append(dict(
                dataset=name, budget=budget, slope=float(slope), d=float(-1 / slope),
                steps={n: by_n[n][0]["steps"] for n in args.sizes},
                test_loss={n: float(np.mean([r["test_loss"] for r in by_n[n]]))
                           for n in args.sizes},
                train_loss={n: float(np.mean([r["train_loss"] for r in by_n[n]]))
                            for n in args.sizes},
                test_accuracy={n: float(np.mean([r["test_accuracy"] for r in by_n[n]]))
                               for n in args.sizes}))
    print(f"\n{len(rows)} fits in {elapsed:.0f} s, load average {load[0]:.2f} / {load[1]:.2f}")
    header = "| dataset | budget | steps at N = " + ", ".join(map(str, args.sizes)) + \
        " | test loss | final train loss | slope | -1/slope |"
    print(header)
    print("|" + "---|" * 2 + "---:|" * 5)
    for s in summary:
        fmt = lambda d, f: " / ".join(f.format(d[n]) for n in args.sizes)  # noqa: E731
        print(f"| {s['dataset']} | {s['budget']} | {fmt(s['steps'], '{}')} | "
              f"{fmt(s['test_loss'], '{:.3f}')} | {fmt(s['train_loss'], '{:.3f}')} | "
              f"{s['slope']:.3f} | {s['d']:.1f} |")
    if args.out:
        Path(args.out).write_text(json.dumps(dict(rows=rows, summary=summary, elapsed=elapsed,
                                                  load=load, args=vars(args)), indent=1))


if __name__ == "__main__":
    main()
