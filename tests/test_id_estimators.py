"""GRIDE, MiND-ML, DANCo and the calibrated MLE / TwoNN against independent oracles.

* scikit-dimension where the definitions coincide: ``GRIDE`` (the same conventions, so to
  1e-9), ``MiND_ML(k=K)`` = ours with ``k = K + 1`` (its L-BFGS-B stops at ~1e-6), DANCo's
  three statistics and, given our calibration, its divergence minimum;
* the Poisson process: GRIDE's Fisher standard error against the spread of independent
  repeats;
* closed forms on uniform balls: the radius law of the calibration's sampler, the curve's
  Poisson limit, and the unbiasedness that the calibration promises on uniform balls;
* scikit-learn's estimator checks for each new option.
"""

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.utils.estimator_checks import parametrize_with_checks

from skintrinsic import IntrinsicDimension
from skintrinsic._id import calibration as cal
from skintrinsic._id.danco import angle_statistics, kl_norms, kl_von_mises
from skintrinsic._id.gride import gride_dimension, gride_local
from skintrinsic._id.mind import mind_ml_local
from skintrinsic._neighbors import kneighbors
from skintrinsic.datasets import make_hypercube, make_sphere

NEW = ("mle_calibrated", "twonn_calibrated", "gride", "mind_ml", "danco")


def _fit(X, estimator, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return IntrinsicDimension(estimator=estimator, **{"n_bootstrap": 0, **params}).fit(X)


def _curved(n=1500, seed=0):
    """A curved 5-d manifold in R^12, no ties."""
    rng = np.random.default_rng(seed)
    Z = rng.uniform(-1, 1, size=(n, 5))
    return np.hstack([Z, np.sin(2 * Z[:, :4]), Z[:, :3] ** 2])


# --------------------------------------------------------------------------------------------
# scikit-dimension
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n1", [1, 2, 4])
def test_gride_agrees_with_scikit_dimension(n1):
    """skdim.id.GRIDE follows DADApy's conventions, as we do: (N - 1) log d, the outlier cut
    q50 + 20 (q95 - q50), ties dropped.  Estimate, Fisher error and the multiscale profile
    (skdim's scales 2^j < range_max are ours n1 = 1, 2, 4, ... with 2 n1 <= k) coincide."""
    import skdim

    X = _curved()
    ours = _fit(X, "gride", gride_n1=n1, k=20)
    theirs = skdim.id.GRIDE(n1=n1, multiscale=True, range_max=20).fit(X)
    assert ours.dimension_ == pytest.approx(theirs.dimension_, rel=1e-9)
    assert ours.std_error_ == pytest.approx(theirs.error_, rel=1e-9)
    profile = ours.scale_profile_
    np.testing.assert_array_equal(profile["n1"], theirs.scales_)
    np.testing.assert_allclose(profile["dimension"], theirs.dimension_scales_, rtol=1e-9)
    np.testing.assert_allclose(profile["std_error"], theirs.error_scales_, rtol=1e-9)
    np.testing.assert_allclose(profile["radius"], theirs.radius_scales_, rtol=1e-12)


def test_gride_at_n1_1_is_the_unbiased_twonn_mle():
    """With n1 = 1, n2 = 2 the GRIDE likelihood is Pareto's: d = (N' - 1) / sum(log mu) over
    the N' ratios left by the outlier cut; the local estimates are TwoNN's 1 / log mu."""
    X = _curved(800, 1)
    est = _fit(X, "gride", k=4)
    twonn = _fit(X, "twonn", k=4)
    log_mu = 1 / twonn.local_dimensions_
    mu = np.exp(log_mu)
    q50, q95 = np.percentile(mu, [50, 95])
    kept = log_mu[mu < q50 + 20 * (q95 - q50)]
    assert est.dimension_ == pytest.approx((kept.size - 1) / kept.sum(), rel=1e-10)
    np.testing.assert_allclose(est.local_dimensions_, twonn.local_dimensions_, rtol=1e-9)


@pytest.mark.parametrize("k_skdim", [5, 10, 20])
def test_mind_ml_agrees_with_scikit_dimension(k_skdim):
    """skdim's MiND_ML(k=K) reads rho = T_1 / T_{K+1} and writes K for our k - 1.  Its D
    bounds the search (10 by default); with D above the answer both maximize the same
    likelihood, we by solving the score equation, it with L-BFGS-B (tolerance ~1e-6)."""
    import skdim

    X = _curved(1000, 2)
    ours = _fit(X, "mind_ml", k=k_skdim + 1)
    theirs = skdim.id.MiND_ML(k=k_skdim, D=50).fit(X)
    assert ours.dimension_ == pytest.approx(theirs.dimension_, rel=1e-4)


def test_mind_ml_likelihood_is_maximized():
    """Brute force: the estimate maximizes the log-likelihood over a fine grid of d."""
    X = _curved(600, 3)
    k = 12
    est = _fit(X, "mind_ml", k=k)
    T = kneighbors(X, k).distances
    rho = T[:, 0] / T[:, -1]

    def loglik(d):
        return np.sum(np.log((k - 1) * d) + (d - 1) * np.log(rho)
                      + (k - 2) * np.log1p(-rho**d))
    grid = np.linspace(0.5 * est.dimension_, 1.5 * est.dimension_, 2001)
    best = grid[np.argmax([loglik(d) for d in grid])]
    assert est.dimension_ == pytest.approx(best, abs=grid[1] - grid[0])
    assert loglik(est.dimension_) >= max(loglik(d) for d in grid) - 1e-9
    # one-point estimates maximize each point's own likelihood
    local = mind_ml_local(np.log(rho[:5]), k)
    for r, d in zip(rho[:5], local):
        f = [np.log(x) + (x - 1) * np.log(r) + (k - 2) * np.log1p(-r**x) for x in
             (d * 0.99, d, d * 1.01)]
        assert f[1] >= max(f[0], f[2])


def _skdim_danco(k_skdim, X):
    import skdim

    model = skdim.id.DANCo(k=k_skdim, random_state=0)
    model._k = k_skdim
    model._D = X.shape[1]
    return model


def test_danco_statistics_agree_with_scikit_dimension():
    """The three statistics of the data (MiND-ML dhat, mean von Mises location and
    concentration of the angles between the k - 1 nearest neighbour vectors) coincide with
    skdim's ``_dancoDimEstNoCalibration`` for DANCo(k=10) = ours with k = 11; our angles come
    from the neighbour indices of the one pass."""
    X = _curved(700, 4)
    model = _skdim_danco(10, X)
    theirs = model._dancoDimEstNoCalibration(X, 50)
    nb = kneighbors(X, 11)
    nu, tau = angle_statistics(X, nb.indices[:, :10])
    est = _fit(X, "danco", k=11)
    assert est.raw_dimension_ == pytest.approx(theirs["dhat"], rel=1e-4)
    assert np.mean(nu) == pytest.approx(theirs["mu_nu"], rel=1e-9)
    assert np.mean(tau) == pytest.approx(theirs["mu_tau"], rel=1e-9)


def test_danco_minimum_agrees_with_scikit_dimension_given_our_calibration():
    """Handing skdim our calibration curves (as its ``calibration_data``) leaves only the
    divergence and its minimization to compare: the same integer minimum, and the real
    refinement (its L-BFGS-B on a cubic interpolant, ours bounded Brent on the same
    not-a-knot spline) within 1 %."""
    import skdim

    X = make_hypercube(1000, 6, ambient_dim=14, random_state=5)
    est = _fit(X, "danco", k=11)
    dims, values = est._calibration
    caldata = {"k": 10, "N": len(X), "maxdim": int(dims[-1]),
               "calibration_data": [dict(zip(("dhat", "mu_nu", "mu_tau"), map(float, row)))
                                    for row in values]}
    theirs = skdim.id.DANCo(k=10, D=int(dims[-1]), calibration_data=caldata).fit(X)
    assert est.dimension_ == pytest.approx(theirs.dimension_, rel=0.01)
    # our divergences are theirs, term by term
    model = _skdim_danco(10, X)
    for d in (2, 5, 9):
        ours_kl = kl_norms(5.0, np.array([d]), 10)[0]
        assert ours_kl == pytest.approx(model._KLd(5.0, d), rel=1e-9)
        assert kl_von_mises(1.2, 3.0, 1.1, 4.0) == pytest.approx(
            model._KLnutau(1.2, 1.1, 3.0, 4.0), rel=1e-12)


def test_danco_agrees_with_scikit_dimension_end_to_end():
    """With its own precomputed calibration (DANCoFit, k=10) skdim's DANCo and ours (k=11,
    simulated on balls as well) agree within 10 % on a hypercube: the difference is the two
    calibrations' noise and interpolation."""
    import skdim

    X = make_hypercube(1500, 8, ambient_dim=12, random_state=6)
    ours = _fit(X, "danco", k=11).dimension_
    theirs = skdim.id.DANCo(k=10, ver="DANCoFit").fit(X).dimension_
    assert ours == pytest.approx(theirs, rel=0.1)
    assert ours == pytest.approx(8, rel=0.1)


# --------------------------------------------------------------------------------------------
# the Poisson process
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n1", [1, 2, 4])
def test_gride_fisher_error_matches_the_poisson_spread(n1):
    """Exact Poisson law: around a point of a homogeneous Poisson process the ball volumes
    up to its neighbours are the arrival times of a unit-rate process, so
    mu = (V_n2 / V_n1)^(1/d) with V = cumsum of Exp(1).  Over 400 independent sets of 400
    points, the mean Fisher error is within 20 % of the spread of the estimates (whose own
    sampling error is 3.5 %), and the estimates centre on d."""
    rng = np.random.default_rng(n1)
    d, n, repeats = 5.0, 400, 400
    estimates, errors = [], []
    for _ in range(repeats):
        V = np.cumsum(rng.exponential(size=(n, 2 * n1)), axis=1)
        log_mu = np.log(V[:, 2 * n1 - 1] / V[:, n1 - 1]) / d
        e, s = gride_dimension(log_mu, n1, 2 * n1)
        estimates.append(e)
        errors.append(s)
    assert np.mean(errors) == pytest.approx(np.std(estimates, ddof=1), rel=0.2)
    assert np.mean(estimates) == pytest.approx(d, abs=4 * np.std(estimates) / np.sqrt(repeats)
                                               + 0.01 * d)


def test_gride_fisher_error_on_point_clouds():
    """On actual point sets the neighbourhoods of nearby points overlap (mutual neighbours
    share their distances), which the Fisher error ignores: over 60 independent uniform
    3-cubes of 400 points (far apart in one array, searched in one pass) the spread is
    1.3-1.6 times the Fisher error (documented in the user guide).  Asserted: the Fisher
    error is never above 1.2 times the spread, nor below 0.55 times it."""
    rng = np.random.default_rng(0)
    n, repeats = 400, 60
    X = rng.uniform(size=(repeats, n, 3))
    X[:, :, 0] += 10 * np.arange(repeats)[:, None]
    T = kneighbors(X.reshape(-1, 3), 8).distances.reshape(repeats, n, 8)
    for n1 in (1, 2, 4):
        fits = np.array([gride_dimension(np.log(t[:, 2 * n1 - 1] / t[:, n1 - 1]), n1, 2 * n1)
                         for t in T])
        ratio = np.mean(fits[:, 1]) / np.std(fits[:, 0], ddof=1)
        assert 0.55 <= ratio <= 1.2, (n1, ratio)


def test_gride_local_solves_the_one_point_likelihood():
    rng = np.random.default_rng(1)
    log_mu = rng.exponential(0.3, size=50)
    for n1, n2 in ((1, 2), (2, 4), (3, 7)):
        local = gride_local(log_mu, n1, n2)
        for L, d in zip(log_mu, local):
            score = 1 / d + (n2 - n1 - 1) * L / -np.expm1(-d * L) - (n2 - 1) * L
            assert abs(score) < 1e-8 * (1 + 1 / d)
    np.testing.assert_allclose(gride_local(log_mu, 1, 2), 1 / log_mu, rtol=1e-9)


# --------------------------------------------------------------------------------------------
# calibration: closed forms on uniform balls
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("d", [1, 3, 10, 40])
def test_uniform_ball_sampler_has_the_closed_form_laws(d):
    """|x|^d is uniform on (0, 1) (P(|x| <= r) = r^d), E|x|^2 = d / (d + 2), and the
    direction is isotropic (the mean is 0)."""
    X = cal.uniform_ball(20000, d, np.random.default_rng(d))
    r = np.linalg.norm(X, axis=1)
    assert stats.kstest(r**d, "uniform").pvalue > 1e-3
    assert np.mean(r**2) == pytest.approx(d / (d + 2), abs=4 * np.std(r**2) / np.sqrt(20000))
    assert np.all(np.abs(X.mean(axis=0)) < 4 / np.sqrt(20000))


def test_calibration_curve_reaches_its_poisson_limit():
    """Where boundaries are negligible (d = 1, N / k = 400) the simulated expectation is the
    Poisson-limit closed form: E[1 / mean(u_k)] = d for the textbook MLE (Gamma(k - 1, d)
    sums) and d for TwoNN; at d = 30 and N = 4000 the bias is large (the curve is far
    below d) and grows with d."""
    table = cal.Calibration("mle", 10, 4000)
    dims, values = table.ensure(1.0, 1, margin=0.5, beyond=0)
    assert dims.tolist() == [1]
    assert values[0, 0] == pytest.approx(1.0, abs=0.02)
    twonn = cal.Calibration("twonn_pope", 2, 4000)
    assert twonn.ensure(1.0, 1, margin=0.5, beyond=0)[1][0, 0] == pytest.approx(1.0, abs=0.03)
    high = cal._simulate("mle", 4000, 10, 30, None)[0]
    assert high < 0.85 * 30


@pytest.mark.parametrize("estimator", ["mle_calibrated", "twonn_calibrated", "danco"])
def test_calibration_is_unbiased_on_uniform_balls(estimator):
    """The calibration's promise, checked on balls it did not simulate (other seeds): the
    calibrated estimate of a uniform d-ball is d, where the raw estimator is far below it
    at high d.  Tolerances: 3 standard errors of one fit plus 3 %."""
    rng = np.random.default_rng(11)
    for d in (3, 12, 30):
        X = cal.uniform_ball(1000, d, rng)
        est = _fit(X, estimator, k=11)
        se = d * (0.05 if estimator == "twonn_calibrated" else 0.025)
        assert est.dimension_ == pytest.approx(d, abs=3 * se + 0.03 * d), (estimator, d)
        if d == 30:
            assert est.raw_dimension_ < 0.9 * d  # what was corrected


def test_calibrated_estimator_inverts_its_own_curve():
    """Exact bookkeeping: dimension_ is the curve's inverse at raw_dimension_, the raw
    statistic is the textbook-normalized inverse-averaged MLE, and the local values are the
    MLE's scaled by dimension_ / raw_dimension_."""
    X = make_sphere(900, 6, ambient_dim=15, random_state=2)
    est = _fit(X, "mle_calibrated", k=15)
    plain = _fit(X, "mle", k=15, normalization="textbook")
    assert est.raw_dimension_ == pytest.approx(plain.dimension_, rel=1e-12)
    dims, values = est._calibration
    assert est.dimension_ == pytest.approx(np.interp(est.raw_dimension_, values[:, 0], dims))
    np.testing.assert_allclose(est.local_dimensions_, plain.local_dimensions_
                               * est.dimension_ / est.raw_dimension_, rtol=1e-12)
    # normalization and averaging do not apply
    other = _fit(X, "mle_calibrated", k=15, averaging="mean")
    assert other.dimension_ == est.dimension_


def test_calibration_tables_are_kept_on_disk_and_deterministic(tmp_path, monkeypatch):
    """A table is simulated once, written under $SKINTRINSIC_CACHE, read back by a new
    session, equal whichever random_state the user passes, and grown (not recomputed) when
    a larger dimension is needed."""
    monkeypatch.setenv("SKINTRINSIC_CACHE", str(tmp_path))
    monkeypatch.setattr(cal, "_MEMORY", {})
    X = make_hypercube(300, 4, ambient_dim=8, random_state=0)
    a = _fit(X, "twonn_calibrated", random_state=0)
    files = list((tmp_path / "id_calibration").glob("*.npz"))
    assert [f.name for f in files] == [f"v{cal.VERSION}_twonn_pope_k2_n{cal.snap_samples(300)}.npz"]
    monkeypatch.setattr(cal, "_MEMORY", {})
    calls = []
    real = cal._simulate
    monkeypatch.setattr(cal, "_simulate", lambda *a, **k: calls.append(a) or real(*a, **k))
    b = _fit(X, "twonn_calibrated", random_state=123)
    assert calls == [] and b.dimension_ == a.dimension_
    table = cal.Calibration.load("twonn_pope", 2, 300)
    before = table.dims.copy()
    table.ensure(2 * before.max(), 40)
    assert all(c[3] > before.max() for c in calls)  # only new dimensions were simulated
    monkeypatch.setattr(cal, "_MEMORY", {})
    reread = cal.Calibration.load("twonn_pope", 2, 300)
    np.testing.assert_array_equal(reread.dims, table.dims)


def test_snapping_and_inversion():
    assert cal.snap_samples(50) == 50
    for n in (100, 2500, 60000):
        assert abs(cal.snap_samples(n) / n - 1) <= 2 ** (1 / 16) - 1
    dims = np.array([1, 2, 3])
    curve = np.array([0.9, 1.7, 2.4])
    assert cal.invert_curve(dims, curve, 1.7) == pytest.approx(2)
    assert cal.invert_curve(dims, curve, 0.45) == pytest.approx(0.5)
    assert cal.invert_curve(dims, curve, 9.0) == 3


def test_beyond_the_largest_candidate_is_clipped_with_a_warning(monkeypatch):
    """With the candidates limited to d <= 3, a 6-cube's estimate is clipped to 3, loudly."""
    grid = cal.dimension_grid
    monkeypatch.setattr(cal, "dimension_grid", lambda cap: grid(min(cap, 3)))
    X = make_hypercube(400, 6, random_state=0)
    with pytest.warns(UserWarning, match="clipped to 3"):
        est = IntrinsicDimension("mle_calibrated", k=10, n_bootstrap=0).fit(X)
    assert est.dimension_ == 3 and est.raw_dimension_ > 4


# --------------------------------------------------------------------------------------------
# the estimator, its options and the one pass
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("estimator", NEW)
def test_new_estimators_read_one_neighbour_pass(estimator, monkeypatch):
    """fit calls the engine once on the data (DANCo's angles use that pass's indices); the
    calibration's own searches are on simulated balls, done before (the table is warm)."""
    import skintrinsic.dimension as dim

    X = make_sphere(500, 4, ambient_dim=9, random_state=1)
    _fit(X, estimator, k=11)  # warm the calibration table
    calls = []
    real = dim.kneighbors
    monkeypatch.setattr(dim, "kneighbors", lambda *a, **k: calls.append(a) or real(*a, **k))
    est = _fit(X, estimator, k=11)
    assert len(calls) == 1 and calls[0][1] == (2 if estimator == "twonn_calibrated" else 11)
    assert 3 < est.dimension_ < 5.5


@pytest.mark.parametrize("estimator", NEW)
def test_bootstrap_transform_and_duplicates(estimator):
    X = make_sphere(600, 3, ambient_dim=8, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        est = IntrinsicDimension(estimator, k=11, n_bootstrap=40, random_state=0).fit(X)
        dup = IntrinsicDimension(estimator, k=11, n_bootstrap=40, random_state=0).fit(
            np.vstack([X, X[:7]]))
    low, high = est.confidence_interval_
    assert low <= est.dimension_ <= high and high - low < 0.5 * est.dimension_
    assert dup.dimension_ == est.dimension_ and dup.n_duplicates_ == 7
    np.testing.assert_allclose(est.transform(X)[:, 0], est.local_dimensions_, rtol=1e-9)
    # one-point estimates are 1 / (an average of logs): their harmonic mean is the scale
    assert 1 / np.mean(1 / est.local_dimensions_) == pytest.approx(3, rel=0.35)


def test_precomputed_graph_gives_the_same_estimates():
    from skintrinsic import kneighbors_graph

    X = make_sphere(500, 4, ambient_dim=9, random_state=4)
    G = kneighbors_graph(X, 11)
    for estimator in ("mle_calibrated", "twonn_calibrated", "gride", "mind_ml"):
        a = _fit(X, estimator, k=11)
        b = _fit(G, estimator, k=11, neighbors="precomputed")
        assert b.dimension_ == pytest.approx(a.dimension_, rel=1e-9), estimator


def test_refusals_name_the_fix():
    X = make_sphere(200, 3, ambient_dim=6, random_state=0)
    with pytest.raises(ValueError, match="k >= 8 or a smaller gride_n1"):
        IntrinsicDimension("gride", k=5, gride_n1=4).fit(X)
    with pytest.raises(ValueError, match="3 <= k <= 41"):
        IntrinsicDimension("danco", k=50).fit(X)
    with pytest.raises(ValueError, match="does not hold"):
        IntrinsicDimension("danco", k=5, neighbors="precomputed").fit(np.eye(30))
    with pytest.raises(ValueError, match="gride_n1"):
        IntrinsicDimension("gride", gride_n1=0).fit(X)


def test_refit_with_another_estimator_drops_stale_attributes():
    X = make_sphere(300, 3, ambient_dim=6, random_state=0)
    est = IntrinsicDimension("gride", k=8, n_bootstrap=0).fit(X)
    assert hasattr(est, "scale_profile_")
    est.set_params(estimator="mle").fit(X)
    assert not hasattr(est, "scale_profile_") and not hasattr(est, "std_error_")


_FEW_SAMPLES = ("scikit-learn's check data has at most 20 samples, and k=20 needs 21 distinct "
                "ones (the k=5 instances run these checks)")


@parametrize_with_checks(
    [IntrinsicDimension(estimator=e, k=5, n_bootstrap=10, random_state=0) for e in NEW]
    + [IntrinsicDimension(estimator="gride", k=8, gride_n1=2, n_bootstrap=10, random_state=0)],
    xfail_strict=True,
)
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check(estimator)


def test_class_dimensions_gives_each_class_and_the_pool():
    """Two classes of known, different dimension: each class's estimate is the estimator
    fitted on that class alone (the oracle), near its dimension, and the pooled value is the
    fit on all samples."""
    from skintrinsic import class_dimensions

    a = make_sphere(500, 2, ambient_dim=10, random_state=0)
    b = make_hypercube(500, 6, ambient_dim=10, random_state=1) + 10
    X, y = np.vstack([a, b]), np.repeat(["sphere", "cube"], 500)
    template = IntrinsicDimension("twonn_calibrated", n_bootstrap=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = class_dimensions(X, y, estimator=template)
        alone = [template.fit(X[y == c]).dimension_ for c in ("cube", "sphere")]
        pooled = template.fit(X).dimension_
    assert res.classes.tolist() == ["cube", "sphere"]
    np.testing.assert_allclose(res.dimensions, alone, rtol=1e-12)
    assert res.pooled_dimension == pytest.approx(pooled, rel=1e-12)
    assert res.dimensions == pytest.approx([6, 2], rel=0.15)
    assert res.n_samples.tolist() == [500, 500] and res.confidence_intervals.shape == (2, 2)
    assert len(res.estimators) == 3 and res.estimators[-1].n_samples_fit_ == 1000


def test_danco_angles_of_float32_data_match_float64():
    """float32 data keep their Gram products in float32: the statistics move by < 1e-5."""
    X = _curved(600, 7).astype(np.float32)
    nb = kneighbors(X, 11)
    nu32, tau32 = angle_statistics(X, nb.indices[:, :10])
    nu64, tau64 = angle_statistics(X.astype(np.float64), nb.indices[:, :10])
    assert np.mean(nu32) == pytest.approx(np.mean(nu64), rel=1e-5)
    assert np.mean(tau32) == pytest.approx(np.mean(tau64), rel=1e-5)
