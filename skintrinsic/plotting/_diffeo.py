"""Sensitivity to diffeomorphisms and to noise against depth, for one or several network states.

The typical use compares a network at initialization with the same network
after training (Tomasini et al. 2023): after training D_k falls with depth,
G_k rises and R_k drops by decades.
"""

import numpy as np
import pandas as pd

from ._checks import as_frame

__all__ = ["SensitivityDisplay"]

_MEASURES = ("D", "G", "R")
_TITLES = {"D": "diffeomorphisms $D_k$", "G": "noise $G_k$", "R": "relative $R_k = D_k / G_k$"}


def _per_layer(table):
    """One row per layer (depth order); several grid points are merged by a geometric mean."""
    missing = {"layer", "depth", *_MEASURES} - set(table.columns)
    if missing:
        raise ValueError(
            f"a sensitivity table needs the columns layer, depth, D, G and R; {sorted(missing)} "
            "are missing. Pass DiffeoSensitivity().sensitivity_."
        )

    def gmean(values):
        values = np.asarray(values, dtype=np.float64)
        if np.all(values > 0):
            return float(np.exp(np.mean(np.log(values))))
        return float(np.mean(values))

    grouped = table.groupby(["depth", "layer"], sort=True)[list(_MEASURES)].agg(gmean)
    return grouped.reset_index()


class SensitivityDisplay:
    """D_k, G_k and R_k against depth, one panel each, one line per network state.

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        Label (e.g. ``"init"``, ``"trained"``) to a sensitivity table with
        columns ``layer``, ``depth``, ``D``, ``G`` and ``R``
        (``DiffeoSensitivity.sensitivity_``).  Rows of several grid points are
        merged per layer by a geometric mean.

    Attributes
    ----------
    axes_ : ndarray of matplotlib Axes
        One per measure.
    figure_ : matplotlib Figure
    lines_ : dict of str to list of matplotlib Line2D
        The lines of each label, one per measure.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skintrinsic.diffeo import DiffeoSensitivity
    >>> from skintrinsic.plotting import SensitivityDisplay
    >>> X = np.random.default_rng(0).random((30, 1, 10, 10)).astype(np.float32)
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(),
    ...                           torch.nn.Flatten(), torch.nn.Linear(256, 2))
    >>> est = DiffeoSensitivity(net, layers=["1"], random_state=0).fit(X)
    >>> disp = SensitivityDisplay.from_estimator({"init": est})
    >>> len(disp.axes_), len(disp.lines_["init"])
    (3, 3)
    """

    def __init__(self, *, tables):
        self.tables = tables

    @classmethod
    def from_estimator(cls, estimator, *, label="model", axes=None, **plot_kwargs):
        """Plot fitted :class:`~skintrinsic.diffeo.DiffeoSensitivity` estimators.

        Parameters
        ----------
        estimator : DiffeoSensitivity or dict of str to DiffeoSensitivity
            One fitted estimator, or several keyed by label (``{"init": ...,
            "trained": ...}``).
        label : str, default="model"
            Label of a single estimator.
        axes : array-like of matplotlib Axes, default=None
            Three axes to draw on; ``None`` makes a new figure.
        **plot_kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : SensitivityDisplay
        """
        estimators = estimator if isinstance(estimator, dict) else {label: estimator}
        tables = {}
        for name, est in estimators.items():
            table = getattr(est, "sensitivity_", None)
            if table is None:
                raise ValueError(
                    f"the estimator for {name!r} is not a fitted DiffeoSensitivity (no "
                    "sensitivity_); call fit first."
                )
            tables[name] = table
        return cls(tables=tables).plot(axes=axes, **plot_kwargs)

    @classmethod
    def from_models(cls, models, X, *, layers, axes=None, plot_kwargs=None, **sensitivity_params):
        """Measure several models (e.g. at initialization and trained) on ``X`` and plot them.

        Parameters
        ----------
        models : dict of str to torch.nn.Module or fitted skorch net
        X : array-like of shape (n_samples, ...)
            Probing images.
        layers : list of str
            Layers to measure in every model.
        axes : array-like of matplotlib Axes, default=None
        plot_kwargs : dict, default=None
            Passed to :meth:`plot`.
        **sensitivity_params
            Passed to :class:`~skintrinsic.diffeo.DiffeoSensitivity`.

        Returns
        -------
        display : SensitivityDisplay
        """
        from ..diffeo import DiffeoSensitivity

        if not isinstance(models, dict):
            raise TypeError("models must be a dict of label -> network, e.g. {'init': net0, "
                            f"'trained': net1}}, got {type(models).__name__}.")
        fitted = {name: DiffeoSensitivity(model, layers=layers, **sensitivity_params).fit(X)
                  for name, model in models.items()}
        return cls.from_estimator(fitted, axes=axes, **(plot_kwargs or {}))

    def plot(self, axes=None, *, measures=_MEASURES, logy=True):
        """Draw one panel per measure.

        Parameters
        ----------
        axes : array-like of matplotlib Axes, default=None
            As many axes as ``measures``; ``None`` makes a new figure.
        measures : sequence of {"D", "G", "R"}, default=("D", "G", "R")
        logy : bool, default=True
            Logarithmic y axes (R spans decades after training).

        Returns
        -------
        self : SensitivityDisplay
        """
        import matplotlib.pyplot as plt

        measures = list(measures)
        if not measures or set(measures) - set(_MEASURES):
            raise ValueError(f"measures must be a non-empty subset of {_MEASURES}, got {measures}.")
        if axes is None:
            fig, axes = plt.subplots(1, len(measures), figsize=(4 * len(measures), 3.4),
                                     squeeze=False)
            axes = axes[0]
        axes = np.atleast_1d(np.asarray(axes, dtype=object))
        if axes.size != len(measures):
            raise ValueError(f"need {len(measures)} axes, one per measure, got {axes.size}.")
        if not isinstance(self.tables, dict) or not self.tables:
            raise TypeError("tables must be a non-empty dict of label -> DiffeoSensitivity()."
                            f"sensitivity_, got {type(self.tables).__name__}.")
        per_layer = {name: _per_layer(as_frame(table, name=f"tables[{name!r}]",
                                               columns=("layer", "depth", *_MEASURES),
                                               source="pass DiffeoSensitivity().sensitivity_"))
                     for name, table in self.tables.items()}
        styles = ["--", "-", "-.", ":"]
        self.lines_ = {}
        for i, (name, table) in enumerate(per_layer.items()):
            self.lines_[name] = []
            for ax, measure in zip(axes, measures):
                (line,) = ax.plot(table["depth"], table[measure], styles[i % len(styles)],
                                  marker="o", label=name)
                self.lines_[name].append(line)
        reference = max(per_layer.values(), key=len)
        for ax, measure in zip(axes, measures):
            ax.set_title(_TITLES[measure])
            ax.set_xlabel("layer")
            ax.set_xticks(reference["depth"])
            ax.set_xticklabels(reference["layer"], rotation=45, ha="right", fontsize="small")
            if logy:
                ax.set_yscale("log")
        axes[0].legend()
        self.axes_ = axes
        self.figure_ = axes[0].figure
        return self
