"""IntrinsicDimension against independent oracles.

* brute force: scipy ``cdist`` and the spec formulas (intrinsic-properties.md, sections 1 and 2),
  written here from the spec without using skintrinsic's functions;
* scikit-dimension where its definitions coincide with ours;
* exact distribution laws: at the centre of a uniform d-ball the MLE statistic is a Gamma
  variable and log(T_2/T_1) an exponential one, for any d and any number of points;
* d-spheres and d-cubes embedded in higher dimension;
* real images (MNIST, PneumoniaMNIST) with the reference preprocessing.
"""

import pickle
import warnings

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from skintrinsic import IntrinsicDimension
from skintrinsic.datasets import load_mnist, make_hypercube, make_linear_manifold, make_sphere
from skintrinsic.dimension import (
    local_dimensions,
    mle_dimension,
    mle_inverse_estimates,
    twonn_dimension,
    twonn_ratios,
)

K = 20


# --------------------------------------------------------------------------------------------
# brute-force oracles, straight from the spec
# --------------------------------------------------------------------------------------------

def brute_neighbor_distances(X, k, query=None):
    """Sorted distances to the k nearest points of X; the point itself / zero distances skipped."""
    D = cdist(X if query is None else query, X)
    D[D == 0] = np.inf
    return np.sort(D, axis=1)[:, :k]


def brute_mle(X, k=K, normalization="reference", averaging="inverse", query=None):
    """(dataset estimate, per-point local estimates 1/u_k) by the spec's loop over points."""
    T = brute_neighbor_distances(X, k, query)
    denom = k - 2 if normalization == "reference" else k - 1
    u = np.array([sum(np.log(t[k - 1] / t[j]) for j in range(k - 1)) / denom for t in T])
    d = 1 / np.mean(u) if averaging == "inverse" else np.mean(1 / u)
    return d, 1 / u


def brute_twonn(X, variant="pope"):
    T = brute_neighbor_distances(X, 2)
    mu = T[:, 1] / T[:, 0]
    if variant == "facco":
        mu = mu[(T[:, 0] > 0) & (T[:, 0] != T[:, 1])]
    mu = np.sort(mu)
    n = len(mu)
    n_fit = n - 1 if variant == "pope" else int(np.floor(0.9 * n))
    x = np.log(mu[:n_fit])
    y = -np.log(1 - np.arange(1, n_fit + 1) / n)
    slope, *_ = np.linalg.lstsq(x[:, None], y, rcond=None)
    with np.errstate(divide="ignore"):
        return slope[0], 1 / np.log(T[:, 1] / T[:, 0])


def small_data(seed=0, n=150):
    """A curved 4-d manifold in R^12 plus noise: no ties, unequal local dimensions."""
    rng = np.random.default_rng(seed)
    Z = rng.uniform(-1, 1, size=(n, 4))
    X = np.hstack([Z, np.sin(2 * Z), Z[:, :2] ** 2, rng.normal(scale=0.05, size=(n, 2))])
    return X


MLE_OPTIONS = [(nrm, avg) for nrm in ("reference", "textbook") for avg in ("inverse", "mean")]


# --------------------------------------------------------------------------------------------
# brute force
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("normalization, averaging", MLE_OPTIONS)
@pytest.mark.parametrize("k", [3, 10, K])
def test_mle_matches_brute_force(normalization, averaging, k):
    X = small_data(k)
    est = IntrinsicDimension(k=k, normalization=normalization, averaging=averaging,
                             n_bootstrap=0).fit(X)
    d, local = brute_mle(X, k, normalization, averaging)
    assert est.dimension_ == pytest.approx(d, rel=1e-10)
    np.testing.assert_allclose(est.local_dimensions_, local, rtol=1e-10)
    np.testing.assert_allclose(est.fit_transform(X)[:, 0], local, rtol=1e-10)
    new = small_data(k + 100, n=30)
    _, local_new = brute_mle(X, k, normalization, averaging, query=new)
    np.testing.assert_allclose(est.transform(new)[:, 0], local_new, rtol=1e-10)


@pytest.mark.parametrize("variant", ["pope", "facco"])
def test_twonn_matches_brute_force(variant):
    X = small_data(1)
    est = IntrinsicDimension(estimator="twonn", twonn_variant=variant, n_bootstrap=0).fit(X)
    d, local = brute_twonn(X, variant)
    assert est.dimension_ == pytest.approx(d, rel=1e-10)
    np.testing.assert_allclose(est.local_dimensions_, local, rtol=1e-10)
    new = small_data(7, n=25)
    T = brute_neighbor_distances(X, 2, query=new)
    np.testing.assert_allclose(est.transform(new)[:, 0], 1 / np.log(T[:, 1] / T[:, 0]), rtol=1e-10)


def test_twonn_facco_drops_equal_first_and_second_distances():
    """On a lattice many points have T_1 = T_2; Facco removes them, Pope keeps them (x = 0)."""
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(np.arange(12), np.arange(12)), -1).reshape(-1, 2).astype(float)
    X = np.vstack([grid, rng.uniform(0, 11, size=(80, 2))])
    for variant in ("pope", "facco"):
        est = IntrinsicDimension(estimator="twonn", twonn_variant=variant, n_bootstrap=0).fit(X)
        d, local = brute_twonn(X, variant)
        assert est.dimension_ == pytest.approx(d, rel=1e-10)
        np.testing.assert_allclose(est.local_dimensions_, local, rtol=1e-10)
        assert np.isinf(local).sum() >= 20  # T_1 = T_2 -> 1/log(1)
    pope = IntrinsicDimension(estimator="twonn", n_bootstrap=0).fit(X).dimension_
    facco = IntrinsicDimension(estimator="twonn", twonn_variant="facco", n_bootstrap=0).fit(X)
    assert facco.dimension_ != pytest.approx(pope, rel=1e-3)


def test_images_of_any_shape_are_flattened():
    rng = np.random.default_rng(3)
    imgs = rng.integers(0, 256, size=(60, 1, 6, 5)).astype(np.uint8)
    flat = imgs.reshape(60, -1)
    est = IntrinsicDimension(k=8, n_bootstrap=0).fit(imgs)
    assert est.input_shape_ == (1, 6, 5)
    assert est.n_features_in_ == 30
    d, local = brute_mle(flat.astype(float), 8)
    assert est.dimension_ == pytest.approx(d, rel=1e-10)
    np.testing.assert_allclose(est.transform(imgs[:4])[:, 0], local[:4], rtol=1e-10)
    with pytest.raises(ValueError, match="image shape"):
        est.transform(rng.integers(0, 256, size=(4, 1, 5, 6)))


# --------------------------------------------------------------------------------------------
# scikit-dimension
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("normalization, averaging", MLE_OPTIONS)
def test_mle_agrees_with_scikit_dimension(normalization, averaging):
    """skdim.id.MLE (no noise model) computes, per point, kfac / sum_{j<=k} log(T_k/T_j) with
    kfac = k-2 if unbiased else k-1 (the j = k term is 0), and combines with comb="mle"
    (1/mean of inverses) or "mean".  So unbiased=True <-> normalization="reference",
    unbiased=False <-> "textbook", comb="mle" <-> averaging="inverse", comb="mean" <->
    averaging="mean": all four combinations coincide on duplicate-free data.  (They differ
    with duplicates: skdim keeps zero distances, we drop the duplicates.)"""
    import skdim

    X = make_sphere(400, 5, ambient_dim=20, random_state=1)
    ours = IntrinsicDimension(normalization=normalization, averaging=averaging,
                              n_bootstrap=0).fit(X)
    theirs = skdim.id.MLE(unbiased=normalization == "reference").fit(
        X, n_neighbors=K, comb="mle" if averaging == "inverse" else "mean")
    assert ours.dimension_ == pytest.approx(theirs.dimension_, rel=1e-9)
    np.testing.assert_allclose(ours.local_dimensions_, theirs.dimension_pw_, rtol=1e-9)


@pytest.mark.parametrize("variant", ["pope", "facco"])
def test_twonn_agrees_with_scikit_dimension(variant):
    """skdim.id.TwoNN(method="linear") sorts mu, keeps n_keep = int(n (1 - discard_fraction))
    and regresses -log(1 - i/n) on log mu_(i) through the origin.  Pope (drop only the
    largest) is discard_fraction = 0.5/n (n_keep = n - 1); Facco (smallest 90 %) is
    discard_fraction = 0.1, which coincides when no point has T_1 = T_2 (skdim does not
    remove those; random continuous data has none)."""
    import skdim

    X = make_hypercube(500, 6, ambient_dim=15, random_state=2)
    ours = IntrinsicDimension(estimator="twonn", twonn_variant=variant, n_bootstrap=0).fit(X)
    fraction = 0.5 / len(X) if variant == "pope" else 0.1
    theirs = skdim.id.TwoNN(discard_fraction=fraction).fit(X)
    assert ours.dimension_ == pytest.approx(theirs.dimension_, rel=1e-9)


# --------------------------------------------------------------------------------------------
# known dimension
# --------------------------------------------------------------------------------------------

def _separated_balls(n_balls, per_ball, d, ambient_dim, rng):
    """``n_balls`` unit d-balls, far apart in R^ambient_dim, each with ``per_ball`` uniform points.

    Returns the points and the balls' centres.  A centre's ``per_ball`` nearest points are
    its own ball's, so its statistics are independent across balls.
    """
    centres = 100 * rng.standard_normal((n_balls, ambient_dim))
    Z = rng.standard_normal((n_balls, per_ball, d))
    Z *= rng.uniform(size=(n_balls, per_ball, 1)) ** (1 / d) / np.linalg.norm(Z, axis=2,
                                                                              keepdims=True)
    basis = np.linalg.qr(rng.standard_normal((ambient_dim, d)))[0]
    return (Z @ basis.T + centres[:, None, :]).reshape(-1, ambient_dim), centres


@pytest.mark.parametrize("d", [2, 3, 5, 8, 12, 16, 20])
def test_exact_law_at_ball_centres(d):
    """At the centre of a unit d-ball holding k uniform points, given T_k the other k-1 points
    are uniform in the ball of radius T_k, so (T_j/T_k)^d are uniform and
    S = sum_{j<k} log(T_k/T_j) ~ Gamma(k-1, rate d) exactly, for every d and without any
    boundary or curvature bias.  Hence with u = S/(k-2): E[1/u] = d and E[u] = (k-1)/((k-2) d);
    and log(T_2/T_1) ~ Exp(d) for a 2-point ball.  Tolerances are 4 standard errors of
    these exact laws."""
    rng = np.random.default_rng(d)
    n_balls = 400
    X, centres = _separated_balls(n_balls, K, d, 30, rng)
    local = IntrinsicDimension(n_bootstrap=0).fit(X).transform(centres)[:, 0]
    se_mean = d / np.sqrt((K - 3) * n_balls)  # sd of 1/u is d / sqrt(k - 3)
    assert np.mean(local) == pytest.approx(d, abs=4 * se_mean)
    expected = d * (K - 2) / (K - 1)  # the reference's inverse averaging, Poisson limit
    assert mle_dimension(1 / local) == pytest.approx(expected, rel=4 / np.sqrt((K - 1) * n_balls))

    n_balls = 3000
    X, centres = _separated_balls(n_balls, 2, d, 30, rng)
    local = IntrinsicDimension(estimator="twonn", n_bootstrap=0).fit(X).transform(centres)[:, 0]
    log_mu = 1 / local
    assert 1 / np.mean(log_mu) == pytest.approx(d, rel=4 / np.sqrt(n_balls))
    # the least-squares fit is less efficient than the MLE above: 5 rather than 4 MLE SEs
    assert twonn_dimension(np.exp(log_mu)) == pytest.approx(d, rel=5 / np.sqrt(n_balls))


@pytest.mark.parametrize("generator", [make_sphere, make_hypercube])
def test_sphere_and_cube_give_their_dimension(generator):
    """Uniform d-spheres and d-cubes (d = 2..20) rotated into R^(d+21).

    With finite n both estimators underestimate: the neighbourhoods grow with d (their
    radius relative to the manifold is rho = (m/n)^(1/d), m = k or 2 neighbours) and feel
    the cube's faces (first order in rho) or the sphere's curvature (second order).  The
    accepted band is [d_inf (1 - 0.45 rho) - noise, d_inf + noise], d_inf the Poisson-limit
    value (d (k-2)/(k-1) for the reference MLE, d for TwoNN) and noise 4/sqrt(n), and the
    estimates must increase with d.
    """
    n = 2000
    previous = {"mle": 0.0, "twonn": 0.0}
    for d in (2, 3, 5, 8, 12, 16, 20):
        X = generator(n, d, ambient_dim=d + 21, random_state=d)
        for estimator, m, d_inf in (("mle", K, d * (K - 2) / (K - 1)), ("twonn", 2, d)):
            got = IntrinsicDimension(estimator=estimator, n_bootstrap=0).fit(X).dimension_
            rho = (m / n) ** (1 / d)
            noise = 4 / np.sqrt(n)
            assert d_inf * (1 - 0.45 * rho - noise) <= got <= d_inf * (1 + noise), (estimator, d)
            assert got > previous[estimator], (estimator, d)
            previous[estimator] = got


# --------------------------------------------------------------------------------------------
# exact properties
# --------------------------------------------------------------------------------------------

def test_textbook_normalization_is_19_18_of_the_reference():
    X = make_linear_manifold(300, 6, 30, random_state=0)
    for averaging in ("inverse", "mean"):
        ref = IntrinsicDimension(averaging=averaging, random_state=0).fit(X)
        txt = IntrinsicDimension(normalization="textbook", averaging=averaging,
                                 random_state=0).fit(X)
        assert txt.dimension_ / ref.dimension_ == pytest.approx(19 / 18, rel=1e-12)
        np.testing.assert_allclose(txt.local_dimensions_ / ref.local_dimensions_, 19 / 18,
                                   rtol=1e-12)
        np.testing.assert_allclose(txt.confidence_interval_ / ref.confidence_interval_, 19 / 18,
                                   rtol=1e-12)
    k = 7
    ref = IntrinsicDimension(k=k, n_bootstrap=0).fit(X).dimension_
    txt = IntrinsicDimension(k=k, normalization="textbook", n_bootstrap=0).fit(X).dimension_
    assert txt / ref == pytest.approx((k - 1) / (k - 2), rel=1e-12)


def test_plain_mean_is_larger_than_inverse_averaging():
    X = small_data(4)
    inv = IntrinsicDimension(n_bootstrap=0).fit(X).dimension_
    mean = IntrinsicDimension(averaging="mean", n_bootstrap=0).fit(X).dimension_
    assert mean > inv  # Jensen: mean(1/u) >= 1/mean(u), equality only if all u are equal


@pytest.mark.parametrize("estimator", ["mle", "twonn"])
@pytest.mark.parametrize("factor", [1e-3, 7.0, 1e5])
def test_scale_invariance(estimator, factor):
    X = small_data(5)
    a = IntrinsicDimension(estimator=estimator, random_state=0).fit(X)
    b = IntrinsicDimension(estimator=estimator, random_state=0).fit(X * factor)
    assert b.dimension_ == pytest.approx(a.dimension_, rel=1e-9)
    np.testing.assert_allclose(b.local_dimensions_, a.local_dimensions_, rtol=1e-9)
    np.testing.assert_allclose(b.confidence_interval_, a.confidence_interval_, rtol=1e-9)


@pytest.mark.parametrize("estimator", ["mle", "twonn"])
def test_duplicates_are_dropped_with_a_count(estimator):
    """skdim's MLE returns 0.0 on this kind of input (2,000 points + 20 copies); we drop the
    copies, warn with the count, and give the estimate of the distinct points."""
    X = make_sphere(2000, 4, ambient_dim=12, random_state=0)
    rng = np.random.default_rng(0)
    Xd = np.vstack([X, X[rng.choice(2000, 20, replace=False)]])[rng.permutation(2020)]
    with pytest.warns(UserWarning, match="Dropped 20 exact duplicate rows"):
        est = IntrinsicDimension(estimator=estimator, random_state=0).fit(Xd)
    ref = IntrinsicDimension(estimator=estimator, random_state=0).fit(X)
    assert est.n_duplicates_ == 20 and est.n_samples_fit_ == 2000
    assert est.dimension_ == pytest.approx(ref.dimension_, rel=1e-12)
    assert 3 < est.dimension_ < 5
    # each duplicate gets the local dimension of its kept copy, in fit_transform and transform
    with pytest.warns(UserWarning):
        ft = IntrinsicDimension(estimator=estimator, n_bootstrap=0).fit_transform(Xd)
    np.testing.assert_allclose(ft, est.transform(Xd), rtol=1e-12)
    _, first = np.unique(Xd, axis=0, return_index=True)
    assert np.isin(np.sort(ft[first, 0]), np.sort(ref.local_dimensions_)).all()
    with pytest.raises(ValueError, match="20 exact duplicate rows"):
        IntrinsicDimension(estimator=estimator, duplicates="raise").fit(Xd)


def test_transform_of_fitted_points_skips_their_zero_distance():
    X = small_data(6)
    est = IntrinsicDimension(k=10, n_bootstrap=0).fit(X)
    np.testing.assert_allclose(est.transform(X)[:, 0], est.local_dimensions_, rtol=1e-12)


def test_ties_give_infinite_local_dimensions_and_clear_errors():
    """On the integer grid Z^2 every interior point has 4 neighbours at distance 1."""
    grid = np.stack(np.meshgrid(np.arange(10), np.arange(10)), -1).reshape(-1, 2).astype(float)
    est = IntrinsicDimension(k=4, normalization="textbook", n_bootstrap=0).fit(grid)
    assert np.isinf(est.local_dimensions_).sum() == 64  # the 8 x 8 interior
    assert np.isfinite(est.dimension_)
    with pytest.raises(ValueError, match="averaging='inverse'"):
        IntrinsicDimension(k=4, normalization="textbook", averaging="mean").fit(grid)
    with pytest.raises(ValueError, match="larger k"):
        mle_dimension(np.zeros(5))
    with pytest.raises(ValueError, match="slope is undefined"):
        twonn_dimension(np.ones(10))


def test_pure_functions_reject_bad_distances():
    with pytest.raises(ValueError, match="duplicate"):
        mle_inverse_estimates(np.array([[0.0, 1.0, 2.0]]))
    with pytest.raises(ValueError, match="sorted"):
        twonn_ratios(np.array([[2.0, 1.0]]))
    with pytest.raises(ValueError, match="k >= 3"):
        mle_inverse_estimates(np.array([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="infinite"):
        twonn_dimension(np.array([1.5, np.inf, 2.0]))
    np.testing.assert_array_equal(local_dimensions(np.array([0.5, 0.0])), [2.0, np.inf])


# --------------------------------------------------------------------------------------------
# bootstrap, reproducibility, pickling
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("estimator", ["mle", "twonn"])
def test_bootstrap_interval_is_seeded_and_brackets_the_estimate(estimator):
    X = make_sphere(800, 4, ambient_dim=10, random_state=3)
    a = IntrinsicDimension(estimator=estimator, random_state=0).fit(X)
    b = IntrinsicDimension(estimator=estimator, random_state=0).fit(X)
    c = IntrinsicDimension(estimator=estimator, random_state=1).fit(X)
    np.testing.assert_array_equal(a.confidence_interval_, b.confidence_interval_)
    assert not np.array_equal(a.confidence_interval_, c.confidence_interval_)
    low, high = a.confidence_interval_
    assert low < a.dimension_ < high
    wide = IntrinsicDimension(estimator=estimator, confidence_level=0.99, random_state=0).fit(X)
    assert wide.confidence_interval_[0] <= low and wide.confidence_interval_[1] >= high
    rs = np.random.RandomState(5)
    d1 = IntrinsicDimension(estimator=estimator, random_state=rs).fit(X).confidence_interval_
    d2 = IntrinsicDimension(estimator=estimator, random_state=rs).fit(X).confidence_interval_
    assert not np.array_equal(d1, d2)  # a shared RandomState advances
    assert np.isnan(IntrinsicDimension(n_bootstrap=0).fit(X).confidence_interval_).all()


def test_bootstrap_interval_matches_an_independent_resampling():
    """The interval resamples the per-point inverse estimates u_k with replacement."""
    X = small_data(8)
    est = IntrinsicDimension(n_bootstrap=300, random_state=4).fit(X)
    _, local = brute_mle(X)
    rng = np.random.RandomState(4)
    u = 1 / local
    reps = [1 / np.mean(u[rng.randint(len(u), size=len(u))]) for _ in range(300)]
    np.testing.assert_allclose(est.confidence_interval_, np.quantile(reps, [0.025, 0.975]),
                               rtol=1e-10)


def test_pickle_round_trip():
    X = small_data(9)
    est = IntrinsicDimension(k=10, random_state=0).fit(X)
    clone = pickle.loads(pickle.dumps(est))
    assert clone.dimension_ == est.dimension_
    np.testing.assert_array_equal(clone.confidence_interval_, est.confidence_interval_)
    new = small_data(10, n=20)
    np.testing.assert_array_equal(clone.transform(new), est.transform(new))


def test_verbose_threads_and_device_do_not_change_the_result():
    X = small_data(11)
    quiet = IntrinsicDimension(random_state=0, n_bootstrap=20).fit(X)
    for params in ({"verbose": 1}, {"n_jobs": 2}, {"device": "auto"}):
        other = IntrinsicDimension(random_state=0, n_bootstrap=20, **params).fit(X)
        assert other.dimension_ == quiet.dimension_
        np.testing.assert_array_equal(other.confidence_interval_, quiet.confidence_interval_)


# --------------------------------------------------------------------------------------------
# bad input, untouched input
# --------------------------------------------------------------------------------------------

def test_bad_input_errors():
    X = small_data(12, n=40)
    for bad in (np.nan, np.inf):
        Xb = X.copy()
        Xb[3, 2] = bad
        with pytest.raises(ValueError, match="NaN|infinity"):
            IntrinsicDimension().fit(Xb)
    with pytest.raises(ValueError, match=r"k=20 needs at least 21 distinct samples, got 15"):
        IntrinsicDimension().fit(X[:15])
    Xd = np.vstack([X[:18], X[:5]])  # 23 rows, 18 distinct
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=r"k=20.*got 18.*5 dup"):
        IntrinsicDimension().fit(Xd)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="twonn.*at least 3"):
        IntrinsicDimension(estimator="twonn").fit(np.vstack([X[:2], X[:1]]))
    with pytest.raises(ValueError, match="k >= 3"):
        IntrinsicDimension(k=2).fit(X)
    assert np.isfinite(IntrinsicDimension(k=2, normalization="textbook").fit(X).dimension_)
    with pytest.raises(ValueError, match="could not convert string to float"):
        IntrinsicDimension().fit(np.array([["a", "b"]] * 30))
    with pytest.raises(ValueError, match="Complex data not supported"):
        IntrinsicDimension().fit(np.ones((30, 2), dtype=complex))
    with pytest.raises(NotFittedError):
        IntrinsicDimension().transform(X)
    est = IntrinsicDimension(k=5).fit(X)
    with pytest.raises(ValueError, match="12 features"):
        est.transform(X[:, :5])
    with pytest.raises(ValueError, match="estimator"):
        IntrinsicDimension(estimator="pca").fit(X)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint8])
def test_input_is_never_modified(dtype):
    rng = np.random.default_rng(13)
    X = (rng.uniform(0, 255, size=(60, 3, 4))).astype(dtype)
    X[10] = X[0]  # a duplicate, to go through the dropping path
    before = X.copy()
    for estimator in ("mle", "twonn"):
        with pytest.warns(UserWarning, match="Dropped 1"):
            est = IntrinsicDimension(estimator=estimator, k=5, n_bootstrap=40).fit(X)
        est.transform(X)
        with pytest.warns(UserWarning):
            est.fit_transform(X)
        np.testing.assert_array_equal(X, before)
        assert X.dtype == dtype and X.flags.writeable


# --------------------------------------------------------------------------------------------
# scikit-learn conventions
# --------------------------------------------------------------------------------------------

_FEW_SAMPLES = (
    "scikit-learn's check data has at most 20 samples, and k=20 needs 21 distinct ones "
    "(the k=5 instance runs this check)"
)
_DEFAULT_K_FAILURES = [
    "check_dont_overwrite_parameters", "check_n_features_in_after_fitting",
    "check_estimators_dtypes", "check_estimators_nan_inf", "check_f_contiguous_array_estimator",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance",
    "check_fit2d_1feature", "check_dict_unchanged", "check_fit2d_predict1d",
]


_NOT_A_GRAPH = (
    "sklearn's sparse check data are random sparse matrices, not neighbour graphs: rows with fewer "
    "than k stored distances are refused with a ValueError that names the row and the fix "
    "(test_precomputed_graph_* test real graphs, dense and sparse)"
)


_KERNEL_NOT_DISTANCES = (
    "sklearn's checks pass a linear kernel X X^T (non-zero diagonal) as the precomputed matrix, "
    "since the parameter is not named 'metric'. fit skips the diagonal (each sample itself), "
    "transform skips zero distances (a query equal to a fitted sample), which agree on distance "
    "graphs (test_precomputed_graph_matches_the_exact_path) but not on a kernel"
)


def _expected_failed_checks(estimator):
    if estimator.neighbors == "precomputed":
        return {**dict.fromkeys(["check_estimator_sparse_array", "check_estimator_sparse_matrix",
                                 "check_estimator_sparse_tag"], _NOT_A_GRAPH),
                **dict.fromkeys(["check_transformer_data_not_an_array",
                                 "check_transformer_general"], _KERNEL_NOT_DISTANCES)}
    if estimator.estimator == "mle" and estimator.k == K:
        return dict.fromkeys(_DEFAULT_K_FAILURES, _FEW_SAMPLES)
    return {}


@parametrize_with_checks(
    [
        IntrinsicDimension(n_bootstrap=10),
        IntrinsicDimension(k=5, n_bootstrap=10, random_state=0),
        IntrinsicDimension(estimator="twonn", twonn_variant="facco", n_bootstrap=10,
                           random_state=0),
        IntrinsicDimension(k=5, neighbors="precomputed", n_bootstrap=10, random_state=0),
    ],
    expected_failed_checks=_expected_failed_checks,
    xfail_strict=True,
)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # dropped duplicates in integer test data
        check(estimator)


# --------------------------------------------------------------------------------------------
# real images
# --------------------------------------------------------------------------------------------

def _balanced(images, labels, classes, per_class, rng):
    rows = np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
                           for c in classes])
    return images[rows]


def _reference_preprocessing(images):
    """Each image scaled so that its max is 255 (no mean/std normalization)."""
    images = images.astype(np.float64)
    return images * (255 / images.max(axis=tuple(range(1, images.ndim)), keepdims=True))


def test_real_images_match_brute_force(data_home):
    rng = np.random.default_rng(0)
    # the loader is checked against an independent IDX parser in test_datasets.py
    mnist, mnist_labels = load_mnist(data_home=data_home, download_if_missing=False,
                                     return_X_y=True)
    assert mnist.shape == (10000, 28, 28) and mnist_labels.shape == (10000,)
    pair = rng.choice(10, 2, replace=False)
    X_nat = _reference_preprocessing(_balanced(mnist, mnist_labels, pair, 500, rng))

    with np.load(data_home / "pneumoniamnist.npz") as z:
        # the train split holds only 388 normal images: pool the three splits
        images = np.concatenate([z["train_images"], z["val_images"], z["test_images"]])
        labels = np.concatenate([z["train_labels"], z["val_labels"], z["test_labels"]])[:, 0]
    X_med = _reference_preprocessing(_balanced(images, labels, (0, 1), 500, rng))

    values = {}
    for name, X in (("MNIST", X_nat), ("PneumoniaMNIST", X_med)):
        est = IntrinsicDimension(random_state=0).fit(X)
        assert est.n_duplicates_ == 0 and est.input_shape_ == (28, 28)
        d, local = brute_mle(X.reshape(len(X), -1))
        assert est.dimension_ == pytest.approx(d, rel=1e-10)
        np.testing.assert_allclose(est.local_dimensions_, local, rtol=1e-10)
        assert est.confidence_interval_[0] < d < est.confidence_interval_[1]
        values[name] = d
    print(f"d_data at 28x28, 2 x 500 images: MNIST classes {sorted(pair.tolist())} "
          f"{values['MNIST']:.2f}, PneumoniaMNIST {values['PneumoniaMNIST']:.2f}")


# --------------------------------------------------------------------------------------------
# approximate neighbours (the one test that pays pynndescent's numba compilation)
# --------------------------------------------------------------------------------------------

def test_approximate_neighbors_agree_with_exact():
    X = make_sphere(1500, 6, ambient_dim=20, random_state=0)
    exact = IntrinsicDimension(random_state=0).fit(X)
    approx = IntrinsicDimension(neighbors="approximate", random_state=0).fit(X)
    assert approx.dimension_ == pytest.approx(exact.dimension_, rel=0.01)
    close = np.isclose(approx.local_dimensions_, exact.local_dimensions_, rtol=1e-10)
    assert close.mean() > 0.95
    new = make_sphere(50, 6, ambient_dim=20, random_state=1)
    agree = np.isclose(approx.transform(new), exact.transform(new), rtol=1e-10)
    assert agree.mean() > 0.9


# --------------------------------------------------------------------------------------------
# a precomputed neighbour graph
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("estimator", ["mle", "twonn"])
@pytest.mark.parametrize("graph", ["sklearn", "ours", "dense"])
def test_precomputed_graph_matches_the_exact_path(estimator, graph):
    from scipy.spatial.distance import cdist
    from sklearn.neighbors import KNeighborsTransformer

    from skintrinsic import kneighbors_graph

    X = make_sphere(400, 4, ambient_dim=12, random_state=3)
    Q = make_sphere(50, 4, ambient_dim=12, random_state=4)
    if graph == "sklearn":
        knn = KNeighborsTransformer(n_neighbors=K, mode="distance").fit(X)
        G, GQ = knn.transform(X), knn.transform(Q)
    elif graph == "ours":
        G, GQ = kneighbors_graph(X, K), cdist(Q, X)
    else:
        G, GQ = cdist(X, X), cdist(Q, X)
    exact = IntrinsicDimension(estimator, n_bootstrap=40, random_state=0).fit(X)
    pre = IntrinsicDimension(estimator, neighbors="precomputed", n_bootstrap=40,
                             random_state=0).fit(G)
    assert pre.dimension_ == pytest.approx(exact.dimension_, rel=1e-10)
    np.testing.assert_allclose(pre.confidence_interval_, exact.confidence_interval_, rtol=1e-10)
    np.testing.assert_allclose(pre.fit_transform(G), exact.transform(X), rtol=1e-10)
    if graph != "sklearn" or estimator == "twonn":  # sklearn's query graph holds K columns
        np.testing.assert_allclose(pre.transform(GQ), exact.transform(Q), rtol=1e-10)


def test_precomputed_graph_with_duplicates_follows_the_policy():
    from scipy.spatial.distance import cdist

    X = make_sphere(200, 3, ambient_dim=6, random_state=5)
    X = np.vstack([X, X[:3]])  # rows 200-202 repeat rows 0-2
    exact = IntrinsicDimension(k=10, n_bootstrap=0)
    with pytest.warns(UserWarning, match="Dropped 3 exact duplicate rows"):
        exact.fit(X)
    pre = IntrinsicDimension(k=10, n_bootstrap=0, neighbors="precomputed")
    with pytest.warns(UserWarning, match="Dropped 3 exact duplicate rows of the precomputed"):
        pre.fit(cdist(X, X))
    assert pre.n_duplicates_ == 3 and pre.n_samples_fit_ == 200
    assert pre.dimension_ == pytest.approx(exact.dimension_, rel=1e-10)
    with pytest.raises(ValueError, match="3 exact duplicate rows.*row 200 repeats row 0"):
        IntrinsicDimension(k=10, neighbors="precomputed", duplicates="raise").fit(cdist(X, X))


def test_precomputed_graph_errors_name_the_fix():
    from skintrinsic import kneighbors_graph

    X = make_sphere(100, 3, ambient_dim=6, random_state=6)
    with pytest.raises(ValueError, match="only 5 usable neighbours, but k=20.*n_neighbors=21"):
        IntrinsicDimension(neighbors="precomputed").fit(kneighbors_graph(X, 5))
    with pytest.raises(ValueError, match="square.*got shape \\(100, 3\\)"):
        IntrinsicDimension(neighbors="precomputed").fit(np.ones((100, 3)))
    with pytest.raises(ValueError, match="Negative values in data"):
        IntrinsicDimension(k=5, neighbors="precomputed").fit(-np.ones((10, 10)))


# --------------------------------------------------------------------------------------------
# any finite scale
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("c", [1e-300, 1e-150, 1e19, 1e150, 1e300])
@pytest.mark.parametrize("estimator", ["mle", "twonn"])
def test_dimension_does_not_change_with_the_scale(c, estimator):
    X = make_sphere(500, 3, ambient_dim=10, random_state=7) * 255
    ref = IntrinsicDimension(estimator, n_bootstrap=0).fit(X)
    got = IntrinsicDimension(estimator, n_bootstrap=0).fit(X * c)
    assert got.dimension_ == pytest.approx(ref.dimension_, rel=1e-12)
    np.testing.assert_allclose(got.transform(X[:20] * c), ref.transform(X[:20]), rtol=1e-10)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # sklearn's finite check
def test_dimension_of_values_too_large_for_float64_distances_is_refused():
    X = make_sphere(100, 3, ambient_dim=10, random_state=8) * 1e308
    with pytest.raises(ValueError, match="exceed the largest float64 number.*Rescale X"):
        IntrinsicDimension().fit(X)
