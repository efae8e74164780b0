"""DADApy side of bench_knn_id.py, run with the python of a separate venv.

DADApy pins numpy<2 (and pulls jax), so it cannot share the main environment.
bench_knn_id.py starts this script as a subprocess with the same thread count and
passes the data as a ``.npy`` file; the result (time, estimate, versions) comes
back as JSON.

    <venv-bench>/bin/python benchmarks/_bench_dadapy.py --data X.npy --result out.json --threads 2
"""

import argparse
import json
import sys
import time
from pathlib import Path


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--result", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--maxk", type=int, default=3,
                   help="neighbours DADApy computes; TwoNN needs 2 (its default, 100, is 50x the work)")
    args = p.parse_args()
    # bench_knn_id sets the thread env vars from --threads on import, before numpy
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_knn_id import gemm_probe, peak_rss_kb  # noqa: PLC0415

    import importlib.metadata as md  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    from dadapy import Data  # noqa: PLC0415

    import torch  # noqa: PLC0415  (the GEMM probe; its threads pinned as everywhere else)
    torch.set_num_threads(args.threads)
    X = np.load(args.data)
    baseline = peak_rss_kb()
    t, c = time.perf_counter(), time.process_time()
    data = Data(coordinates=X, maxk=args.maxk, verbose=False, n_jobs=args.threads)
    d, _, _ = data.compute_id_2NN()  # Facco: linear fit on the smallest 90% of mu
    elapsed, cpu = time.perf_counter() - t, time.process_time() - c
    versions = {"python": sys.version.split()[0]}
    for pkg in ("dadapy", "numpy", "scikit-learn", "scipy", "jax", "torch"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    result = {"time": elapsed, "cpu": cpu, "d_twonn_facco": float(d), "maxk": args.maxk,
              "rss_baseline_kb": baseline, "peak_rss_kb": peak_rss_kb(), "versions": versions}
    result["gemm_probe"] = gemm_probe(X)  # after the peak was read: it allocates a block
    with open(args.result, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
