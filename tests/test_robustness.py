"""RobustnessScorer and robustness_curve: closed forms on linear models, skorch, GridSearchCV."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import log_softmax, softmax
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from skorch import NeuralNetClassifier

from skintrinsic import RobustnessScorer, robustness_curve


def closed_form(W, b, X, y, eps, lo, hi, norm="linf"):
    """FGSM / L2-FGM on a linear softmax model: grad_x CE = (p - onehot) @ W, by hand in float64."""
    W, b, X = (np.asarray(a, dtype=np.float64) for a in (W, b, X))
    p = softmax(X @ W.T + b, axis=1)
    onehot = np.eye(W.shape[0])[y]
    grad = (p - onehot) @ W
    if norm == "linf":
        step = np.sign(grad)
    else:
        step = grad / np.linalg.norm(grad, axis=1, keepdims=True)
    Xa = np.clip(X + eps * step, lo, hi)

    def ce_acc(Z):
        logits = Z @ W.T + b
        loss = -log_softmax(logits, axis=1)[np.arange(len(y)), y].mean()
        return loss, np.mean(logits.argmax(1) == y)

    (cl, ca), (al, aa) = ce_acc(X), ce_acc(Xa)
    return {"clean_loss": cl, "clean_accuracy": ca, "attacked_loss": al, "robust_accuracy": aa}


def linear_model(D=6, seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Linear(D, 2)
    return net, net.weight.detach().numpy(), net.bias.detach().numpy()


def check_against(curve_row, expected, atol=2e-5):
    for key, value in expected.items():
        assert curve_row[key] == pytest.approx(value, abs=atol, rel=1e-4), key


@pytest.fixture(scope="module")
def digits01():
    X, y = load_digits(return_X_y=True)
    keep = y < 2
    return X[keep].astype(np.float32), y[keep]


class LinearSoftmax(torch.nn.Module):
    """Logistic regression returning probabilities, as skorch's default NLLLoss expects."""

    def __init__(self, n_in=64):
        super().__init__()
        self.linear = torch.nn.Linear(n_in, 2)

    def forward(self, x):
        return torch.softmax(self.linear(x), dim=-1)


class MLP(torch.nn.Module):
    def __init__(self, n_in=64, hidden=32):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(n_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2)
        )

    def forward(self, x):
        return self.net(x)


def skorch_net(module, **kw):
    torch.manual_seed(0)
    params = dict(max_epochs=8, lr=0.05, train_split=None, verbose=0,
                  optimizer=torch.optim.Adam, batch_size=64)
    params.update(kw)
    return NeuralNetClassifier(module, **params)


@pytest.fixture(scope="module")
def trained_mlp(digits01):
    X, y = digits01
    net = skorch_net(MLP, criterion=torch.nn.CrossEntropyLoss, max_epochs=15, lr=0.01)
    return net.fit(X / 16, y)


@pytest.mark.parametrize("bounds", ["data", (0.0, 1.0)])
def test_fgsm_equals_closed_form_on_a_plain_linear_module(bounds):
    net, W, b = linear_model()
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, (50, 6)).astype(np.float32)
    y = rng.integers(0, 2, 50)
    lo, hi = (X.min(), X.max()) if bounds == "data" else bounds
    curve = robustness_curve(net, X, y, [0.0, 0.05, 0.3], epsilon_scale="absolute", bounds=bounds)
    for row, eps in zip(curve.to_dict("records"), [0.0, 0.05, 0.3]):
        check_against(row, closed_form(W, b, X, y, eps, lo, hi))
    assert curve.loc[0, "delta_loss"] == pytest.approx(0.0, abs=1e-6)
    # a big epsilon must hurt: the oracle comparison above is not vacuous
    assert curve.loc[2, "delta_loss"] > 0.1 and curve.loc[2, "delta_accuracy"] > 0


def test_epsilon_as_fraction_of_the_range_is_the_papers_2_over_255():
    net, W, b = linear_model(D=5, seed=3)
    rng = np.random.default_rng(2)
    X = np.round(rng.uniform(0, 255, (40, 5)))
    X[0, 0], X[1, 1] = 0, 255
    y = rng.integers(0, 2, 40)
    row = RobustnessScorer("fgsm", epsilon=2 / 255, bounds=(0, 255)).evaluate(net, X, y)
    assert row["epsilon_abs"] == pytest.approx(2.0)
    check_against(row, closed_form(W, b, X, y, 2.0, 0, 255), atol=1e-3)
    absolute = RobustnessScorer("fgsm", epsilon=2.0, epsilon_scale="absolute", bounds=(0, 255))
    assert absolute.evaluate(net, X, y)["attacked_loss"] == pytest.approx(row["attacked_loss"])


def test_l2_fast_gradient_matches_closed_form_and_l2_pgd_is_not_weaker():
    net, W, b = linear_model(D=8, seed=4)
    rng = np.random.default_rng(3)
    X = rng.uniform(0.2, 0.8, (40, 8)).astype(np.float32)
    X[0, 0], X[0, 1] = 0.0, 1.0
    y = rng.integers(0, 2, 40)
    fgm = robustness_curve(net, X, y, [0.3], norm="l2", epsilon_scale="absolute")
    check_against(fgm.iloc[0], closed_form(W, b, X, y, 0.3, 0.0, 1.0, norm="l2"))
    pgd = robustness_curve(net, X, y, [0.3], attack="pgd", norm="l2", epsilon_scale="absolute",
                           random_state=0)
    assert pgd.loc[0, "attacked_loss"] >= fgm.loc[0, "attacked_loss"] - 1e-5


def test_pgd_reaches_the_fgsm_optimum_on_a_linear_binary_model():
    # For a linear 2-class model the Linf-ball maximum of CE is the FGSM corner: PGD must get there.
    net, W, b = linear_model(seed=5)
    rng = np.random.default_rng(4)
    X = rng.uniform(0, 1, (60, 6)).astype(np.float32)
    y = rng.integers(0, 2, 60)
    eps = [0.02, 0.1]
    pgd = robustness_curve(net, X, y, eps, attack="pgd", epsilon_scale="absolute", bounds=(0, 1),
                           random_state=0)
    for row, e in zip(pgd.to_dict("records"), eps):
        check_against(row, closed_form(W, b, X, y, e, 0, 1), atol=1e-4)


def test_pgd_is_never_weaker_than_fgsm_on_a_trained_mlp(digits01, trained_mlp):
    X, y = digits01
    X = X / 16
    eps = [0.02, 0.05, 0.1]
    fgsm = robustness_curve(trained_mlp, X, y, eps, bounds=(0, 1))
    pgd = robustness_curve(trained_mlp, X, y, eps, attack="pgd", bounds=(0, 1), random_state=0)
    assert fgsm.loc[0, "clean_accuracy"] > 0.95  # the net learned the task
    assert np.all(pgd["attacked_loss"].to_numpy() >= fgsm["attacked_loss"].to_numpy() - 1e-6)
    assert np.all(pgd["robust_accuracy"].to_numpy() <= fgsm["robust_accuracy"].to_numpy())
    assert pgd["attacked_loss"].iloc[-1] > fgsm["attacked_loss"].iloc[-1]  # strictly, at a big eps


@pytest.mark.parametrize("criterion", [torch.nn.NLLLoss, torch.nn.CrossEntropyLoss])
def test_skorch_classifier_matches_closed_form(digits01, criterion):
    # NLLLoss: the module returns probabilities and is attacked through log(p + eps), as skorch
    # trains it; CrossEntropyLoss: it returns logits.
    X, y = digits01
    if criterion is torch.nn.NLLLoss:
        net = skorch_net(LinearSoftmax, criterion=criterion, lr=0.001).fit(X, y)
        lin = net.module_.linear
    else:
        net = skorch_net(torch.nn.Linear, module__in_features=64, module__out_features=2,
                         criterion=criterion, lr=0.001).fit(X, y)
        lin = net.module_
    W, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    scorer = RobustnessScorer(epsilon=0.25, epsilon_scale="absolute", bounds=(0, 16))
    row = scorer.evaluate(net, X, y)
    check_against(row, closed_form(W, b, X, y, 0.25, 0, 16), atol=1e-4)
    assert net.module_.training  # eval mode was temporary


def test_scorer_sign_convention_and_metrics(digits01, trained_mlp):
    X, y = digits01
    X = X / 16
    row = RobustnessScorer(epsilon=0.05, bounds=(0, 1)).evaluate(trained_mlp, X, y)
    assert row["delta_loss"] > 0 and row["delta_accuracy"] >= 0
    assert row["delta_accuracy"] == pytest.approx(row["clean_accuracy"] - row["robust_accuracy"])
    for metric, expected in [("delta_loss", -row["delta_loss"]),
                             ("delta_accuracy", -row["delta_accuracy"]),
                             ("robust_accuracy", row["robust_accuracy"])]:
        scorer = RobustnessScorer(epsilon=0.05, bounds=(0, 1), metric=metric)
        assert scorer(trained_mlp, X, y) == pytest.approx(expected)


class SeededMLP(MLP):
    """Same initial weights at every construction: GridSearchCV's clones are reproducible."""

    def __init__(self, hidden=32):
        torch.manual_seed(0)
        super().__init__(hidden=hidden)


def test_grid_search_scores_are_the_scorer_on_each_fold(digits01):
    X, y = digits01
    X = X / 16
    net = skorch_net(SeededMLP, criterion=torch.nn.CrossEntropyLoss, lr=0.01)
    scorer = RobustnessScorer(epsilon=0.1, bounds=(0, 1))
    cv = PredefinedSplit(np.arange(len(y)) % 2)
    grid = {"max_epochs": [1, 20], "module__hidden": [4, 32]}
    search = GridSearchCV(net, grid, scoring=scorer, cv=cv, refit=False).fit(X, y)
    for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
        manual = []
        for train, test in cv.split(X, y):
            fitted = clone(net).set_params(**params).fit(X[train], y[train])
            row = robustness_curve(fitted, X[test], y[test], [0.1], bounds=(0, 1)).iloc[0]
            manual.append(-row["delta_loss"])
        assert score == pytest.approx(np.mean(manual), rel=1e-6)
        assert score < 0  # an attack raises the loss; greater is better means -delta_loss
    assert search.best_params_ == search.cv_results_["params"][
        int(np.argmax(search.cv_results_["mean_test_score"]))]


def test_torch_tensor_and_numpy_inputs_agree_and_are_not_modified(digits01, trained_mlp):
    X, y = digits01
    X = X[:64] / 16
    y = y[:64]
    X0 = X.copy()
    a = robustness_curve(trained_mlp, X, y, [0.05])
    b = robustness_curve(trained_mlp, torch.from_numpy(X), y, [0.05])
    assert a.equals(b)
    np.testing.assert_array_equal(X, X0)


def test_random_state_reproduces_pgd_and_leaves_global_rng_alone(digits01, trained_mlp):
    X, y = digits01
    X, y = X[:80] / 16, y[:80]
    kw = dict(attack="pgd", bounds=(0, 1), steps=3)
    torch.manual_seed(123)
    first = robustness_curve(trained_mlp, X, y, [0.1], random_state=0)
    after = torch.rand(3)
    second = robustness_curve(trained_mlp, X, y, [0.1], random_state=0)
    assert first.equals(second)
    torch.manual_seed(123)
    assert torch.equal(torch.rand(3), after)  # the seeded attack did not consume global draws
    other = robustness_curve(trained_mlp, X, y, [0.1], random_state=1, **kw)
    seeded = robustness_curve(trained_mlp, X, y, [0.1], random_state=0, **kw)
    assert other.loc[0, "attacked_loss"] != seeded.loc[0, "attacked_loss"]


def test_module_device_and_batches(digits01, trained_mlp):
    X, y = digits01
    X = X / 16
    whole = robustness_curve(trained_mlp, X, y, [0.05], device="cpu")
    batched = robustness_curve(trained_mlp, X, y, [0.05], batch_size=7)
    for key in ("clean_loss", "attacked_loss", "robust_accuracy"):
        assert batched.loc[0, key] == pytest.approx(whole.loc[0, key], rel=1e-5)
    assert next(trained_mlp.module_.parameters()).device.type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            robustness_curve(trained_mlp, X, y, [0.05], device="cuda")


def test_bad_input_messages(digits01, trained_mlp):
    X, y = digits01
    X = X / 16
    with pytest.raises(ValueError, match="outside bounds"):
        robustness_curve(trained_mlp, X * 2, y, [0.05], bounds=(0, 1))
    with pytest.raises(ValueError, match="not fitted on"):
        robustness_curve(trained_mlp, X, y + 5, [0.05])
    with pytest.raises(ValueError, match="epsilons must be finite"):
        robustness_curve(trained_mlp, X, y, [-0.1])
    with pytest.raises(ValueError, match="NaN"):
        Xn = X.copy()
        Xn[0, 0] = np.nan
        robustness_curve(trained_mlp, Xn, y, [0.05])
    with pytest.raises(ValueError, match="no samples"):
        robustness_curve(trained_mlp, X[:0], y[:0], [0.05])
    with pytest.raises(ValueError, match="X is constant"):
        robustness_curve(trained_mlp, np.zeros_like(X), y, [0.05])
    with pytest.raises(ValueError, match="metric"):
        RobustnessScorer(metric="loss")(trained_mlp, X, y)
    with pytest.raises(ValueError, match="attack"):
        RobustnessScorer(attack="cw")(trained_mlp, X, y)
    with pytest.raises(NotFittedError):
        RobustnessScorer()(skorch_net(MLP), X, y)
    with pytest.raises(TypeError, match="Pipeline"):
        pipe = make_pipeline(FunctionTransformer(), FunctionTransformer()).fit(X, y)
        RobustnessScorer()(pipe, X, y)
    net, _, _ = linear_model()
    with pytest.raises(ValueError, match="class indices"):
        X4 = np.random.default_rng(0).uniform(size=(4, 6))
        robustness_curve(net, X4, ["a", "b", "a", "b"], [0.1])


def test_repr_shows_non_defaults():
    assert repr(RobustnessScorer("pgd", 0.1, random_state=0)) == (
        "RobustnessScorer(attack='pgd', epsilon=0.1, random_state=0)"
    )


def test_robustness_curve_display_draws_each_attack(digits01, trained_mlp):
    import matplotlib

    matplotlib.use("Agg")
    from skintrinsic.plotting import RobustnessCurveDisplay

    X, y = digits01
    X, y = X[:100] / 16, y[:100]
    eps = [0.0, 0.05, 0.1]
    disp = RobustnessCurveDisplay.from_estimator(trained_mlp, X, y, eps, attack=["fgsm", "pgd"],
                                                 metric="robust_accuracy", bounds=(0, 1),
                                                 random_state=0, steps=5)
    pgd = robustness_curve(trained_mlp, X, y, eps, attack="pgd", bounds=(0, 1), random_state=0,
                           steps=5)
    np.testing.assert_allclose(disp.lines_["pgd"].get_ydata(), pgd["robust_accuracy"])
    np.testing.assert_allclose(disp.lines_["fgsm"].get_xdata(), eps)
    assert disp.ax_.get_ylabel() == "robust accuracy"
    with pytest.raises(ValueError, match="not a column"):
        RobustnessCurveDisplay.from_curve(pgd, metric="loss")
    matplotlib.pyplot.close("all")


def test_image_classifier_inputs_in_any_shape_and_its_own_test_loss():
    # ImageClassifier takes (n, H, W), (n, C, H, W) or flat rows; the scorer reshapes to the
    # module's image_shape_, and the clean loss is the classifier's own loss_score.
    from skintrinsic.nets import ImageClassifier

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    clf = ImageClassifier(max_epochs=2, random_state=0).fit(X[:300].reshape(-1, 8, 8), y[:300])
    Xt, yt = X[300:400], y[300:400]
    curves = [robustness_curve(clf, Z, yt, [2 / 255], bounds=(0, 16))
              for Z in (Xt, Xt.reshape(-1, 8, 8), Xt.reshape(-1, 1, 8, 8))]
    for c in curves[1:]:
        assert c.equals(curves[0])
    assert curves[0].loc[0, "clean_loss"] == pytest.approx(clf.loss_score(Xt, yt), rel=1e-5)
    assert curves[0].loc[0, "clean_accuracy"] == pytest.approx(clf.score(Xt, yt))
    with pytest.raises(ValueError, match="fitted shape"):
        robustness_curve(clf, Xt[:, :63], yt, [0.1])


def test_read_only_input_gives_no_torch_warning_and_the_same_curve(digits01, trained_mlp):
    # joblib hands scaling_study's workers memory-mapped, read-only arrays
    X, y = digits01
    X = X / 16
    frozen = X.copy()
    frozen.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's "non-writable" UserWarning included
        curve = robustness_curve(trained_mlp, frozen, y, [0.05], bounds=(0, 1))
    expected = robustness_curve(trained_mlp, X, y, [0.05], bounds=(0, 1))
    pd.testing.assert_frame_equal(curve, expected)


def test_progress_counts_attacked_images_with_time_left(digits01, trained_mlp, capsys,
                                                        monkeypatch):
    import functools

    from skintrinsic import _compute

    # every update drawn (tqdm otherwise redraws at most every 0.1 s)
    monkeypatch.setattr(_compute, "tqdm", functools.partial(_compute.tqdm, mininterval=0))
    X, y = digits01
    robustness_curve(trained_mlp, X[:100] / 16, y[:100], [0.02, 0.05], attack="pgd", steps=3,
                     bounds=(0, 1), batch_size=40, random_state=0, verbose=1)
    err = capsys.readouterr().err
    # 100 images x 2 epsilons, in batches of 40: the bar moves per batch, in images
    assert "pgd attack" in err and "200/200" in err and "img" in err
    assert "80/200" in err
    assert re.search(r"<\d\d:\d\d", err)  # tqdm's estimate of the time left


def test_float64_data_bounds_that_float32_rounds_up(digits01, trained_mlp):
    # max 1/3 in float64; the float32 network sees 0.33333334 > 1/3, which foolbox refused
    # (an AssertionError inside foolbox, e.g. in every worker of scaling_study)
    X, y = digits01
    X = X.astype(np.float64) / 48.0
    assert np.float32(X.max()) > X.max()
    # the bounds as scaling_study computes them: from the float64 arrays
    curve = robustness_curve(trained_mlp, X, y, [0.0, 0.05], bounds=(0.0, float(X.max())),
                             attack="pgd", steps=2, random_state=0)
    assert np.all(np.isfinite(curve["attacked_loss"]))
    assert curve["attacked_loss"].iloc[1] >= curve["attacked_loss"].iloc[0]
