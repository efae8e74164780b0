"""LabelSharpness against a brute-force oracle: scipy cdist and the explicit max over all pairs."""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from skintrinsic import LabelSharpness
from skintrinsic import _ratios as ratios_module
from skintrinsic import sharpness as sharpness_module
from skintrinsic.datasets import load_mnist


def label_gaps(y_a, y_b, categorical):
    if categorical:
        return (y_a[:, None] != y_b[None, :]).astype(float)
    return np.abs(y_a[:, None].astype(float) - y_b[None, :].astype(float))


def brute_ratios(X, y, categorical):
    """All |y_j - y_k| / ||x_j - x_k||, with pairs of identical inputs (and j == k) set to 0."""
    X = np.reshape(X, (len(X), -1)).astype(float)
    d = cdist(X, X)
    gaps = label_gaps(np.asarray(y), np.asarray(y), categorical)
    assert not np.any((d == 0) & (gaps > 0)), "the oracle is undefined for conflicting duplicates"
    return np.divide(gaps, d, out=np.zeros_like(d), where=d > 0)


def brute_query(X, y, Q, categorical):
    """max over all fitted pairs (j, k) of |y_j - y_k| / (||q - x_j|| + ||q - x_k||)."""
    d = cdist(np.reshape(Q, (len(Q), -1)), np.reshape(X, (len(X), -1)))
    gaps = label_gaps(np.asarray(y), np.asarray(y), categorical)
    out = np.empty(len(Q))
    for i, row in enumerate(d):
        den = row[:, None] + row[None, :]
        out[i] = np.divide(gaps, den, out=np.zeros_like(den), where=den > 0).max()
    return out


def make_data(kind, n=90, D=6, offset=0.0, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, D)) * scale + offset
    if kind == "binary":
        y = rng.integers(0, 2, n)
    elif kind == "multiclass":
        y = rng.integers(0, 4, n)
    else:
        y = rng.standard_normal(n)
    return X, y


KINDS = ["binary", "multiclass", "continuous"]


# ---------------------------------------------------------------- exact mode against brute force


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "n, D, offset, scale",
    [
        (90, 6, 0.0, 1.0),
        (60, 1, 0.0, 1.0),
        # far from the origin relative to the spread: float32 norm expansions cancel here
        (80, 30, 1e4, 1e-3),
    ],
)
def test_exact_mode_matches_brute_force(kind, n, D, offset, scale):
    X, y = make_data(kind, n, D, offset, scale)
    categorical = kind != "continuous"
    ratios = brute_ratios(X, y, categorical)
    ks = LabelSharpness().fit(X, y)
    assert ks.label_type_ == ("categorical" if categorical else "continuous")
    np.testing.assert_allclose(ks.sharpness_, ratios.max(), rtol=1e-12)
    np.testing.assert_allclose(ks.local_sharpness_, ratios.max(axis=1), rtol=1e-12)
    j, k = ks.pair_
    assert j < k
    np.testing.assert_allclose(ratios[j, k], ratios.max(), rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_transform_matches_brute_force(kind):
    X, y = make_data(kind, 70, 5, seed=1)
    categorical = kind != "continuous"
    rng = np.random.default_rng(2)
    Q = rng.standard_normal((25, 5)) * 1.5
    Q[0] = X[3]  # a query equal to a fitted point
    ks = LabelSharpness().fit(X, y)
    got = ks.transform(Q)
    assert got.shape == (25, 1) and got.dtype == np.float64
    np.testing.assert_allclose(got[:, 0], brute_query(X, y, Q, categorical), rtol=1e-12)
    np.testing.assert_allclose(got[0, 0], ks.local_sharpness_[3], rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_transform_of_training_set_is_local_sharpness(kind):
    # pairs through x_i dominate: (a + b) / (d_j + d_k) <= max(a / d_j, b / d_k)
    X, y = make_data(kind, 60, 4, seed=3)
    ks = LabelSharpness().fit(X, y)
    np.testing.assert_allclose(ks.transform(X)[:, 0], ks.local_sharpness_, rtol=1e-12)
    np.testing.assert_allclose(ks.fit_transform(X, y)[:, 0], ks.local_sharpness_, rtol=1e-12)


@pytest.mark.parametrize("kind", ["multiclass", "continuous"])
def test_many_small_blocks_give_the_same_answer(kind, monkeypatch):
    X, y = make_data(kind, 75, 8, seed=4)
    Q = make_data(kind, 30, 8, seed=5)[0]
    whole = LabelSharpness().fit(X, y)
    # the minimum of 16 rows per float32 block and 5 pairs per float64 gather: many boundaries
    monkeypatch.setattr(ratios_module, "BLOCK_BYTES", 1)
    monkeypatch.setattr(ratios_module, "GATHER_PAIRS", 5)
    blocked = LabelSharpness().fit(X, y)
    np.testing.assert_allclose(blocked.local_sharpness_, whole.local_sharpness_, rtol=1e-12)
    assert blocked.pair_ == whole.pair_
    np.testing.assert_allclose(blocked.transform(Q), whole.transform(Q), rtol=1e-12)
    oracle = brute_ratios(X, y, kind != "continuous").max(axis=1)
    np.testing.assert_allclose(blocked.local_sharpness_, oracle, rtol=1e-12)


def test_all_ratios_tied_continuous():
    # y is a linear function of x: every pair has the same ratio 2, so pruning keeps every pair
    rng = np.random.default_rng(6)
    t = rng.permutation(60).astype(float)
    X = np.outer(t, [0.6, 0.8])  # on a line through the origin, ||x_j - x_k|| = |t_j - t_k|
    y = 2.0 * t
    ks = LabelSharpness(label_type="continuous").fit(X, y)
    np.testing.assert_allclose(ks.local_sharpness_, 2.0, rtol=1e-12)
    Q = rng.standard_normal((10, 2))
    np.testing.assert_allclose(ks.transform(Q)[:, 0], brute_query(X, y, Q, False), rtol=1e-12)


@pytest.mark.parametrize("label_type", ["categorical", "continuous"])
def test_grid_with_tied_distances_and_labels(label_type):
    # integer grid and integer labels: many equal distances, equal ratios, queries on fitted points
    grid = np.stack(np.meshgrid(np.arange(7), np.arange(7)), -1).reshape(-1, 2).astype(float)
    y = (grid.sum(axis=1) // 3).astype(int)
    categorical = label_type == "categorical"
    ks = LabelSharpness(label_type=label_type).fit(grid, y)
    ratios = brute_ratios(grid, y, categorical)
    np.testing.assert_allclose(ks.local_sharpness_, ratios.max(axis=1), rtol=1e-12)
    Q = np.concatenate([grid[::5], grid[::7] + 0.5])
    np.testing.assert_allclose(ks.transform(Q)[:, 0], brute_query(grid, y, Q, categorical),
                               rtol=1e-12)


def test_images_are_flattened_with_plain_l2():
    X, y = make_data("binary", 40, 12, seed=7)
    images = X.reshape(40, 3, 2, 2)
    ks = LabelSharpness().fit(images, y)
    assert ks.input_shape_ == (3, 2, 2) and ks.n_features_in_ == 12
    np.testing.assert_allclose(ks.sharpness_, brute_ratios(X, y, True).max(), rtol=1e-12)
    np.testing.assert_allclose(ks.transform(images[:5])[:, 0], ks.local_sharpness_[:5], rtol=1e-12)
    with pytest.raises(ValueError, match="image shape"):
        ks.transform(X[:5].reshape(5, 2, 6))


def test_doc_example_by_hand():
    # 1-D points 0, 1 | 3, 7: the closest differently labelled pair is (1, 3)
    X = np.array([[0.0], [1.0], [3.0], [7.0]])
    ks = LabelSharpness().fit(X, ["a", "a", "b", "b"])
    assert ks.sharpness_ == 0.5 and ks.pair_ == (1, 2)
    np.testing.assert_array_equal(ks.classes_, ["a", "b"])
    np.testing.assert_allclose(ks.local_sharpness_, [1 / 3, 1 / 2, 1 / 2, 1 / 6])
    # from x = 5: nearest "a" at 4, nearest "b" at 2
    np.testing.assert_allclose(ks.transform([[5.0]]), [[1 / 6]])


# ---------------------------------------------------------------- random-pair mode


@pytest.mark.parametrize("kind", KINDS)
def test_random_pairs_equal_brute_force_on_the_same_pairs(kind):
    X, y = make_data(kind, 80, 5, seed=8)
    categorical = kind != "continuous"
    ratios = brute_ratios(X, y, categorical)
    ks = LabelSharpness(pairs="random", n_pairs=300, random_state=0).fit(X, y)
    pairs = ks.sampled_pairs_
    assert pairs.shape == (300, 2) and np.all(pairs[:, 0] != pairs[:, 1])
    sampled = ratios[pairs[:, 0], pairs[:, 1]]
    np.testing.assert_allclose(ks.sharpness_, sampled.max(), rtol=1e-12)
    np.testing.assert_allclose(ratios[ks.pair_], sampled.max(), rtol=1e-12)
    expected_local = np.full(80, -np.inf)
    np.maximum.at(expected_local, pairs[:, 0], sampled)
    np.maximum.at(expected_local, pairs[:, 1], sampled)
    drawn = np.isfinite(expected_local)
    np.testing.assert_allclose(ks.local_sharpness_[drawn], expected_local[drawn], rtol=1e-12)
    assert np.all(np.isnan(ks.local_sharpness_[~drawn]))
    # the all-pairs value bounds the random one, sample by sample too
    exact = LabelSharpness().fit(X, y)
    assert ks.sharpness_ <= exact.sharpness_
    assert np.all(ks.local_sharpness_[drawn] <= exact.local_sharpness_[drawn] * (1 + 1e-12))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), n_pairs=st.integers(1, 60), kind=st.sampled_from(KINDS))
def test_random_mode_never_exceeds_exact(seed, n_pairs, kind):
    X, y = make_data(kind, 25, 3, seed=seed)
    if np.unique(y).size < 2:
        y[0] = y[1] + 1
    exact = LabelSharpness().fit(X, y).sharpness_
    estimate = LabelSharpness(pairs="random", n_pairs=n_pairs, random_state=seed).fit(X, y)
    assert 0.0 <= estimate.sharpness_ <= exact


def test_random_state_reproducibility():
    X, y = make_data("binary", 100, 4, seed=9)
    a = LabelSharpness(pairs="random", n_pairs=200, random_state=3).fit(X, y)
    b = LabelSharpness(pairs="random", n_pairs=200, random_state=3).fit(X, y)
    c = LabelSharpness(pairs="random", n_pairs=200, random_state=4).fit(X, y)
    np.testing.assert_array_equal(a.sampled_pairs_, b.sampled_pairs_)
    assert a.sharpness_ == b.sharpness_ and a.pair_ == b.pair_
    assert not np.array_equal(a.sampled_pairs_, c.sampled_pairs_)
    d = LabelSharpness(pairs="random", n_pairs=200, random_state=np.random.RandomState(3)).fit(X, y)
    np.testing.assert_array_equal(a.sampled_pairs_, d.sampled_pairs_)


def test_random_mode_transform_is_exact():
    X, y = make_data("continuous", 50, 3, seed=10)
    Q = make_data("continuous", 8, 3, seed=11)[0]
    ks = LabelSharpness(pairs="random", n_pairs=20, random_state=0).fit(X, y)
    np.testing.assert_allclose(ks.transform(Q)[:, 0], brute_query(X, y, Q, False), rtol=1e-12)


# ---------------------------------------------------------------- exact properties


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), c=st.floats(1e-3, 1e3), kind=st.sampled_from(KINDS))
def test_scaling_law(seed, c, kind):
    X, y = make_data(kind, 20, 3, seed=seed)
    if np.unique(y).size < 2:
        y[0] = y[1] + 1
    base = LabelSharpness().fit(X, y)
    scaled = LabelSharpness().fit(c * X, y)
    np.testing.assert_allclose(scaled.sharpness_, base.sharpness_ / c, rtol=1e-12)
    np.testing.assert_allclose(scaled.local_sharpness_, base.local_sharpness_ / c, rtol=1e-12)
    Q = make_data(kind, 4, 3, seed=seed + 1)[0]
    np.testing.assert_allclose(scaled.transform(c * Q), base.transform(Q) / c, rtol=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), n_classes=st.integers(2, 5))
def test_class_names_do_not_matter(seed, n_classes):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((30, 4))
    y = rng.integers(0, n_classes, 30)
    y[:n_classes] = np.arange(n_classes)
    base = LabelSharpness().fit(X, y)
    # permute the class names among themselves, then rename them to strings
    permuted = rng.permutation(n_classes)[y]
    names = np.array(["zebra", "ant", "moose", "cat", "bee"])[rng.permutation(5)[:n_classes]][y]
    for relabelled in (permuted, names):
        other = LabelSharpness().fit(X, relabelled)
        assert other.sharpness_ == base.sharpness_ and other.pair_ == base.pair_
        np.testing.assert_array_equal(other.local_sharpness_, base.local_sharpness_)


@pytest.mark.parametrize("kind", KINDS)
def test_sample_order_does_not_matter(kind):
    X, y = make_data(kind, 50, 4, seed=12)
    order = np.random.default_rng(13).permutation(50)
    base = LabelSharpness().fit(X, y)
    shuffled = LabelSharpness().fit(X[order], y[order])
    np.testing.assert_allclose(shuffled.sharpness_, base.sharpness_, rtol=1e-12)
    np.testing.assert_allclose(shuffled.local_sharpness_, base.local_sharpness_[order], rtol=1e-12)
    assert sorted(order[list(shuffled.pair_)]) == list(base.pair_)


def test_continuous_labels_shift_and_reflection():
    X, y = make_data("continuous", 40, 3, seed=14)
    base = LabelSharpness().fit(X, y)
    for other_y in (-y, y + 100.0):
        other = LabelSharpness().fit(X, other_y)
        np.testing.assert_allclose(other.sharpness_, base.sharpness_, rtol=1e-12)
        assert other.pair_ == base.pair_


@pytest.mark.parametrize("c", [1e-200, 1e200])
def test_extreme_label_scales(c):
    # K_F is linear in y; squared label gaps of 1e400 or 1e-400 must not overflow or vanish
    X, y = make_data("continuous", 40, 3, seed=20)
    Q = make_data("continuous", 6, 3, seed=21)[0]
    # label_type given: type_of_target's integer test casts 1e200 to int and warns
    base = LabelSharpness(label_type="continuous").fit(X, y)
    scaled = LabelSharpness(label_type="continuous").fit(X, c * y)
    np.testing.assert_allclose(scaled.local_sharpness_, c * base.local_sharpness_, rtol=1e-12)
    assert scaled.pair_ == base.pair_
    np.testing.assert_allclose(scaled.transform(Q), c * base.transform(Q), rtol=1e-12)


def test_label_type_detection_and_override():
    X, y = make_data("multiclass", 40, 3, seed=15)
    assert LabelSharpness().fit(X, y.astype(float)).label_type_ == "categorical"
    ks = LabelSharpness(label_type="continuous").fit(X, y)
    assert ks.label_type_ == "continuous" and not hasattr(ks, "classes_")
    np.testing.assert_allclose(ks.sharpness_, brute_ratios(X, y, False).max(), rtol=1e-12)
    yc = make_data("continuous", 40, 3, seed=15)[1]
    forced = LabelSharpness(label_type="categorical").fit(X, yc)
    assert forced.classes_.size == 40
    np.testing.assert_allclose(forced.sharpness_, brute_ratios(X, yc, True).max(), rtol=1e-12)


# ---------------------------------------------------------------- identical inputs


@pytest.mark.parametrize("kind", KINDS)
def test_identical_inputs_with_different_labels_raise_with_indices(kind):
    X, y = make_data(kind, 30, 3, seed=16)
    X[17] = X[4]
    y[17] = y[4] + 1
    for pairs in ("all", "random"):
        with pytest.raises(ValueError, match=r"rows 4 and 17.*infinite"):
            LabelSharpness(pairs=pairs).fit(X, y)


@pytest.mark.parametrize("kind", KINDS)
def test_identical_inputs_with_the_same_label_are_excluded(kind):
    X, y = make_data(kind, 30, 3, seed=17)
    X[[20, 25]] = X[2]
    y[[20, 25]] = y[2]
    ratios = brute_ratios(X, y, kind != "continuous")  # 0 for the excluded pairs
    ks = LabelSharpness().fit(X, y)
    assert np.isfinite(ks.sharpness_)
    np.testing.assert_allclose(ks.sharpness_, ratios.max(), rtol=1e-12)
    np.testing.assert_allclose(ks.local_sharpness_, ratios.max(axis=1), rtol=1e-12)
    assert ks.local_sharpness_[20] == ks.local_sharpness_[2] == ks.local_sharpness_[25]
    np.testing.assert_allclose(ks.transform(X[[2, 20]])[:, 0], ks.local_sharpness_[[2, 20]],
                               rtol=1e-12)
    # three copies of one labelled point and one other point: a single valid pair
    X2 = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [3.0, 4.0]])
    ks2 = LabelSharpness().fit(X2, [0, 0, 0, 1])
    assert ks2.sharpness_ == 0.2 and ks2.pair_[1] == 3


# ---------------------------------------------------------------- errors and input handling


@pytest.mark.parametrize("y, match", [
    ([1, 1, 1, 1], "single class"),
    (["a"] * 4, "single class"),
    ([0.5] * 4, "single value"),
])
def test_single_label_raises(y, match):
    X = np.arange(8.0).reshape(4, 2)
    with pytest.raises(ValueError, match=match):
        LabelSharpness().fit(X, y)


def test_constant_labels_forced_continuous_raise():
    with pytest.raises(ValueError, match="single value"):
        LabelSharpness(label_type="continuous").fit(np.eye(3), [2, 2, 2])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_raise(bad):
    X, y = make_data("binary", 20, 3)
    Xb = X.copy()
    Xb[3, 1] = bad
    with pytest.raises(ValueError, match="(NaN|infinity)"):
        LabelSharpness().fit(Xb, y)
    yb = make_data("continuous", 20, 3)[1]
    yb[5] = bad
    with pytest.raises(ValueError, match="(NaN|infinity)"):
        LabelSharpness().fit(X, yb)
    ks = LabelSharpness().fit(X, y)
    with pytest.raises(ValueError, match="(NaN|infinity)"):
        ks.transform(Xb)


def test_shape_and_type_errors():
    X, y = make_data("binary", 20, 3)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        LabelSharpness().fit(X, y[:-1])
    with pytest.raises(ValueError, match="could not convert string to float"):
        LabelSharpness().fit([["a", "b"], ["c", "d"]], [0, 1])
    with pytest.raises(ValueError, match="1d array"):
        LabelSharpness().fit(X, np.eye(20, 2, dtype=int))
    with pytest.raises(ValueError, match="Unknown label type.*label_type="):
        LabelSharpness().fit(X, y.astype(object))
    with pytest.raises(ValueError, match="needs numeric y"):
        LabelSharpness(label_type="continuous").fit(X, np.array(["a", "b"] * 10))
    with pytest.raises(ValueError, match="requires y"):
        LabelSharpness().fit(X, None)
    with pytest.raises(ValueError, match="minimum of 2"):
        LabelSharpness().fit(X[:1], y[:1])
    with pytest.raises(NotFittedError):
        LabelSharpness().transform(X)
    ks = LabelSharpness().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        ks.transform(X[:, :2])


def test_invalid_parameters_raise():
    X, y = make_data("binary", 20, 3)
    for params in ({"pairs": "some"}, {"n_pairs": 0}, {"label_type": "ordinal"}):
        with pytest.raises(ValueError, match=list(params)[0]):
            LabelSharpness(**params).fit(X, y)
    with pytest.raises(ValueError, match="CUDA is not available|cuda"):
        LabelSharpness(device="cuda:7").fit(X, y)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("pairs", ["all", "random"])
def test_inputs_are_not_modified(kind, pairs):
    X, y = make_data(kind, 30, 3, seed=18)
    X = X.astype(np.float32)
    X[5] = X[1]
    y[5] = y[1]
    X_before, y_before = X.copy(), y.copy()
    ks = LabelSharpness(pairs=pairs, n_pairs=40, random_state=0).fit(X, y)
    ks.transform(X)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)


@pytest.mark.parametrize("kind", KINDS)
def test_pickle_round_trip(kind):
    X, y = make_data(kind, 40, 3, seed=19)
    ks = LabelSharpness(verbose=1, n_jobs=1, device="auto").fit(X, y)
    clone = pickle.loads(pickle.dumps(ks))
    assert clone.sharpness_ == ks.sharpness_ and clone.pair_ == ks.pair_
    np.testing.assert_array_equal(clone.local_sharpness_, ks.local_sharpness_)
    np.testing.assert_array_equal(clone.transform(X[:7]), ks.transform(X[:7]))


def test_feature_names_out():
    X, y = make_data("binary", 20, 3)
    assert list(LabelSharpness().fit(X, y).get_feature_names_out()) == ["labelsharpness0"]


# Exemptions: none.  SCIPY_ARRAY_API is set so that sklearn's array-API check (numpy namespace,
# dispatch on) runs instead of skipping itself.
@parametrize_with_checks(
    [LabelSharpness(), LabelSharpness(pairs="random", n_pairs=50, random_state=0)],
    expected_failed_checks=lambda est: {},
)
def test_sklearn_compatible(estimator, check, monkeypatch):
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


# ---------------------------------------------------------------- real data


def reference_preprocessing(images):
    """As in the paper: each image scaled so that its max is 255."""
    images = images.reshape(len(images), -1).astype(np.float64)
    return images * (255.0 / images.max(axis=1, keepdims=True))


def balanced_binary(images, labels, classes, per_class, seed):
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
                          for c in classes])
    return reference_preprocessing(images[idx]), (labels[idx] == classes[1]).astype(int)


def bichromatic_brute_force(X, y):
    d = cdist(X[y == 0], X[y == 1])
    return 1.0 / d.min()


def real_sets(data_home):
    # the loader is checked against an independent IDX parser in test_datasets.py
    mnist_images, mnist_labels = load_mnist(data_home=data_home, download_if_missing=False,
                                            return_X_y=True)
    rng = np.random.default_rng(1337)
    digits = np.sort(rng.choice(10, 2, replace=False))
    with np.load(data_home / "pneumoniamnist.npz") as npz:
        # this copy's train split has only 388 normal images: pool train and val for 500 per class
        pneu_images = np.concatenate([npz["train_images"], npz["val_images"]])
        pneu_labels = np.concatenate([npz["train_labels"], npz["val_labels"]]).ravel()
    return {
        f"mnist {digits[0]} vs {digits[1]}": balanced_binary(mnist_images, mnist_labels, digits,
                                                             500, 0),
        "pneumoniamnist": balanced_binary(pneu_images, pneu_labels, [0, 1], 500, 0),
    }


def test_real_data_matches_brute_force(data_home, capsys):
    values = {}
    for name, (X, y) in real_sets(data_home).items():
        ks = LabelSharpness().fit(X.reshape(-1, 28, 28), y)
        np.testing.assert_allclose(ks.sharpness_, bichromatic_brute_force(X, y), rtol=1e-12)
        j, k = ks.pair_
        assert y[j] != y[k]
        np.testing.assert_allclose(np.linalg.norm(X[j] - X[k]), 1 / ks.sharpness_, rtol=1e-12)
        # a tenth of the samples against brute force locally as well
        rows = slice(0, None, 10)
        d = cdist(X[rows], X)
        d[y[rows, None] == y[None, :]] = np.inf
        np.testing.assert_allclose(ks.local_sharpness_[rows], 1 / d.min(axis=1), rtol=1e-12)
        random = LabelSharpness(pairs="random", random_state=0).fit(X, y)
        assert random.sharpness_ < ks.sharpness_
        values[name] = (ks.sharpness_, random.sharpness_)
    with capsys.disabled():
        for name, (exact, random) in values.items():
            print(f"\nK_F {name} (28x28, [0,255], 500/class): exact {exact:.4e}, "
                  f"random 2000 pairs {random:.4e}")


# --------------------------------------------------------------------------------------------
# any finite scale
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("c", [1e-300, 1e-150, 1e19, 1e150, 1e300])
@pytest.mark.parametrize("labels", ["binary", "multiclass", "continuous"])
def test_sharpness_scales_as_one_over_the_scale_at_any_finite_scale(c, labels):
    rng = np.random.default_rng(21)
    X = rng.uniform(0, 255, size=(150, 40))
    y = {"binary": rng.integers(0, 2, 150), "multiclass": rng.integers(0, 5, 150),
         "continuous": rng.standard_normal(150)}[labels]
    ref = LabelSharpness().fit(X, y)
    got = LabelSharpness().fit(X * c, y)
    assert got.sharpness_ * c == pytest.approx(ref.sharpness_, rel=1e-12)
    assert got.pair_ == ref.pair_
    np.testing.assert_allclose(got.local_sharpness_ * c, ref.local_sharpness_, rtol=1e-12)
    np.testing.assert_allclose(got.transform(X[:10] * c + c) * c, ref.transform(X[:10] + 1),
                               rtol=1e-10)


def test_float32_input_is_not_copied_to_float64():
    # a float32 X of images stays float32 inside the estimator (no float64 copy)
    rng = np.random.default_rng(22)
    X = rng.uniform(0, 255, size=(200, 64)).astype(np.float32)
    ks = LabelSharpness().fit(X, np.arange(200) % 2)
    assert ks._fit_X.dtype == np.float32 and np.shares_memory(ks._fit_X, X)


def test_a_ratio_beyond_float64_is_refused_not_returned_as_inf():
    X = np.array([[0.0, 0.0], [2.0**-1020, 0.0], [1.0, 0.0], [2.0, 0.0]])
    with pytest.raises(ValueError, match="overflows float64. Rescale X"):
        LabelSharpness().fit(X, [0, 1, 0, 1])


# --------------------------------------------------------------------------- K_F at a fixed N

def test_fixed_size_sharpness_rises_with_size_on_real_data_and_is_exact_at_full_size(data_home):
    X, y = real_sets(data_home)["pneumoniamnist"]
    sizes = (100, 300, 600, 1000)
    means = []
    for size in sizes:
        ks = LabelSharpness(subsample_size=size, n_subsamples=8, random_state=0).fit(X, y)
        assert ks.sharpness_draws_.size == (1 if size == len(y) else 8)
        # each draw against brute force on its own subset
        for idx, value in zip(ks.subsample_indices_[:2], ks.sharpness_draws_[:2]):
            assert idx.size == size and np.unique(idx).size == size
            assert np.bincount(y[idx]).tolist() == [size // 2, size // 2]  # stratified
            np.testing.assert_allclose(value, bichromatic_brute_force(X[idx], y[idx]),
                                       rtol=1e-12)
        q = ks.sharpness_quantiles_
        assert q[0.05] <= q[0.5] <= q[0.95]
        assert ks.sharpness_ == pytest.approx(ks.sharpness_draws_.mean())
        means.append(ks.sharpness_)
    assert np.all(np.diff(means) > 0), means
    # at the full size: the exact K_F, one draw, no spread
    assert means[-1] == pytest.approx(bichromatic_brute_force(X, y), rel=1e-12)
    assert ks.sharpness_std_ == 0.0
    j, k = ks.pair_
    assert np.linalg.norm(X[j] - X[k]) == pytest.approx(1 / means[-1], rel=1e-12)


def test_fixed_size_sharpness_continuous_labels_against_brute_force(rng):
    X = rng.normal(size=(60, 4))
    y = X[:, 0] + 0.1 * rng.normal(size=60)
    ks = LabelSharpness(subsample_size=25, n_subsamples=4, random_state=3).fit(X, y)
    for idx, value in zip(ks.subsample_indices_, ks.sharpness_draws_):
        d = cdist(X[idx], X[idx])
        np.fill_diagonal(d, np.inf)
        np.testing.assert_allclose(value, (np.abs(y[idx, None] - y[None, idx]) / d).max(),
                                   rtol=1e-12)
    # the draws are reproducible from random_state and differ from each other
    again = LabelSharpness(subsample_size=25, n_subsamples=4, random_state=3).fit(X, y)
    np.testing.assert_array_equal(again.sharpness_draws_, ks.sharpness_draws_)
    assert np.unique(ks.sharpness_draws_).size == 4
