"""RepresentationDimension on networks of known representation dimension, and its Display."""

import pickle

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402
from torch import nn  # noqa: E402

from skintrinsic import IntrinsicDimension, RepresentationDimension  # noqa: E402
from skintrinsic.datasets import make_hypercube, make_linear_manifold  # noqa: E402
from skintrinsic.nets import ImageClassifier  # noqa: E402
from skintrinsic.plotting import DimensionProfileDisplay  # noqa: E402


class FixedEmbedding(nn.Module):
    """x -> Q x (an isometry into R^32) -> P (a fixed map to R^2) -> trainable head.

    The representation at ``embed`` has the data's dimension and, Q being
    orthonormal, its exact pairwise distances; ``project`` has dimension 2.
    """

    penultimate_layer = "embed"

    def __init__(self, input_shape, n_classes, seed=0):
        super().__init__()
        n_in = int(np.prod(input_shape))
        gen = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(32, n_in, generator=gen, dtype=torch.float64))
        self.embed = nn.Linear(n_in, 32, bias=False)
        self.project = nn.Linear(32, 2, bias=False)
        with torch.no_grad():
            self.embed.weight.copy_(q.float())
            self.project.weight.copy_(torch.randn(2, 32, generator=gen))
        for layer in (self.embed, self.project):
            layer.weight.requires_grad_(False)
        self.head = nn.Linear(2, n_classes)

    def forward(self, x):
        return self.head(self.project(self.embed(x.flatten(1))))


class MLP(nn.Module):
    penultimate_layer = "hidden"

    def __init__(self, input_shape, n_classes, hidden=8):
        super().__init__()
        self.hidden = nn.Linear(int(np.prod(input_shape)), hidden)
        self.act = nn.Tanh()
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, x):
        return self.out(self.act(self.hidden(x.flatten(1))))


def twonn(**kwargs):
    return IntrinsicDimension(estimator="twonn", n_bootstrap=50, random_state=0, **kwargs)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32).reshape(-1, 8, 8)[:700], y[:700]


@pytest.fixture(scope="module")
def digits_rep(digits):
    X, y = digits
    clf = ImageClassifier(max_epochs=5, train_size=500, random_state=0)
    return RepresentationDimension(clf, layers="profile", estimator=twonn()).fit(X, y)


@pytest.mark.parametrize("make, d", [(make_hypercube, 4), (make_linear_manifold, 5)])
def test_known_dimension_profile(make, d):
    X = make(800, d, 12, random_state=0).astype(np.float32)
    y = (X @ np.random.default_rng(0).standard_normal(12) > 0).astype(int)
    clf = ImageClassifier(module=FixedEmbedding, train_size=600, max_epochs=2, random_state=0)
    rep = RepresentationDimension(clf, layers=["project", "penultimate"], estimator=twonn())
    rep.fit(X, y)
    profile = rep.profile_.set_index("layer")
    assert rep.layers_ == ["embed", "project"] and rep.layer_ == "project"
    np.testing.assert_array_equal(rep.train_indices_, rep.classifier_.train_indices_)
    assert rep.train_indices_.size == 600
    # the isometry keeps every distance: TwoNN of the subset itself is the oracle
    direct = twonn().fit(X[rep.train_indices_])
    assert profile.loc["embed", "dimension"] == pytest.approx(direct.dimension_, rel=1e-3)
    assert abs(profile.loc["embed", "dimension"] - d) < 0.7
    assert abs(profile.loc["project", "dimension"] - 2) < 0.4
    assert rep.dimension_ == profile.loc["project", "dimension"]
    assert (profile["ci_low"] <= profile["ci_high"]).all()
    assert profile.loc["embed", "n_features"] == 32 and profile.loc["project", "n_features"] == 2


def test_real_network_profile_matches_manual_pipeline(digits, digits_rep):
    X, _ = digits
    rep = digits_rep
    clf = rep.classifier_
    assert rep.layers_ == ["features.2", "features.5", "classifier.0", "classifier.2"]
    assert list(rep.profile_["depth"]) == sorted(rep.profile_["depth"])
    idx = clf.train_indices_
    assert idx.size == 500 and np.array_equal(rep.train_indices_, idx)
    manual = clf.extract_features(X[idx], "classifier.0")
    expected = twonn().fit(manual).dimension_
    row = rep.profile_.set_index("layer").loc["classifier.0"]
    assert row["dimension"] == pytest.approx(expected, rel=1e-6)
    assert np.isfinite(rep.profile_["dimension"]).all() and (rep.profile_["dimension"] > 0).all()
    np.testing.assert_allclose(rep.transform(X[:5]), clf.extract_features(X[:5], "classifier.2"),
                               rtol=1e-6)
    assert rep.transform(X[:5]).shape == (5, 10)
    assert rep.get_feature_names_out()[0] == "representationdimension0"


def test_default_is_twonn_on_the_penultimate_layer(digits, digits_rep):
    X, _ = digits
    clf = digits_rep.classifier_
    rep = RepresentationDimension(clf, prefit=True).fit(X)
    assert rep.classifier_ is clf and rep.layers_ == ["classifier.0"]
    assert rep.estimators_["classifier.0"].estimator == "twonn"
    default_twonn = IntrinsicDimension(estimator="twonn").fit(
        clf.extract_features(X[clf.train_indices_]))
    assert rep.dimension_ == pytest.approx(default_twonn.dimension_, rel=1e-6)


def test_prefit_does_not_refit(digits, digits_rep):
    X, _ = digits
    clf = digits_rep.classifier_
    weights = clf.module_.classifier[0].weight.detach().clone()
    RepresentationDimension(clf, prefit=True, estimator=twonn()).fit(X)
    assert torch.equal(weights, clf.module_.classifier[0].weight)
    with pytest.raises(ValueError, match="rows up to"):
        RepresentationDimension(clf, prefit=True).fit(X[:100])


def test_prefit_refuses_other_images_of_the_same_length(digits, digits_rep):
    X, _ = digits
    clf = digits_rep.classifier_
    assert clf.train_fingerprint_ is not None
    # the same number of rows, other images (e.g. a test set instead of the training set)
    for other in (X[::-1], X + 1.0):
        with pytest.raises(ValueError, match="not the data the prefit ImageClassifier was"):
            RepresentationDimension(clf, prefit=True, estimator=twonn()).fit(other)
    # the same images in another float type are the training set
    as_float64 = RepresentationDimension(clf, prefit=True, estimator=twonn()).fit(
        X.astype(np.float64))
    same = RepresentationDimension(clf, prefit=True, estimator=twonn()).fit(X)
    assert as_float64.dimension_ == pytest.approx(same.dimension_, rel=1e-6)


def test_plain_torch_module():
    X = make_linear_manifold(400, 3, 10, random_state=1).astype(np.float32)
    torch.manual_seed(0)  # the weights, else they depend on the tests run before
    net = nn.Sequential(nn.Linear(10, 20), nn.Linear(20, 2))
    rep = RepresentationDimension(net, layers=["0"], prefit=True, estimator=twonn()).fit(X)
    assert abs(rep.dimension_ - 3) < 0.6
    with torch.no_grad():
        expected = net[0](torch.as_tensor(X[:4])).numpy()
    np.testing.assert_allclose(rep.transform(X[:4]), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="prefit=True"):
        RepresentationDimension(net).fit(X, np.zeros(400))


def test_clear_errors(digits, digits_rep):
    X, y = digits
    with pytest.raises(TypeError, match="not a classifier"):
        RepresentationDimension(PCA()).fit(X.reshape(len(X), -1), y)
    with pytest.raises(TypeError, match="no torch network"):
        RepresentationDimension(LogisticRegression()).fit(X.reshape(len(X), -1), y)
    with pytest.raises(NotFittedError, match="prefit=True"):
        RepresentationDimension(ImageClassifier(), prefit=True).fit(X)
    with pytest.raises(ValueError, match="requires y"):
        RepresentationDimension(ImageClassifier(max_epochs=1)).fit(X)
    with pytest.raises(ValueError, match=r"no layer named 'layer4'.*'classifier\.0'"):
        RepresentationDimension(digits_rep.classifier_, layers="layer4", prefit=True).fit(X)
    with pytest.raises(ValueError, match="at least 2 classes"):
        RepresentationDimension(ImageClassifier(max_epochs=1)).fit(X[:20], np.zeros(20))
    with pytest.raises(NotFittedError):
        RepresentationDimension(ImageClassifier()).transform(X)


def test_reproducible_and_picklable(digits):
    X, y = digits
    X, y = X[:300], y[:300]
    clf = ImageClassifier(max_epochs=1)  # unseeded: the wrapper's random_state seeds the clone
    a = RepresentationDimension(clf, estimator=twonn(), random_state=5).fit(X, y)
    b = RepresentationDimension(clf, estimator=twonn(), random_state=5).fit(X, y)
    pd.testing.assert_frame_equal(a.profile_, b.profile_)
    loaded = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(loaded.transform(X[:7]), a.transform(X[:7]))
    assert clone(a).get_params()["classifier"] is not clf


def test_display(digits_rep):
    rep = digits_rep
    data = IntrinsicDimension(estimator="twonn", n_bootstrap=0).fit(
        np.random.default_rng(0).random((200, 3)))
    disp = DimensionProfileDisplay.from_estimator(rep, data_dimension=data, label="small CNN")
    profile = rep.profile_.sort_values("depth")
    assert disp.layers_ == profile["layer"].tolist()
    np.testing.assert_array_equal(disp.line_.get_ydata(), profile["dimension"].to_numpy())
    np.testing.assert_array_equal(disp.ci_low_, profile["ci_low"].to_numpy())
    assert disp.errorbar_ is not None
    assert disp.data_line_.get_ydata()[0] == pytest.approx(data.dimension_)
    assert [t.get_text() for t in disp.ax_.get_xticklabels()] == disp.layers_
    plt.close("all")
    with pytest.raises(ValueError, match="no profile_"):
        DimensionProfileDisplay.from_estimator(RepresentationDimension(ImageClassifier()))
    with pytest.raises(ValueError, match="lacks the columns"):
        DimensionProfileDisplay(profile=pd.DataFrame({"layer": ["a"]})).plot()
    no_ci = profile.assign(ci_low=np.nan, ci_high=np.nan)
    assert DimensionProfileDisplay(profile=no_ci).plot().errorbar_ is None
    plt.close("all")


def test_display_fits_an_unfitted_estimator(digits):
    X, y = digits
    rep = RepresentationDimension(ImageClassifier(max_epochs=1, random_state=0),
                                  estimator=twonn())
    disp = DimensionProfileDisplay.from_estimator(rep, X[:200], y[:200])
    assert disp.layers_ == ["classifier.0"] and not hasattr(rep, "profile_")
    plt.close("all")


@parametrize_with_checks(
    [RepresentationDimension(ImageClassifier(module=MLP, max_epochs=1, random_state=0),
                             estimator=IntrinsicDimension(estimator="twonn", n_bootstrap=40),
                             random_state=0)],
)
# after one epoch the MLP can map two check samples to the same representation; dropping
# that duplicate with a warning is the intended behaviour, not a defect of the check
@pytest.mark.filterwarnings("ignore:Dropped 1 exact duplicate rows:UserWarning")
def test_sklearn_compatible(estimator, check):
    # ImageClassifier's built networks need 8x8 images; the checks' 2-10 features go to an MLP
    check(estimator)
