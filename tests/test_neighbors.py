"""The shared kNN engine against brute force (scipy cdist, float64)."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

import skintrinsic._neighbors as engine
from skintrinsic._neighbors import (
    PairDistances,
    deduplicate,
    find_duplicates,
    graph_duplicates,
    graph_neighbors,
    kneighbors,
    kneighbors_graph,
    nearest_other_label,
    resolve_method,
)


def brute_knn(X, k, query=None):
    """Sorted by (distance, index); self excluded, zero distances excluded for queries."""
    self_mode = query is None
    Q = X if self_mode else query
    d2 = cdist(Q, X, "sqeuclidean")
    if self_mode:
        np.fill_diagonal(d2, np.inf)
    else:
        d2[d2 == 0] = np.inf
    tiebreak = np.broadcast_to(np.arange(X.shape[0]), d2.shape)
    idx = np.lexsort((tiebreak, d2), axis=1)[:, :k]
    return np.sqrt(np.take_along_axis(d2, idx, 1)), idx


CASES = [
    # (n, D, k, scale, offset): the last two are far from the origin relative to their
    # spread, where a float32 norm expansion cancels and only the certified re-rank is right
    (300, 20, 20, 1.0, 0.0),
    (200, 784, 5, 1.0, 0.0),
    (60, 3, 59, 1.0, 0.0),
    (300, 50, 10, 1e-3, 1e4),
    (250, 8, 7, 1.0, 1e6),
    # more features than one GEMM chunk sums: partial products added chunk by chunk
    (150, 9000, 6, 1.0, 3.0),
]


@pytest.fixture(params=["chunk-outer", "tiles"])
def pass_kind(request, monkeypatch):
    """Both ways of running the candidate pass: all bands at once, or small tiles."""
    if request.param == "tiles":
        monkeypatch.setattr(engine, "_ACCUMULATOR_BYTES", 0)
        monkeypatch.setattr(engine, "_TILE_BYTES", 37 * 4 * 64)
    return request.param


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n, D, k, scale, offset", CASES)
def test_self_knn_matches_brute_force(n, D, k, scale, offset, dtype, pass_kind):
    rng = np.random.default_rng(n + D)
    X = (rng.standard_normal((n, D)) * scale + offset).astype(dtype)
    got = kneighbors(X, k)
    dist, idx = brute_knn(X, k)
    np.testing.assert_array_equal(got.indices, idx)
    np.testing.assert_allclose(got.distances, dist, rtol=1e-12)


@pytest.mark.parametrize("n, D, k, scale, offset", CASES[:4])
def test_query_knn_excludes_exact_matches(n, D, k, scale, offset, pass_kind):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, D)) * scale + offset
    Q = rng.standard_normal((30, D)) * scale + offset
    Q[0] = X[3]
    Q[1] = X[7]
    got = kneighbors(X, k, query=Q)
    dist, idx = brute_knn(X, k, query=Q)
    np.testing.assert_array_equal(got.indices, idx)
    np.testing.assert_allclose(got.distances, dist, rtol=1e-12)
    assert 3 not in got.indices[0] and 7 not in got.indices[1]


def test_ties_are_broken_by_index():
    grid = np.stack(np.meshgrid(np.arange(9), np.arange(9)), -1).reshape(-1, 2).astype(float)
    got = kneighbors(grid, 8)
    dist, idx = brute_knn(grid, 8)
    np.testing.assert_array_equal(got.indices, idx)
    np.testing.assert_array_equal(got.distances, dist)


def test_float32_and_integer_input_give_float64_exact_distances():
    rng = np.random.default_rng(2)
    X = rng.integers(0, 256, size=(150, 64)).astype(np.uint8)
    got = kneighbors(X.astype(np.float32), 4)
    dist, idx = brute_knn(X.astype(np.float64), 4)
    assert got.distances.dtype == np.float64
    np.testing.assert_array_equal(got.indices, idx)
    np.testing.assert_allclose(got.distances, dist, rtol=1e-14)


def test_input_not_modified():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((100, 5)).astype(np.float32)
    before = X.copy()
    kneighbors(X, 3)
    nearest_other_label(X, np.arange(100) % 2)
    np.testing.assert_array_equal(X, before)


def test_k_out_of_range_is_a_clear_error():
    X = np.random.default_rng(0).standard_normal((5, 2))
    with pytest.raises(ValueError, match="k=5 neighbours.*only 4 other points"):
        kneighbors(X, 5)
    with pytest.raises(ValueError, match="k=0"):
        kneighbors(X, 0)


def test_find_duplicates_and_policy():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((50, 3))
    X[10] = X[2]
    X[20] = X[2]
    X[30] = -0.0 * X[30]  # -0.0 and 0.0 are the same point
    X[31] = 0.0 * X[31]
    info = find_duplicates(X)
    assert info.n_duplicates == 3
    assert info.groups[10] == 2 and info.groups[20] == 2 and info.groups[31] == 30
    expected_keep = np.array([i for i in range(50) if i not in (10, 20, 31)])
    np.testing.assert_array_equal(info.keep, expected_keep)
    with pytest.warns(UserWarning, match="Dropped 3 exact duplicate rows"):
        dropped = deduplicate(X, "drop")
    assert dropped.n_duplicates == 3
    np.testing.assert_array_equal(dropped.keep, expected_keep)
    with pytest.raises(ValueError, match="3 exact duplicate rows.*row 10 repeats row 2"):
        deduplicate(X, "raise")


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_nearest_other_label_matches_brute_force(n_classes, pass_kind):
    rng = np.random.default_rng(n_classes)
    X = rng.standard_normal((400, 12))
    y = rng.integers(0, n_classes, 400)
    d = cdist(X, X)
    d[y[:, None] == y[None, :]] = np.inf
    got = nearest_other_label(X, y)
    np.testing.assert_array_equal(got.indices[:, 0], d.argmin(1))
    np.testing.assert_allclose(got.distances[:, 0], d.min(1), rtol=1e-12)
    # queries with their own labels
    Q = rng.standard_normal((20, 12))
    qy = rng.integers(0, n_classes, 20)
    dq = cdist(Q, X)
    dq[qy[:, None] == y[None, :]] = np.inf
    got_q = nearest_other_label(X, y, query=Q, query_labels=qy)
    np.testing.assert_array_equal(got_q.indices[:, 0], dq.argmin(1))


def test_nearest_other_label_single_class_is_an_error():
    with pytest.raises(ValueError, match="at least two distinct labels"):
        nearest_other_label(np.eye(3), np.zeros(3))


@pytest.mark.parametrize("scale, offset", [(1e-2, 50.0), (1.0, 0.0), (1e250, 0.0)])
def test_distance_blocks_respect_their_error_bound(scale, offset):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((300, 40)) * scale + offset
    pairs = PairDistances(X)
    seen = 0
    for start, stop, d2, err in pairs.blocks(64):
        exact = cdist(X[start:stop] / pairs.unit, X / pairs.unit, "sqeuclidean")
        assert np.all(np.abs(d2 - exact) <= err * (1 + 1e-12))
        seen += stop - start
    assert seen == 300
    Xu = X / pairs.unit  # frame units: a power-of-two rescaling
    np.testing.assert_allclose(pairs.exact(np.arange(5), np.arange(5, 10)),
                               np.sum((Xu[:5] - Xu[5:10]) ** 2, axis=1), rtol=1e-14)


def test_resolve_method():
    assert resolve_method("auto", 10) == "exact"
    assert resolve_method("auto", 10**6) == "approximate"
    with pytest.raises(ValueError, match="'exact', 'approximate' or 'auto'"):
        resolve_method("fast", 10)


@pytest.mark.slow
def test_approximate_search_recovers_exact_neighbours_on_easy_data():
    # pynndescent's numba JIT costs 20-30 s per process: this is the only engine test using it
    rng = np.random.default_rng(6)
    X = rng.uniform(size=(1500, 3)) @ rng.standard_normal((3, 30))
    exact = kneighbors(X, 10)
    approx = kneighbors(X, 10, method="approximate", random_state=0)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx.indices, exact.indices)])
    assert recall > 0.98
    same = np.all(approx.indices == exact.indices, axis=1)
    # where the neighbour sets agree, distances are recomputed exactly, so they agree too
    np.testing.assert_allclose(approx.distances[same], exact.distances[same], rtol=1e-12)


def test_rows_the_float32_bound_cannot_certify_are_searched_again_in_float64():
    # A tight cluster far from the rest: its float32 distances are pure rounding noise, so the
    # bound must reject those rows and the float64 re-search must answer them.
    rng = np.random.default_rng(7)
    X = np.vstack([rng.standard_normal((200, 8)), 1e3 + 1e-4 * rng.standard_normal((40, 8))])
    stats = {}
    got = kneighbors(X, 5, stats=stats)
    assert stats["float64"] >= 40
    dist, idx = brute_knn(X, 5)
    np.testing.assert_array_equal(got.indices, idx)
    np.testing.assert_allclose(got.distances, dist, rtol=1e-12)


@pytest.mark.parametrize("labels", [False, True])
@pytest.mark.parametrize("query", [False, True])
def test_every_row_refused_by_both_certificates_is_searched_exhaustively(monkeypatch, labels,
                                                                         query):
    monkeypatch.setattr(engine, "_certified", lambda *a, **kw: np.zeros(a[2].size, bool))
    rng = np.random.default_rng(8)
    X = rng.standard_normal((120, 6))
    Q = rng.standard_normal((30, 6)) if query else None
    stats = {}
    if labels:
        y = rng.integers(0, 3, 120)
        qy = rng.integers(0, 3, 30) if query else None
        got = nearest_other_label(X, y, query=Q, query_labels=qy, stats=stats)
        d = cdist(X if Q is None else Q, X)
        d[(y if qy is None else qy)[:, None] == y[None, :]] = np.inf
        np.testing.assert_array_equal(got.indices[:, 0], d.argmin(1))
        np.testing.assert_allclose(got.distances[:, 0], d.min(1), rtol=1e-12)
    else:
        if Q is not None:
            Q[0] = X[4]
        got = kneighbors(X, 7, query=Q, stats=stats)
        dist, idx = brute_knn(X, 7, query=Q)
        np.testing.assert_array_equal(got.indices, idx)
        np.testing.assert_allclose(got.distances, dist, rtol=1e-12)
    n = 120 if Q is None else 30
    assert stats == {"rows": n, "float64": n, "exhaustive": n}


@pytest.mark.parametrize("c", [1e-300, 1e-150, 1e19, 1e150, 1e300])
def test_any_finite_scale_gives_the_scaled_answer(c):
    rng = np.random.default_rng(9)
    X = rng.uniform(0, 255, size=(200, 30))
    ref = kneighbors(X, 10)
    got = kneighbors(X * c, 10)
    np.testing.assert_array_equal(got.indices, ref.indices)
    np.testing.assert_allclose(got.distances / c, ref.distances, rtol=1e-12)
    y = np.arange(200) % 3
    ref_b, got_b = nearest_other_label(X, y), nearest_other_label(X * c, y)
    np.testing.assert_array_equal(got_b.indices, ref_b.indices)
    np.testing.assert_allclose(got_b.distances / c, ref_b.distances, rtol=1e-12)


def test_float32_beyond_its_square_range_is_exact():
    # 1e19 squared overflows float32: the frame's power-of-two scale keeps the GEMM in range
    rng = np.random.default_rng(10)
    X = (rng.standard_normal((150, 20)) * 1e19).astype(np.float32)
    got = kneighbors(X, 6)
    dist, idx = brute_knn(X.astype(np.float64), 6)
    np.testing.assert_array_equal(got.indices, idx)
    np.testing.assert_allclose(got.distances, dist, rtol=1e-12)


def test_distances_beyond_float64_are_refused_before_any_work():
    X = np.full((10, 4), 1.0)
    X[::2] = 1e308
    with pytest.raises(ValueError, match="exceed the largest float64 number.*Rescale X"):
        kneighbors(X, 3)


def test_outlier_row_leaves_the_other_rows_certified():
    # one row of huge values used to loosen every row's bound (a global max norm)
    rng = np.random.default_rng(11)
    X = rng.integers(0, 256, size=(1500, 196)).astype(np.float32)
    X[700] = 1e4
    stats = {}
    got = kneighbors(X, 20, stats=stats)
    assert stats["float64"] <= 2
    dist, idx = brute_knn(X.astype(np.float64), 20)
    np.testing.assert_array_equal(got.indices, idx)


def test_duplicates_are_found_by_hash_and_confirmed(monkeypatch):
    import skintrinsic._kernels as kernels

    rng = np.random.default_rng(12)
    X = rng.standard_normal((40, 5))
    X[7] = X[3]
    # every row in one bucket: only the equality check can separate them
    monkeypatch.setattr(engine, "row_hashes", lambda A: np.zeros(A.shape[0], np.uint64))
    info = find_duplicates(X)
    assert info.n_duplicates == 1 and info.groups[7] == 3
    monkeypatch.undo()
    assert np.unique(kernels.row_hashes(X)).size == 39


def test_precomputed_graph_matches_the_exact_search():
    from sklearn.neighbors import KNeighborsTransformer

    rng = np.random.default_rng(13)
    X = rng.standard_normal((200, 7))
    G = KNeighborsTransformer(n_neighbors=9, mode="distance").fit_transform(X)
    ours = kneighbors(X, 9)
    from_graph = graph_neighbors(G, 9, square=True)
    np.testing.assert_array_equal(from_graph.indices, ours.indices)
    np.testing.assert_allclose(from_graph.distances, ours.distances, rtol=1e-10)
    G2 = kneighbors_graph(X, 9)
    np.testing.assert_allclose(graph_neighbors(G2, 9, square=True).distances, ours.distances)
    assert graph_duplicates(G2).n_duplicates == 0
    with pytest.raises(ValueError, match="only 9 usable neighbours, but k=10"):
        graph_neighbors(G2, 10, square=True)


def test_duplicate_warning_points_at_the_users_line():
    from skintrinsic import IntrinsicDimension

    X = np.random.default_rng(8).standard_normal((60, 4))
    X[5] = X[3]
    for method in ("fit", "fit_transform"):
        with pytest.warns(UserWarning, match="Dropped 1 exact duplicate") as record:
            getattr(IntrinsicDimension(k=5, n_bootstrap=40), method)(X)
        assert record[0].filename == __file__, method


def test_float64_re_search_when_the_candidates_are_nearly_every_point():
    # m = k + 4 = n - 2: in the float64 re-search the row itself holds a slot, so two points
    # are left out of the candidates and must still be ruled out (or searched) properly
    rng = np.random.default_rng(14)
    X = np.vstack([rng.standard_normal((5, 8)), 1e3 + 1e-4 * rng.standard_normal((25, 8))])
    stats = {}
    got = kneighbors(X, 24, stats=stats)
    assert stats["float64"] > 0
    dist, idx = brute_knn(X, 24)
    np.testing.assert_array_equal(got.indices, idx)
    np.testing.assert_allclose(got.distances, dist, rtol=1e-12)


def test_the_device_merge_keeps_the_same_running_sets_as_the_compiled_one():
    # CUDA runs merge tiles with torch's top-k; the CPU with a compiled insertion pass
    import torch

    rng = np.random.default_rng(15)
    vals = {name: torch.full((50, 6), float("inf")) for name in ("kernel", "torch")}
    cand = {name: torch.full((50, 6), -1, dtype=torch.int64) for name in ("kernel", "torch")}
    # distinct values throughout: the two merges may order equal values differently
    values = rng.permutation(3 * 30 * 40).reshape(3, 30, 40).astype(np.float32)
    for t, offset in enumerate((0, 40, 80)):
        tile = torch.from_numpy(values[t])
        engine._merge_candidates(vals["kernel"], cand["kernel"], slice(10, 40), tile.clone(),
                                 offset, 6)
        engine._merge_candidates_torch(vals["torch"], cand["torch"], slice(10, 40), tile,
                                       offset, 6)
    torch.testing.assert_close(vals["kernel"], vals["torch"])
    torch.testing.assert_close(cand["kernel"], cand["torch"])
    assert torch.all(vals["kernel"][:10] == float("inf"))


def test_values_too_small_for_float64_distances_are_refused_before_any_work():
    with pytest.raises(ValueError, match="leave float64's range.*Rescale X"):
        kneighbors(np.eye(5) * 1e-310, 2)
