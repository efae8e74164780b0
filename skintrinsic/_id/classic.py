"""The paper's two estimators as small pure functions of neighbour distances: MLE and TwoNN.

Re-exported by :mod:`skintrinsic.dimension` (their public home, where their examples
import them from), and used by the calibration simulations of ``skintrinsic._id.calibration``,
which the estimator module itself imports: keeping them here keeps the imports acyclic.
"""

import numpy as np

_NORMALIZATION_OFFSET = {"reference": 2, "textbook": 1}


def _check_distances(distances, min_columns):
    distances = np.asarray(distances, dtype=np.float64)
    if distances.ndim != 2 or distances.shape[1] < min_columns:
        raise ValueError(
            f"distances must have shape (n_points, k) with k >= {min_columns}, got shape "
            f"{distances.shape}. Pass each point's sorted nearest-neighbour distances."
        )
    if not (np.all(np.isfinite(distances)) and np.all(distances > 0)):
        raise ValueError(
            "Neighbour distances must be finite and > 0. A zero distance comes from a duplicate "
            "point: remove duplicates (IntrinsicDimension drops them by default)."
        )
    if np.any(np.diff(distances, axis=1) < 0):
        raise ValueError("Neighbour distances must be sorted in ascending order along each row.")
    return distances


def mle_inverse_estimates(distances, normalization="reference"):
    """Per-point inverse dimensions ``u_k(x_i)`` of the Levina-Bickel MLE.

    ``u_k(x_i) = 1/(k - c) * sum_{j=1}^{k-1} log(T_k(x_i) / T_j(x_i))`` with
    ``c = 2`` for the reference normalization and ``c = 1`` for the textbook
    one.  ``1 / u_k(x_i)`` is the local dimension estimate at ``x_i``.

    Parameters
    ----------
    distances : array-like of shape (n_points, k)
        Distances ``T_1 <= ... <= T_k`` from each point to its ``k`` nearest
        neighbours, the point itself and its duplicates excluded (all > 0).
    normalization : {"reference", "textbook"}, default="reference"
        ``k - 2`` (as in the reference code; needs ``k >= 3``) or ``k - 1``.

    Returns
    -------
    u : ndarray of shape (n_points,)
        Non-negative; 0 where all ``k`` neighbours are at the same distance.

    Examples
    --------
    >>> import numpy as np
    >>> from skintrinsic.dimension import mle_inverse_estimates
    >>> mle_inverse_estimates(np.array([[1.0, 2.0, 4.0]]))
    array([2.07944154])
    """
    if normalization not in _NORMALIZATION_OFFSET:
        raise ValueError(
            f"normalization must be 'reference' or 'textbook', got {normalization!r}."
        )
    offset = _NORMALIZATION_OFFSET[normalization]
    distances = _check_distances(distances, offset + 1)
    k = distances.shape[1]
    return np.log(distances[:, -1:] / distances[:, :-1]).sum(axis=1) / (k - offset)


def local_dimensions(inverse):
    """``1 / inverse`` elementwise, ``inf`` where ``inverse`` is 0.

    Turns the per-point inverse dimensions (``u_k`` of the MLE, ``log mu`` of
    TwoNN) into local dimension estimates.  Zeros come from ties: all
    neighbours at the same distance (MLE) or ``T_1 = T_2`` (TwoNN).

    Parameters
    ----------
    inverse : array-like
        Non-negative inverse dimensions.

    Returns
    -------
    local : ndarray of the same shape, float64

    Examples
    --------
    >>> import numpy as np
    >>> from skintrinsic.dimension import local_dimensions
    >>> local_dimensions(np.array([0.5, 0.0]))
    array([ 2., inf])
    """
    inverse = np.asarray(inverse, dtype=np.float64)
    return np.divide(1.0, inverse, out=np.full(inverse.shape, np.inf), where=inverse > 0)


def mle_dimension(inverse_estimates, averaging="inverse"):
    """Dataset dimension from the per-point inverse estimates ``u_k``.

    Parameters
    ----------
    inverse_estimates : array-like of shape (n_points,)
        Output of :func:`mle_inverse_estimates`.
    averaging : {"inverse", "mean"}, default="inverse"
        ``"inverse"``: ``1 / mean(u_k)`` (MacKay & Ghahramani, the reference).
        ``"mean"``: ``mean(1 / u_k)``, the plain mean of the local estimates
        (Levina & Bickel's original averaging), which is larger by Jensen's
        inequality.

    Returns
    -------
    dimension : float

    Examples
    --------
    >>> from skintrinsic.dimension import mle_dimension
    >>> mle_dimension([0.25, 0.5])
    2.666...
    >>> mle_dimension([0.25, 0.5], averaging="mean")
    3.0
    """
    u = np.asarray(inverse_estimates, dtype=np.float64)
    if averaging not in ("inverse", "mean"):
        raise ValueError(f"averaging must be 'inverse' or 'mean', got {averaging!r}.")
    n_flat = int(np.count_nonzero(u == 0))
    if averaging == "mean" and n_flat:
        raise ValueError(
            f"{n_flat} of {u.size} points have all their k neighbours at the same distance, so "
            "their local dimension is infinite and so is the plain mean. Use "
            "averaging='inverse' (which stays finite) or a larger k."
        )
    if averaging == "inverse" and n_flat == u.size:
        raise ValueError(
            "Every point has all its k neighbours at the same distance (e.g. a lattice), so the "
            "MLE is infinite. Use a larger k."
        )
    return float(1.0 / u.mean()) if averaging == "inverse" else float(np.mean(1.0 / u))


def twonn_ratios(distances):
    """``mu_i = T_2(x_i) / T_1(x_i)`` from the two nearest-neighbour distances.

    Parameters
    ----------
    distances : array-like of shape (n_points, >= 2)
        Sorted neighbour distances, all > 0 (duplicates removed); only the first
        two columns are used.

    Returns
    -------
    mu : ndarray of shape (n_points,), values >= 1.

    Examples
    --------
    >>> from skintrinsic.dimension import twonn_ratios
    >>> twonn_ratios([[1.0, 3.0], [2.0, 2.0]])
    array([3., 1.])
    """
    distances = _check_distances(distances, 2)
    return distances[:, 1] / distances[:, 0]


def twonn_dimension(mu, variant="pope"):
    """TwoNN dimension: least-squares slope through the origin of ``-log(1 - F)`` on ``log mu``.

    With ``mu`` sorted, ``n`` of them kept:

    ``"pope"`` (Pope et al. 2021, used by the reference scripts)
        drop only the largest ratio and fit ``y_i = -log(1 - i/n)`` on
        ``x_i = log mu_(i)`` for ``i = 1..n-1``.
    ``"facco"`` (Facco et al. 2017, Ansuini et al. 2019)
        first remove ``mu = 1`` (``T_1 = T_2``) and non-finite ratios
        (``T_1 = 0``), then fit the same line on the smallest
        ``floor(0.9 n)`` ratios.

    The slope is ``sum(x y) / sum(x^2)``.

    Parameters
    ----------
    mu : array-like of shape (n_points,)
        Ratios from :func:`twonn_ratios`.
    variant : {"pope", "facco"}, default="pope"

    Returns
    -------
    dimension : float

    Examples
    --------
    >>> import numpy as np
    >>> from skintrinsic.dimension import twonn_dimension
    >>> rng = np.random.default_rng(0)
    >>> mu = rng.pareto(3.0, size=20000) + 1  # the law of mu in dimension 3
    >>> round(twonn_dimension(mu), 1)
    3.0
    """
    mu = np.sort(np.asarray(mu, dtype=np.float64).ravel())
    if variant not in ("pope", "facco"):
        raise ValueError(f"twonn_variant must be 'pope' or 'facco', got {variant!r}.")
    if np.any(mu < 1) or np.any(np.isnan(mu)):
        raise ValueError("Ratios mu = T_2 / T_1 must be >= 1; pass sorted neighbour distances.")
    if variant == "facco":
        mu = mu[np.isfinite(mu) & (mu > 1)]
        n = mu.size
        n_fit = (9 * n) // 10
    else:
        if not np.all(np.isfinite(mu)):
            raise ValueError(
                "Some ratios are infinite (T_1 = 0, a duplicate point); remove duplicates first."
            )
        n = mu.size
        n_fit = n - 1
    if n_fit < 1:
        raise ValueError(
            f"TwoNN needs more ratios to fit a slope: {n} usable, so {n_fit} fitted values. "
            "Pass more (distinct) samples."
        )
    x = np.log(mu[:n_fit])
    y = -np.log1p(-np.arange(1, n_fit + 1) / n)
    sxx = float(x @ x)
    if sxx == 0:
        raise ValueError(
            "Every fitted ratio T_2 / T_1 equals 1 (all points have two equidistant nearest "
            "neighbours, e.g. a lattice), so the TwoNN slope is undefined. Use estimator='mle'."
        )
    return float(x @ y) / sxx
