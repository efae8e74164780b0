"""The shared kNN engine against brute force (scipy cdist, float64)."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from skintrinsic._neighbors import (
    deduplicate,
    exact_sq_distances,
    find_duplicates,
    iter_sq_distance_blocks,
    kneighbors,
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
]


@pytest.mark.parametrize("n, D, k, scale, offset", CASES)
@pytest.mark.parametrize("block_size", [None, 37])
def test_self_knn_matches_brute_force(n, D, k, scale, offset, block_size):
    rng = np.random.default_rng(n + D)
    X = rng.standard_normal((n, D)) * scale + offset
    got = kneighbors(X, k, block_size=block_size)
    dist, idx = brute_knn(X, k)
    np.testing.assert_array_equal(got.indices, idx)
    np.testing.assert_allclose(got.distances, dist, rtol=1e-12)


@pytest.mark.parametrize("n, D, k, scale, offset", CASES[:4])
def test_query_knn_excludes_exact_matches(n, D, k, scale, offset):
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
    got = kneighbors(grid, 8, block_size=10)
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
        keep, n_dup = deduplicate(X, "drop")
    assert n_dup == 3
    np.testing.assert_array_equal(keep, expected_keep)
    with pytest.raises(ValueError, match="3 exact duplicate rows.*row 10 repeats row 2"):
        deduplicate(X, "raise")


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_nearest_other_label_matches_brute_force(n_classes):
    rng = np.random.default_rng(n_classes)
    X = rng.standard_normal((400, 12))
    y = rng.integers(0, n_classes, 400)
    d = cdist(X, X)
    d[y[:, None] == y[None, :]] = np.inf
    got = nearest_other_label(X, y, block_size=64)
    np.testing.assert_array_equal(got.indices[:, 0], d.argmin(1))
    np.testing.assert_allclose(got.distances[:, 0], d.min(1), rtol=1e-12)
    one_sided = nearest_other_label(X, y, one_sided=True)
    assert np.isclose(one_sided.distances.min(), d.min(), rtol=1e-12)
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


def test_distance_blocks_respect_their_error_bound():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((300, 40)) * 1e-2 + 50.0
    seen = 0
    for start, stop, d2, err in iter_sq_distance_blocks(X, block_size=64):
        exact = cdist(X[start:stop], X, "sqeuclidean")
        assert np.all(np.abs(d2 - exact) <= err[:, None])
        seen += stop - start
    assert seen == 300
    np.testing.assert_allclose(exact_sq_distances(X[:5], X[5:10]),
                               np.sum((X[:5] - X[5:10]) ** 2, axis=1), rtol=1e-15)


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


def test_rows_the_float32_bound_cannot_certify_are_searched_exactly(monkeypatch):
    # A tight cluster far from the centroid: its float32 distances are pure rounding noise,
    # so the bound must reject those rows and the float64 fallback must answer them.
    import skintrinsic._neighbors as engine

    rng = np.random.default_rng(7)
    X = np.vstack([rng.standard_normal((200, 8)), 1e3 + 1e-4 * rng.standard_normal((40, 8))])
    calls = []
    real = engine._direct_sq
    monkeypatch.setattr(engine, "_direct_sq", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    got = kneighbors(X, 5)
    assert len(calls) >= 40
    dist, idx = brute_knn(X, 5)
    np.testing.assert_array_equal(got.indices, idx)
    np.testing.assert_allclose(got.distances, dist, rtol=1e-12)


def test_duplicate_warning_points_at_the_users_line():
    from skintrinsic import IntrinsicDimension

    X = np.random.default_rng(8).standard_normal((60, 4))
    X[5] = X[3]
    for method in ("fit", "fit_transform"):
        with pytest.warns(UserWarning, match="Dropped 1 exact duplicate") as record:
            getattr(IntrinsicDimension(k=5, n_bootstrap=40), method)(X)
        assert record[0].filename == __file__, method
