"""One palette per meaning: colour = dataset, marker = estimator, grey shade and size = N."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
from matplotlib.colors import to_hex, to_rgb

from skintrinsic import ScalingLawRegressor
from skintrinsic._report import Report, Settings, make_figures
from skintrinsic.plotting import ScalingLawDisplay, SharpnessRobustnessDisplay, dataset_colors


def _is_grey(color):
    r, g, b = to_rgb(color)
    return abs(r - g) < 1e-6 and abs(g - b) < 1e-6


def test_dataset_colors_keep_order_and_never_grey():
    colors = dataset_colors(["natural", "medical", "natural", "third"])
    assert list(colors) == ["natural", "medical", "third"]
    assert colors["natural"] == "#1f77b4" and colors["medical"] == "#d62728"
    assert not any(_is_grey(c) for c in dataset_colors(range(20)).values())


def test_scaling_law_display_colours_domains_and_shows_n_by_shade_and_size():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"N": rng.choice([100, 400, 1600], 30), "d": rng.uniform(8, 20, 30),
                      "K_F": rng.uniform(1e-4, 3e-4, 30)})
    y = np.exp(-np.log(X.N) / X.d + np.log(X.K_F) + 8 + rng.normal(0, 0.1, 30))
    law = ScalingLawRegressor(columns=("N", "d", "K_F")).fit(X, y)
    domain = np.repeat(["natural", "medical"], 15)
    disp = ScalingLawDisplay.from_estimator(law, X, y, domain=domain)
    points = disp.ax_.collections
    colors = dataset_colors(domain)
    assert [to_hex(c.get_facecolor()[0]) for c in points] == [colors["natural"],
                                                               colors["medical"]]
    # the law's curves are grey, darker for larger N, and never a dataset's colour
    shades = [to_rgb(line.get_color()) for line in disp.lines_]
    assert all(_is_grey(s) for s in shades)
    assert [s[0] for s in shades] == sorted((s[0] for s in shades), reverse=True)
    # points are larger for larger N
    sizes = points[0].get_sizes()
    n = X.N.to_numpy()[:15]
    assert sizes[n == 1600].min() > sizes[n == 100].max()
    # the legend names the two domains and each N
    labels = [t.get_text() for t in disp.ax_.get_legend().get_texts()]
    assert labels == ["natural", "medical", "law, N=100", "law, N=400", "law, N=1600"]


def test_sharpness_robustness_display_uses_the_dataset_colours():
    disp = SharpnessRobustnessDisplay(sharpness=[1.0, 2.0, 3.0, 4.0],
                                      delta_loss=[1.0, 2.5, 2.9, 4.2],
                                      domain=["natural", "natural", "medical", "medical"]).plot()
    assert [to_hex(c.get_facecolor()[0]) for c in disp.ax_.collections] == ["#1f77b4",
                                                                           "#d62728"]


def _report():
    names = ["mnist", "pneumoniamnist"]
    rows = []
    for name, (mle, twonn, kf) in zip(names, [(12.0, 14.0, 6e-4), (11.5, 17.0, 1.6e-3)]):
        rows += [{"dataset": name, "quantity": "d_data", "method": "MLE (k=20)", "value": mle,
                  "ci_low": mle - 1, "ci_high": mle + 1},
                 {"dataset": name, "quantity": "d_data", "method": "TwoNN", "value": twonn,
                  "ci_low": twonn - 1, "ci_high": twonn + 1},
                 {"dataset": name, "quantity": "K_F", "method": "exact", "value": kf,
                  "ci_low": np.nan, "ci_high": np.nan}]
    robustness = pd.DataFrame({"dataset": np.repeat(names, 3), "epsilon": [0, 1, 2] * 2,
                               "delta_loss": [0, 0.1, 0.2, 0, 0.2, 0.3]})
    rng = np.random.default_rng(0)
    return Report(settings=Settings(), datasets=pd.DataFrame({"dataset": names}),
                  measures=pd.DataFrame(rows), robustness=robustness,
                  local_dimensions={n: rng.uniform(5, 20, 100) for n in names})


def test_report_gives_each_dataset_one_colour_in_every_plot_and_estimators_markers():
    figures = make_figures(_report())
    blue, red = "#1f77b4", "#d62728"
    dims = figures["dimensions"][0].axes[0]
    drawn = [(to_hex(line.get_color()), line.get_marker()) for line in dims.lines
             if line.get_marker() not in (None, "None", "", "_")]
    # MLE: circles, TwoNN: squares; mnist blue, pneumoniamnist red, in both
    assert drawn == [(blue, "o"), (red, "o"), (blue, "s"), (red, "s")]
    sharp = figures["sharpness"][0].axes[0]
    assert {to_hex(line.get_color()) for line in sharp.lines} == {blue, red}
    # K_F is printed once per dataset and the axis carries no offset text ("1e-3")
    sharp.figure.canvas.draw()
    assert sharp.xaxis.get_offset_text().get_text() == ""
    local = figures["local_dimensions"][0].axes[0]
    assert [to_hex(p.get_facecolor()) for p in local.patches] == [blue, red]
    robust = figures["robustness"][0].axes[0]
    assert [to_hex(line.get_color()) for line in robust.lines] == [blue, red]
    # readable on a laptop: about 1000 pixels wide at the saved resolution
    for fig, _ in figures.values():
        assert fig.get_figwidth() * 110 >= 900
