"""Benchmark of d_data (MLE, k=20) and K_F against their peers (issue 2).

What is compared, on the same data and in the same run:

* ours: ``skintrinsic._neighbors.kneighbors`` (exact, and ``method="approximate"``)
  followed by the MLE / TwoNN formulas written out below, and the public
  estimators ``IntrinsicDimension`` / ``LabelSharpness`` when they are importable;
* scikit-dimension: ``skdim.id.MLE`` (k=20, k-2 normalisation, inverse averaging:
  the same estimator as ours) and ``skdim.id.TwoNN``; scikit-learn's exact kNN
  (the search skdim's MLE runs) for the neighbour-identity check;
* DADApy's TwoNN, run in its own virtual environment (it pins numpy<2) by
  ``_bench_dadapy.py`` as a subprocess that reads the same ``.npy`` file;
* a naive blocked numpy all-pairs K_F (float64, every one of the N^2 pairs).

Every case runs in a fresh subprocess, so that its peak resident memory
(``os.wait4`` rusage of that one child) and its numba/JIT state are its own.
All processes get the same thread count (``--threads``, default 2) through
OMP/MKL/OPENBLAS/NUMBA env vars and ``torch.set_num_threads``.

Data (``make_manifold``): a ``latent_dim``-dimensional smooth manifold in
R^784: latent points z ~ U[0, 1]^d are mapped by fixed random Fourier
features x_j = sqrt(2) cos(w_j . z + b_j), w_j ~ N(0, omega^2 I_d),
b_j ~ U[0, 2 pi), j = 1..784, stored as float32.  The map (seed 0) is the same
for every N and the latent samples are nested (seed 1).  Binary labels are
1[z_0 + z_1 > 1]; continuous labels are z_0.

Usage::

    python benchmarks/bench_knn_id.py --quick                     # ~2 minute smoke run
    python benchmarks/bench_knn_id.py --sizes 5000 20000 60000 --mnist --domains \
        --out /tmp/knn_id.json
    python benchmarks/bench_knn_id.py --sizes 200000 --big-cases --out /tmp/knn_id_200k.json
    python benchmarks/bench_knn_id.py --report /tmp/knn_id.json /tmp/knn_id_200k.json
"""

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def _early_threads(argv):
    # thread env vars only work if set before numpy/torch are imported
    n = "2"
    if "--threads" in argv:
        n = argv[argv.index("--threads") + 1]
    for var in THREAD_VARS:
        os.environ[var] = n
    return int(n)


_early_threads(sys.argv)

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_PEER_PYTHON = REPO.parent / "venv-bench" / "bin" / "python"
DEFAULT_DATA_HOME = Path(os.environ.get("SKINTRINSIC_DATA", REPO.parent / "shared" / "data"))
K = 20

# --------------------------------------------------------------------------- data


def make_manifold(n, latent_dim=12, ambient_dim=784, omega=2.0):
    """Random-Fourier-feature manifold (see module docstring); returns X (float32), z."""
    rng_map = np.random.default_rng(0)
    W = rng_map.normal(scale=omega, size=(latent_dim, ambient_dim))
    b = rng_map.uniform(0, 2 * np.pi, ambient_dim)
    z = np.random.default_rng(1).uniform(size=(n, latent_dim))
    X = (np.sqrt(2.0) * np.cos(z @ W + b)).astype(np.float32)
    return X, z


def _read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, count = int.from_bytes(raw[0:4], "big"), int.from_bytes(raw[4:8], "big")
    if magic == 2051:
        rows, cols = int.from_bytes(raw[8:12], "big"), int.from_bytes(raw[12:16], "big")
        return np.frombuffer(raw, np.uint8, offset=16).reshape(count, rows, cols)
    return np.frombuffer(raw, np.uint8, offset=8)


def reference_preprocess(images):
    """The paper's preprocessing at 28x28: each image scaled so that its max is 255, flattened."""
    X = images.reshape(images.shape[0], -1).astype(np.float32)
    peak = X.max(axis=1, keepdims=True)
    return X * (np.float32(255.0) / np.where(peak > 0, peak, 1.0))


def load_mnist_test(data_home):
    data_home = Path(data_home)
    X = _read_idx(data_home / "mnist-t10k-images-idx3-ubyte.gz")
    y = _read_idx(data_home / "mnist-t10k-labels-idx1-ubyte.gz")
    return X, y.astype(np.int64)


def load_pneumonia(data_home):
    f = np.load(Path(data_home) / "pneumoniamnist.npz")
    return {s: (f[f"{s}_images"], f[f"{s}_labels"].ravel().astype(np.int64))
            for s in ("train", "val", "test")}


def drop_duplicate_rows(X, *others):
    """Keep the first occurrence of each distinct row, so every method sees the same data."""
    _, first = np.unique(X, axis=0, return_index=True)
    keep = np.sort(first)
    return (X[keep],) + tuple(o[keep] for o in others) + (X.shape[0] - keep.size,)


# --------------------------------------------------------------------------- formulas
# written out here, independently of skintrinsic.dimension, from the spec (reference §1-§2)


def mle_from_distances(dist):
    """Levina-Bickel with k-2 normalisation, MacKay-Ghahramani (inverse) averaging."""
    k = dist.shape[1]
    u = np.log(dist[:, -1:] / dist[:, :-1]).sum(axis=1) / (k - 2)
    return float(1.0 / u.mean())


def twonn_from_distances(dist, variant):
    t1, t2 = dist[:, 0], dist[:, 1]
    if variant == "pope":
        mu = np.sort(t2 / t1)
        n = mu.size
        x = np.log(mu[:-1])
        y = -np.log(1.0 - np.arange(1, n) / n)
    else:  # facco: drop T1 = 0 and T1 = T2, fit the smallest 90%
        ok = (t1 > 0) & (t1 != t2)
        mu = np.sort(t2[ok] / t1[ok])
        n = mu.size
        keep = int(n * 0.9)
        x = np.log(mu[:keep])
        y = -np.log(1.0 - np.arange(1, keep + 1) / n)
    return float(x @ y / (x @ x))


# --------------------------------------------------------------------------- worker side

_BASELINE = {}


def peak_rss_kb():
    """This process's peak resident set since exec (VmHWM).

    Not ``ru_maxrss``: Linux carries the parent's pre-exec high-water mark into
    the child's ``ru_maxrss``, so a child of a large parent would report the
    parent's memory.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    import resource  # noqa: PLC0415  (non-Linux fallback)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _mark_baseline():
    """Record memory after imports and data load, just before the timed work."""
    _BASELINE["rss_baseline_kb"] = peak_rss_kb()


_CALLS = []  # (wall, cpu) of every timed call of the worker
_PROFILER = []  # a cProfile.Profile when the worker runs with --profile


def _timed(fn):
    """Wall time of ``fn()``; its process CPU time (all threads) is kept in ``_CALLS``.

    CPU time / threads is less sensitive than wall time to other processes on the
    machine, so it is reported next to it.
    """
    for prof in _PROFILER:
        prof.enable()
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    for prof in _PROFILER:
        prof.disable()
    _CALLS.append((wall, cpu))
    return out, wall


def engine_block_rows(n):
    """Query rows per GEMM block in skintrinsic._neighbors (256 MiB of float32 distances)."""
    return int(max(32, min(4096, 256 * 2**20 // (4 * max(n, 1)))))


def gemm_probe(X, reps=3):
    """GFLOP/s of the exact pass's GEMM (one block of ``X`` against all of ``X``), right now.

    Run right after each case, so that time / GEMM limit can also be judged
    against what the (shared, noisy) machine delivered at that moment.
    """
    import torch  # noqa: PLC0415
    n, d = X.shape
    rows = min(n, engine_block_rows(n))
    B = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    A = B[:rows].clone()
    bias = torch.zeros(n)[None, :]
    best = np.inf
    for _ in range(reps):
        t = time.perf_counter()
        torch.addmm(bias, A, B.T, alpha=-2.0)
        best = min(best, time.perf_counter() - t)
    return 2 * rows * d * n / best / 1e9


def case_gemm(X, y, args):
    """float32 torch GEMM rate: at the engine's block shape for each N, and square 2048^3."""
    import torch  # noqa: PLC0415
    _mark_baseline()
    out = {"shapes": {}}
    shapes = {"square": (2048, 2048, 2048)}
    for n in args.gemm_n or []:
        shapes[str(n)] = (engine_block_rows(n), 784, n)
    for name, (m, d, n) in shapes.items():
        A, B = torch.randn(m, d), torch.randn(n, d)
        bias = torch.zeros(n)[None, :]
        times = []
        for _ in range(7):
            _, t = _timed(lambda A=A, B=B, bias=bias: torch.addmm(bias, A, B.T, alpha=-2.0))
            times.append(t)
        out["shapes"][name] = {"shape": [m, d, n], "gflops": 2 * m * d * n / min(times) / 1e9,
                               "gflops_median": 2 * m * d * n / float(np.median(times)) / 1e9}
    out["gflops"] = max(v["gflops"] for v in out["shapes"].values())
    out["time"] = None
    return out


def case_ours_knn_exact(X, y, args):
    from skintrinsic._neighbors import kneighbors  # noqa: PLC0415
    _warm_kernels(X)
    _mark_baseline()
    stats = {}

    def run():
        nb = kneighbors(X, K, stats=stats)
        return nb, (mle_from_distances(nb.distances), twonn_from_distances(nb.distances, "pope"),
                    twonn_from_distances(nb.distances, "facco"))

    (nb, (d_mle, d_pope, d_facco)), t = _timed(run)
    np.save(args.save, nb.indices)
    return {"time": t, "d_mle": d_mle, "d_twonn_pope": d_pope, "d_twonn_facco": d_facco,
            "fallback_rows": stats["float64"], "exhaustive_rows": stats["exhaustive"]}


def case_gemm_full(X, y, args):
    """One full float32 ``X @ X.T`` on this data: the GEMM limit of an exact kNN pass."""
    import torch  # noqa: PLC0415
    A = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    _mark_baseline()
    times = [_timed(lambda: torch.mm(A, A.T))[1] for _ in range(1 if X.shape[0] > 3000 else 3)]
    n, d = X.shape
    return {"time": min(times), "gflops": 2 * n * n * d / min(times) / 1e9}


def case_ours_knn_approx(X, y, args):
    from skintrinsic._neighbors import kneighbors  # noqa: PLC0415
    _mark_baseline()
    # first call pays numba's compilation; the second one (another seed) shows it is not paid again
    nb, t_cold = _timed(lambda: kneighbors(X, K, method="approximate", random_state=0))
    nb2, t_warm = _timed(lambda: kneighbors(X, K, method="approximate", random_state=1))
    np.save(args.save, nb.indices)
    return {"time": t_warm, "time_cold": t_cold, "jit": t_cold - t_warm,
            "d_mle": mle_from_distances(nb.distances), "d_mle_seed1": mle_from_distances(nb2.distances)}


def _import_estimator(name):
    import skintrinsic  # noqa: PLC0415
    return getattr(skintrinsic, name)


def _warm_kernels(X):
    """Load (or compile) the engine's numba kernels for X's dtype before the timed call.

    A new process pays this once (about 0.3 s from numba's on-disk cache, 1-2 s when a
    kernel is compiled for the first time); it is not part of a search's cost.
    """
    from skintrinsic._neighbors import kneighbors, nearest_other_label  # noqa: PLC0415
    rows = X[:64]
    kneighbors(rows, 3)
    nearest_other_label(rows, np.arange(rows.shape[0]) % 2)


def case_ours_id_exact(X, y, args):
    IntrinsicDimension = _import_estimator("IntrinsicDimension")
    _warm_kernels(X)
    _mark_baseline()
    est, t = _timed(lambda: IntrinsicDimension(k=K, random_state=0).fit(X))
    return {"time": t, "d_mle": float(est.dimension_),
            "ci": [float(v) for v in est.confidence_interval_]}


def case_ours_id_approx(X, y, args):
    IntrinsicDimension = _import_estimator("IntrinsicDimension")
    _mark_baseline()
    est, t_cold = _timed(lambda: IntrinsicDimension(k=K, neighbors="approximate", random_state=0).fit(X))
    est2, t_warm = _timed(lambda: IntrinsicDimension(k=K, neighbors="approximate", random_state=1).fit(X))
    return {"time": t_warm, "time_cold": t_cold, "jit": t_cold - t_warm, "d_mle": float(est.dimension_),
            "d_mle_seed1": float(est2.dimension_)}


def case_ours_twonn(X, y, args):
    IntrinsicDimension = _import_estimator("IntrinsicDimension")
    _warm_kernels(X)
    _mark_baseline()
    est, t = _timed(lambda: IntrinsicDimension(estimator="twonn", twonn_variant="facco",
                                               n_bootstrap=0, random_state=0).fit(X))
    pope = IntrinsicDimension(estimator="twonn", twonn_variant="pope", n_bootstrap=0).fit(X)
    return {"time": t, "d_twonn_facco": float(est.dimension_), "d_twonn_pope": float(pope.dimension_)}


def case_ours_kf(X, y, args):
    LabelSharpness = _import_estimator("LabelSharpness")
    _warm_kernels(X)
    _mark_baseline()
    est, t = _timed(lambda: LabelSharpness(random_state=0).fit(X, y))
    return {"time": t, "kf": float(est.sharpness_), "pair": [int(v) for v in sorted(est.pair_)],
            "label_type": est.label_type_}


def case_ours_kf_engine(X, y, args):
    from skintrinsic._neighbors import nearest_other_label  # noqa: PLC0415
    _warm_kernels(X)
    _mark_baseline()
    stats = {}
    nb, t = _timed(lambda: nearest_other_label(X, y, stats=stats))
    i = int(np.argmin(nb.distances[:, 0]))
    return {"time": t, "kf": float(1.0 / nb.distances[i, 0]),
            "pair": sorted([i, int(nb.indices[i, 0])]), "fallback_rows": stats["float64"]}


def _exact_pair_distance(X, i, j):
    diff = X[i].astype(np.float64) - X[j].astype(np.float64)
    return float(np.sqrt(diff @ diff))


def naive_kf(X, y, block=512):
    """Blocked numpy float64 pass over all N^2 pairs: max |y_i - y_j| / ||x_i - x_j||.

    Categorical labels use 1[y_i != y_j].  The winning pair's distance is then
    recomputed from the difference, so the reported value does not carry the
    norm expansion's rounding.
    """
    X64 = X.astype(np.float64)
    sq = np.einsum("ij,ij->i", X64, X64)
    categorical = np.issubdtype(y.dtype, np.integer)
    yf = y.astype(np.float64)
    best, best_pair = -np.inf, None
    for s in range(0, X.shape[0], block):
        e = min(s + block, X.shape[0])
        d2 = sq[s:e, None] + sq[None, :] - 2.0 * (X64[s:e] @ X64.T)
        np.maximum(d2, 0.0, out=d2)
        d2[np.arange(e - s), np.arange(s, e)] = np.inf
        if categorical:
            d2[y[s:e, None] == y[None, :]] = np.inf
            ratio2 = 1.0 / d2
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio2 = (yf[s:e, None] - yf[None, :]) ** 2 / d2
            ratio2[~np.isfinite(ratio2)] = 0.0
        flat = int(np.argmax(ratio2))
        if ratio2.flat[flat] > best:
            best, best_pair = ratio2.flat[flat], (s + flat // X.shape[0], flat % X.shape[0])
    i, j = best_pair
    dy = 1.0 if categorical else abs(yf[i] - yf[j])
    return dy / _exact_pair_distance(X, i, j), sorted([int(i), int(j)])


def case_naive_kf(X, y, args):
    _mark_baseline()
    (kf, pair), t = _timed(lambda: naive_kf(X, y))
    return {"time": t, "kf": kf, "pair": pair}


def case_ours_kf_cont(X, y, args):
    LabelSharpness = _import_estimator("LabelSharpness")
    yc = np.load(args.labels_cont)
    _mark_baseline()
    est, t = _timed(lambda: LabelSharpness(label_type="continuous", random_state=0).fit(X, yc))
    return {"time": t, "kf": float(est.sharpness_), "pair": [int(v) for v in sorted(est.pair_)],
            "label_type": est.label_type_}


def case_naive_kf_cont(X, y, args):
    yc = np.load(args.labels_cont)
    _mark_baseline()
    (kf, pair), t = _timed(lambda: naive_kf(X, yc))
    return {"time": t, "kf": kf, "pair": pair}


def case_sklearn_knn(X, y, args):
    from sklearn.neighbors import NearestNeighbors  # noqa: PLC0415
    _mark_baseline()
    (dist, ind), t = _timed(lambda: NearestNeighbors(n_neighbors=K).fit(X).kneighbors())
    np.save(args.save, ind)
    return {"time": t, "d_mle": mle_from_distances(dist)}


def case_skdim_mle(X, y, args):
    import skdim  # noqa: PLC0415
    _mark_baseline()
    est, t = _timed(lambda: skdim.id.MLE(unbiased=True).fit(X, n_neighbors=K, comb="mle"))
    return {"time": t, "d_mle": float(est.dimension_), "version": skdim.__version__}


def case_skdim_twonn(X, y, args):
    import skdim  # noqa: PLC0415
    _mark_baseline()
    est, t = _timed(lambda: skdim.id.TwoNN().fit(X))
    return {"time": t, "d_twonn_facco": float(est.dimension_)}


CASES = {name[5:]: fn for name, fn in dict(globals()).items() if name.startswith("case_")}
PEER_CASES = ("dadapy_twonn",)


def worker(args):
    import torch  # noqa: PLC0415
    torch.set_num_threads(args.threads)
    X = np.load(args.data)
    y = np.load(args.labels) if args.labels else None
    fn = CASES[args.case]
    if args.profile is not None:
        import cProfile  # noqa: PLC0415
        _PROFILER.append(cProfile.Profile())
    res = fn(X, y, args)
    if _PROFILER:
        import io  # noqa: PLC0415
        import pstats  # noqa: PLC0415
        buf = io.StringIO()
        pstats.Stats(_PROFILER[0], stream=buf).sort_stats("tottime").print_stats(14)
        res["profile"] = buf.getvalue()
    res.update(_BASELINE)
    res["peak_rss_kb"] = peak_rss_kb()  # before the probe, which allocates a block
    if args.case != "gemm":
        res["gemm_probe"] = gemm_probe(X)
    for wall, cpu in _CALLS:
        if res.get("time") is not None and wall == res["time"]:
            res["cpu"] = cpu
    res["torch_threads"] = torch.get_num_threads()
    with open(args.result, "w") as f:
        json.dump(res, f)


# --------------------------------------------------------------------------- parent side


def _versions(peer_python):
    import importlib.metadata as md  # noqa: PLC0415
    v = {"python": platform.python_version()}
    for pkg in ("numpy", "scipy", "torch", "scikit-learn", "scikit-dimension", "pynndescent", "numba",
                "skintrinsic"):
        try:
            v[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            v[pkg] = None
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "skintrinsic"],
                               capture_output=True, text=True, check=True).stdout.strip()
        v["skintrinsic_commit"] = head + (" + uncommitted changes in skintrinsic/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        v["skintrinsic_commit"] = None
    return v


def _machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem, 1), "platform": platform.platform()}


def run_case(case, data, *, args, tmp, tag, labels=None, labels_cont=None, profile=False):
    """Run one case in a fresh subprocess; return its result with peak RSS and load."""
    result = Path(tmp) / f"{tag}_{case}.json"
    save = Path(tmp) / f"{tag}_{case}_idx.npy"
    if case in PEER_CASES:
        cmd = [str(args.peer_python), str(HERE / "_bench_dadapy.py"), "--data", str(data),
               "--result", str(result), "--threads", str(args.threads)]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", case, "--data", str(data),
               "--result", str(result), "--save", str(save), "--threads", str(args.threads)]
        if labels is not None:
            cmd += ["--labels", str(labels)]
        if labels_cont is not None:
            cmd += ["--labels-cont", str(labels_cont)]
        if profile:
            cmd += ["--profile", case]
        if case == "gemm":
            cmd += ["--gemm-n"] + [str(n) for n in args.sizes] + (["10000"] if args.mnist else [])
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    log = open(Path(tmp) / f"{tag}_{case}.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    status, usage, timed_out = None, None, False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - t0 > args.timeout:
            proc.kill()
            _, status, usage = os.wait4(proc.pid, 0)
            timed_out = True
            break
        time.sleep(0.2)
    proc.returncode = os.waitstatus_to_exitcode(status)
    log.close()
    wall = time.perf_counter() - t0
    # wait4's ru_maxrss includes the parent's pre-exec memory; the worker's own VmHWM replaces it
    out = {"case": case, "wall": wall, "peak_rss_mb": usage.ru_maxrss / 1024,
           "load_before": load_before[0], "load_after": os.getloadavg()[0]}
    if timed_out:
        out["error"] = f"timeout after {args.timeout:.0f} s"
    elif proc.returncode != 0 or not result.exists():
        tail = (Path(tmp) / f"{tag}_{case}.log").read_text()[-1500:]
        out["error"] = f"exit {proc.returncode}: {tail.strip().splitlines()[-1] if tail.strip() else ''}"
        out["log_tail"] = tail
    else:
        out.update(json.loads(result.read_text()))
        out["peak_rss_mb"] = out["peak_rss_kb"] / 1024
        out["extra_rss_mb"] = (out["peak_rss_kb"] - out["rss_baseline_kb"]) / 1024
        if save.exists():
            out["indices_file"] = str(save)
    msg = f"  {tag:>12} {case:<18} "
    msg += out.get("error", f"t={out.get('time') if out.get('time') is not None else 0:8.2f}s "
                            f"rss={out['peak_rss_mb']:7.0f}MB load={load_before[0]:.2f}")
    print(msg, flush=True)
    return out


def _neighbour_agreement(X, ours_file, peer_file):
    """Compare two exact neighbour lists; arbitrate differing rows with float64 distances."""
    a, b = np.load(ours_file), np.load(peer_file)
    same_order = np.all(a == b, axis=1)
    same_set = np.all(np.sort(a, axis=1) == np.sort(b, axis=1), axis=1)
    rows = np.flatnonzero(~same_set)
    ours_right = ties = 0
    for r in rows:
        xr = X[r].astype(np.float64)
        da = np.sort(np.linalg.norm(X[a[r]].astype(np.float64) - xr, axis=1))
        db = np.sort(np.linalg.norm(X[b[r]].astype(np.float64) - xr, axis=1))
        if np.array_equal(da, db):
            ties += 1
        elif np.all(da <= db):
            ours_right += 1
    return {"rows": int(a.shape[0]), "same_order": int(same_order.sum()), "same_set": int(same_set.sum()),
            "differ": int(rows.size), "differ_ties": ties, "differ_ours_closer": ours_right}


def _recall(approx_file, exact_file):
    a, e = np.load(approx_file), np.load(exact_file)
    hits = sum(np.intersect1d(a[i], e[i]).size for i in range(a.shape[0]))
    return hits / e.size


def default_cases(n, args):
    if args.cases:
        return list(args.cases)
    ours = ["ours_knn_exact", "ours_id_exact", "ours_knn_approx", "ours_id_approx", "ours_twonn",
            "ours_kf", "ours_kf_engine"]
    if n > args.peer_max_n:
        return ours
    cases = ours + ["sklearn_knn", "skdim_mle", "dadapy_twonn", "naive_kf"]
    if n <= args.skdim_twonn_max_n:
        cases.append("skdim_twonn")
    if n <= args.cont_max_n:
        cases += ["ours_kf_cont", "naive_kf_cont"]
    return cases


def bench_dataset(tag, X, y, y_cont, *, args, tmp, meta):
    data = Path(tmp) / f"{tag}_X.npy"
    np.save(data, X)
    labels = Path(tmp) / f"{tag}_y.npy"
    np.save(labels, y)
    labels_cont = None
    if y_cont is not None:
        labels_cont = Path(tmp) / f"{tag}_ycont.npy"
        np.save(labels_cont, y_cont)
    n = X.shape[0]
    print(f"{tag}: N={n} D={X.shape[1]}", flush=True)
    rows = {}
    for case in default_cases(n, args):
        if case.endswith("_cont") and labels_cont is None:
            continue
        runs = [run_case(case, data, args=args, tmp=tmp, tag=tag, labels=labels, labels_cont=labels_cont)
                for _ in range(args.repeat)]
        ok = [r for r in runs if "error" not in r and r.get("time") is not None]
        rows[case] = min(ok, key=lambda r: r["time"]) if ok else runs[-1]
        if len(runs) > 1:
            rows[case]["all_times"] = [r.get("time") for r in runs]
    for case in (args.profile or ["ours_knn_exact"]) if args.profile is not None else []:
        rows[case + "_profile"] = run_case(case, data, args=args, tmp=tmp, tag=tag + "_prof", labels=labels,
                                           labels_cont=labels_cont, profile=True)
    agreement = {}
    ex = rows.get("ours_knn_exact", {})
    if "indices_file" in ex and "indices_file" in rows.get("sklearn_knn", {}):
        agreement["neighbours_vs_sklearn"] = _neighbour_agreement(
            X, ex["indices_file"], rows["sklearn_knn"]["indices_file"])
    if "indices_file" in ex and "indices_file" in rows.get("ours_knn_approx", {}):
        agreement["approx_recall"] = _recall(rows["ours_knn_approx"]["indices_file"], ex["indices_file"])
    for r in rows.values():
        r.pop("indices_file", None)
    for f in Path(tmp).glob(f"{tag}_*"):
        f.unlink()
    return {"tag": tag, "n": n, "dim": int(X.shape[1]), **meta, "rows": rows, "agreement": agreement}


def domains_comparison(data_home, sizes=(500, 1000, 1750), seeds=5):
    """MNIST vs PneumoniaMNIST at 28x28, reference preprocessing, binary tasks as in the paper.

    MNIST: two random digits per seed (natural); PneumoniaMNIST train split:
    normal vs pneumonia (medical).  d_data = MLE k=20, K_F = all pairs.  Runs in
    this process (small N): it only needs the public estimators.
    """
    import torch  # noqa: PLC0415
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    import skintrinsic  # noqa: PLC0415
    ID, KF = skintrinsic.IntrinsicDimension, skintrinsic.LabelSharpness
    mn_X, mn_y = load_mnist_test(data_home)
    pn = load_pneumonia(data_home)
    pn_X, pn_y = pn["train"]
    import warnings  # noqa: PLC0415
    out = []
    for n in sizes:
        for domain in ("MNIST", "PneumoniaMNIST"):
            ds, ks, dups = [], [], []
            for seed in range(seeds):
                rng = np.random.default_rng(seed)
                if domain == "MNIST":
                    pair = rng.choice(10, size=2, replace=False)
                    pool = np.flatnonzero(np.isin(mn_y, pair))
                    idx = rng.choice(pool, size=n, replace=False)
                    X, y = reference_preprocess(mn_X[idx]), (mn_y[idx] == pair[1]).astype(np.int64)
                else:
                    idx = rng.choice(pn_X.shape[0], size=n, replace=False)
                    X, y = reference_preprocess(pn_X[idx]), pn_y[idx]
                with warnings.catch_warnings():  # duplicates are counted instead
                    warnings.filterwarnings("ignore", message="Dropped .* duplicate rows")
                    est = ID(k=K, n_bootstrap=0, random_state=seed).fit(X)
                ds.append(est.dimension_)
                dups.append(est.n_duplicates_)
                ks.append(KF().fit(X, y).sharpness_)
            out.append({"domain": domain, "n": n, "seeds": seeds, "d_mean": float(np.mean(ds)),
                        "d_sd": float(np.std(ds, ddof=1)), "kf_mean": float(np.mean(ks)),
                        "kf_sd": float(np.std(ks, ddof=1)), "n_duplicates": float(np.mean(dups))})
            print(f"  domains {domain:<15} N={n:5d} d={out[-1]['d_mean']:.2f}+-{out[-1]['d_sd']:.2f} "
                  f"K_F={out[-1]['kf_mean']:.3e}+-{out[-1]['kf_sd']:.1e}", flush=True)
    # whole sets: all 10 MNIST test digits (multi-class K_F), all PneumoniaMNIST splits
    pn_all = np.concatenate([pn[s][0] for s in ("train", "val", "test")])
    pn_all_y = np.concatenate([pn[s][1] for s in ("train", "val", "test")])
    for domain, imgs, y in (("MNIST (10 digits)", mn_X, mn_y), ("PneumoniaMNIST (all)", pn_all, pn_all_y)):
        X = reference_preprocess(imgs)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Dropped .* duplicate rows")
            est = ID(k=K, random_state=0).fit(X)
        kf = KF().fit(X, y)
        out.append({"domain": domain, "n": int(X.shape[0]), "seeds": 1, "d_mean": float(est.dimension_),
                    "d_ci": [float(v) for v in est.confidence_interval_], "kf_mean": float(kf.sharpness_),
                    "n_duplicates": int(est.n_duplicates_)})
        print(f"  domains {domain:<22} N={X.shape[0]} d={est.dimension_:.2f} K_F={kf.sharpness_:.3e}",
              flush=True)
    return out


# --------------------------------------------------------------------------- report


def _fmt(v, spec=".2f"):
    return "—" if v is None else format(v, spec)


def _rel(a, b):
    return None if a is None or b is None else abs(a - b) / abs(b)


def gemm_rate(res, n):
    """GFLOP/s of the exact pass's own GEMM shape at this N, measured at the start of the run."""
    shapes = res.get("gemm", {}).get("shapes", {})
    if str(n) in shapes:
        return shapes[str(n)]["gflops"]
    rates = [v["gflops"] for k, v in shapes.items() if k != "square"]
    return max(rates) if rates else None


def render(results):
    lines = []
    for res in results:
        lines.append(f"Run started {res.get('started')}, arguments `{' '.join(res.get('argv', []))}`.\n")
        for key, when in (("gemm", "start"), ("gemm_end", "end")):
            g = res.get(key, {})
            if not g.get("shapes"):
                continue
            shapes = ", ".join(f"{v['gflops']:.0f} at {'x'.join(map(str, v['shape']))}"
                               for v in g["shapes"].values())
            lines.append(f"GEMM at the {when} of the run (float32 torch addmm, {g.get('torch_threads')} threads, "
                         f"best of 7, load {g.get('load_before', float('nan')):.2f}): {shapes} GFLOP/s.\n")
        for ds in res["datasets"]:
            lines += _render_dataset(ds, gemm_rate(res, ds["n"]))
    return "\n".join(lines)


def _render_dataset(ds, gflops):
    rows, agr, n, D = ds["rows"], ds["agreement"], ds["n"], ds["dim"]
    limit = 2 * n * n * D / (gflops * 1e9) if gflops else None
    ex = rows.get("ours_knn_exact", {})
    d_ref = ex.get("d_mle")
    kf_ref = rows.get("naive_kf", {}).get("kf")
    kfc_ref = rows.get("naive_kf_cont", {}).get("kf")
    out = [f"\n#### {ds['tag']}: N = {n:,}, D = {D}"
           + (f" ({ds['note']})" if ds.get("note") else "") + "\n",
           f"GEMM limit 2·N²·D / GFLOP/s = {_fmt(limit, '.1f')} s, at {_fmt(gflops, '.0f')} GFLOP/s (the "
           "pass's own GEMM shape, measured at the start of the run).\n",
           "| method | time [s] | CPU [s] | peak RSS [MB] (extra) | estimate | agreement | load (1 min) "
           "| GEMM probe [GFLOP/s] |",
           "|---|---|---|---|---|---|---|---|"]
    labels = {
        "ours_knn_exact": "ours: `kneighbors` exact + MLE formula",
        "ours_id_exact": "ours: `IntrinsicDimension()` (exact, incl. 200 bootstrap)",
        "ours_knn_approx": "ours: `kneighbors(method='approximate')` + MLE (warm)",
        "ours_id_approx": "ours: `IntrinsicDimension(neighbors='approximate')` (warm)",
        "ours_twonn": "ours: `IntrinsicDimension('twonn', 'facco')`",
        "sklearn_knn": "sklearn `NearestNeighbors` exact kNN + MLE formula",
        "skdim_mle": "scikit-dimension `MLE(unbiased=True)`, comb='mle'",
        "skdim_twonn": "scikit-dimension `TwoNN()`",
        "dadapy_twonn": "DADApy `compute_id_2NN()` (maxk=3)",
        "ours_kf": "ours: `LabelSharpness()` K_F (labels)",
        "ours_kf_engine": "ours: `nearest_other_label` (one masked pass)",
        "naive_kf": "naive blocked numpy float64 all-pairs K_F",
        "ours_kf_cont": "ours: `LabelSharpness(label_type='continuous')`",
        "naive_kf_cont": "naive blocked numpy float64 all-pairs K_F (continuous)",
    }
    for case, label in labels.items():
        if case not in rows:
            continue
        r = rows[case]
        if "error" in r:
            out.append(f"| {label} | {r['error']} | | {r['peak_rss_mb']:.0f} | | | {r['load_before']:.2f} | |")
            continue
        t = _fmt(r.get("time"))
        if "time_cold" in r:
            t += f" (cold {r['time_cold']:.1f}, JIT ≈ {r['jit']:.1f})"
        mem = f"{r['peak_rss_mb']:.0f} ({_fmt(r.get('extra_rss_mb'), '.0f')})"
        est, agree = "", ""
        if "d_mle" in r:
            est = f"d = {r['d_mle']:.3f}"
            if case != "ours_knn_exact":
                agree = f"\\|Δd\\|/d = {_rel(r['d_mle'], d_ref):.1e}" if d_ref else ""
            else:
                est += f"; TwoNN pope {r['d_twonn_pope']:.2f}, facco {r['d_twonn_facco']:.2f}"
        if case == "sklearn_knn" and "neighbours_vs_sklearn" in agr:
            a = agr["neighbours_vs_sklearn"]
            agree += (f"; identical lists {a['same_order']}/{a['rows']} rows, same sets {a['same_set']}"
                      f" (differing: {a['differ']}, ties {a['differ_ties']}, ours closer in float64 "
                      f"{a['differ_ours_closer']})")
        if case == "ours_knn_approx" and "approx_recall" in agr:
            agree += f"; recall vs exact {agr['approx_recall']:.4f}"
        if "d_twonn_facco" in r and case != "ours_knn_exact":
            ref = ex.get("d_twonn_facco")
            est = f"d = {r['d_twonn_facco']:.3f}"
            agree = f"\\|Δd\\|/d vs ours facco = {_rel(r['d_twonn_facco'], ref):.1e}" if ref else ""
        if "kf" in r:
            est = f"K_F = {r['kf']:.6g}"
            ref = kfc_ref if case.endswith("_cont") else kf_ref
            if ref and not case.startswith("naive"):
                naive_pair = rows["naive_kf_cont" if case.endswith("_cont") else "naive_kf"].get("pair")
                agree = f"\\|ΔK_F\\|/K_F = {_rel(r['kf'], ref):.1e}, same pair: {r['pair'] == naive_pair}"
            if case == "ours_kf" and ex.get("time"):
                agree += f"; time / exact kNN = {r['time'] / ex['time']:.2f}"
        if case == "ours_knn_exact" and limit:
            agree = f"time / GEMM limit = {r['time'] / limit:.2f}"
            if r.get("gemm_probe"):
                agree += f" ({r['time'] / (2 * n * n * D / (r['gemm_probe'] * 1e9)):.2f} at the probe's rate)"
            sk = rows.get("skdim_mle", {}).get("time")
            if sk:
                agree += f"; skdim MLE / ours = {sk / r['time']:.1f}x"
        if case in ("ours_knn_approx", "ours_id_approx"):
            sk = rows.get("skdim_mle", {}).get("time")
            if sk:
                agree += f"; skdim MLE / ours = {sk / r['time']:.1f}x"
        if case == "ours_id_exact":
            agree += f"; CI {r['ci'][0]:.2f}–{r['ci'][1]:.2f}"
            sk = rows.get("skdim_mle", {}).get("time")
            if sk:
                agree += f"; skdim MLE / ours = {sk / r['time']:.1f}x"
        out.append(f"| {label} | {t} | {_fmt(r.get('cpu'), '.1f')} | {mem} | {est} | {agree.lstrip('; ')} | "
                   f"{r['load_before']:.2f} | {_fmt(r.get('gemm_probe'), '.0f')} |")
    return out


def render_targets(results):
    """One line per dataset: the issue's targets, met or not."""
    lines = ["| data | exact: skdim MLE / ours (kNN+formula; estimator) [≥ 2] | exact: time / GEMM limit "
             "(kNN+formula; estimator) [≤ 1.5] | identical neighbours vs sklearn | K_F: LabelSharpness / "
             "exact kNN [≤ 1.5] | approx: skdim MLE / ours warm (engine; estimator) [≥ 10 at 60k] | "
             "approx \\|Δd\\|/d [≤ 0.5%] | cold JIT [s] |",
             "|---|---|---|---|---|---|---|---|"]
    for res in results:
        for ds in res["datasets"]:
            rows, agr, n, D = ds["rows"], ds["agreement"], ds["n"], ds["dim"]
            limit = 2 * n * n * D / (gemm_rate(res, n) * 1e9)

            def t(case):
                r = rows.get(case, {})
                return None if "error" in r else r.get("time")

            def ratio(a, b, spec=".2f"):
                return "—" if a is None or b is None else format(a / b, spec)

            sk, ex, est = t("skdim_mle"), t("ours_knn_exact"), t("ours_id_exact")
            ap, ap_est = t("ours_knn_approx"), t("ours_id_approx")
            nb = agr.get("neighbours_vs_sklearn")
            same = "—" if nb is None else f"{nb['same_set']}/{nb['rows']} sets ({nb['same_order']} in order)"
            d_ex = rows.get("ours_knn_exact", {}).get("d_mle")
            d_ap = rows.get("ours_knn_approx", {}).get("d_mle")
            d_ap_est = rows.get("ours_id_approx", {}).get("d_mle")
            derr = "—" if d_ex is None or d_ap is None else f"{100 * _rel(d_ap, d_ex):.3f}%"
            if d_ap_est is not None and d_ex is not None:
                derr += f"; {100 * _rel(d_ap_est, d_ex):.3f}%"
            jit = rows.get("ours_knn_approx", {}).get("jit")
            lines.append(
                f"| {ds['tag']} | {ratio(sk, ex, '.1f')}; {ratio(sk, est, '.1f')} | "
                f"{ratio(ex, limit)}; {ratio(est, limit)} | {same} | {ratio(t('ours_kf'), ex)} | "
                f"{ratio(sk, ap, '.1f')}; {ratio(sk, ap_est, '.1f')} | {derr} | {_fmt(jit, '.1f')} |")
    return "\n".join(lines)


def render_profiles(results):
    out = []
    for res in results:
        for ds in res["datasets"]:
            for case, r in ds["rows"].items():
                if case.endswith("_profile") and "profile" in r:
                    body = "\n".join(r["profile"].strip().splitlines()[:24])
                    out.append(f"\n{ds['tag']} {case[:-8]} (load {r['load_before']:.2f}):\n\n```\n{body}\n```")
    return "\n".join(out)


def render_domains(domains):
    lines = ["| data (28×28, max-255 scaling) | N | seeds | d_data (MLE k=20) | K_F | duplicates dropped |",
             "|---|---|---|---|---|---|"]
    for r in domains:
        d = f"{r['d_mean']:.2f} ± {r['d_sd']:.2f}" if "d_sd" in r else \
            f"{r['d_mean']:.2f} (CI {r['d_ci'][0]:.2f}–{r['d_ci'][1]:.2f})"
        kf = f"{r['kf_mean']:.3e} ± {r['kf_sd']:.1e}" if "kf_sd" in r else f"{r['kf_mean']:.3e}"
        lines.append(f"| {r['domain']} | {r['n']} | {r['seeds']} | {d} | {kf} | {r['n_duplicates']:g} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 60000])
    p.add_argument("--dim", type=int, default=784)
    p.add_argument("--latent-dim", type=int, default=12)
    p.add_argument("--omega", type=float, default=2.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cases", nargs="+", choices=sorted(CASES) + list(PEER_CASES))
    p.add_argument("--big-cases", action="store_true",
                   help="only our own cases (for N=200k; peers take tens of minutes)")
    p.add_argument("--peer-max-n", type=int, default=60000, help="largest N at which peers run")
    p.add_argument("--skdim-twonn-max-n", type=int, default=60000,
                   help="skdim TwoNN sorts full distance rows (N^2 log N); largest N to run it")
    p.add_argument("--cont-max-n", type=int, default=20000,
                   help="largest N for the continuous-label K_F cases")
    p.add_argument("--mnist", action="store_true", help="add the 10k MNIST test images row")
    p.add_argument("--domains", action="store_true", help="MNIST vs PneumoniaMNIST d_data / K_F table")
    p.add_argument("--data-home", type=Path, default=DEFAULT_DATA_HOME)
    p.add_argument("--peer-python", type=Path, default=DEFAULT_PEER_PYTHON,
                   help="python of the venv with DADApy (numpy<2)")
    p.add_argument("--repeat", type=int, default=1,
                   help="run each case this many times (fresh processes) and keep the fastest")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per case")
    p.add_argument("--profile", nargs="*", choices=sorted(CASES),
                   help="also run these cases under cProfile (no names: ours_knn_exact)")
    p.add_argument("--quick", action="store_true", help="smoke run: N=3000 only, about 2 minutes")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    p.add_argument("--report", type=Path, nargs="+", help="render markdown tables from JSON results")
    # worker side
    p.add_argument("--worker", choices=sorted(CASES), help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--labels", help=argparse.SUPPRESS)
    p.add_argument("--labels-cont", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--save", help=argparse.SUPPRESS)
    p.add_argument("--gemm-n", type=int, nargs="*", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        args.case = args.worker
        worker(args)
        return
    if args.report:
        results = [json.loads(p.read_text()) for p in args.report]
        print(render(results))
        print("\n" + render_targets(results))
        print(render_profiles(results))
        for res in results:
            if res.get("domains"):
                print("\n" + render_domains(res["domains"]))
        return
    if args.quick:
        args.sizes = [3000]
        args.timeout = min(args.timeout, 120)
    if args.big_cases:
        args.peer_max_n = 0
    results = {"machine": _machine(), "versions": _versions(args.peer_python), "threads": args.threads,
               "started": time.strftime("%Y-%m-%d %H:%M:%S"), "argv": sys.argv[1:], "datasets": []}
    with tempfile.TemporaryDirectory(prefix="bench_knn_id_") as tmp:
        dummy = Path(tmp) / "dummy.npy"
        np.save(dummy, np.zeros((1, 1), np.float32))
        results["gemm"] = run_case("gemm", dummy, args=args, tmp=tmp, tag="machine")
        print(f"GEMM: {results['gemm'].get('gflops', float('nan')):.0f} GFLOP/s", flush=True)
        for n in args.sizes:
            X, z = make_manifold(n, args.latent_dim, args.dim, args.omega)
            y = (z[:, 0] + z[:, 1] > 1).astype(np.int64)
            meta = {"note": f"RFF manifold, latent d={args.latent_dim}, omega={args.omega}, float32"}
            results["datasets"].append(bench_dataset(f"manifold-{n // 1000}k", X, y, z[:, 0], args=args,
                                                     tmp=tmp, meta=meta))
            if args.out:
                args.out.write_text(json.dumps(results, indent=1))
        if args.mnist:
            imgs, y = load_mnist_test(args.data_home)
            X, y, n_dup = drop_duplicate_rows(reference_preprocess(imgs), y)
            meta = {"note": f"MNIST test set, max-255 scaling, float32, 10-class labels, "
                            f"{n_dup} duplicates dropped"}
            results["datasets"].append(bench_dataset("MNIST-10k", X, y, None, args=args, tmp=tmp, meta=meta))
        results["gemm_end"] = run_case("gemm", dummy, args=args, tmp=tmp, tag="machine-end")
    if args.domains:
        results["domains"] = domains_comparison(args.data_home)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    print(render([results]))
    if results.get("domains"):
        print("\n" + render_domains(results["domains"]))


if __name__ == "__main__":
    main()
