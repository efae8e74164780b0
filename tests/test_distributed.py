"""Out-of-core inputs: the exact engine as dask tasks gives the in-memory answer, bit for bit.

The oracle is the in-memory engine on the same rows (itself checked against a
float64 brute force in test_neighbors.py).  One LocalCluster of two worker
processes on loopback serves the module (each worker loads the compiled kernels
once).  The first tests run with no Client: dask arrays then run on dask's
synchronous scheduler in this process.
"""

import os
import threading
import tracemalloc

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

from skintrinsic import IntrinsicDimension, LabelSharpness  # noqa: E402
from skintrinsic import _distributed  # noqa: E402
from skintrinsic._distributed import BlockedRows, validate_rows  # noqa: E402
from skintrinsic._neighbors import kneighbors, nearest_other_label  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Dropped:UserWarning")

N, D, CHUNK = 1200, 48, 300


def mixture(n=N, d=D, seed=0):
    """Three Gaussian clusters on a 6-d subspace, as float64 integers (8-bit-like pixels), with
    duplicated rows, labels that agree on the duplicates, and real labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=40, size=(3, 6))
    labels = rng.integers(0, 3, n)
    latent = centres[labels] + rng.normal(scale=10, size=(n, 6))
    X = np.round(latent @ rng.normal(size=(6, d)) / 3 + 128)
    for copy, source in ((5, 1), (400, 1), (1100, 999), (700, 3)):
        X[copy] = X[source]
        labels[copy] = labels[source]
    real = rng.normal(size=n)
    real[[5, 400, 1100, 700]] = real[[1, 1, 999, 3]]
    return X, labels, real


@pytest.fixture(scope="module")
def data():
    return mixture()


def as_input(kind, X, tmp_path):
    if kind == "dask":
        return da.from_array(X, chunks=(CHUNK, -1))
    if kind == "zarr":
        z = zarr.create_array(str(tmp_path / "X.zarr"), shape=X.shape, chunks=(CHUNK, X.shape[1]),
                              dtype=X.dtype)
        z[:] = X
        return zarr.open_array(str(tmp_path / "X.zarr"), mode="r")
    np.save(tmp_path / "X.npy", X)
    return np.load(tmp_path / "X.npy", mmap_mode="r")


def assert_same_dimension(a, b):
    assert b.dimension_ == a.dimension_
    assert np.array_equal(b.local_dimensions_, a.local_dimensions_)
    assert b.n_duplicates_ == a.n_duplicates_ and b.n_samples_fit_ == a.n_samples_fit_
    assert b.n_features_in_ == a.n_features_in_


def assert_same_sharpness(a, b):
    assert b.sharpness_ == a.sharpness_ and b.pair_ == a.pair_
    assert np.array_equal(b.local_sharpness_, a.local_sharpness_)
    assert b.label_type_ == a.label_type_


def hypercube(n=1000, d=11, seed=1):
    """Vertices of {0,1}^d: every row has d neighbours at distance exactly 1 (ties past any
    candidate list), so the certificate fails and the exhaustive re-search runs."""
    rng = np.random.default_rng(seed)
    codes = rng.choice(2**d, n, replace=False)
    return ((codes[:, None] >> np.arange(d)) & 1).astype(np.float32)


# -- no Client: dask's synchronous scheduler in this process ------------------------------------

def test_dask_array_without_client_gives_in_memory_answer(data):
    assert _distributed._client() is None
    X, labels, real = data
    Xd = da.from_array(X, chunks=(CHUNK, -1))
    assert_same_dimension(IntrinsicDimension(n_bootstrap=0).fit(X),
                          IntrinsicDimension(n_bootstrap=0).fit(Xd))
    assert_same_sharpness(LabelSharpness().fit(X, real), LabelSharpness().fit(Xd, real))


def test_memmap_without_client_stays_in_memory_engine(data, tmp_path):
    X, _, _ = data
    Xm = as_input("memmap", X.astype(np.float32), tmp_path)
    assert not _distributed.is_out_of_core(Xm)
    est = IntrinsicDimension(n_bootstrap=0).fit(Xm)
    assert est.transform(X[:3]).shape == (3, 1)


def test_neighbours_with_exact_ties_take_the_exhaustive_path():
    X = hypercube()
    rows = validate_rows(IntrinsicDimension(), da.from_array(X, chunks=(230, -1)))
    assert rows.n_blocks == 5
    for k in (3, 12):
        got, want = rows.kneighbors(k), kneighbors(X, k)
        assert rows.stats["exhaustive"] > 0 and rows.stats["tiles"] == 15
        assert np.array_equal(got.indices, want.indices)
        assert np.array_equal(got.distances, want.distances)
    codes = (X[:, 0] + 2 * X[:, 1]).astype(int)
    got, want = rows.kneighbors(1, labels=codes), nearest_other_label(X, codes)
    assert np.array_equal(got.indices, want.indices)
    assert np.array_equal(got.distances, want.distances)


def test_out_of_core_fit_refuses_what_needs_the_rows_in_memory(data):
    X, labels, real = data
    Xd = da.from_array(X, chunks=(CHUNK, -1))
    est = IntrinsicDimension(n_bootstrap=0).fit(Xd)
    with pytest.raises(ValueError, match="fitted out of core.*transform"):
        est.transform(X[:2])
    for y in (labels, real):
        with pytest.raises(ValueError, match="fitted out of core"):
            LabelSharpness().fit(Xd, y).transform(X[:2])
    with pytest.raises(ValueError, match="fitted out of core"):
        LabelSharpness(pairs="random").fit(Xd, labels)
    with pytest.raises(ValueError, match="searched exactly only"):
        IntrinsicDimension(neighbors="approximate").fit(Xd)


def test_out_of_core_inputs_are_validated(data):
    X, labels, _ = data
    bad = X.copy()
    bad[17, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        IntrinsicDimension().fit(da.from_array(bad, chunks=(CHUNK, -1)))
    with pytest.raises(TypeError, match="numeric X"):
        IntrinsicDimension().fit(da.from_array(X.astype(complex), chunks=(CHUNK, -1)))
    with pytest.raises(ValueError, match="2-d"):
        IntrinsicDimension().fit(da.from_array(X[:, 0], chunks=CHUNK))
    with pytest.raises(ValueError, match="one label per sample"):
        LabelSharpness().fit(da.from_array(X, chunks=(CHUNK, -1)), labels[:-1])
    with pytest.raises(ValueError, match="duplicate"):
        IntrinsicDimension(duplicates="raise").fit(da.from_array(X, chunks=(CHUNK, -1)))
    conflict = labels.copy()
    conflict[400] = (labels[1] + 1) % 3
    with pytest.raises(ValueError, match="rows 1 and 400"):
        LabelSharpness().fit(da.from_array(X, chunks=(CHUNK, -1)), conflict)


def test_a_subset_of_out_of_core_rows_is_fitted_out_of_core(data):
    # what a subsample of an out-of-core fit passes to the estimator: a lazy subset of rows
    X, labels, _ = data
    rows = validate_rows(IntrinsicDimension(), da.from_array(X, chunks=(CHUNK, -1)))
    idx = np.sort(np.random.default_rng(0).choice(N, 700, replace=False))
    assert_same_dimension(IntrinsicDimension(n_bootstrap=0).fit(X[idx]),
                          IntrinsicDimension(n_bootstrap=0).fit(rows[idx]))
    assert_same_sharpness(LabelSharpness().fit(X[idx], labels[idx]),
                          LabelSharpness().fit(rows[idx], labels[idx]))


def test_images_are_flattened_and_their_shape_kept(data):
    X, labels, _ = data
    images = X.reshape(N, 3, 4, 4)
    est = LabelSharpness().fit(da.from_array(images, chunks=(CHUNK, 1, 4, 4)), labels)
    assert est.input_shape_ == (3, 4, 4) and est.n_features_in_ == D
    assert_same_sharpness(LabelSharpness().fit(X, labels), est)


# -- a LocalCluster of two worker processes ------------------------------------------------------

@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.mark.parametrize("kind", ["dask", "memmap", "zarr"])
@pytest.mark.parametrize("estimator", ["mle", "twonn"])
def test_dimension_on_cluster_is_the_in_memory_one(client, data, tmp_path, kind, estimator):
    X, _, _ = data
    Xo = as_input(kind, X, tmp_path)
    assert _distributed.is_out_of_core(Xo)
    want = IntrinsicDimension(estimator, n_bootstrap=0).fit(X)
    got = IntrinsicDimension(estimator, n_bootstrap=0).fit(Xo)
    assert want.n_duplicates_ == 4
    assert_same_dimension(want, got)


@pytest.mark.parametrize("kind", ["dask", "memmap", "zarr"])
@pytest.mark.parametrize("target", ["binary", "multiclass", "continuous"])
def test_sharpness_on_cluster_is_the_in_memory_one(client, data, tmp_path, kind, target,
                                                   monkeypatch):
    X, labels, real = data
    y = {"binary": labels % 2, "multiclass": labels, "continuous": real}[target]
    # memmap and zarr blocks of about 300 rows, as the dask chunks
    monkeypatch.setattr(_distributed, "BLOCK_BYTES", CHUNK * D * 8)
    Xo = as_input(kind, X, tmp_path)
    yo = da.from_array(y, chunks=500) if kind == "dask" else y
    assert_same_sharpness(LabelSharpness().fit(X, y), LabelSharpness().fit(Xo, yo))


def test_blocks_follow_chunks_and_block_bytes(client, data, tmp_path, monkeypatch):
    X, _, _ = data
    assert validate_rows(IntrinsicDimension(), as_input("dask", X, tmp_path)).n_blocks == 4
    monkeypatch.setattr(_distributed, "BLOCK_BYTES", 200 * D * 8)
    assert validate_rows(IntrinsicDimension(), as_input("memmap", X, tmp_path)).n_blocks == 6
    # a zarr block is a whole number of its chunks
    assert validate_rows(IntrinsicDimension(), as_input("zarr", X, tmp_path)).n_blocks == 4


class KillOnce(distributed.WorkerPlugin):
    """Ends the worker process abruptly after it finishes its ``after``-th tile, once in the
    cluster's life (the first worker to create ``marker``)."""

    name = "kill-once"

    def __init__(self, marker, after):
        self.marker, self.after = marker, after

    def setup(self, worker):
        self.done = 0

    def transition(self, key, start, finish, **kwargs):
        if finish == "memory" and "_knn_tile" in str(key):
            self.done += 1
            if self.done == self.after:
                try:
                    os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    return
                os._exit(1)


def test_killing_a_worker_mid_run_leaves_the_result_exact(client, tmp_path):
    X = mixture(n=2400, seed=3)[0]
    want = IntrinsicDimension(n_bootstrap=0).fit(X)
    pids = set(client.run(os.getpid).values())
    marker = str(tmp_path / "killed")
    client.register_plugin(KillOnce(marker, after=2))
    try:
        got = IntrinsicDimension(n_bootstrap=0).fit(da.from_array(X, chunks=(200, -1)))
    finally:
        client.unregister_worker_plugin(KillOnce.name)
    # a worker died after its second of 78 tiles, so during the run; its results were recomputed
    assert os.path.exists(marker)
    client.wait_for_workers(2, timeout=120)
    assert set(client.run(os.getpid).values()) != pids
    assert_same_dimension(want, got)


def test_client_peak_is_one_block_plus_n_times_k(client, tmp_path, monkeypatch):
    n, d, k = 4000, 6000, 20
    rng = np.random.default_rng(4)
    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float32, shape=(n, d))
    for s in range(0, n, 500):
        X[s:s + 500] = rng.normal(size=(500, 12)) @ rng.normal(size=(12, d))
    X.flush()
    del X
    block_bytes = 500 * d * 4  # 8 blocks: 36 tiles, about 230 tasks in all
    monkeypatch.setattr(_distributed, "BLOCK_BYTES", block_bytes)
    Xm = np.load(tmp_path / "X.npy", mmap_mode="r")
    IntrinsicDimension(n_bootstrap=0).fit(Xm[:600])  # workers load the kernels first
    tracemalloc.start()
    try:
        est = IntrinsicDimension(k=k, n_bootstrap=0).fit(Xm)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert est.n_samples_fit_ == n
    # the merged candidate lists (m = 24 approximate values, indices, exact values), the
    # unique pairs and their block pairs, the hashes, and the copies that sorting them makes:
    # a few tens of numbers per row and neighbour, plus a block, plus the graph's bookkeeping
    # (a few KB per task, 1 MB here); X itself is three times larger
    bound = block_bytes + 32 * n * k * 8 + 2**20
    assert peak < bound < Xm.nbytes / 2, (peak, bound, Xm.nbytes)


def test_progress_bar_counts_results(client, data, capsys):
    X, _, _ = data
    IntrinsicDimension(n_bootstrap=0, verbose=1).fit(da.from_array(X, chunks=(CHUNK, -1)))
    assert "tiles" in capsys.readouterr().err
