"""The intrinsic-dimension profile of a network over depth (scikit-learn's Display style)."""

import numpy as np
import pandas as pd

from ._checks import as_frame

__all__ = ["DimensionProfileDisplay"]

_COLUMNS = ("layer", "depth", "dimension", "ci_low", "ci_high")


class DimensionProfileDisplay:
    """Intrinsic dimension of each measured layer, input to output, with its interval.

    Layers are placed in the order of their depth, one step apart, and
    labelled by name; the bootstrap interval of each estimate is drawn as an
    error bar.  An optional horizontal line marks the dimension of the data
    (``d_data``), to compare with the paper's ``d_repr <~ d_data``.

    Parameters
    ----------
    profile : pandas.DataFrame
        Columns ``layer``, ``depth``, ``dimension``, ``ci_low``, ``ci_high``,
        as in :attr:`skintrinsic.RepresentationDimension.profile_`.
    data_dimension : float, default=None
        Drawn as a horizontal reference line when given.
    label : str, default=None
        Legend label of the profile.

    Attributes
    ----------
    layers_ : list of str
        Layer names in drawing order (by depth).
    dimension_, ci_low_, ci_high_ : ndarray of shape (n_layers,)
        The drawn values.
    line_ : matplotlib Line2D
        The profile.
    errorbar_ : matplotlib ErrorbarContainer or None
        The intervals (None when they are all NaN).
    data_line_ : matplotlib Line2D or None
    ax_, figure_ : matplotlib Axes and Figure

    Examples
    --------
    >>> import pandas as pd
    >>> from skintrinsic.plotting import DimensionProfileDisplay
    >>> profile = pd.DataFrame({"layer": ["layer1", "layer2", "fc"], "depth": [4, 9, 20],
    ...                         "dimension": [18.0, 24.0, 6.0], "ci_low": [17.0, 22.5, 5.5],
    ...                         "ci_high": [19.0, 25.0, 6.6]})
    >>> disp = DimensionProfileDisplay(profile=profile, data_dimension=12).plot()
    >>> disp.layers_, disp.dimension_.tolist()
    (['layer1', 'layer2', 'fc'], [18.0, 24.0, 6.0])
    """

    def __init__(self, *, profile, data_dimension=None, label=None):
        self.profile = profile
        self.data_dimension = data_dimension
        self.label = label

    @classmethod
    def from_estimator(cls, estimator, X=None, y=None, *, data_dimension=None, label=None,
                       ax=None, **line_kwargs):
        """Draw the profile of a fitted :class:`~skintrinsic.RepresentationDimension`.

        Parameters
        ----------
        estimator : RepresentationDimension
            Fitted; or unfitted, then a clone is fitted on ``X, y`` first.
        X, y : array-like, default=None
            Training data, only when ``estimator`` is to be fitted here.
        data_dimension : float or IntrinsicDimension, default=None
            A reference line; a fitted estimator gives its ``dimension_``.
        label : str, default=None
        ax : matplotlib Axes, default=None
        **line_kwargs
            Passed to ``Axes.plot`` for the profile line.

        Returns
        -------
        display : DimensionProfileDisplay
        """
        from sklearn.base import clone

        if X is not None:
            estimator = clone(estimator).fit(X, y)
        profile = getattr(estimator, "profile_", None)
        if profile is None:
            raise ValueError(
                f"{type(estimator).__name__} has no profile_: pass a fitted "
                "RepresentationDimension, or its training data X, y to fit it here."
            )
        if data_dimension is not None and hasattr(data_dimension, "dimension_"):
            data_dimension = data_dimension.dimension_
        return cls(profile=profile, data_dimension=data_dimension, label=label).plot(
            ax=ax, **line_kwargs)

    def plot(self, ax=None, **line_kwargs):
        """Draw on ``ax`` (a new figure when None); returns the Display."""
        import matplotlib.pyplot as plt

        profile = as_frame(self.profile, name="profile", columns=_COLUMNS,
                           source="pass RepresentationDimension.profile_")
        if profile.empty:
            raise ValueError("profile has no rows: measure at least one layer.")
        profile = profile.sort_values("depth", kind="stable")
        self.layers_ = profile["layer"].astype(str).tolist()
        self.dimension_ = profile["dimension"].to_numpy(dtype=np.float64)
        self.ci_low_ = profile["ci_low"].to_numpy(dtype=np.float64)
        self.ci_high_ = profile["ci_high"].to_numpy(dtype=np.float64)

        if ax is None:
            _, ax = plt.subplots()
        x = np.arange(len(self.layers_))
        (self.line_,) = ax.plot(x, self.dimension_, marker="o", label=self.label,
                                **line_kwargs)
        self.errorbar_ = None
        has_ci = np.isfinite(self.ci_low_) & np.isfinite(self.ci_high_)
        if has_ci.any():
            # intervals need not contain the point estimate (percentile bootstrap), so clip at 0
            err = np.vstack([np.clip(self.dimension_ - self.ci_low_, 0, None),
                             np.clip(self.ci_high_ - self.dimension_, 0, None)])
            self.errorbar_ = ax.errorbar(x[has_ci], self.dimension_[has_ci], yerr=err[:, has_ci],
                                         fmt="none", capsize=3, color=self.line_.get_color())
        self.data_line_ = None
        if self.data_dimension is not None:
            self.data_line_ = ax.axhline(float(self.data_dimension), ls="--", color="grey",
                                         label="data")
        ax.set_xticks(x)
        ax.set_xticklabels(self.layers_, rotation=45, ha="right")
        ax.set_xlabel("layer (input to output)")
        ax.set_ylabel("intrinsic dimension")
        if self.label is not None or self.data_line_ is not None:
            ax.legend()
        self.ax_, self.figure_ = ax, ax.figure
        return self
