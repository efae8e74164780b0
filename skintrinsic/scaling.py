"""Generalization laws in log space: :class:`ScalingLawRegressor` (statistics only, no torch).

The laws of Konz & Mazurowski (ICLR 2024), with L the test loss (mean
cross-entropy per sample), N the number of training images, d an intrinsic
dimension and K_F the label sharpness::

    law="data":            log L = -(1/d_data) log N + log K_F + a
    law="representation":  log L = -(1/d_repr) log N + b

Both are linear in the terms ``log N / d`` and ``log K_F``, so they are fitted
by ordinary least squares in log space: the coefficients the paper fixes stay
fixed and only the free ones are estimated.  Runs of the same dataset share its
d_data and K_F, so their errors are not independent; with ``groups`` the
intervals are cluster-robust (CR2 with Bell-McCaffrey degrees of freedom),
otherwise classical OLS intervals.

The training-size study that produces the rows is :func:`skintrinsic.scaling_study`.
"""

import numbers

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._clustered import cluster_covariance, group_codes
from ._validation import validate_numeric

__all__ = ["ScalingLawRegressor"]

# the study's vocabulary (scaling_study's results frame), by law
_DEFAULT_COLUMNS = {"data": ("N", "d_data", "K_F"), "free": ("N", "d_data", "K_F"),
                    "representation": ("N", "d_repr")}
_TERMS = ("log_n_over_d", "log_sharpness")


def _law_design(log_n_over_d, log_k, *, law, fit_multiplier):
    """Split the log-space law into its fitted part and its fixed part.

    Returns ``(A, offset, terms, fixed)``: the design matrix of the fitted
    terms (intercept last), the part of log L fixed by the law, the names of
    all terms of the law, and for each term its fixed value (NaN when fitted).
    """
    n = log_n_over_d.shape[0]
    terms = list(_TERMS[:1] if (law == "representation" or log_k is None) else _TERMS)
    paper = {"log_n_over_d": -1.0, "log_sharpness": 1.0}
    values = {"log_n_over_d": log_n_over_d, "log_sharpness": log_k}
    free = {
        "log_n_over_d": law == "free" or fit_multiplier,
        "log_sharpness": law == "free",
    }
    columns, offset, fixed = [], np.zeros(n), []
    for term in terms:
        if free[term]:
            columns.append(values[term])
            fixed.append(np.nan)
        else:
            offset = offset + paper[term] * values[term]
            fixed.append(paper[term])
    columns.append(np.ones(n))
    return np.column_stack(columns), offset, terms, np.asarray(fixed)


def _check_n_columns(n_columns):
    if n_columns not in (2, 3):
        raise ValueError(
            f"ScalingLawRegressor expects 2 or 3 columns (N, d[, K_F]), "
            f"got {n_columns}. Pass a DataFrame with those columns or set columns=."
        )


class ScalingLawRegressor(RegressorMixin, BaseEstimator):
    """Fit the paper's generalization law ``log L ~ -(1/d) log N [+ log K_F] + const`` in log space.

    The law is linear in the terms ``log N / d`` and ``log K_F``.  The paper
    fixes their coefficients at ``-1`` and ``+1``; this regressor estimates
    what the law leaves free (always the intercept, optionally the coefficients)
    by ordinary least squares on ``log L`` and reports classical standard errors
    and t-distribution confidence intervals.  Fitting ``law="free"`` and
    checking whether ``-1`` and ``+1`` fall inside ``coef_ci_`` tests the
    paper's fixed coefficients against data.

    Parameters
    ----------
    law : {"data", "representation", "free"}, default="data"
        - ``"data"``: ``log L = -(1/d_data) log N + log K_F + a`` (needs the
          sharpness column); only ``a`` is fitted.
        - ``"representation"``: ``log L = -(1/d_repr) log N + b``; only ``b``
          is fitted.  A sharpness column, if present, is not used.
        - ``"free"``: ``log L = c1 log N / d + c2 log K_F + c0`` with all of
          ``c1, c2, c0`` fitted (``c2`` only when a sharpness column is given).
    fit_multiplier : bool, default=False
        For ``law="data"`` and ``"representation"``: also fit the coefficient
        on ``log N / d`` (the paper's ``-1``, i.e. an optional multiplier on
        ``1/d``) instead of fixing it.  Ignored by ``law="free"``, which always
        fits it.
    columns : sequence of 2 or 3 str or int, default=None
        Which columns of ``X`` hold N, d and (optionally) K_F, in that order:
        names for a DataFrame, positions for an array.  ``None`` takes the
        names of :func:`~skintrinsic.scaling_study`'s results from a DataFrame
        that has them: ``"N"``, ``"d_data"`` and ``"K_F"`` (``"N"`` and
        ``"d_repr"`` for ``law="representation"``); otherwise all columns of
        ``X``, in that order.
    confidence_level : float, default=0.95
        Level of the two-sided t intervals in ``coef_ci_`` and ``intercept_ci_``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_terms,)
        Coefficients of the law on ``terms_`` (fixed ones at their paper value).
    intercept_ : float
        The fitted constant (``a`` or ``b``).
    coef_se_ : ndarray of shape (n_terms,)
        Standard errors of ``coef_``; NaN for coefficients the law fixes.
    intercept_se_ : float
        Standard error of ``intercept_``.
    coef_ci_ : ndarray of shape (n_terms, 2)
        Confidence intervals of ``coef_`` (NaN rows for fixed coefficients).
    intercept_ci_ : ndarray of shape (2,)
        Confidence interval of ``intercept_``.
    fitted_terms_ : ndarray of bool of shape (n_terms,)
        Which entries of ``coef_`` were estimated.
    terms_ : list of str
        ``["log_n_over_d"]`` or ``["log_n_over_d", "log_sharpness"]``.
    covariance_ : ndarray of shape (n_fitted, n_fitted)
        Covariance of the fitted coefficients (fitted ``coef_`` entries, then
        the intercept).
    sigma_ : float
        Residual standard deviation of ``log L``.
    dof_ : int or ndarray of shape (n_fitted,)
        Residual degrees of freedom, ``n_samples - n_fitted``; with ``groups``,
        the Bell-McCaffrey degrees of freedom of each fitted coefficient (then
        the intercept), which can be far below the number of groups.
    n_groups_ : int or None
        Number of clusters when ``groups`` was passed to ``fit``, else None.
    summary_ : pandas.DataFrame
        One row per term and the intercept: estimate, std_error, ci_low,
        ci_high, fitted.
    n_features_in_ : int
        Number of columns used (2 or 3).
    feature_names_in_ : ndarray of str
        Names of the columns used, when ``X`` is a DataFrame.

    Notes
    -----
    **Clustered intervals.** The runs of one dataset share its d_data and K_F,
    and any dataset-level effect the law leaves out (difficulty, the network's
    fit to the domain) moves all of them together.  The coefficient of
    ``log K_F`` is then identified by as many points as there are datasets, and
    classical intervals, which count every run as independent, are far too
    narrow.  ``fit(X, y, groups=dataset)`` computes the cluster-robust
    covariance with the CR2 small-sample correction (Bell & McCaffrey 2002) and
    t intervals with Bell-McCaffrey degrees of freedom, which keep close to
    their nominal coverage down to a handful of clusters (checked by
    simulation in the tests).

    ``predict`` returns the loss ``L`` (not ``log L``); ``score`` is the
    coefficient of determination R² of ``log L``, the space in which the law is
    linear and fitted.  Inputs must be positive: ``N >= 1``, ``d > 0``,
    ``K_F > 0`` and ``L > 0``.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from skintrinsic import ScalingLawRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"N": rng.integers(500, 2000, 40),
    ...                   "d_data": rng.uniform(8, 20, 40),
    ...                   "K_F": rng.uniform(1e-4, 4e-4, 40)})
    >>> L = np.exp(-np.log(X.N) / X.d_data + np.log(X.K_F) + 8.0)
    >>> law = ScalingLawRegressor(law="data").fit(X, L)
    >>> round(law.intercept_, 6)
    8.0
    >>> law.coef_
    array([-1.,  1.])
    """

    _parameter_constraints = {
        "law": [StrOptions({"data", "representation", "free"})],
        "fit_multiplier": ["boolean"],
        "columns": [list, tuple, None],
        "confidence_level": [Interval(numbers.Real, 0, 1, closed="neither")],
    }

    def __init__(self, law="data", *, fit_multiplier=False, columns=None, confidence_level=0.95):
        self.law = law
        self.fit_multiplier = fit_multiplier
        self.columns = columns
        self.confidence_level = confidence_level

    def _select(self, X):
        """Pick the N, d[, K_F] columns of ``X`` (a DataFrame keeps its names)."""
        if self.columns is not None:
            cols = list(self.columns)
            if len(cols) not in (2, 3):
                raise ValueError(
                    f"columns must name 2 or 3 columns (N, d[, K_F]), got {len(cols)}: {cols!r}."
                )
            if hasattr(X, "iloc"):
                missing = [c for c in cols if c not in X.columns]
                if missing:
                    raise ValueError(
                        f"columns {missing!r} are not in X, whose columns are {list(X.columns)!r}. "
                        "Set columns= to the names of the N, d[, K_F] columns."
                    )
                return X[cols]
            return np.asarray(X)[:, cols] if np.ndim(X) == 2 else X
        if hasattr(X, "iloc"):
            names = _DEFAULT_COLUMNS[self.law]
            present = [c for c in names if c in X.columns]
            if present[:2] == list(names[:2]):
                return X[present]
            _check_n_columns(X.shape[1])
        return X

    def _log_terms(self, X):
        """Validate the values of N, d[, K_F] and return ``log N / d`` and ``log K_F``."""
        _check_n_columns(X.shape[1])
        if np.any(X < 0):
            raise ValueError(
                "Negative values in data passed to ScalingLawRegressor: N, d and K_F must be "
                "positive. Check the column order (N, d[, K_F])."
            )
        n, d = X[:, 0], X[:, 1]
        if np.any(n < 1):
            raise ValueError(
                f"N must be >= 1 (log N is taken), got min {n.min():g}. "
                "Pass the number of training samples in the first column."
            )
        if np.any(d <= 0):
            raise ValueError(
                f"d must be > 0 (1/d is taken), got min {d.min():g}. "
                "Pass the intrinsic dimension in the second column."
            )
        log_k = None
        if X.shape[1] == 3:
            if np.any(X[:, 2] <= 0):
                raise ValueError(
                    f"K_F must be > 0 (log K_F is taken), got min {X[:, 2].min():g}. "
                    "Pass the label sharpness K_F in the third column."
                )
            log_k = np.log(X[:, 2])
        if self.law == "data" and log_k is None:
            raise ValueError(
                'law="data" needs a sharpness column (K_F): pass 3 columns (N, d_data, K_F), '
                'or use law="representation".'
            )
        return np.log(n) / d, log_k

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, groups=None):
        """Fit the law's free constants by least squares on ``log y``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, 2 or 3)
            N, d and optionally K_F (see ``columns``).
        y : array-like of shape (n_samples,)
            Test losses, all > 0.
        groups : array-like of shape (n_samples,), default=None
            The dataset of each run.  When given, the intervals are clustered
            by group (see Notes); the estimates do not change.

        Returns
        -------
        self : ScalingLawRegressor
            The fitted regressor.
        """
        X, y = validate_numeric(self, self._select(X), y, dtype=np.float64, y_numeric=True)
        log_n_over_d, log_k = self._log_terms(X)
        if np.any(y <= 0):
            raise ValueError(
                f"The loss y must be > 0 (log L is taken), got min {y.min():g}. "
                "Pass the mean test cross-entropy, not a log loss or a difference."
            )
        A, offset, terms, fixed = _law_design(
            log_n_over_d, log_k, law=self.law, fit_multiplier=self.fit_multiplier
        )
        n, p = A.shape
        if n <= p:
            raise ValueError(
                f"Fitting {p} free constant(s) with confidence intervals needs more than {p} "
                f"samples, got n_samples = {n} ({n} sample(s)). Add runs (training sizes or seeds)."
            )
        response = np.log(y) - offset
        beta, _, rank, _ = np.linalg.lstsq(A, response, rcond=None)
        if rank < p:
            raise ValueError(
                f"The law's terms are collinear on this data (rank {rank} < {p}): with "
                f"law={self.law!r} the values of log N / d (and log K_F) must vary across samples. "
                "Vary N or d, or fix the coefficients (law='data' or 'representation')."
            )
        residual = response - A @ beta
        # (A^T A)^-1 = V S^-2 V^T from the SVD of A, without forming A^T A
        _, sv, vt = np.linalg.svd(A, full_matrices=False)
        bread = (vt.T / sv**2) @ vt
        if groups is None:
            dof = n - p
            sigma2 = float(residual @ residual) / dof
            cov = sigma2 * bread
            t_dof = np.full(p, float(dof))
            self.n_groups_ = None
        else:
            codes = group_codes(groups, n)
            cov, t_dof = cluster_covariance(A, residual, codes, bread)
            sigma2 = float(residual @ residual) / (n - p)
            dof = t_dof
            self.n_groups_ = int(codes.max() + 1)
        se = np.sqrt(np.diag(cov))
        half = stats.t.ppf(0.5 + self.confidence_level / 2, t_dof) * se

        fitted = np.isnan(fixed)
        self.terms_ = terms
        self.fitted_terms_ = fitted
        self.coef_ = fixed.copy()
        self.coef_[fitted] = beta[:-1]
        self.coef_se_ = np.full(len(terms), np.nan)
        self.coef_se_[fitted] = se[:-1]
        self.coef_ci_ = np.full((len(terms), 2), np.nan)
        self.coef_ci_[fitted] = np.column_stack([beta[:-1] - half[:-1], beta[:-1] + half[:-1]])
        self.intercept_ = float(beta[-1])
        self.intercept_se_ = float(se[-1])
        self.intercept_ci_ = np.array([beta[-1] - half[-1], beta[-1] + half[-1]])
        self.covariance_ = cov
        self.sigma_ = float(np.sqrt(sigma2))
        self.dof_ = int(dof) if groups is None else np.asarray(dof)
        self.summary_ = pd.DataFrame(
            {
                "estimate": np.append(self.coef_, self.intercept_),
                "std_error": np.append(self.coef_se_, self.intercept_se_),
                "ci_low": np.append(self.coef_ci_[:, 0], self.intercept_ci_[0]),
                "ci_high": np.append(self.coef_ci_[:, 1], self.intercept_ci_[1]),
                "fitted": np.append(fitted, True),
            },
            index=pd.Index(terms + ["intercept"], name="term"),
        )
        return self

    def _inputs(self, X):
        """The validated (N, d[, K_F]) columns of ``X`` as a float array (also used by plots)."""
        check_is_fitted(self)
        return validate_numeric(self, self._select(X), dtype=np.float64, reset=False)

    def predict_log(self, X):
        """Predicted ``log L`` for new (N, d[, K_F]).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, 2 or 3)
            N, d and optionally K_F, in the columns used in ``fit``.

        Returns
        -------
        log_loss : ndarray of shape (n_samples,)
            Natural log of the predicted test loss.
        """
        log_n_over_d, log_k = self._log_terms(self._inputs(X))
        out = self.intercept_ + self.coef_[0] * log_n_over_d
        if len(self.terms_) == 2:
            out = out + self.coef_[1] * log_k
        return out

    def predict(self, X):
        """Predicted test loss ``L`` (not its log) for new (N, d[, K_F]).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, 2 or 3)
            N, d and optionally K_F, in the columns used in ``fit``.

        Returns
        -------
        loss : ndarray of shape (n_samples,)
            Predicted mean cross-entropy, ``exp(predict_log(X))``.
        """
        return np.exp(self.predict_log(X))

    def score(self, X, y, sample_weight=None):
        """R² of ``log L``: how much of the variance of the log loss the law explains.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, 2 or 3)
            N, d and optionally K_F, in the columns used in ``fit``.
        y : array-like of shape (n_samples,)
            Test losses, all > 0.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in R².

        Returns
        -------
        score : float
            ``r2_score(log(y), log(predict(X)))``.
        """
        y = np.asarray(y, dtype=np.float64)
        if np.any(y <= 0):
            raise ValueError(
                f"The loss y must be > 0 to be scored in log space, got min {y.min():g}."
            )
        return r2_score(np.log(y), self.predict_log(X), sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.target_tags.positive_only = True
        return tags
