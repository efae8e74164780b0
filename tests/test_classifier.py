"""ImageClassifier: digits accuracy, train_size sweeps, budgets, seeding, shapes, sklearn checks."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks
from skorch.callbacks import Callback, EpochScoring
from skorch.dataset import ValidSplit
from torch import nn

from skintrinsic.datasets import stratified_subset
from skintrinsic.nets import ImageClassifier


class CountingAdam(torch.optim.Adam):
    """Adam that counts its own steps: an oracle for the budget independent of skorch."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.n_steps = 0

    def step(self, closure=None):
        self.n_steps += 1
        return super().step(closure)


class RecordBatches(Callback):
    """The labels of every training batch, per epoch."""

    def on_train_begin(self, net, **kwargs):
        self.epochs = []

    def on_epoch_begin(self, net, **kwargs):
        self.epochs.append([])

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.epochs[-1].append(np.asarray(batch[1]).copy())


class MLP(nn.Module):
    """A module for flat rows: the sklearn checks feed 2-10 features, far from images."""

    penultimate_layer = "hidden"

    def __init__(self, input_shape, n_classes, hidden=16):
        super().__init__()
        self.hidden = nn.Linear(int(np.prod(input_shape)), hidden)
        self.act = nn.ReLU()
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, x):
        return self.out(self.act(self.hidden(x.flatten(1))))


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32).reshape(-1, 8, 8)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


@pytest.fixture(scope="module")
def fitted(digits):
    X_train, _, y_train, _ = digits
    return ImageClassifier(random_state=0).fit(X_train, y_train)


def test_small_cnn_learns_digits(digits, fitted):
    _, X_test, _, y_test = digits
    assert fitted.score(X_test, y_test) >= 0.95
    assert fitted.classes_.tolist() == list(range(10))
    assert fitted.train_indices_.tolist() == list(range(len(digits[2])))


def test_loss_score_is_mean_cross_entropy(digits, fitted):
    _, X_test, _, y_test = digits
    loss = fitted.loss_score(X_test, y_test)
    assert loss == pytest.approx(log_loss(y_test, fitted.predict_proba(X_test)), rel=1e-4)
    with torch.no_grad():
        logits = fitted.module_.eval()(torch.as_tensor(X_test[:, None]))
    manual = -torch.log_softmax(logits.double(), 1)[np.arange(len(y_test)), y_test].mean()
    assert loss == pytest.approx(float(manual), rel=1e-6)


def test_grid_search_over_train_size_lowers_the_loss(digits):
    X_train, _, y_train, _ = digits
    sizes = [40, 120, 500]
    search = GridSearchCV(ImageClassifier(max_epochs=10, batch_size=16, random_state=0),
                          {"train_size": sizes}, scoring="neg_log_loss", cv=2, refit=False)
    search.fit(X_train, y_train)
    results = search.cv_results_
    assert [p["train_size"] for p in results["params"]] == sizes
    losses = -results["mean_test_score"]
    assert np.all(np.diff(losses) < 0), losses


def test_train_size_is_a_seeded_stratified_subset(digits):
    X, _, y, _ = digits
    clf = ImageClassifier(max_epochs=1, train_size=0.25, random_state=3).fit(X, y)
    idx = clf.train_indices_
    assert idx.size == int(0.25 * len(y)) and np.all(np.diff(idx) > 0)
    counts = np.bincount(y[idx], minlength=10)
    expected = np.bincount(y, minlength=10) * idx.size / len(y)
    assert np.all(np.abs(counts - expected) <= 1)
    again = clone(clf).fit(X, y)
    np.testing.assert_array_equal(again.train_indices_, idx)
    other = clone(clf).set_params(random_state=4).fit(X, y)
    assert not np.array_equal(other.train_indices_, idx)
    assert ImageClassifier(max_epochs=1, train_size=50).fit(X, y).train_indices_.size == 50


def test_subset_comes_from_the_shared_helper(digits):
    # train_indices_ are stratified_subset's draw with the subset seed drawn from random_state
    X, _, y, _ = digits
    clf = ImageClassifier(max_epochs=0, train_size=77, random_state=11).fit(X, y)
    subset_seed = int(np.random.RandomState(11).randint(0, 2**31 - 1, size=2)[0])
    np.testing.assert_array_equal(clf.train_indices_,
                                  stratified_subset(y, 77, random_state=subset_seed))


def test_steps_budget_gives_every_train_size_the_same_updates(digits):
    X, _, y, _ = digits
    steps, fixed = {}, {}
    for size in (40, 400):
        net = ImageClassifier(optimizer=CountingAdam, max_epochs=3, steps_per_epoch=7,
                              batch_size=16, train_size=size, random_state=0).fit(X, y)
        steps[size] = net.optimizer_.n_steps
        assert net.history_[:, "train_batch_count"] == [7, 7, 7]
        epochs = ImageClassifier(optimizer=CountingAdam, max_epochs=3, batch_size=16,
                                 train_size=size, random_state=0).fit(X, y)
        fixed[size] = epochs.optimizer_.n_steps
    assert steps == {40: 21, 400: 21}
    # the fixed-epoch budget: ceil(N / batch_size) steps per epoch
    assert fixed == {40: 3 * 3, 400: 3 * 25}


def test_steps_budget_batches(digits):
    X, _, y, _ = digits
    record = RecordBatches()
    ImageClassifier(max_epochs=2, steps_per_epoch=5, batch_size=16, train_size=40,
                    callbacks=[("record", record)], random_state=0).fit(X, y)
    assert [[b.size for b in epoch] for epoch in record.epochs] == [[16] * 5] * 2
    # fewer samples than a batch: every step is a full-batch step on all of them
    record = RecordBatches()
    net = ImageClassifier(max_epochs=1, steps_per_epoch=4, batch_size=64, train_size=30,
                          callbacks=[("record", record)], random_state=0).fit(X, y)
    assert [b.size for b in record.epochs[0]] == [30] * 4
    for batch in record.epochs[0]:
        np.testing.assert_array_equal(np.sort(batch), np.sort(net.classes_[
            np.searchsorted(net.classes_, y[net.train_indices_])]))
    with pytest.raises(ValueError, match="iterator_train__sampler"):
        ImageClassifier(max_epochs=1, steps_per_epoch=2, iterator_train__sampler=[0, 1]).fit(
            X[:40], y[:40])


def test_step_batches_cycle_through_reshuffled_passes():
    from skintrinsic.nets.classifier import _StepBatches

    torch.manual_seed(0)
    sampler = _StepBatches(10, 4, 3)
    first, second = list(sampler), list(sampler)
    batches = first + second
    assert len(sampler) == 3 and all(len(b) == 4 and len(set(b)) == 4 for b in batches)
    # two batches per pass of 10 (the tail of 2 is dropped): disjoint within a pass, and the
    # position carries over from one epoch to the next
    passes = [batches[i] + batches[i + 1] for i in range(0, 6, 2)]
    assert all(len(set(p)) == 8 for p in passes)
    assert len({tuple(p) for p in passes}) == 3
    assert [b for b in _StepBatches(6, 3, 3, shuffle=False)] == [[0, 1, 2], [3, 4, 5], [0, 1, 2]]


def test_training_batches_are_shuffled_each_epoch(digits):
    X, _, y, _ = digits
    orders = {}
    for shuffle in (True, False):
        record = RecordBatches()
        ImageClassifier(max_epochs=2, batch_size=16, iterator_train__shuffle=shuffle,
                        callbacks=[("record", record)], random_state=0).fit(X[:64], y[:64])
        orders[shuffle] = [np.concatenate(epoch) for epoch in record.epochs]
    np.testing.assert_array_equal(orders[False][0], y[:64])  # skorch's own default: in order
    np.testing.assert_array_equal(orders[False][1], y[:64])
    assert not np.array_equal(orders[True][0], y[:64])
    assert not np.array_equal(orders[True][0], orders[True][1])
    np.testing.assert_array_equal(np.sort(orders[True][0]), np.sort(y[:64]))


def test_grid_search_over_train_size_with_a_steps_budget(digits):
    X_train, _, y_train, _ = digits
    net = ImageClassifier(max_epochs=10, steps_per_epoch=30, batch_size=16, random_state=0)
    search = GridSearchCV(net, {"train_size": [40, 120, 500]}, scoring="neg_log_loss", cv=2,
                          refit=True).fit(X_train, y_train)
    losses = -search.cv_results_["mean_test_score"]
    assert np.all(np.diff(losses) < 0), losses
    best = search.best_estimator_
    assert best.steps_per_epoch == 30 and best.history_[:, "train_batch_count"] == [30] * 10


def test_seeded_fit_is_reproducible_and_leaves_global_rng(digits):
    X, X_test, y, _ = digits
    state = torch.get_rng_state()
    a = ImageClassifier(max_epochs=2, random_state=7).fit(X[:300], y[:300])
    assert torch.equal(state, torch.get_rng_state())
    b = ImageClassifier(max_epochs=2, random_state=7).fit(X[:300], y[:300])
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))
    c = ImageClassifier(max_epochs=2, random_state=8).fit(X[:300], y[:300])
    assert not np.allclose(a.predict_proba(X_test), c.predict_proba(X_test))
    state = torch.get_rng_state()
    steps = [ImageClassifier(max_epochs=2, steps_per_epoch=3, train_size=100,
                             random_state=7).fit(X, y) for _ in range(2)]
    assert torch.equal(state, torch.get_rng_state())
    np.testing.assert_array_equal(steps[0].predict_proba(X_test), steps[1].predict_proba(X_test))


def test_paper_optimizer_defaults(digits):
    X, _, y, _ = digits
    for arch, lr in (("small_cnn", 1e-3), ("resnet18", 1e-3), ("vgg13", 1e-4)):
        net = ImageClassifier(arch, width=0.0625, depth=1, max_epochs=0).fit(X[:40], y[:40])
        group = net.optimizer_.param_groups[0]
        assert isinstance(net.optimizer_, torch.optim.Adam)
        assert (group["lr"], group["weight_decay"]) == (lr, 1e-4)
        assert isinstance(net.criterion_, nn.CrossEntropyLoss) and net.train_split is None
    net = ImageClassifier(lr=0.01, optimizer__weight_decay=0.0, max_epochs=0).fit(X[:40], y[:40])
    assert (net.optimizer_.param_groups[0]["lr"], net.optimizer_.param_groups[0]["weight_decay"]) \
        == (0.01, 0.0)
    assert net.get_params()["optimizer__weight_decay"] == 0.0
    assert clone(net).optimizer__weight_decay == 0.0
    # an optimizer without weight decay: None passes nothing
    rprop = ImageClassifier(optimizer=torch.optim.Rprop, optimizer__weight_decay=None,
                            max_epochs=1).fit(X[:40], y[:40])
    assert "weight_decay" not in rprop.optimizer_.defaults
    # set_params re-creates the optimizer with the new decay, as skorch does for optimizer__*
    net.set_params(optimizer__weight_decay=1e-3)
    assert net.optimizer_.param_groups[0]["weight_decay"] == 1e-3


@pytest.mark.parametrize("arch", ["resnet18", "vgg16"])
def test_paper_architectures_train_on_grayscale_28(arch):
    rng = np.random.default_rng(0)
    X = rng.random((16, 28, 28), dtype=np.float32)
    y = np.repeat(["cat", "dog"], 8)
    clf = ImageClassifier(arch, width=0.0625, depth=1, max_epochs=1, batch_size=8,
                          random_state=0).fit(X, y)
    assert clf.module_.conv1.in_channels == 1 if arch == "resnet18" else True
    assert set(clf.predict(X)) <= {"cat", "dog"}
    assert clf.predict_proba(X).shape == (16, 2)
    assert clf.extract_features(X[:3]).shape[0] == 3


def test_input_layouts(digits):
    X, _, y, _ = digits
    X, y = X[:60], y[:60]
    four_d = ImageClassifier(max_epochs=1, random_state=0).fit(X[:, None], y)
    flat_square = ImageClassifier(max_epochs=1, random_state=0).fit(X.reshape(60, -1), y)
    flat_shaped = ImageClassifier(max_epochs=1, image_shape=(1, 8, 8), random_state=0).fit(
        X.reshape(60, -1), y)
    three_d = ImageClassifier(max_epochs=1, random_state=0).fit(X, y)
    for net in (four_d, flat_square, flat_shaped, three_d):
        assert net.image_shape_ == (1, 8, 8) and net.n_features_in_ == 64
    np.testing.assert_allclose(three_d.predict_proba(X), four_d.predict_proba(X[:, None]),
                               rtol=1e-5)
    rgb = ImageClassifier(max_epochs=1).fit(np.repeat(X[:, None], 3, axis=1), y)
    assert rgb.image_shape_ == (3, 8, 8) and rgb.module_.features[0].in_channels == 3
    X_copy = X.copy()
    ImageClassifier(max_epochs=1).fit(X, y)
    np.testing.assert_array_equal(X, X_copy)


def test_clear_errors(digits):
    X, _, y, _ = digits
    with pytest.raises(ValueError, match="at least 2 classes"):
        ImageClassifier(max_epochs=1).fit(X[:10], np.zeros(10))
    with pytest.raises(ValueError, match="requires y"):
        ImageClassifier(max_epochs=1).fit(X[:10], None)
    with pytest.raises(ValueError, match="not a square image"):
        ImageClassifier(max_epochs=1).fit(X.reshape(len(X), -1)[:, :60], y)
    with pytest.raises(ValueError, match="image_shape"):
        ImageClassifier(max_epochs=1, image_shape=(2, 8, 8)).fit(X.reshape(len(X), -1), y)
    with pytest.raises(ValueError, match="Channels-last"):
        ImageClassifier(max_epochs=1).fit(np.zeros((10, 28, 28, 3), np.float32), y[:10])
    with pytest.raises(ValueError, match="at least 8x8"):
        ImageClassifier(max_epochs=1).fit(np.zeros((10, 4, 4), np.float32), y[:10])
    with pytest.raises(ValueError, match="more samples than"):
        ImageClassifier(max_epochs=1, train_size=5000).fit(X, y)
    with pytest.raises(ValueError, match="between 10"):
        ImageClassifier(max_epochs=1, train_size=5).fit(X, y)
    with pytest.raises(ValueError, match="CUDA is not available"):
        if torch.cuda.is_available():  # pragma: no cover - the CI has no GPU
            raise ValueError("CUDA is not available (skipped on GPU machines)")
        ImageClassifier(max_epochs=1, device="cuda").fit(X[:20], y[:20])
    with pytest.raises(NotFittedError):
        ImageClassifier().predict(X)
    net = ImageClassifier(max_epochs=1).fit(X[:40], y[:40])
    with pytest.raises(ValueError, match="image shape"):
        net.predict(np.zeros((2, 1, 16, 16), np.float32))
    with pytest.raises(ValueError, match="not among the classes"):
        net.loss_score(X[:3], [0, 1, 99])


def test_device_auto_and_params_stored_as_given(digits):
    X, _, y, _ = digits
    net = ImageClassifier(device="auto", width=0.5, train_size=0.5, module__dropout=None)
    params = net.get_params()
    assert params["device"] == "auto" and params["module__dropout"] is None
    assert "_params_to_validate" not in params
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert net.device.type == expected
    twin = clone(net)
    assert twin.get_params()["device"] == "auto" and twin.width == 0.5
    net.set_params(device="cpu")
    assert net.get_params()["device"] == "cpu"


def test_pickle_round_trip(digits, fitted):
    _, X_test, _, _ = digits
    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(loaded.predict_proba(X_test), fitted.predict_proba(X_test))
    assert loaded.get_params()["device"] == "cpu"
    np.testing.assert_array_equal(loaded.train_indices_, fitted.train_indices_)


def test_custom_criterion_and_module(digits):
    X, X_test, y, y_test = digits
    hinge = ImageClassifier(criterion=nn.MultiMarginLoss, max_epochs=5, random_state=0).fit(X, y)
    assert isinstance(hinge.criterion_, nn.MultiMarginLoss)
    assert hinge.score(X_test, y_test) > 0.8
    proba = hinge.predict_proba(X_test)  # the softmax of the hinge scores
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert hinge.loss_score(X_test, y_test) == pytest.approx(log_loss(y_test, proba), rel=1e-4)
    mlp = ImageClassifier(module=MLP, module__hidden=8, max_epochs=2).fit(X, y)
    assert mlp.module_.hidden.in_features == 64 and mlp.module_.out.out_features == 10
    assert mlp.extract_features(X[:4]).shape == (4, 8)


def test_classes_in_any_order_and_loading_weights(digits, fitted, tmp_path):
    X, X_test, y, _ = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])
    net = ImageClassifier(max_epochs=1, classes=names, random_state=0).fit(X[:300], names[y[:300]])
    assert net.classes_.tolist() == names.tolist()  # as given, not sorted
    np.testing.assert_array_equal(net.predict(X_test), names[net.predict_proba(X_test).argmax(1)])
    # skorch's save/load workflow: initialize from image_shape and classes, then load weights
    fitted.save_params(f_params=tmp_path / "w.pt")
    fresh = ImageClassifier(image_shape=(8, 8), classes=np.arange(10)).initialize()
    fresh.load_params(f_params=tmp_path / "w.pt")
    np.testing.assert_allclose(fresh.predict_proba(X_test), fitted.predict_proba(X_test),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="call fit, or pass image_shape and classes"):
        ImageClassifier().initialize()


def test_validation_split_and_scoring_callbacks(digits):
    X, _, y, _ = digits
    score = EpochScoring("neg_log_loss", on_train=True, name="train_ll")
    net = ImageClassifier(max_epochs=2, train_split=ValidSplit(5), callbacks=[("ll", score)],
                          random_state=0).fit(X[:300], y[:300])
    assert 0 < net.history[-1, "valid_acc"] <= 1 and net.history[-1, "valid_loss"] > 0
    # the callback scores the cached training outputs: minus the batch-weighted train loss
    assert net.history[-1, "train_ll"] == pytest.approx(-net.history[-1, "train_loss"], rel=1e-4)


def test_set_params_on_module_rebuilds_it(digits):
    X, _, y, _ = digits
    net = ImageClassifier(max_epochs=1, random_state=0).fit(X[:50], y[:50])
    before = net.module_
    net.set_params(module__width=0.5)  # skorch re-initialises the module: weights are dropped
    assert net.module_ is not before and net.module_.classifier[0].out_features == 64


def test_partial_fit_continues_training(digits):
    X, _, y, _ = digits
    net = ImageClassifier(max_epochs=1, random_state=0)
    net.partial_fit(X[:200], y[:200], classes=np.arange(10))
    first = net.history[-1, "train_loss"]
    weights = net.module_.classifier[0].weight.detach().clone()
    for _ in range(3):
        net.partial_fit(X[:200], y[:200])
    assert len(net.history) == 4 and net.history[-1, "train_loss"] < first
    assert not torch.equal(weights, net.module_.classifier[0].weight)


@parametrize_with_checks(
    [ImageClassifier(module=MLP, max_epochs=2, random_state=0),
     ImageClassifier(module=MLP, max_epochs=2, steps_per_epoch=3, random_state=0)],
    expected_failed_checks=lambda est: {
        "check_no_attributes_set_in_init": (
            "skorch's NeuralNet.__init__ sets history_, initialized_ and virtual_params_; "
            "ImageClassifier keeps skorch's base class"),
    },
)
@pytest.mark.filterwarnings(
    # skorch builds callbacks inside set_params, so check_set_params' fuzz values (inf for
    # `callbacks`) raise there; sklearn only warns about it
    "ignore:TypeError occurred during set_params:UserWarning",
    "ignore:Estimator's parameters changed after set_params:UserWarning",
)
def test_sklearn_compatible(estimator, check):
    # ImageClassifier's own networks take images of 8x8 and more, and the checks pass 2-10
    # features: they run on a user module for flat rows, which exercises the same plumbing
    check(estimator)
