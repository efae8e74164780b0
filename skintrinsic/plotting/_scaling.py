"""Displays for the generalization laws and adversarial robustness (scikit-learn's Display style).

Each Display stores the numbers it draws, so a figure can be redrawn or
restyled without recomputing; ``from_*`` class methods compute them and call
:meth:`plot`.  matplotlib is imported only when plotting.
"""

import numpy as np
import pandas as pd
from scipy import stats

from ._checks import as_frame, as_vector, study_frame
from ._style import dataset_colors, estimator_marker, size_markersizes, size_shades

__all__ = ["RobustnessCurveDisplay", "ScalingLawDisplay", "SharpnessRobustnessDisplay"]


def _axes(ax):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    return ax


def _groups(domain, n):
    """Index arrays per domain label (one unnamed group when there are no labels)."""
    if domain is None:
        return [(None, np.arange(n))]
    domain = np.asarray(domain)
    if domain.shape != (n,):
        raise ValueError(f"domain must have one label per point ({n}), got shape {domain.shape}.")
    return [(label, np.flatnonzero(domain == label)) for label in pd.unique(domain)]


class ScalingLawDisplay:
    """Test loss (log) against the intrinsic dimension, coloured by domain, with the fitted law.

    The law predicts log L from (N, d[, K_F]); it is drawn as one curve over d
    for each training size N (at most ``max_curves``, the quantiles of N when
    there are more), at the geometric mean of K_F of the points with that N.

    Colour means the domain (:func:`~skintrinsic.plotting.dataset_colors`); the training
    size N is shown by grey shades (the law's curves) and by the size of the points, with
    a legend entry per N.

    Parameters
    ----------
    dimension, log_loss : ndarray of shape (n_points,)
        The observations: intrinsic dimension and natural log of the test loss.
    domain : ndarray of shape (n_points,), default=None
        A label per point (e.g. "medical" / "natural") for the colours.
    curves : list of (label, ndarray, ndarray), default=None
        The fitted law as ``(label, d_grid, log_loss_on_grid)`` curves.
    dimension_name : str, default="d_data"
        Label of the x axis.
    n_train : ndarray of shape (n_points,), default=None
        The training size N of each point, drawn as its size.
    curve_sizes : list of float, default=None
        The N of each curve, for its shade.

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    lines_ : list of matplotlib Line2D
        The law's curves.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from skintrinsic import ScalingLawRegressor
    >>> from skintrinsic.plotting import ScalingLawDisplay
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"N": rng.choice([500, 1000], 20),
    ...                   "d_data": rng.uniform(8, 20, 20),
    ...                   "K_F": rng.uniform(1e-4, 3e-4, 20)})
    >>> log_l = -np.log(X.N) / X.d_data + np.log(X.K_F) + 8
    >>> y = np.exp(log_l + rng.normal(0, 0.1, 20))
    >>> law = ScalingLawRegressor().fit(X, y)
    >>> disp = ScalingLawDisplay.from_estimator(law, X, y, domain=np.repeat(["a", "b"], 10))
    >>> len(disp.lines_)
    2
    """

    def __init__(self, *, dimension, log_loss, domain=None, curves=None, dimension_name="d_data",
                 n_train=None, curve_sizes=None):
        self.dimension = dimension
        self.log_loss = log_loss
        self.domain = domain
        self.curves = curves
        self.dimension_name = dimension_name
        self.n_train = n_train
        self.curve_sizes = curve_sizes

    @classmethod
    def from_estimator(cls, estimator, X, y, *, domain=None, max_curves=6, n_grid=50,
                       dimension_name="d_data", ax=None):
        """Draw the fitted :class:`~skintrinsic.ScalingLawRegressor` over its data ``(X, y)``.

        Parameters
        ----------
        estimator : ScalingLawRegressor
            The fitted law.
        X : DataFrame or array-like of shape (n_points, 2 or 3)
            N, d[, K_F] as the estimator takes them.
        y : array-like of shape (n_points,)
            Test losses, > 0.
        domain : array-like of shape (n_points,), default=None
            Labels for the colours.
        max_curves : int, default=6
            At most this many training sizes get a curve of the law.
        n_grid : int, default=50
            Points of each curve.
        dimension_name : str, default="d_data"
            Label of the x axis.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.

        Returns
        -------
        display : ScalingLawDisplay
            The Display, with ``ax_`` and ``figure_`` set.
        """
        if not hasattr(estimator, "_inputs") or not hasattr(estimator, "predict_log"):
            raise TypeError("estimator must be a fitted skintrinsic.ScalingLawRegressor, got "
                            f"{type(estimator).__name__}.")
        inputs = estimator._inputs(X)
        y = np.asarray(y, dtype=np.float64)
        if np.any(y <= 0):
            raise ValueError("The losses y must be > 0 to be drawn on a log scale.")
        n, d = inputs[:, 0], inputs[:, 1]
        sizes = np.unique(n)
        if sizes.size > max_curves:
            sizes = np.unique(np.quantile(sizes, np.linspace(0, 1, max_curves), method="nearest"))
        grid = np.linspace(d.min(), d.max(), n_grid) if d.max() > d.min() else d[:1]
        curves = []
        for size in sizes:
            row = [np.full_like(grid, size), grid]
            if inputs.shape[1] == 3:
                row.append(np.full_like(grid, np.exp(np.log(inputs[n == size, 2]).mean())))
            row = np.column_stack(row)
            names = getattr(estimator, "feature_names_in_", None)
            row = pd.DataFrame(row, columns=names) if names is not None else row
            curves.append((f"law, N={size:g}", grid, estimator.predict_log(row)))
        disp = cls(dimension=d, log_loss=np.log(y), domain=domain, curves=curves,
                   dimension_name=dimension_name, n_train=n, curve_sizes=list(sizes))
        return disp.plot(ax=ax)

    @classmethod
    def from_study(cls, result, *, dimension="d_data", ax=None, **kwargs):
        """Draw the law fitted by :func:`~skintrinsic.scaling_study` over its results frame.

        Parameters
        ----------
        result : Bunch
            The return value of :func:`~skintrinsic.scaling_study`.
        dimension : str, default="d_data"
            Label of the x axis.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.
        **kwargs
            Passed to :meth:`from_estimator`.

        Returns
        -------
        display : ScalingLawDisplay
            The Display, with ``ax_`` and ``figure_`` set.
        """
        frame = study_frame(result, ("test_loss",))
        # one colour per dataset, as in every figure of a study
        groups = frame["dataset"].to_numpy() if "dataset" in frame else None
        return cls.from_estimator(result.law, frame, frame["test_loss"], domain=groups,
                                  dimension_name=dimension, ax=ax, **kwargs)

    def plot(self, ax=None, *, scatter_kwargs=None, line_kwargs=None):
        """Draw the points and the law's curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.
        scatter_kwargs : dict, default=None
            Passed to ``ax.scatter``.
        line_kwargs : dict, default=None
            Passed to ``ax.plot`` for the law.

        Returns
        -------
        display : ScalingLawDisplay
            The Display, with ``ax_`` and ``figure_`` set.
        """
        from matplotlib.lines import Line2D

        d = as_vector(self.dimension, "dimension")
        log_loss = as_vector(self.log_loss, "log_loss")
        if d.shape != log_loss.shape:
            raise ValueError(f"dimension and log_loss must have one value per point, got "
                             f"{d.shape} and {log_loss.shape}.")
        ax = _axes(ax)
        groups = _groups(self.domain, d.shape[0])
        colors = dataset_colors(label for label, _ in groups)
        curve_sizes = list(self.curve_sizes or [])
        n = None if self.n_train is None else np.asarray(self.n_train, dtype=float)
        point_sizes = {} if n is None else size_markersizes(np.concatenate([n, curve_sizes]))
        for label, idx in groups:
            kwargs = {"color": colors[label], "edgecolor": "white", "linewidth": 0.5}
            if n is not None:
                kwargs["s"] = [point_sizes[v] for v in n[idx]]
            ax.scatter(d[idx], log_loss[idx], label=label, **(kwargs | (scatter_kwargs or {})))
        self.lines_ = []
        shades = size_shades(curve_sizes) if curve_sizes else {}
        handles = []
        for i, (label, grid, values) in enumerate(self.curves or []):
            size = curve_sizes[i] if i < len(curve_sizes) else None
            style = {"lw": 1.5, "color": shades.get(size, "0.3")} | (line_kwargs or {})
            (line,) = ax.plot(grid, values, label=label, **style)
            self.lines_.append(line)
            if size is not None and point_sizes:
                # one legend entry per N: its curve's shade, and the size of its points
                handles.append(Line2D([], [], color=style["color"], lw=style["lw"], marker="o",
                                      markersize=np.sqrt(point_sizes[size]),
                                      markerfacecolor="none", label=label))
        ax.set_xlabel(self.dimension_name)
        ax.set_ylabel("log L (test loss)")
        if self.domain is not None or self.lines_:
            domain_handles = [h for h in ax.get_legend_handles_labels()[0]
                              if not isinstance(h, Line2D)]
            ax.legend(handles=domain_handles + (handles or self.lines_), fontsize="small")
        self.ax_, self.figure_ = ax, ax.figure
        return self


class RobustnessCurveDisplay:
    """A robustness metric over epsilon, one line per attack.

    Parameters
    ----------
    curve : pandas.DataFrame
        Rows of :func:`~skintrinsic.robustness_curve` (several attacks may be
        concatenated).
    metric : {"delta_loss", "delta_accuracy", "robust_accuracy", "attacked_loss"}, \
default="delta_loss"

    Attributes
    ----------
    ax_, figure_ : matplotlib Axes and Figure
    lines_ : dict of str to matplotlib Line2D

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skintrinsic.plotting import RobustnessCurveDisplay
    >>> _ = torch.manual_seed(0)
    >>> X = np.random.default_rng(0).uniform(0, 1, (16, 4)).astype("float32")
    >>> disp = RobustnessCurveDisplay.from_estimator(
    ...     torch.nn.Linear(4, 2), X, np.arange(16) % 2, [0, 0.05, 0.1], attack=["fgsm", "pgd"],
    ...     random_state=0)
    >>> sorted(disp.lines_)
    ['fgsm', 'pgd']
    """

    def __init__(self, *, curve, metric="delta_loss"):
        self.curve = curve
        self.metric = metric

    @classmethod
    def from_estimator(cls, estimator, X, y, epsilons, *, attack="fgsm", metric="delta_loss",
                       ax=None, **curve_kwargs):
        """Attack ``estimator`` at each epsilon and draw the curve.

        Parameters
        ----------
        estimator : fitted skorch classifier or torch.nn.Module
            The network to attack.
        X : array-like of shape (n_samples, ...)
            Inputs.
        y : array-like of shape (n_samples,)
            True labels.
        epsilons : sequence of float
            Perturbation sizes.
        attack : str or list of str, default="fgsm"
            One line per attack.
        metric : str, default="delta_loss"
            Column of the curve on the y axis.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.
        **curve_kwargs
            Passed to :func:`~skintrinsic.robustness_curve`.

        Returns
        -------
        display : RobustnessCurveDisplay
            The Display, with ``ax_`` and ``figure_`` set.
        """
        from ..robustness import robustness_curve

        attacks = [attack] if isinstance(attack, str) or not np.iterable(attack) else list(attack)
        parts = [robustness_curve(estimator, X, y, epsilons, attack=a, **curve_kwargs)
                 for a in attacks]
        curve = pd.concat(parts, ignore_index=True)
        return cls(curve=curve, metric=metric).plot(ax=ax)

    @classmethod
    def from_curve(cls, curve, *, metric="delta_loss", ax=None):
        """Draw a frame returned by :func:`~skintrinsic.robustness_curve`.

        Parameters
        ----------
        curve : pandas.DataFrame
            Rows of :func:`~skintrinsic.robustness_curve`.
        metric : str, default="delta_loss"
            Column on the y axis.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.

        Returns
        -------
        display : RobustnessCurveDisplay
            The Display, with ``ax_`` and ``figure_`` set.
        """
        return cls(curve=curve, metric=metric).plot(ax=ax)

    def plot(self, ax=None, **line_kwargs):
        """Draw one line per attack.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.
        **line_kwargs
            Passed to ``ax.plot``.

        Returns
        -------
        display : RobustnessCurveDisplay
            The Display, with ``ax_`` and ``figure_`` set.
        """
        self.curve = as_frame(self.curve, name="curve", columns=("attack", "norm", "epsilon"),
                              source="pass the frame returned by robustness_curve")
        if self.metric not in self.curve:
            raise ValueError(
                f"metric {self.metric!r} is not a column of the curve; choose one of "
                f"{[c for c in self.curve.columns if c not in ('attack', 'norm')]}."
            )
        ax = _axes(ax)
        self.lines_ = {}
        many_norms = self.curve["norm"].nunique() > 1
        for (attack, norm), part in self.curve.groupby(["attack", "norm"], sort=False):
            label = f"{attack} ({norm})" if many_norms else attack
            part = part.sort_values("epsilon")
            # the attack is shown by the marker; colour stays free for datasets
            style = {"marker": estimator_marker(attack, len(self.lines_)),
                     "color": "0.15" if not self.lines_ else "0.55"} | line_kwargs
            (self.lines_[label],) = ax.plot(part["epsilon"], part[self.metric], label=label,
                                            **style)
        ax.set_xlabel("epsilon")
        ax.set_ylabel(self.metric.replace("_", " "))
        ax.legend()
        self.ax_, self.figure_ = ax, ax.figure
        return self


class SharpnessRobustnessDisplay:
    """Adversarial loss increase against label sharpness K_F, with Pearson's r.

    Parameters
    ----------
    sharpness : array-like of shape (n_points,)
        Label sharpness K_F of each run.
    delta_loss : array-like of shape (n_points,)
        Loss increase under attack of each run.
    domain : array-like of shape (n_points,), default=None
        Labels for the colours.

    Attributes
    ----------
    r_, pvalue_ : float
        Pearson correlation of ``sharpness`` with ``delta_loss`` and its p-value
        (:func:`scipy.stats.pearsonr`).
    line_ : matplotlib Line2D
        The least-squares line.
    ax_, figure_ : matplotlib Axes and Figure

    Examples
    --------
    >>> import numpy as np
    >>> from skintrinsic.plotting import SharpnessRobustnessDisplay
    >>> k = np.array([1.0, 2.0, 3.0, 4.0]) * 1e-4
    >>> disp = SharpnessRobustnessDisplay(sharpness=k, delta_loss=[1.0, 2.5, 2.9, 4.2]).plot()
    >>> round(disp.r_, 3)
    0.98
    """

    def __init__(self, *, sharpness, delta_loss, domain=None):
        self.sharpness = sharpness
        self.delta_loss = delta_loss
        self.domain = domain

    @classmethod
    def from_study(cls, result, *, attack="fgsm", metric="delta_loss", ax=None):
        """Draw each dataset's K_F against its mean loss increase under ``attack``.

        One point per dataset, as in the study's ``correlation``: the runs of
        one dataset are not independent points of the relation.

        Parameters
        ----------
        result : Bunch
            The return value of :func:`~skintrinsic.scaling_study`.
        attack : str, default="fgsm"
            Which attack's column to use.
        metric : {"delta_loss", "relative_delta_loss"}, default="delta_loss"
            The paper's loss increase, or the increase in units of the clean loss.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.

        Returns
        -------
        display : SharpnessRobustnessDisplay
            The Display, with ``ax_`` and ``figure_`` set.
        """
        study_frame(result, ())
        column = f"{metric}_{attack}"
        table = as_frame(getattr(result, "datasets", None), name="result.datasets",
                         columns=("dataset", "K_F", column),
                         source="pass the return value of scaling_study")
        return cls(sharpness=table["K_F"].to_numpy(), delta_loss=table[column].to_numpy(),
                   domain=table["dataset"].to_numpy()).plot(ax=ax)

    def plot(self, ax=None, *, scatter_kwargs=None):
        """Draw the points, the least-squares line and Pearson's r.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.
        scatter_kwargs : dict, default=None
            Passed to ``ax.scatter``.

        Returns
        -------
        display : SharpnessRobustnessDisplay
            The Display, with ``ax_`` and ``figure_`` set.
        """
        k = as_vector(self.sharpness, "sharpness")
        dl = as_vector(self.delta_loss, "delta_loss")
        if k.shape != dl.shape or k.ndim != 1 or k.size < 3:
            raise ValueError(
                f"sharpness and delta_loss must be 1-d of the same length >= 3, got {k.shape} and "
                f"{dl.shape}."
            )
        for name, values in (("sharpness", k), ("delta_loss", dl)):
            if np.ptp(values) == 0:
                raise ValueError(f"{name} is constant, so Pearson's r is undefined; the runs "
                                 "must differ.")
        res = stats.pearsonr(k, dl)
        self.r_, self.pvalue_ = float(res.statistic), float(res.pvalue)
        ax = _axes(ax)
        groups = _groups(self.domain, k.shape[0])
        colors = dataset_colors(label for label, _ in groups)
        for label, idx in groups:
            ax.scatter(k[idx], dl[idx], label=label,
                       **({"color": colors[label]} | (scatter_kwargs or {})))
        slope, intercept = np.polyfit(k, dl, 1)
        grid = np.linspace(k.min(), k.max(), 2)
        (self.line_,) = ax.plot(grid, slope * grid + intercept, color="k", lw=1,
                                label=f"r = {self.r_:.2f} (p = {self.pvalue_:.2g})")
        ax.set_xlabel("label sharpness K_F")
        ax.set_ylabel("delta loss under attack")
        ax.legend()
        self.ax_, self.figure_ = ax, ax.figure
        return self
