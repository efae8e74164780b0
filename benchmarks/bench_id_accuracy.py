"""Accuracy and speed of every intrinsic-dimension estimator (issue 12).

Two parts, each writing JSON that ``--report`` turns into the tables of
``benchmarks/README.md``:

``--accuracy``
    The 24 benchmark manifolds of Hein & Audibert and Campadelli et al., as
    scikit-dimension generates them (``BenchmarkManifolds(random_state=0)
    .generate(n=2500)``).  Every estimator of ``IntrinsicDimension`` and
    scikit-dimension's estimators of the same name run on the same arrays in the
    same process: mean relative error ``|d_hat - d| / d``, the number of
    manifolds within 10 %, and the time of each fit (``n_bootstrap=0``).  Our
    calibrated estimators and DANCo read tables that a first, untimed pass
    fills (``--cold`` times that pass too); scikit-dimension's DANCo runs as
    ``ver="DANCoFit"``, its precomputed table (its ``ver="DANCo"`` simulates
    ``D`` hyperballs per fit, minutes per manifold).  ``--figure`` draws
    d_hat against the true d.

``--scale``
    N = 60,000 x 784 (the random-Fourier-feature manifold of
    ``bench_knn_id.py``, float32): one full MLE fit (200 bootstrap replicates,
    the default), the neighbour pass alone, and for every estimator the work
    after the pass (see :func:`scale`), warm (calibration tables present) and
    cold (the first fit, which simulates them).

Usage::

    python benchmarks/bench_id_accuracy.py --accuracy --out acc.json --figure id_accuracy.png
    python benchmarks/bench_id_accuracy.py --scale --out scale.json
    python benchmarks/bench_id_accuracy.py --report acc.json scale.json
"""

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_knn_id import _early_threads  # noqa: E402  (sets the thread env vars first)

_early_threads(sys.argv)

import numpy as np  # noqa: E402

OURS = ("mle", "twonn", "mle_calibrated", "twonn_calibrated", "gride", "mind_ml", "danco")


def _ours(estimator, **params):
    from skintrinsic import IntrinsicDimension

    return IntrinsicDimension(estimator=estimator, n_bootstrap=0, random_state=0, **params)


def _peers(n_features):
    """scikit-dimension's estimators of our names, at the same settings where they exist."""
    import skdim

    return {
        "skdim MLE (k=20)": lambda X: skdim.id.MLE().fit(X, n_neighbors=20).dimension_,
        "skdim TwoNN": lambda X: skdim.id.TwoNN().fit(X).dimension_,
        "skdim GRIDE (n1=1)": lambda X: skdim.id.GRIDE().fit(X).dimension_,
        "skdim GRIDE (n1=4)": lambda X: skdim.id.GRIDE(n1=4).fit(X).dimension_,
        "skdim MiND_ML (k=20, D=n_features)":
            lambda X: skdim.id.MiND_ML(k=20, D=X.shape[1]).fit(X).dimension_,
        "skdim DANCo (k=10, DANCoFit)":
            lambda X: skdim.id.DANCo(k=10, ver="DANCoFit", random_state=0).fit(X).dimension_,
    }


def _our_cases():
    cases = {f"ours {e}": (lambda X, e=e: _ours(e).fit(X).dimension_) for e in OURS}
    cases["ours gride (n1=4)"] = lambda X: _ours("gride", gride_n1=4).fit(X).dimension_
    cases["ours danco (k=11)"] = lambda X: _ours("danco", k=11).fit(X).dimension_
    return cases


def accuracy(args):
    import skdim

    bm = skdim.datasets.BenchmarkManifolds(random_state=0)
    data = bm.generate(n=args.n)
    truth = {name: int(bm.truth.loc[name, "Intrinsic Dimension"]) for name in data}
    cases = _our_cases()
    cold = {}
    if args.cold_cache:
        os.environ["SKINTRINSIC_CACHE"] = tempfile.mkdtemp(prefix="id_calibration_")
    # the first pass fills the calibration tables (and numba's caches); it is timed as "cold"
    for name, fn in cases.items():
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for X in data.values():
                fn(X)
        cold[name] = time.perf_counter() - t
        print(f"cold pass {name}: {cold[name]:.1f} s", flush=True)
    cases.update(_peers(None))
    results = {"n": args.n, "truth": truth, "cold_total_s": cold, "rows": {},
               "load_before": os.getloadavg()[0]}
    for name, fn in cases.items():
        est, times = {}, {}
        for m, X in data.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = time.perf_counter()
                try:
                    est[m] = float(fn(X))
                except Exception as exc:  # a peer failing on one manifold is a result too
                    est[m] = float("nan")
                    print(f"{name} failed on {m}: {exc!r}", flush=True)
                times[m] = time.perf_counter() - t
        rel = np.array([abs(est[m] - truth[m]) / truth[m] for m in data])
        results["rows"][name] = {"estimates": est, "times": times,
                                 "mean_rel_error": float(np.nanmean(rel)),
                                 "within_10": int(np.sum(rel < 0.1)),
                                 "total_time_s": float(sum(times.values()))}
        print(f"{name:38s} mean rel err {np.nanmean(rel):6.3f}  within 10%: "
              f"{int(np.sum(rel < 0.1)):2d}/24  time {sum(times.values()):7.2f} s", flush=True)
    results["load_after"] = os.getloadavg()[0]
    _versions(results)
    if args.figure:
        _figure(results, args.figure)
    return results


def _figure(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truth = results["truth"]
    names = sorted(truth, key=truth.get)
    d = np.array([truth[m] for m in names])
    shown = ["ours mle", "ours twonn", "ours twonn_calibrated", "ours mle_calibrated",
             "ours danco", "skdim DANCo (k=10, DANCoFit)", "skdim GRIDE (n1=1)"]
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    for i, name in enumerate(s for s in shown if s in results["rows"]):
        est = np.array([results["rows"][name]["estimates"][m] for m in names])
        jitter = 1 + 0.02 * (i - len(shown) / 2)
        ax.scatter(d * jitter, est, s=14, label=name, alpha=0.8)
    lim = [0.8, 100]
    ax.plot(lim, lim, color="k", lw=0.8)
    ax.fill_between(lim, [0.9 * v for v in lim], [1.1 * v for v in lim], color="0.85",
                    label="within 10 %")
    ax.set(xscale="log", yscale="log", xlim=lim, ylim=lim, xlabel="true dimension d",
           ylabel="estimate", title=f"24 benchmark manifolds, N = {results['n']}")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def scale(args):
    """Fit times at 60k x 784, split into the one neighbour pass and the rest.

    Every estimator runs the same single pass (``kneighbors(X, k)``); what differs is
    the work after it.  On a shared machine a full fit per estimator would repeat a
    multi-minute pass seven times, so the pass is timed once, inside a full MLE fit
    and alone, and each estimator's fit is then timed with that pass's result handed
    back (the engine call replaced by a lookup): its time is validation, duplicate
    hashing, DANCo's angles, the calibration lookup or simulation, the statistic and
    200 bootstrap replicates.  Estimated fit time = pass + that remainder.
    """
    from bench_knn_id import make_manifold

    import torch

    import skintrinsic.dimension as dim

    torch.set_num_threads(args.threads)
    X, _ = make_manifold(args.scale_n)
    results = {"n": args.scale_n, "D": int(X.shape[1]), "rows": {}}
    if args.cold_cache:
        os.environ["SKINTRINSIC_CACHE"] = tempfile.mkdtemp(prefix="id_calibration_")
    _ours("mle").fit(X[:3000])  # compiles the engine's kernels before anything is timed

    load = os.getloadavg()[0]
    t = time.perf_counter()
    mle = _ours("mle").set_params(n_bootstrap=200).fit(X)
    full_mle = time.perf_counter() - t
    t = time.perf_counter()
    nb = dim.kneighbors(X, 20, n_jobs=args.threads)
    knn = time.perf_counter() - t
    results.update(full_mle_s=full_mle, knn_s=knn, load_full=load, d_mle=mle.dimension_)
    print(f"full MLE fit {full_mle:.1f} s, the pass alone {knn:.1f} s (load {load:.2f})",
          flush=True)

    real = dim.kneighbors
    dim.kneighbors = lambda X_, k, **kw: (real(X_, k, **kw) if X_.shape[0] != X.shape[0]
                                          else type(nb)(nb.distances[:, :k], nb.indices[:, :k]))
    try:
        for phase in ("cold", "warm"):
            for e in OURS:
                if phase == "cold" and e not in ("mle_calibrated", "twonn_calibrated", "danco"):
                    continue
                load = os.getloadavg()[0]
                est = _ours(e).set_params(n_bootstrap=200)
                t = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est.fit(X)
                rest = time.perf_counter() - t
                results["rows"][f"{e} ({phase})"] = {"rest_s": rest, "dimension": est.dimension_,
                                                     "load": load}
                print(f"{e:18s} {phase}: after the pass {rest:7.1f} s  d = {est.dimension_:.3f}"
                      f"  load {load:.2f}", flush=True)
    finally:
        dim.kneighbors = real
    _versions(results)
    return results


def _versions(results):
    import importlib.metadata as md

    results["versions"] = {p: md.version(p) for p in ("scikit-dimension", "numpy", "torch",
                                                      "scikit-learn")}


def report(paths):
    for path in paths:
        res = json.loads(Path(path).read_text())
        if "truth" in res:
            print(f"\nN = {res['n']}, load {res['load_before']:.2f}-{res['load_after']:.2f}\n")
            print("| estimator | mean relative error | within 10 % | time, 24 fits (s) |")
            print("|---|---|---|---|")
            for name, row in sorted(res["rows"].items(), key=lambda r: r[1]["mean_rel_error"]):
                print(f"| {name} | {100 * row['mean_rel_error']:.1f} % | {row['within_10']}/24 "
                      f"| {row['total_time_s']:.2f} |")
            names = list(res["truth"])
            cols = list(res["rows"])
            print("\n| manifold | d | " + " | ".join(cols) + " |")
            print("|---|---|" + "---|" * len(cols))
            for m in names:
                print(f"| {m} | {res['truth'][m]} | " + " | ".join(
                    f"{res['rows'][c]['estimates'][m]:.2f}" for c in cols) + " |")
        else:
            knn = res["knn_s"]
            mle = knn + res["rows"]["mle (warm)"]["rest_s"]
            print(f"\nN = {res['n']} x {res['D']}: full MLE fit {res['full_mle_s']:.1f} s, the "
                  f"pass alone {knn:.1f} s (load {res['load_full']:.2f})\n")
            print("| estimator | after the pass (s) | pass + rest (s) | / MLE | d | load |")
            print("|---|---|---|---|---|---|")
            for name, row in res["rows"].items():
                total = knn + row["rest_s"]
                print(f"| {name} | {row['rest_s']:.1f} | {total:.1f} | {total / mle:.2f}x | "
                      f"{row['dimension']:.3f} | {row['load']:.2f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--accuracy", action="store_true")
    p.add_argument("--scale", action="store_true")
    p.add_argument("--n", type=int, default=2500)
    p.add_argument("--scale-n", type=int, default=60000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cold-cache", action="store_true",
                   help="use an empty calibration cache (a fresh temporary folder)")
    p.add_argument("--figure", default=None)
    p.add_argument("--out", default=None)
    p.add_argument("--report", nargs="*", default=None)
    args = p.parse_args()
    if args.report:
        report(args.report)
        return
    res = accuracy(args) if args.accuracy else scale(args)
    res["uptime_load"] = os.getloadavg()
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
