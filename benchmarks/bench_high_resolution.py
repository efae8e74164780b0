"""d_data and K_F at the papers' resolution (224x224 RGB, D = 150,528), against scikit-dimension.

Rows (issue 9), all float32, each case in a fresh subprocess (``bench_knn_id.run_case``) with
the same thread count, peers in the same run:

* N in {1000, 2000, 5000} x 3x224x224: PneumoniaMNIST X-rays (all splits), upsampled
  bilinearly to 224x224, repeated on three channels, plus N(0, 1) noise so that no two rows
  are equal, clipped to [0, 255]; labels normal / pneumonia;
* ResNet-18 layer4 features (512x7x7 = 25,088 values) of 2000 such images, from a randomly
  initialised network in eval mode;
* MNIST 8000 x 784 (the test set, max-255 scaling, float64 as a user would pass it);
* 3000 MNIST images, with and without one outlier row (every pixel 1e4).

Cases: ``gemm_full`` (one float32 ``X @ X.T``, the GEMM limit), ``ours_id_exact``
(``IntrinsicDimension()``), ``ours_kf`` (``LabelSharpness()``), ``ours_knn_exact`` (the engine,
with the number of rows re-searched in float64), ``ours_id_approx`` (``neighbors="approximate"``)
and ``skdim_mle`` (``skdim.id.MLE``, K=20).

Usage::

    python benchmarks/bench_high_resolution.py --out benchmarks/_out/high_resolution.json
    python benchmarks/bench_high_resolution.py --report benchmarks/_out/high_resolution.json
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import bench_knn_id as base  # sets the thread variables before numpy is imported
import numpy as np

CASES = ["gemm_full", "ours_id_exact", "ours_kf", "ours_knn_exact", "ours_kf_engine",
         "ours_id_approx", "skdim_mle"]


def xrays_224(data_home, n, seed=0):
    z = np.load(Path(data_home) / "pneumoniamnist.npz")
    images = np.concatenate([z[f"{s}_images"] for s in ("train", "val", "test")])
    labels = np.concatenate([z[f"{s}_labels"][:, 0] for s in ("train", "val", "test")])
    rows = np.random.default_rng(seed).permutation(len(images))[:n]
    return upsample_rgb(images[rows], seed), labels[rows].astype(np.int64)


def upsample_rgb(images, seed=0, size=224, batch=250):
    import torch  # noqa: PLC0415

    out = np.empty((len(images), 3 * size * size), dtype=np.float32)
    rng = np.random.default_rng(seed)
    for s in range(0, len(images), batch):
        t = torch.from_numpy(images[s:s + batch].astype(np.float32))[:, None]
        t = torch.nn.functional.interpolate(t, size=size, mode="bilinear", align_corners=False)
        block = t.repeat(1, 3, 1, 1).reshape(len(t), -1).numpy()
        block += rng.normal(0, 1.0, block.shape).astype(np.float32)
        out[s:s + batch] = np.clip(block, 0, 255)
    return out


def resnet_features(X, batch=50):
    import torch  # noqa: PLC0415

    from skintrinsic.nets import build_model, extract_features  # noqa: PLC0415

    torch.manual_seed(0)
    model = build_model("resnet18", in_channels=3, n_classes=2)
    feats = extract_features(model, X.reshape(-1, 3, 224, 224), ["layer4"], batch_size=batch)
    return feats["layer4"].astype(np.float32)


def datasets(args):
    for n in args.sizes:
        X, y = xrays_224(args.data_home, n)
        yield f"xray224-{n}", X, y, f"PneumoniaMNIST upsampled to 3x224x224 + N(0,1) noise, N={n}"
    if args.resnet:
        X, y = xrays_224(args.data_home, 2000)
        yield "resnet18-layer4", resnet_features(X), y, \
            "ResNet-18 layer4 (random init, eval) of 2000 such images, 512x7x7"
    imgs, labels = base.load_mnist_test(args.data_home)
    X = base.reference_preprocess(imgs).astype(np.float64)
    X8, y8, _ = base.drop_duplicate_rows(X[:8100], labels[:8100])
    yield "mnist-8000", X8[:8000], y8[:8000], "MNIST test set, max-255 scaling, float64 input"
    X3, y3 = X[:3000].astype(np.float32), labels[:3000]
    yield "mnist-3000", X3, y3, "3000 MNIST images"
    X3o = np.vstack([X3, np.full((1, X3.shape[1]), 1e4, np.float32)])
    yield "mnist-3000+outlier", X3o, np.r_[y3, 0], "the same plus one row of 1e4"


def run(args):
    results = {"machine": base._machine(), "versions": base._versions(base.DEFAULT_PEER_PYTHON),
               "threads": args.threads, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
               "datasets": []}
    with tempfile.TemporaryDirectory(prefix="bench_highres_") as tmp:
        for tag, X, y, note in datasets(args):
            data, labels = Path(tmp) / f"{tag}_X.npy", Path(tmp) / f"{tag}_y.npy"
            np.save(data, X)
            np.save(labels, y)
            del X
            print(f"{tag}: {note}", flush=True)
            rows = {}
            for case in args.cases:
                rows[case] = base.run_case(case, data, args=args, tmp=tmp, tag=tag, labels=labels)
                rows[case].pop("indices_file", None)
            shape = np.load(data, mmap_mode="r").shape
            results["datasets"].append({"tag": tag, "note": note, "n": shape[0], "dim": shape[1],
                                        "rows": rows})
            for f in Path(tmp).glob(f"{tag}_*"):
                f.unlink()
            if args.out:
                args.out.write_text(json.dumps(results, indent=1))
    return results


def _t(row):
    return row.get("time") if row and "error" not in row else None


def render(results):
    lines = [
        "| data | N × D | GEMM limit (s) | `IntrinsicDimension` (s) | `LabelSharpness` (s) | "
        "skdim MLE (s) | skdim / ours | ours / GEMM | K_F / MLE fit | rows re-searched in float64 "
        "(d_data, K_F) | extra peak memory / X (d_data, K_F) | d: ours, skdim | approximate: "
        "time (s), d̂ vs exact | load |",
        "|" + "---|" * 14,
    ]
    for ds in results["datasets"]:
        r = ds["rows"]
        g, i, k, s = (_t(r.get(c)) for c in ("gemm_full", "ours_id_exact", "ours_kf",
                                                "skdim_mle"))
        a = r.get("ours_id_approx", {})
        knn, kf = r.get("ours_knn_exact", {}), r.get("ours_kf", {})
        nbytes = ds["n"] * ds["dim"] * (8 if "float64" in ds["note"] else 4) / 2**20

        def ratio(x, y):
            return f"{x / y:.2f}×" if x and y else "–"

        extra = "–"
        if "extra_rss_mb" in r.get("ours_id_exact", {}) and "extra_rss_mb" in kf:
            extra = (f"{r['ours_id_exact']['extra_rss_mb'] / nbytes:.2f}, "
                     f"{kf['extra_rss_mb'] / nbytes:.2f}")
        d_ours = r.get("ours_id_exact", {}).get("d_mle")
        d_sk = r.get("skdim_mle", {}).get("d_mle")
        approx = "–"
        if _t(a) and d_ours:
            approx = f"{a['time']:.2f}, {abs(a['d_mle'] / d_ours - 1) * 100:.2f} %"
        fb = r.get("ours_kf_engine", {}).get("fallback_rows", "–")
        loads = [v.get("load_before") for v in r.values() if v.get("load_before") is not None]
        load = f"{min(loads):.1f}–{max(loads):.1f}" if loads else "–"
        lines.append(
            f"| {ds['tag']} | {ds['n']} × {ds['dim']} | {g or float('nan'):.2f} | "
            f"{i or float('nan'):.2f} | {k or float('nan'):.2f} | {s or float('nan'):.2f} | "
            f"{ratio(s, i)} | {ratio(i, g)} | {ratio(k, i)} | "
            f"{knn.get('fallback_rows', '–')}, {kf.get('fallback_rows', fb)} | {extra} | "
            f"{d_ours if d_ours is None else round(d_ours, 4)}, "
            f"{d_sk if d_sk is None else round(d_sk, 4)} | {approx} | {load} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000])
    p.add_argument("--no-resnet", dest="resnet", action="store_false")
    p.add_argument("--cases", nargs="+", default=CASES, choices=sorted(base.CASES))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data-home", type=Path, default=base.DEFAULT_DATA_HOME)
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--out", type=Path)
    p.add_argument("--report", type=Path, nargs="+")
    args = p.parse_args(argv)
    if args.report:
        for path in args.report:
            print(render(json.loads(path.read_text())))
        return
    print(render(run(args)))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
