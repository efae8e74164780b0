"""A small CNN trained on scale detection: well above chance, and more stable (lower R_f)."""

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV

from skintrinsic.datasets import make_scale_detection
from skintrinsic.diffeo import DiffeoSensitivity, make_stability_scorer
from skintrinsic.nets import ImageClassifier, profile_layers


def classifier(max_epochs):
    # hinge loss as in Tomasini et al.; depth 3 ends on a 3x3 map, so the head pools space
    return ImageClassifier("small_cnn", depth=3, width=0.25, criterion=torch.nn.MultiMarginLoss,
                           max_epochs=max_epochs, random_state=0)


@pytest.fixture(scope="module")
def task():
    return make_scale_detection(1400, test_size=400, random_state=0)


@pytest.mark.slow
def test_training_lowers_relative_stability_on_scale_detection(task):
    X_train, X_test, y_train, y_test = task
    init = classifier(0).fit(X_train, y_train)  # same seed: the trained net's initial weights
    trained = classifier(6).fit(X_train, y_train)
    assert init.score(X_test, y_test) < 0.6
    assert trained.score(X_test, y_test) > 0.8
    layers = profile_layers(trained.module_)
    before = DiffeoSensitivity(init, layers=layers, n_probe=200, random_state=0).fit(X_test)
    after = DiffeoSensitivity(trained, layers=layers, n_probe=200, random_state=0).fit(X_test)
    assert before.perturbation_ == after.perturbation_ == "sparse"  # two active pixels per image
    assert after.relative_stability_ < before.relative_stability_ / 3
    out_before = before.sensitivity_.iloc[-1]
    out_after = after.sensitivity_.iloc[-1]
    # the mechanism of Tomasini et al.: trained pooling piles up rectified noise
    assert out_after["G"] > 2 * out_before["G"]


@pytest.mark.slow
def test_grid_search_with_the_stability_scorer_prefers_the_trained_net(task):
    X_train, _, y_train, _ = task
    search = GridSearchCV(classifier(0), {"max_epochs": [0, 6]}, cv=2,
                          scoring=make_stability_scorer(n_probe=150, random_state=0))
    search.fit(X_train[:800], y_train[:800])
    assert search.best_params_ == {"max_epochs": 6}
    scores = search.cv_results_["mean_test_score"]
    assert np.all(scores < 0)  # minus R_f
