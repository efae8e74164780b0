"""Roots of the score of a concave one-parameter log-likelihood.

Every likelihood here (GRIDE, MiND-ML) is concave in ``d``: its score is
decreasing, positive as ``d -> 0`` and negative as ``d -> inf``, so the root is
unique.  ``scalar_root`` brackets it by doubling and hands it to Brent;
``pointwise_root`` solves one such equation per point at once by bisection in
``log d`` (vectorized, a fixed number of halvings, so its cost is known).
"""

import numpy as np
from scipy.optimize import brentq


def scalar_root(score, guess=1.0, *, xtol=1e-12):
    """Root of a decreasing ``score(d)`` on ``(0, inf)``, starting near ``guess``."""
    lo = hi = float(guess)
    while score(hi) > 0:
        hi *= 2.0
        if hi > 1e12:
            raise ValueError("the likelihood has no maximum below d = 1e12; the data are "
                             "degenerate (e.g. all ratios equal to 1).")
    while score(lo) < 0:
        lo /= 2.0
        if lo < 1e-12:
            return lo
    if lo == hi:
        return lo
    return brentq(score, lo, hi, xtol=xtol, rtol=4 * np.finfo(float).eps)


def pointwise_root(score, n_points, *, lo=1e-3, hi=1e4, n_halvings=60):
    """Elementwise roots of a decreasing ``score(d)`` (arrays of shape ``(n_points,)``).

    Bisection in ``log d`` between ``lo`` and ``hi``: 60 halvings of a factor
    ``1e7`` leave a relative error below ``1e-10``.  A root outside the
    bracket is returned as the nearest end (``inf`` above ``hi``).
    """
    a = np.full(n_points, np.log(lo))
    b = np.full(n_points, np.log(hi))
    above = score(np.exp(b)) > 0  # the score is still positive at hi: no finite root below it
    for _ in range(n_halvings):
        m = 0.5 * (a + b)
        positive = score(np.exp(m)) > 0
        a = np.where(positive, m, a)
        b = np.where(positive, b, m)
    root = np.exp(0.5 * (a + b))
    root[above] = np.inf
    return root
