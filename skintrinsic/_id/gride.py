"""GRIDE, the generalized ratio ID estimator (Denti, Doimo, Laio & Mira 2022).

For each point ``mu = T_{n2} / T_{n1}``, the ratio of its distances to its
``n2``-th and ``n1``-th neighbours.  Where the density is locally constant up
to ``T_{n2}``, ``mu`` has the density

    f(mu) = d (mu^d - 1)^(n2 - n1 - 1) / (B(n2 - n1, n1) mu^((n2 - 1) d + 1)),  mu > 1,

whatever the density's value (Denti et al. 2022, eq. 3).  The estimate
maximizes the likelihood of the ``N`` ratios; the log-likelihood is concave in
``d``, so the score has one root.  DADApy's conventions, which scikit-dimension
follows, are kept so that the three agree: ``(N - 1) log d`` in place of
``N log d`` (with ``n1 = 1, n2 = 2`` this is the unbiased TwoNN MLE
``(N - 1) / sum(log mu)``), and ratios ``mu >= q50 + 20 (q95 - q50)`` are
discarded as overlapping points.  The standard error is
``1 / sqrt(I(d))`` with ``I`` the observed Fisher information (``N / d^2`` for the first term, as DADApy
and scikit-dimension write it).

Raising ``n1`` (with ``n2 = 2 n1``) measures the dimension at a larger scale
without decimating the data; the multiscale profile repeats the fit at
``n1 = 1, 2, 4, ...``.
"""

import numpy as np

from ._roots import pointwise_root, scalar_root


def _outlier_cut(log_mu):
    mu = np.exp(log_mu)
    q50, q95 = np.percentile(mu, [50, 95])
    return log_mu[mu < q50 + 20 * (q95 - q50)]


def _score(log_mu, n1, n2, n_eff):
    total = log_mu.sum()

    def score(d):
        # mu^d / (mu^d - 1) written as 1 / (1 - exp(-d log mu)) to avoid overflow
        middle = (np.sum(log_mu / -np.expm1(-d * log_mu)) if n2 - n1 > 1 else 0.0)
        return n_eff / d + (n2 - n1 - 1) * middle - (n2 - 1) * total
    return score


def gride_dimension(log_mu, n1, n2):
    """GRIDE estimate and its Fisher standard error from the per-point ``log(T_n2 / T_n1)``.

    Ratios equal to 1 (tied distances, where the score is 0/0) are dropped,
    then DADApy's outlier cut is applied.

    Returns
    -------
    dimension, std_error : float
    """
    log_mu = np.asarray(log_mu, dtype=np.float64)
    log_mu = _outlier_cut(log_mu[log_mu > 0]) if np.any(log_mu > 0) else log_mu[:0]
    n = log_mu.size
    if n < 2:
        raise ValueError(
            f"GRIDE (n1={n1}, n2={n2}) needs at least 2 points whose n1-th and n2-th neighbours "
            f"are at different distances; {n} are. Use a larger n1 or more (distinct) samples."
        )
    d = scalar_root(_score(log_mu, n1, n2, n - 1), guess=1.0 / np.mean(log_mu))
    # observed information; mu^d / (mu^d - 1)^2 = 1 / (4 sinh^2(d log mu / 2))
    info = n / d**2 + (n2 - n1 - 1) * np.sum((log_mu / (2 * np.sinh(d * log_mu / 2))) ** 2)
    return float(d), float(1 / np.sqrt(info))


def gride_local(log_mu, n1, n2):
    """One-point maximum-likelihood estimates (``N log d`` with ``N = 1``); ``inf`` where ``mu = 1``.

    With ``n1 = 1, n2 = 2`` this is ``1 / log mu``, the TwoNN local estimate.
    """
    log_mu = np.asarray(log_mu, dtype=np.float64)
    flat = log_mu <= 0
    L = np.where(flat, 1.0, log_mu)

    def score(d):
        middle = L / -np.expm1(-d * L) if n2 - n1 > 1 else 0.0
        return 1.0 / d + (n2 - n1 - 1) * middle - (n2 - 1) * L

    local = pointwise_root(score, L.size)
    local[flat] = np.inf
    return local


def profile_scales(k):
    """``n1 = 1, 2, 4, ...`` with ``n2 = 2 n1 <= k``."""
    return 2 ** np.arange(int(np.floor(np.log2(k))))


def gride_profile(distances):
    """The multiscale scan on sorted neighbour distances of shape ``(n, k)``.

    Returns a dict of arrays (one entry per scale): ``n1``, ``n2``,
    ``dimension``, ``std_error`` and ``radius``, the mean distance to the
    ``n2``-th neighbour (the scale in the data's units).
    """
    n1 = profile_scales(distances.shape[1])
    rows = [gride_dimension(np.log(distances[:, 2 * a - 1] / distances[:, a - 1]), a, 2 * a)
            for a in n1]
    return {"n1": n1, "n2": 2 * n1,
            "dimension": np.array([r[0] for r in rows]),
            "std_error": np.array([r[1] for r in rows]),
            "radius": distances[:, 2 * n1 - 1].mean(axis=0)}
