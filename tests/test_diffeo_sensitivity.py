"""DiffeoSensitivity on plain torch modules: brute-force oracles for D, G, R, both aggregations."""

import functools
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.spatial.distance import cdist
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from skintrinsic import DiffeoSensitivity
from skintrinsic.diffeo import make_stability_scorer, temperature_range, typical_temperature
from skintrinsic.diffeo._aggregate import median_pair_distance


def roll(X, random_state=None):
    """A deterministic perturbation, so that D has an exact oracle."""
    return np.roll(X, 1, axis=-1)


def small_net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(3 * 3 * 3, 2),
    )


@pytest.fixture
def images():
    return np.random.default_rng(0).random((40, 1, 8, 8))


# ------------------------------------------------------------------ scikit-learn checks

_TABULAR = ("fit raises on the checks' tabular X (1-10 features: not square images of side >= 3); "
            "the API it checks is tested on images in this file")
EXPECTED_FAILED = {name: _TABULAR for name in [
    "check_n_features_in_after_fitting", "check_positive_only_tag_during_fit",
    "check_estimators_dtypes", "check_dtype_object", "check_pipeline_consistency",
    "check_estimators_nan_inf", "check_estimators_pickle", "check_f_contiguous_array_estimator",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance",
    "check_fit2d_1sample", "check_fit2d_1feature", "check_dict_unchanged",
    "check_fit_idempotent", "check_fit_check_is_fitted", "check_n_features_in",
    "check_fit2d_predict1d", "check_estimators_fit_returns_self", "check_fit_score_takes_y",
    "check_readonly_memmap_input", "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters", "check_array_api_input",
]}


@parametrize_with_checks([DiffeoSensitivity(torch.nn.Flatten(), random_state=0)],
                         expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# ------------------------------------------------------------------ oracles

def brute_force(F0, F1, aggregation):
    """D (or G) of features F0 -> F1 with the full P x P distance matrix."""
    F0, F1 = F0.astype(np.float64), F1.astype(np.float64)
    pairs = cdist(F0, F0, "sqeuclidean")
    if aggregation == "mean":
        return ((F1 - F0) ** 2).sum(1).mean() / pairs.mean()
    return np.median((F1 - F0) ** 2, axis=0).sum() / np.median(pairs)


def test_identity_has_relative_stability_exactly_one_in_mean_mode(images):
    est = DiffeoSensitivity(torch.nn.Identity(), delta=[0.5, 1, 2], cutoff=[3, 5],
                            random_state=0).fit(images)
    table = est.sensitivity_
    assert len(table) == 6
    np.testing.assert_allclose(table["R"], 1.0, rtol=1e-12)
    assert est.relative_stability_ == pytest.approx(1.0, rel=1e-12)
    assert np.all(table["D"] > 0) and table["D"].is_monotonic_increasing is False


@pytest.mark.parametrize("aggregation", ["mean", "median"])
def test_d_matches_brute_force_for_every_layer(images, aggregation):
    net = small_net()
    est = DiffeoSensitivity(net, layers=["4", "1"], aggregation=aggregation, perturbation=roll,
                            random_state=0).fit(images)
    table = est.sensitivity_.set_index("layer")
    assert list(table.index) == ["1", "4", "output"]
    assert list(table["depth"]) == [1, 2, 3]
    assert table["T"].isna().all()
    x0 = torch.from_numpy(images).float()
    x1 = torch.from_numpy(roll(images)).float()
    with torch.no_grad():
        feats = {"1": lambda x: net[1](net[0](x)),
                 "4": lambda x: net[4](net[3](net[2](net[1](net[0](x))))),
                 "output": net}
        for name, f in feats.items():
            F0 = f(x0).reshape(40, -1).numpy()
            F1 = f(x1).reshape(40, -1).numpy()
            assert table.loc[name, "D"] == pytest.approx(brute_force(F0, F1, aggregation), rel=1e-5)
    assert np.all(table["R"] == table["D"] / table["G"])


def test_g_of_a_linear_map_is_the_frobenius_share_of_the_noise():
    """For f(x) = W x and isotropic noise, E ||W eta||^2 = ||eta||^2 ||W||_F^2 / dim."""
    rng = np.random.default_rng(1)
    X = rng.random((400, 1, 6, 6))
    torch.manual_seed(0)
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36, 5, bias=False)).double()
    est = DiffeoSensitivity(lin, perturbation=roll, random_state=0, n_probe=400).fit(X)
    W = lin[1].weight.detach().numpy()
    flat = X.reshape(400, -1)
    moved_sq = ((roll(X) - X).reshape(400, -1) ** 2).sum(1).mean()
    den = cdist(flat @ W.T, flat @ W.T, "sqeuclidean").mean()
    expected = moved_sq * (W**2).sum() / 36 / den
    assert est.sensitivity_["G"].iloc[0] == pytest.approx(expected, rel=0.08)


def test_median_pair_distance_two_pass_selection_is_exact():
    rng = np.random.default_rng(2)
    for P in (30, 31, 64):
        F = rng.standard_normal((P, 5))
        F[4] = F[3]  # a duplicate: zero off the diagonal
        expected = np.median(cdist(F, F, "sqeuclidean"))
        assert median_pair_distance(F, block=7) == pytest.approx(expected, rel=1e-12)
        for seed in range(5):  # the sampled bracket path, with a tiny sample that often misses
            got = median_pair_distance(F, block=6, max_sample=40, random_state=seed)
            assert got == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------ grid, sparse, layers

def smooth_images(n_images, side, seed):
    """Images of a few long waves: small deformations change them smoothly."""
    rng = np.random.default_rng(seed)
    u = np.linspace(0, 1, side)
    k = rng.uniform(0.5, 2.0, size=(n_images, 2, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n_images, 2, 1, 1))
    waves = np.sin(2 * np.pi * k * u[None, None, :, None] + phase)
    return (waves[:, :1] * np.swapaxes(waves[:, 1:], -1, -2))


def test_grid_of_delta_and_cutoff_and_the_p21_sweep(images):
    smooth = smooth_images(300, 16, 0)
    est = DiffeoSensitivity(torch.nn.Flatten(), delta=[0.25, 0.5], cutoff=[3, 4],
                            random_state=0).fit(smooth)
    t = est.sensitivity_
    grid = [(0.25, 3), (0.25, 4), (0.5, 3), (0.5, 4)]
    assert list(zip(t["delta"].round(12), t["c"])) == grid
    np.testing.assert_allclose(t["T"], [typical_temperature(d, c, 16) for d, c in grid])
    # on smooth images D grows as T, i.e. as delta^2, for small displacements
    assert 3.0 < t["D"].iloc[2] / t["D"].iloc[0] < 5.0
    sweep = DiffeoSensitivity(torch.nn.Flatten(), temperature="sweep", cutoff=[3, 5], n_probe=10,
                              random_state=0).fit(images)
    s = sweep.sensitivity_
    assert len(s) == 60
    for c in (3, 5):
        t_min, t_max = temperature_range(8, c)
        T = s.loc[s["c"] == c, "T"].to_numpy()
        np.testing.assert_allclose([T[0], T[-1]], [t_min / 15, 2 * t_max])
        np.testing.assert_allclose(np.diff(np.log(T)), np.log(30 * t_max / t_min) / 29)


def test_sparse_images_use_one_pixel_moves():
    X = np.zeros((60, 1, 12, 12))
    rng = np.random.default_rng(3)
    for x in X:
        a, b = rng.choice(144, 2, replace=False)
        while abs(a // 12 - b // 12) + abs(a % 12 - b % 12) < 3:  # no collisions: an exact oracle
            a, b = rng.choice(144, 2, replace=False)
        x[0].flat[[a, b]] = 72.0
    est = DiffeoSensitivity(torch.nn.Identity(), random_state=0).fit(X)
    assert est.perturbation_ == "sparse"
    row = est.sensitivity_.iloc[0]
    assert np.isnan(row["T"]) and np.isnan(row["c"])
    den = cdist(X.reshape(60, -1), X.reshape(60, -1), "sqeuclidean").mean()
    assert row["D"] == pytest.approx(4 * 72.0**2 / den, rel=1e-12)  # two pixels, each moved once
    assert row["R"] == pytest.approx(1.0, rel=1e-12)
    dense = DiffeoSensitivity(torch.nn.Identity(), random_state=0).fit(X + 1.0)
    assert dense.perturbation_ == "diffeo"


def test_one_d_task_two_with_a_block_constrained_callable():
    from skintrinsic.diffeo import sparse_moves

    X = np.zeros((30, 1, 16))
    X[np.arange(30), 0, np.random.default_rng(4).integers(0, 16, 30)] = 1.0
    est = DiffeoSensitivity(torch.nn.Flatten(), random_state=0,
                            perturbation=functools.partial(sparse_moves, block_size=4)).fit(X)
    assert np.isfinite(est.sensitivity_["R"].iloc[0])
    with pytest.raises(ValueError, match="square"):
        DiffeoSensitivity(torch.nn.Flatten(), perturbation="diffeo").fit(X)


def test_flat_rows_image_shape_and_unknown_layer(images):
    flat = images.reshape(40, -1)
    net = torch.nn.Linear(64, 3).double()
    a = DiffeoSensitivity(net, random_state=0).fit(flat)
    b = DiffeoSensitivity(net, random_state=0, image_shape=(8, 8)).fit(flat)
    pd.testing.assert_frame_equal(a.sensitivity_, b.sensitivity_)
    with pytest.raises(ValueError, match="no layer named 'fc9'.*Valid layer names: '0'"):
        DiffeoSensitivity(small_net(), layers=["fc9"]).fit(images)


# ------------------------------------------------------------------ conventions

def test_model_untouched_seeded_reproducible_and_pickles(images):
    net = small_net()
    net.train()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    before = images.copy()
    a = DiffeoSensitivity(net, layers=["1"], random_state=5).fit(images)
    b = DiffeoSensitivity(net, layers=["1"], random_state=5).fit(images)
    c = DiffeoSensitivity(net, layers=["1"], random_state=6).fit(images)
    pd.testing.assert_frame_equal(a.sensitivity_, b.sensitivity_)
    assert not np.allclose(a.sensitivity_["D"], c.sensitivity_["D"])
    assert net.training and np.array_equal(images, before)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in state.items())
    back = pickle.loads(pickle.dumps(a))
    pd.testing.assert_frame_equal(back.sensitivity_, a.sensitivity_)
    assert back.score(images) == pytest.approx(a.score(images))
    assert a.score(images) == pytest.approx(-a.relative_stability_, rel=1e-5)


def test_n_probe_subsamples(images):
    est = DiffeoSensitivity(torch.nn.Identity(), n_probe=10, random_state=0).fit(images)
    assert est.n_probe_ == 10


class _FakeNet:
    """Duck-types a skorch net (initialize, module, module_)."""

    def __init__(self, module, fitted=True):
        self.module = type(module)
        if fitted:
            self.module_ = module

    def initialize(self):
        return self


def test_skorch_like_models_errors_and_scorer(images):
    net = small_net()
    direct = DiffeoSensitivity(net, random_state=0).fit(images)
    wrapped = DiffeoSensitivity(_FakeNet(net), random_state=0).fit(images)
    pd.testing.assert_frame_equal(direct.sensitivity_, wrapped.sensitivity_)
    with pytest.raises(NotFittedError, match="fit it"):
        DiffeoSensitivity(_FakeNet(net, fitted=False)).fit(images)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        DiffeoSensitivity("resnet").fit(images)
    with pytest.raises(ValueError, match="at least 2"):
        DiffeoSensitivity(net).fit(images[:1])
    with pytest.raises(ValueError, match="cutoff"):
        DiffeoSensitivity(net, cutoff=1).fit(images)
    with pytest.raises(ValueError, match="cutoff must be >= 2"):
        DiffeoSensitivity(net, cutoff=[3, 1.5]).fit(images)
    with pytest.raises(ValueError, match="temperature"):
        DiffeoSensitivity(net, temperature=-1e-3).fit(images)
    scorer = make_stability_scorer(random_state=0)
    assert scorer(net, images) == pytest.approx(-direct.relative_stability_)
    d_scorer = make_stability_scorer("D", layer="1", random_state=0)
    layer = DiffeoSensitivity(net, layers=["1"], random_state=0).fit(images).sensitivity_
    assert d_scorer(_FakeNet(net), images, None) == pytest.approx(-layer["D"].iloc[0])
    assert "measure='D'" in repr(d_scorer)
    with pytest.raises(ValueError, match="measure"):
        make_stability_scorer("Q")


def test_named_layer_groups_of_the_built_networks(images):
    from skintrinsic.nets import build_model, profile_layers

    net = build_model("small_cnn", input_size=8, width=0.25)
    est = DiffeoSensitivity(net, layers="profile", n_probe=20, random_state=0).fit(
        images.astype(np.float32))
    assert est.layers_ == profile_layers(net) + ["output"]
    pen = DiffeoSensitivity(net, layers=["penultimate", "features.2"], n_probe=20,
                            random_state=0).fit(images.astype(np.float32))
    assert pen.layers_ == ["features.2", "classifier.0", "output"]
    assert DiffeoSensitivity(net, layers=[], n_probe=20).fit(images).layers_ == ["output"]
