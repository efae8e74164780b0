"""SensitivityDisplay: the lines carry the measured numbers, one per layer, in depth order."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from skintrinsic.diffeo import DiffeoSensitivity  # noqa: E402
from skintrinsic.plotting import SensitivityDisplay  # noqa: E402


def small_net(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(144, 2))


def test_lines_hold_the_table_merged_over_the_grid_by_geometric_mean():
    table = pd.DataFrame({
        "layer": ["b", "a", "b", "a", "output", "output"],
        "depth": [2, 1, 2, 1, 3, 3],
        "T": [1e-3, 1e-3, 2e-3, 2e-3, 1e-3, 2e-3], "c": 3,
        "D": [1.0, 2.0, 4.0, 8.0, 1.0, 1.0],
        "G": [1.0, 1.0, 1.0, 1.0, 2.0, 8.0],
        "R": [1.0, 2.0, 4.0, 8.0, 0.5, 0.125],
    })
    disp = SensitivityDisplay(tables={"trained": table}).plot()
    d_line, g_line, r_line = disp.lines_["trained"]
    np.testing.assert_allclose(d_line.get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(d_line.get_ydata(), [4.0, 2.0, 1.0])  # sqrt(2*8), sqrt(1*4), 1
    np.testing.assert_allclose(g_line.get_ydata(), [1.0, 1.0, 4.0])
    np.testing.assert_allclose(r_line.get_ydata(), [4.0, 2.0, 0.25])
    assert [t.get_text() for t in disp.axes_[0].get_xticklabels()] == ["a", "b", "output"]
    assert disp.axes_[2].get_yscale() == "log"
    plt.close(disp.figure_)


def test_from_models_init_against_trained_and_errors():
    X = np.random.default_rng(0).random((20, 1, 8, 8)).astype(np.float32)
    models = {"init": small_net(0), "trained": small_net(1)}
    disp = SensitivityDisplay.from_models(models, X, layers=["1"], random_state=0)
    assert set(disp.lines_) == {"init", "trained"}
    direct = DiffeoSensitivity(models["init"], layers=["1"], random_state=0).fit(X)
    np.testing.assert_allclose(disp.lines_["init"][2].get_ydata(), direct.sensitivity_["R"])
    assert disp.lines_["init"][0].get_linestyle() != disp.lines_["trained"][0].get_linestyle()
    plt.close(disp.figure_)
    fig, axes = plt.subplots(1, 2)
    disp = SensitivityDisplay.from_estimator(direct, axes=axes, measures=("D", "R"), logy=False)
    assert disp.axes_[0] is axes[0] and len(disp.lines_["model"]) == 2
    with pytest.raises(ValueError, match="need 2 axes"):
        SensitivityDisplay.from_estimator(direct, axes=axes[:1], measures=("D", "R"))
    with pytest.raises(ValueError, match="measures"):
        SensitivityDisplay.from_estimator(direct, measures=("Q",))
    with pytest.raises(ValueError, match="not a fitted DiffeoSensitivity"):
        SensitivityDisplay.from_estimator(DiffeoSensitivity(small_net(0)))
    with pytest.raises(ValueError, match="missing"):
        SensitivityDisplay(tables={"x": pd.DataFrame({"layer": ["a"], "depth": [1]})}).plot()
    plt.close("all")
