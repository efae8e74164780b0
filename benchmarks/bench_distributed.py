"""Out-of-core d_data on a dask.distributed LocalCluster: 1 worker against 2, and the in-memory
engine, in the same run (issue 14).

Data sets (float32 ``.npy`` files, opened as memmaps: with a Client active the workers read
them block by block, the client never loads them):

* ``mnist-20k``: 20,000 x 784, the MNIST test set (max-255 scaling, as the papers) and the
  same images shifted one pixel to the right; blocks of 2500 rows (8 blocks, 36 tiles);
* ``xray224-2000``: 2000 x 150,528, PneumoniaMNIST X-rays upsampled to 3x224x224 with
  N(0, 1) noise (``bench_high_resolution.xrays_224``); blocks of 500 rows (4 blocks, 10 tiles).

Cases per data set, all ``IntrinsicDimension(n_bootstrap=0)`` (MLE, k=20), timed warm (the
workers load the compiled kernels with a small fit first):

* ``memory-1t`` / ``memory-2t``: the in-memory engine on the loaded array, 1 and 2 threads;
* ``sync-1t``: the blocked task graph with no Client (dask's synchronous scheduler, in one
  process, 1 thread): the engine's own cost of working in blocks, without the cluster;
* ``cluster-1w``: LocalCluster with 1 worker process of 1 thread;
* ``cluster-2w``: LocalCluster with 2 worker processes of 1 thread each.

For the cluster cases the task stream gives the number of tasks and the time they computed;
``overhead / task = (wall x workers - compute) / tasks`` is what the scheduler, the transfers
and idle workers cost per task.  A separate probe times 2000 empty tasks.  The cost model of
doc/user_guide/distributed.rst is evaluated with the GEMM and difference-kernel rates
measured in this run, and printed beside the measured wall time.

Usage::

    python benchmarks/bench_distributed.py --out benchmarks/_out/distributed.json
    python benchmarks/bench_distributed.py --report benchmarks/_out/distributed.json
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

K = 20
M = K + max(4, K // 5)


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def mnist_20k(data_home):
    import bench_knn_id as base  # noqa: PLC0415

    images, _ = base.load_mnist_test(data_home)
    shifted = np.zeros_like(images)
    shifted[:, :, 1:] = images[:, :, :-1]
    X = np.concatenate([images, shifted]).astype(np.float32).reshape(-1, 784)
    peak = X.max(axis=1, keepdims=True)
    return X * (np.float32(255.0) / np.where(peak > 0, peak, 1.0))


def xray_2000(data_home):
    import bench_high_resolution as hr  # noqa: PLC0415

    return hr.xrays_224(data_home, 2000)[0]


DATASETS = {"mnist-20k": (mnist_20k, 2500), "xray224-2000": (xray_2000, 500)}


def rates(D, threads=1):
    """GEMM (torch float32) and difference-kernel (``pair_sq_distances``) rates, flop/s."""
    import torch  # noqa: PLC0415

    from skintrinsic._kernels import numba_threads, pair_sq_distances  # noqa: PLC0415

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    rows = max(256, min(2048, int(2**27 // (4 * D))))
    A = torch.from_numpy(rng.normal(size=(rows, min(D, 4096))).astype(np.float32))
    torch.mm(A, A.T)
    t = time.perf_counter()
    for _ in range(3):
        torch.mm(A, A.T)
    gemm = 3 * 2 * rows * rows * A.shape[1] / (time.perf_counter() - t)
    B = rng.normal(size=(512, D)).astype(np.float32)
    cand = rng.integers(0, 512, (512, M))
    with numba_threads(threads):
        pair_sq_distances(B, B, np.arange(512), cand)
        t = time.perf_counter()
        pair_sq_distances(B, B, np.arange(512), cand)
        kernel = 3 * 512 * M * D / (time.perf_counter() - t)
    return gemm, kernel


def model(N, D, B, workers, gemm, kernel, overhead):
    """The cost model of doc/user_guide/distributed.rst: seconds, flops, bytes, tasks."""
    nb = -(-N // B)
    tiles = nb * (nb + 1) // 2
    gemm_flops = 2.0 * B * B * D * (nb * (nb - 1) / 2 + nb / 2)
    exact_flops = 3.0 * D * M * N  # at most N m distinct candidate pairs
    read_bytes = 2 * 4.0 * B * D * (2 * nb * (nb - 1) / 2 + nb)  # tiles, then exact pass
    # tiles, their two halves, the per-block merge trees, the scan and its reduction, the
    # exact tasks (at most one per tile)
    tasks = 2 * tiles + nb * nb + nb * (nb - 1) + 4 * nb - 1
    compute = gemm_flops / gemm + exact_flops / kernel
    return dict(blocks=nb, tiles=tiles, tasks=tasks, gemm_flops=gemm_flops,
                exact_flops=exact_flops, read_bytes=read_bytes,
                seconds=compute / min(workers, tiles) + tasks * overhead / workers)


def run_memory(path, threads):
    import torch  # noqa: PLC0415

    from skintrinsic import IntrinsicDimension  # noqa: PLC0415

    torch.set_num_threads(threads)
    X = np.load(path)
    IntrinsicDimension(n_bootstrap=0, n_jobs=threads).fit(X[:500])
    load = os.getloadavg()[0]
    t = time.perf_counter()
    est = IntrinsicDimension(n_bootstrap=0, n_jobs=threads).fit(X)
    wall = time.perf_counter() - t
    return dict(wall=wall, dimension=est.dimension_, load=[load, os.getloadavg()[0]])


def run_sync(path, block_rows):
    """The same dask graph with no Client: dask's synchronous scheduler in this process."""
    import dask.array as da  # noqa: PLC0415
    import torch  # noqa: PLC0415

    from skintrinsic import IntrinsicDimension  # noqa: PLC0415

    torch.set_num_threads(1)
    X = da.from_array(np.load(path, mmap_mode="r"), chunks=(block_rows, -1))
    IntrinsicDimension(n_bootstrap=0, n_jobs=1).fit(X[:600])
    load = os.getloadavg()[0]
    t = time.perf_counter()
    est = IntrinsicDimension(n_bootstrap=0, n_jobs=1).fit(X)
    wall = time.perf_counter() - t
    return dict(wall=wall, dimension=est.dimension_, load=[load, os.getloadavg()[0]])


def run_cluster(path, workers, block_rows):
    import distributed  # noqa: PLC0415

    from skintrinsic import IntrinsicDimension, _distributed  # noqa: PLC0415

    X = np.load(path, mmap_mode="r")
    _distributed.BLOCK_BYTES = block_rows * X.shape[1] * 4
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        IntrinsicDimension(n_bootstrap=0, n_jobs=1).fit(X[:600])  # workers load the kernels
        t = time.perf_counter()
        client.gather(client.map(lambda i: i, range(2000), pure=False))
        empty = (time.perf_counter() - t) / 2000
        load = os.getloadavg()[0]
        with distributed.get_task_stream(client) as ts:
            t = time.perf_counter()
            est = IntrinsicDimension(n_bootstrap=0, n_jobs=1).fit(X)
            wall = time.perf_counter() - t
        compute = sum(s["stop"] - s["start"] for task in ts.data
                      for s in task["startstops"] if s["action"] == "compute")
        transfer = sum(s["stop"] - s["start"] for task in ts.data
                       for s in task["startstops"] if s["action"] == "transfer")
        tiles = sum(1 for task in ts.data if "_knn_tile" in str(task["key"]))
        return dict(wall=wall, dimension=est.dimension_, tasks=len(ts.data), tiles=tiles,
                    compute=compute, transfer=transfer, empty_task=empty,
                    overhead_per_task=(wall * workers - compute) / len(ts.data),
                    load=[load, os.getloadavg()[0]])


def child(args):
    kind, path, arg, block_rows = args.child
    if kind == "memory":
        out = run_memory(path, int(arg))
    elif kind == "sync":
        out = run_sync(path, int(block_rows))
    else:
        out = run_cluster(path, int(arg), int(block_rows))
    print(json.dumps(out))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path)
    p.add_argument("--report", type=Path)
    p.add_argument("--data-home", default=str(Path(__file__).resolve().parents[2] / "shared"
                                              / "data"))
    p.add_argument("--datasets", nargs="+", default=list(DATASETS))
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args)
    if args.report:
        return render(json.loads(args.report.read_text()))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets:
            make, block_rows = DATASETS[name]
            X = make(args.data_home)
            path = str(Path(tmp) / f"{name}.npy")
            np.save(path, X)
            N, D = X.shape
            del X
            gemm, kernel = rates(D)
            row = dict(data=name, N=N, D=D, block_rows=block_rows, gemm_rate=gemm,
                       kernel_rate=kernel, uptime_before=uptime(), cases={})
            for case, kind, arg in (("memory-1t", "memory", 1), ("memory-2t", "memory", 2),
                                    ("sync-1t", "sync", 1), ("cluster-1w", "cluster", 1),
                                    ("cluster-2w", "cluster", 2)):
                out = subprocess.run([sys.executable, __file__, "--child", kind, path, str(arg),
                                      str(block_rows)], capture_output=True, text=True)
                if out.returncode:
                    sys.stderr.write(out.stderr)
                    raise SystemExit(f"{name} {case} failed")
                row["cases"][case] = json.loads(out.stdout.strip().splitlines()[-1])
                print(name, case, row["cases"][case], flush=True)
            overhead = row["cases"]["cluster-2w"]["empty_task"]
            row["model"] = {w: model(N, D, block_rows, w, gemm, kernel, overhead)
                            for w in (1, 2)}
            row["uptime_after"] = uptime()
            results.append(row)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
    render(results)


def render(results):
    print("| data | N × D | blocks × rows (tiles) | in memory 1 thread (s) | in memory 2 threads (s) "
          "| blocks, no Client, 1 thread (s) | 1 worker (s) | 2 workers (s) | 1 → 2 workers "
          "| model 1 w, 2 w (s) | tasks | overhead / task, empty task (ms) | d equal | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        c = r["cases"]
        mo = {int(k): v for k, v in r["model"].items()}
        d = {v["dimension"] for v in c.values()}
        loads = [x for v in c.values() for x in v["load"]]
        print(f"| {r['data']} | {r['N']} × {r['D']} | {mo[1]['blocks']} × {r['block_rows']} "
              f"({mo[1]['tiles']}) | {c['memory-1t']['wall']:.2f} | {c['memory-2t']['wall']:.2f} "
              f"| {c['sync-1t']['wall']:.2f} | {c['cluster-1w']['wall']:.2f} | {c['cluster-2w']['wall']:.2f} "
              f"| {c['cluster-1w']['wall'] / c['cluster-2w']['wall']:.2f}× "
              f"| {mo[1]['seconds']:.2f}, {mo[2]['seconds']:.2f} | {c['cluster-2w']['tasks']} "
              f"| {1e3 * c['cluster-2w']['overhead_per_task']:.0f}, "
              f"{1e3 * c['cluster-2w']['empty_task']:.1f} | {'yes' if len(d) == 1 else d} "
              f"| {min(loads):.1f}–{max(loads):.1f} |")
    for r in results:
        mo = {int(k): v for k, v in r["model"].items()}[1]
        print(f"\n{r['data']}: GEMM {r['gemm_rate'] / 1e9:.0f} GFLOP/s, difference kernel "
              f"{r['kernel_rate'] / 1e9:.1f} GFLOP/s (1 thread); model: "
              f"{mo['gemm_flops']:.3g} GEMM flops, {mo['exact_flops']:.3g} difference flops, "
              f"{mo['read_bytes'] / 2**30:.2f} GiB of blocks read, {mo['tasks']} tasks; "
              f"uptime before: {r['uptime_before']}; after: {r['uptime_after']}")


if __name__ == "__main__":
    main()
