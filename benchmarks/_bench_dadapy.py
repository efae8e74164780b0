"""DADApy side of bench_knn_id.py, run with the python of a separate venv.

DADApy pins numpy<2 (and pulls jax), so it cannot share the main environment.
bench_knn_id.py starts this script as a subprocess with the same thread count and
passes the data as a ``.npy`` file; the result (time, estimate, versions) comes
back as JSON.

    <venv-bench>/bin/python benchmarks/_bench_dadapy.py --data X.npy --result out.json --threads 2
"""

import argparse
import json
import os
import sys
import time

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def peak_rss_kb():
    """Peak resident set of this process since exec (VmHWM; ru_maxrss carries the parent's)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    import resource  # noqa: PLC0415
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--result", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--maxk", type=int, default=3,
                   help="neighbours DADApy computes; TwoNN needs 2 (its default, 100, is 50x the work)")
    args = p.parse_args()
    for var in THREAD_VARS:  # before numpy is imported
        os.environ[var] = str(args.threads)

    import importlib.metadata as md  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    from dadapy import Data  # noqa: PLC0415

    try:
        import torch  # noqa: PLC0415  (only so that its thread count is pinned as everywhere else)
        torch.set_num_threads(args.threads)
    except ImportError:
        pass
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
    with open(args.result, "w") as f:
        json.dump({"time": elapsed, "cpu": cpu, "d_twonn_facco": float(d), "maxk": args.maxk,
                   "rss_baseline_kb": baseline, "peak_rss_kb": peak_rss_kb(), "versions": versions}, f)


if __name__ == "__main__":
    main()
