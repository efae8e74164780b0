"""DANCo: dimensionality from angle and norm concentration (Ceruti et al. 2014).

Three statistics summarize a data set:

- ``dhat``, the MiND-ML estimate from the norms, ``rho = T_1 / T_k``
  (:mod:`.mind`);
- ``mu_nu`` and ``mu_tau``, the means over points of the location ``nu`` and
  concentration ``tau`` of a von Mises law fitted to the ``m (m - 1) / 2``
  angles between the vectors from a point to its ``m = k - 1`` nearest
  neighbours.

The same three statistics are simulated on uniform ``d``-balls with the data's
``N`` and ``k`` (:mod:`.calibration`), and the estimate is the ``d`` whose
statistics are nearest in Kullback-Leibler divergence: the divergence between
the laws of the MiND-ML estimates (``KL_d``) plus the one between the two von
Mises laws (``KL_nu,tau``), minimized over integers, then refined to a real
``d`` on a cubic spline through the integer values (scikit-dimension's
``fractal=True``).

The formulas follow the R package intrinsicDimension and scikit-dimension,
quirks included, so that the three agree: ``nu = arctan(sum sin / sum cos)``
(``arctan``, not ``arctan2``), ``eta = |mean of e^(i theta)|`` and the
three-piece approximation of the inverse of ``A(tau) = I_1(tau) / I_0(tau)``.
Their ``DANCo(k=K)`` is ours with ``k = K + 1``.
"""

import numpy as np
import torch
from scipy.interpolate import CubicSpline
from scipy.optimize import minimize_scalar
from scipy.special import digamma, gammaln, i0e, i1e

from .._compute import progress


#: Largest ``eta`` (mean resultant length) used, so that ``tau`` stays finite (about 500).
ETA_MAX = 0.999


def _inverse_bessel_ratio(eta):
    """Best and Fisher's approximation of ``A^{-1}``, ``A(tau) = I_1(tau) / I_0(tau)``."""
    eta = np.asarray(eta, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(eta < 0.53, 2 * eta + eta**3 + 5 * eta**5 / 6,
                        np.where(eta < 0.85, -0.4 + 1.39 * eta + 0.43 / (1 - eta),
                                 1 / (eta**3 - 4 * eta**2 + 3 * eta)))


def von_mises_fit(cos_theta):
    """Per-row von Mises maximum-likelihood ``(nu, tau)`` of angles given by their cosines.

    ``cos_theta`` has shape ``(n, n_angles)``; angles lie in ``[0, pi]``, so
    ``sin theta = sqrt(1 - cos^2 theta)``.
    """
    c = np.clip(cos_theta, -1.0, 1.0)
    s = np.sqrt(1.0 - c * c)
    S, C = s.sum(axis=1), c.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        # S = C = 0 (collinear neighbours, as many on each side) leaves nu undefined: 0
        nu = np.where((S == 0) & (C == 0), 0.0, np.arctan(S / C))
    # all angles equal (collinear neighbours on one side) give eta = 1 and tau = inf, which
    # would make the mean of tau infinite: eta is capped, tau at about 500
    eta = np.minimum(np.hypot(c.mean(axis=1), s.mean(axis=1)), ETA_MAX)
    return nu, _inverse_bessel_ratio(eta)


def _rows_per_block(m, n_features, budget=64 * 2**20):
    return max(1, int(budget // (8 * m * max(n_features, m))))


def angle_statistics(X, indices, centres=None, *, verbose=0):
    """``(nu, tau)`` of each point from the angles between its neighbour vectors.

    Parameters
    ----------
    X : ndarray of shape (n_reference, D)
        The points the indices refer to.
    indices : ndarray of shape (n, m)
        Each point's ``m`` nearest neighbours in ``X`` (the neighbour pass's output).
    centres : ndarray of shape (n, D), default=None
        The points themselves; ``None`` means ``X`` (a search of ``X`` against itself).

    The neighbour vectors are gathered a block of rows at a time (memory
    ``O(block * m * D)``) and their Gram matrices come from one batched GEMM
    in the data's precision (float32 data, as 8-bit images are kept, stay in
    float32: half the memory traffic, and cosines good to ~1e-6, far below
    the spread of the angles; anything else in float64): ``O(N m^2 D)``
    flops, no second search.
    """
    centres = X if centres is None else centres
    dtype = np.float32 if X.dtype == np.float32 and centres.dtype == np.float32 else np.float64
    n, m = indices.shape
    nu = np.empty(n)
    tau = np.empty(n)
    iu, ju = np.triu_indices(m, 1)
    step = _rows_per_block(m, X.shape[1])
    for start in progress(range(0, n, step), verbose=verbose, desc="DANCo angles"):
        rows = slice(start, min(start + step, n))
        V = torch.from_numpy(np.asarray(X[indices[rows]], dtype=dtype))
        V -= torch.from_numpy(np.asarray(centres[rows], dtype=dtype))[:, None, :]
        G = torch.bmm(V, V.transpose(1, 2)).numpy().astype(np.float64)
        norms = np.sqrt(np.einsum("bii->bi", G))
        cos = G[:, iu, ju] / (norms[:, iu] * norms[:, ju])
        nu[rows], tau[rows] = von_mises_fit(cos)
    return nu, tau


def _log_binomial(n, i):
    return gammaln(n + 1) - gammaln(i + 1) - gammaln(n - i + 1)


def kl_norms(dhat, dcal, m):
    """``KL_d`` between the laws of the MiND-ML estimates at ``dhat`` and at ``dcal``.

    ``m`` is the number of neighbours in the angles (``k - 1``).  The
    alternating binomial sum loses ``log10 C(m, m/2)`` digits, which is why
    ``k`` is limited (see ``MAX_K``).
    """
    q = np.asarray(dcal, dtype=np.float64) / dhat
    i = np.arange(m + 1)
    signs = np.where(i % 2 == 0, 1.0, -1.0)
    weights = signs * np.exp(_log_binomial(m, i))
    terms = (weights[None, :] * digamma(1 + i[None, :] / q[:, None])).sum(axis=1)
    harmonic = np.sum(1.0 / np.arange(1, m + 1))
    return harmonic * q - np.log(q) - (m - 1) * terms


def kl_von_mises(nu1, tau1, nu2, tau2):
    """KL divergence between von Mises laws ``(nu1, tau1)`` and ``(nu2, tau2)``."""
    log_ratio = np.log(i0e(tau2)) + tau2 - np.log(i0e(tau1)) - tau1
    return log_ratio + i1e(tau1) / i0e(tau1) * (tau1 - tau2 * np.cos(nu1 - nu2))


#: Largest ``k`` DANCo accepts: beyond it the alternating sum of ``KL_d`` loses
#: more than 5 of its 16 digits.
MAX_K = 41


def danco_divergence(observed, calibration, m):
    """Total divergence to each calibrated dimension.

    ``observed`` is ``(dhat, mu_nu, mu_tau)`` of the data; ``calibration`` a
    triple of arrays over the candidate dimensions.
    """
    dhat, mu_nu, mu_tau = observed
    cal_d, cal_nu, cal_tau = (np.asarray(a, dtype=np.float64) for a in calibration)
    return kl_norms(dhat, cal_d, m) + kl_von_mises(mu_nu, mu_tau, cal_nu, cal_tau)


def danco_dimension(observed, dims, calibration, m):
    """Real-valued DANCo estimate from the divergence at the integer dimensions ``dims``.

    The integer minimizer is refined by minimizing a not-a-knot cubic spline
    through the divergences on ``[d - 1, d + 1]``.
    """
    kl = danco_divergence(observed, calibration, m)
    best = int(np.argmin(kl))
    if dims.size < 4:
        return float(dims[best]), kl
    spline = CubicSpline(dims, kl)
    lo, hi = dims[max(best - 1, 0)], dims[min(best + 1, dims.size - 1)]
    res = minimize_scalar(spline, bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-6})
    d = res.x if spline(res.x) <= kl[best] else dims[best]
    return float(d), kl
