"""Datasets side by side: their dimensions, K_F, local dimensions, images and robustness.

The figures of the ``skintrinsic`` report.  Each Display holds its data (set in
``__init__`` or computed by a ``from_*`` constructor) and ``plot`` only draws; colour is
the dataset (:func:`~skintrinsic.plotting.dataset_colors`, in the order given) in every one
of them, marker the estimator.
"""

import numpy as np

from ._checks import as_frame
from ._style import dataset_colors, estimator_marker

_MEASURE_COLUMNS = ("dataset", "quantity", "method", "value", "ci_low", "ci_high")


def _measures(measures):
    return as_frame(measures, name="measures", columns=_MEASURE_COLUMNS,
                    source="pass the tidy measures of a report")


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def _colors(colors, names):
    return dataset_colors(names) if colors is None else dict(colors)


def _errors(value, low, high):
    """Error-bar lengths below and above; 0 where the interval is missing or misses the point."""
    below = np.where(np.isfinite(low), np.clip(value - low, 0.0, None), 0.0)
    above = np.where(np.isfinite(high), np.clip(high - value, 0.0, None), 0.0)
    return below, above


def _short_method(method):
    """'d_data: MLE (k=20)' -> 'd_data' and 'MLE (k=20)' on two lines, for a tick label."""
    quantity, _, name = method.partition(": ")
    return f"{quantity}\n{name}"


class DimensionComparisonDisplay:
    """d_data (and d_repr) of each dataset, one group per estimator, with error bars.

    Parameters
    ----------
    measures : pandas.DataFrame
        Tidy measures (``dataset, quantity, method, value, ci_low, ci_high``); the rows
        of quantity ``d_data`` and ``d_repr`` are drawn.
    colors : dict of str to colour, default=None
        Colour of each dataset (None: :func:`dataset_colors` in the order of the rows).

    Attributes
    ----------
    methods_ : list of str
        ``"quantity: method"`` of each group, left to right.
    markers_ : dict of str to str
        Marker of each group.
    ax_, figure_ : matplotlib Axes and Figure

    Examples
    --------
    >>> import pandas as pd
    >>> from skintrinsic.plotting._datasets import DimensionComparisonDisplay
    >>> measures = pd.DataFrame({"dataset": ["a", "a", "b", "b"], "quantity": ["d_data"] * 4,
    ...                          "method": ["MLE (k=20)", "TwoNN"] * 2,
    ...                          "value": [12.0, 14.0, 11.5, 17.0],
    ...                          "ci_low": [11.0, 13.0, 10.5, 16.0],
    ...                          "ci_high": [13.0, 15.0, 12.5, 18.0]})
    >>> disp = DimensionComparisonDisplay(measures=measures).plot()
    >>> disp.markers_
    {'d_data: MLE (k=20)': 'o', 'd_data: TwoNN': 's'}
    """

    def __init__(self, *, measures, colors=None):
        self.measures = measures
        self.colors = colors

    def plot(self, ax=None):
        """Draw on ``ax`` (a new figure when None); returns the Display."""
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        m = _measures(self.measures)
        colors = _colors(self.colors, m["dataset"])
        m = m[m["quantity"].isin(["d_data", "d_repr"])]
        names = list(colors)
        keys = m["quantity"] + ": " + m["method"]
        self.methods_ = list(dict.fromkeys(keys))
        self.markers_ = {}
        ax = _axes(ax)
        width = 0.7 / max(len(names), 1)
        for j, method in enumerate(self.methods_):
            self.markers_[method] = estimator_marker(method, j)
            sub = m[keys == method].set_index("dataset")
            for i, name in enumerate(names):
                if name not in sub.index:
                    continue
                row = sub.loc[name]
                below, above = _errors(row["value"], row["ci_low"], row["ci_high"])
                ax.errorbar(j + (i - (len(names) - 1) / 2) * width, row["value"],
                            yerr=[[below], [above]], marker=self.markers_[method],
                            markersize=9, color=colors[name], capsize=4, linestyle="none")
        ax.set_xticks(range(len(self.methods_)), [_short_method(x) for x in self.methods_])
        ax.set_xlim(-0.6, len(self.methods_) - 0.4)
        ax.set_ylabel("intrinsic dimension")
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
        legend = ax.legend(handles=[Patch(color=c, label=n) for n, c in colors.items()],
                           title="dataset", loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.add_artist(legend)
        ax.legend(handles=[Line2D([], [], color="0.2", marker=mk, linestyle="none",
                                  markersize=9, label=_short_method(x))
                           for x, mk in self.markers_.items()],
                  title="estimator", loc="lower left", bbox_to_anchor=(1.0, 0.0))
        ax.set_title("Intrinsic dimension")
        self.ax_, self.figure_ = ax, ax.figure
        return self


class SharpnessComparisonDisplay:
    """K_F of each dataset: a dot at its value and a bar over its spread between subsets.

    Parameters
    ----------
    datasets : list of str
        Dataset names, drawn top to bottom.
    sharpness : array-like of shape (n_datasets,)
        K_F of each (inf: identical images with different labels; drawn at 0, printed).
    low, high : array-like of shape (n_datasets,), default=None
        Range of K_F over its subsets (e.g. 5 % and 95 % quantiles); NaN: none.
    colors : dict of str to colour, default=None
    n_reference : int, default=None
        The number of images each K_F is measured on, stated in the title.

    Attributes
    ----------
    ax_, figure_ : matplotlib Axes and Figure

    Examples
    --------
    >>> from skintrinsic.plotting._datasets import SharpnessComparisonDisplay
    >>> disp = SharpnessComparisonDisplay(datasets=["mnist", "pneumoniamnist"],
    ...                                   sharpness=[6e-4, 1.3e-3], low=[5e-4, 1.1e-3],
    ...                                   high=[7e-4, 1.6e-3]).plot()
    >>> [t.get_text() for t in disp.ax_.texts]
    ['0.0006', '0.0013']
    """

    def __init__(self, *, datasets, sharpness, low=None, high=None, colors=None,
                 n_reference=None):
        self.datasets = datasets
        self.sharpness = sharpness
        self.low = low
        self.high = high
        self.colors = colors
        self.n_reference = n_reference

    @classmethod
    def from_measures(cls, measures, *, colors=None, n_reference=None, ax=None):
        """Draw the ``K_F`` rows of tidy measures (``ci_low``/``ci_high``: the range)."""
        m = _measures(measures)
        m = m[m["quantity"] == "K_F"]
        return cls(datasets=list(m["dataset"]), sharpness=m["value"].to_numpy(float),
                   low=m["ci_low"].to_numpy(float), high=m["ci_high"].to_numpy(float),
                   colors=colors, n_reference=n_reference).plot(ax=ax)

    def plot(self, ax=None):
        """Draw on ``ax`` (a new figure when None); returns the Display."""
        from matplotlib.ticker import FuncFormatter

        names = list(self.datasets)
        colors = _colors(self.colors, names)
        shown = np.asarray(self.sharpness, dtype=float)
        n = len(names)
        low = np.full(n, np.nan) if self.low is None else np.asarray(self.low, dtype=float)
        high = np.full(n, np.nan) if self.high is None else np.asarray(self.high, dtype=float)
        values = np.where(np.isfinite(shown), shown, 0.0)
        below, above = _errors(values, low, high)
        ax = _axes(ax)
        positions = np.arange(n)[::-1]  # the first dataset on top
        for i, (pos, name) in enumerate(zip(positions, names)):
            ax.errorbar(values[i], pos, xerr=[[below[i]], [above[i]]], marker="o",
                        markersize=10, color=colors[name], capsize=5, lw=3, linestyle="none")
            text = "inf" if np.isinf(shown[i]) else f"{shown[i]:.4g}"
            ax.annotate(text, (values[i] + above[i], pos), xytext=(8, 0),
                        textcoords="offset points", va="center")
        ax.set_yticks(positions, names)
        ax.set_ylim(-0.7, n - 0.3)
        # plain numbers on the axis: no "1e-3" offset text beside the printed values
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
        top = np.nanmax(np.r_[values + above, 0.0])
        ax.set_xlim(0, top * 1.3 if top > 0 else 1)
        ax.set_xlabel("K_F (1 / pixel-value distance)")
        ax.grid(axis="x", alpha=0.3)
        at = "" if self.n_reference is None else f" at N = {self.n_reference} images"
        ax.set_title(f"Label sharpness{at}")
        self.ax_, self.figure_ = ax, ax.figure
        return self


class LocalDimensionDisplay:
    """Histogram of each dataset's local MLE dimensions, and a dashed line at its estimate.

    Parameters
    ----------
    local_dimensions : dict of str to array-like
        Per-image local dimensions of each dataset (drawn up to their 99th percentile).
    dimensions : dict of str to float, default=None
        Each dataset's estimate, drawn as a dashed line.
    k : int, default=None
        Neighbours of the MLE, for the axis label.
    colors : dict of str to colour, default=None

    Attributes
    ----------
    ax_, figure_ : matplotlib Axes and Figure

    Examples
    --------
    >>> import numpy as np
    >>> from skintrinsic.plotting._datasets import LocalDimensionDisplay
    >>> rng = np.random.default_rng(0)
    >>> disp = LocalDimensionDisplay(local_dimensions={"a": rng.uniform(5, 9, 50)},
    ...                              dimensions={"a": 7.0}, k=20).plot()
    >>> disp.ax_.get_xlabel()
    'local MLE dimension (k=20)'
    """

    def __init__(self, *, local_dimensions, dimensions=None, k=None, colors=None):
        self.local_dimensions = local_dimensions
        self.dimensions = dimensions
        self.k = k
        self.colors = colors

    @classmethod
    def from_measures(cls, local_dimensions, measures, *, k=None, colors=None, ax=None):
        """Take each dataset's estimate from the first ``d_data`` row of tidy measures."""
        m = _measures(measures)
        first = m[m["quantity"] == "d_data"].drop_duplicates("dataset")
        return cls(local_dimensions=local_dimensions,
                   dimensions=dict(zip(first["dataset"], first["value"])), k=k,
                   colors=colors).plot(ax=ax)

    def plot(self, ax=None):
        """Draw on ``ax`` (a new figure when None); returns the Display."""
        colors = _colors(self.colors, self.local_dimensions)
        ax = _axes(ax)
        for name, local in self.local_dimensions.items():
            local = np.asarray(local, dtype=float)
            local = local[np.isfinite(local)]
            if local.size == 0:
                continue
            ax.hist(local[local <= np.quantile(local, 0.99)], bins=40, density=True,
                    histtype="stepfilled", alpha=0.35, color=colors[name], label=name)
            if self.dimensions is not None and name in self.dimensions:
                ax.axvline(self.dimensions[name], color=colors[name], linestyle="--", lw=2)
        k = "" if self.k is None else f" (k={self.k})"
        ax.set_xlabel(f"local MLE dimension{k}")
        ax.set_ylabel("density")
        ax.legend(title="dataset")
        ax.set_title("Local intrinsic dimension")
        self.ax_, self.figure_ = ax, ax.figure
        return self


class SampleGridDisplay:
    """A few images of each dataset, one row per dataset, each titled with its label.

    Parameters
    ----------
    samples : dict of str to (ndarray, ndarray)
        Images (n, H, W) or (n, H, W, 3) on a 0-255 scale, and their labels.

    Attributes
    ----------
    axes_ : ndarray of matplotlib Axes, shape (n_datasets, n_columns)
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import numpy as np
    >>> from skintrinsic.plotting._datasets import SampleGridDisplay
    >>> images = np.zeros((3, 8, 8))
    >>> disp = SampleGridDisplay(samples={"a": (images, [0, 1, 1]),
    ...                                   "b": (images[:2], [0, 1])}).plot()
    >>> disp.axes_.shape
    (2, 3)
    """

    def __init__(self, *, samples):
        self.samples = samples

    def figure_size(self):
        """(width, height) in inches that fits the grid."""
        per_row = max(len(images) for images, _ in self.samples.values())
        return min(1.0 * per_row + 1.5, 12), 1.15 * len(self.samples) + 0.4

    def plot(self, figure=None):
        """Draw on ``figure`` (a new one when None); returns the Display."""
        if figure is None:
            import matplotlib.pyplot as plt

            figure = plt.figure(figsize=self.figure_size(), layout="constrained")
        names = list(self.samples)
        per_row = max(len(self.samples[n][0]) for n in names)
        axes = figure.subplots(len(names), per_row, squeeze=False)
        for r, name in enumerate(names):
            images, labels = self.samples[name]
            for c in range(per_row):
                ax = axes[r, c]
                ax.set_axis_off()
                if c < len(images):
                    image = images[c]
                    if image.ndim == 3:  # RGB after the reference preprocessing: max 255
                        image = np.clip(np.asarray(image, dtype=float) / 255.0, 0.0, 1.0)
                    ax.imshow(image, cmap="gray", interpolation="nearest")
                    ax.set_title(str(labels[c]), fontsize="small")
            axes[r, 0].text(-0.15, 0.5, name, transform=axes[r, 0].transAxes, ha="right",
                            va="center", fontsize="small")
        self.axes_, self.figure_ = axes, figure
        return self


class DatasetRobustnessDisplay:
    """A robustness metric over epsilon, one line per dataset, in the dataset's colour.

    Parameters
    ----------
    curve : pandas.DataFrame
        :func:`~skintrinsic.robustness_curve` rows with a ``dataset`` column.
    metric : str, default="delta_loss"
        Column on the y axis.
    colors : dict of str to colour, default=None

    Attributes
    ----------
    lines_ : dict of str to matplotlib Line2D
    ax_, figure_ : matplotlib Axes and Figure

    Examples
    --------
    >>> import pandas as pd
    >>> from skintrinsic.plotting._datasets import DatasetRobustnessDisplay
    >>> curve = pd.DataFrame({"dataset": ["a", "a", "b", "b"], "epsilon": [0, 2 / 255] * 2,
    ...                       "delta_loss": [0.0, 0.1, 0.0, 0.3]})
    >>> sorted(DatasetRobustnessDisplay(curve=curve).plot().lines_)
    ['a', 'b']
    """

    def __init__(self, *, curve, metric="delta_loss", colors=None):
        self.curve = curve
        self.metric = metric
        self.colors = colors

    def plot(self, ax=None):
        """Draw on ``ax`` (a new figure when None); returns the Display."""
        curve = as_frame(self.curve, name="curve", columns=("dataset", "epsilon", self.metric),
                         source="pass robustness_curve rows with a dataset column")
        colors = _colors(self.colors, curve["dataset"])
        ax = _axes(ax)
        self.lines_ = {}
        for name, sub in curve.groupby("dataset", sort=False):
            (self.lines_[name],) = ax.plot(sub["epsilon"] * 255, sub[self.metric], marker="o",
                                           markersize=8, lw=2, label=name, color=colors[name])
        ax.set_xlabel("epsilon (x 1/255 of the pixel range)")
        ax.set_ylabel("attacked loss - clean loss" if self.metric == "delta_loss"
                      else self.metric)
        ax.legend(title="dataset")
        ax.grid(alpha=0.3)
        ax.set_title("Robustness to FGSM")
        self.ax_, self.figure_ = ax, ax.figure
        return self
