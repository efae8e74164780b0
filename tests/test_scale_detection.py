"""Scale-detection datasets against brute-force enumeration of pixel pairs."""

import itertools
import math

import numpy as np
import pytest

from skintrinsic.datasets import make_scale_detection, make_scale_detection_1d


def active_pairs(X):
    flat = X.reshape(X.shape[0], -1)
    idx = [tuple(np.flatnonzero(row)) for row in flat]
    assert all(len(p) == 2 for p in idx)
    return idx


def distance_2d(a, b, d, norm, periodic):
    (ya, xa), (yb, xb) = divmod(a, d), divmod(b, d)
    dy, dx = abs(ya - yb), abs(xa - xb)
    if periodic:
        dy, dx = min(dy, d - dy), min(dx, d - dx)
    return math.hypot(dy, dx) if norm == "l2" else max(dy, dx)


@pytest.mark.parametrize("norm, periodic", [("l2", False), ("linf", False), ("l2", True)])
def test_labels_values_and_balance_match_brute_force(norm, periodic):
    d, xi, gap = 12, 6, 2
    X, y = make_scale_detection(400, d=d, xi=xi, gap=gap, norm=norm, periodic=periodic,
                                random_state=0)
    assert X.shape == (400, 1, d, d) and X.dtype == np.float32 and y.dtype == np.int64
    assert np.all((X == 0) | (X == d * d / 2))
    np.testing.assert_allclose(X.mean(axis=(1, 2, 3)), 1.0)
    assert (y == 1).sum() == (y == -1).sum() == 200
    pairs = active_pairs(X)
    assert len(set(pairs)) == 400  # distinct configurations
    for (a, b), label in zip(pairs, y):
        dist = distance_2d(a, b, d, norm, periodic)
        assert (dist < xi - gap / 2) if label == 1 else (dist >= xi + gap / 2)


def test_every_pixel_can_be_active_including_the_diagonal():
    d, xi, gap = 5, 2.5, 1
    close = sum(1 for a, b in itertools.combinations(range(d * d), 2)
                if distance_2d(a, b, d, "l2", False) < xi - gap / 2)
    far = sum(1 for a, b in itertools.combinations(range(d * d), 2)
              if distance_2d(a, b, d, "l2", False) >= xi + gap / 2)
    n = 2 * min(close, far)
    X, y = make_scale_detection(n, d=d, xi=xi, gap=gap, random_state=0)
    pairs = active_pairs(X)
    small = close if close <= far else far
    cls = 1 if close <= far else -1
    # the smaller class is drawn exhaustively: exactly the brute-force set
    expected = {(a, b) for a, b in itertools.combinations(range(d * d), 2)
                if (distance_2d(a, b, d, "l2", False) < xi - gap / 2) == (cls == 1)
                and not (xi - gap / 2 <= distance_2d(a, b, d, "l2", False) < xi + gap / 2)}
    assert {p for p, label in zip(pairs, y) if label == cls} == expected and small == len(expected)
    diagonal = {i * d + i for i in range(d)}
    assert any(a in diagonal or b in diagonal for a, b in pairs)
    with pytest.raises(ValueError, match="distinct .* pairs exist.*lower n_samples"):
        make_scale_detection(n + 2, d=d, xi=xi, gap=gap)


def test_seeded_disjoint_stratified_splits():
    a = make_scale_detection(200, d=10, xi=5, test_size=0.25, random_state=3)
    b = make_scale_detection(200, d=10, xi=5, test_size=0.25, random_state=3)
    c = make_scale_detection(200, d=10, xi=5, test_size=0.25, random_state=4)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0])
    X_train, X_test, y_train, y_test = a
    assert len(X_train) == 150 and len(X_test) == 50
    assert (y_test == 1).sum() == 25 and (y_train == 1).sum() == 75
    assert not set(active_pairs(X_train)) & set(active_pairs(X_test))


@pytest.mark.parametrize("task", [1, 2, "block"])
def test_1d_tasks_match_brute_force(task):
    length, xi = 32, 8
    X, y = make_scale_detection_1d(120, length=length, xi=xi, task=task, random_state=0)
    assert X.shape == (120, 1, length) and (y == 1).sum() == 60
    np.testing.assert_allclose((X.astype(np.float64) ** 2).mean(axis=(1, 2)), 1.0, rtol=1e-6)
    for (a, b), label in zip(active_pairs(X), y):
        if task == 1:
            sep = min(b - a, length - (b - a))
            assert (sep < xi) == (label == 1)
        else:
            assert (a // xi == b // xi) == (label == 1)


def test_1d_gap_and_errors():
    X, y = make_scale_detection_1d(100, length=40, xi=10, gap=4, random_state=1)
    for (a, b), label in zip(active_pairs(X), y):
        sep = min(b - a, 40 - (b - a))
        assert sep < 8 if label == 1 else sep >= 12
    with pytest.raises(ValueError, match="task"):
        make_scale_detection_1d(10, task=3)
    with pytest.raises(ValueError, match="norm"):
        make_scale_detection(10, norm="l1")
