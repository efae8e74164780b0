"""MiND-ML (Rozza, Lombardi, Ceruti, Casiraghi & Campadelli 2012).

Each point contributes ``rho = T_1 / T_k``, the ratio of its nearest and its
``k``-th neighbour distances.  Given ``T_k``, the ``k - 1`` nearer neighbours
of a point where the density is locally uniform are uniform in the ball of
radius ``T_k``, so ``rho^d`` is the smallest of ``k - 1`` uniform variables:
``Beta(1, k - 1)``.  Hence the density

    f(rho) = (k - 1) d rho^(d - 1) (1 - rho^d)^(k - 2),   0 < rho < 1,

and the MiND-MLk estimate maximizes ``sum log f`` over real ``d``.  The
log-likelihood is concave in ``d`` (``log(1 - rho^d)`` is), so the root of its
score is unique and is solved for directly.

scikit-dimension's ``MiND_ML(k=K)`` searches ``K + 1`` neighbours and writes
``K`` where we write ``k - 1``: it is ours with ``k = K + 1``.  It maximizes
with L-BFGS-B inside ``(0, D)`` (``D = 10`` by default) from the best integer;
we solve the score equation without an upper bound.
"""

import numpy as np

from ._roots import pointwise_root, scalar_root


def mind_ml_dimension(log_rho, k):
    """MiND-MLk estimate from the per-point ``log(T_1 / T_k)`` (all < 0)."""
    L = np.asarray(log_rho, dtype=np.float64)
    n = L.size
    total = L.sum()

    def score(d):
        # rho^d / (1 - rho^d) = 1 / expm1(-d log rho)
        with np.errstate(over="ignore"):
            return n / d + total - (k - 2) * np.sum(L / np.expm1(-d * L))

    return float(scalar_root(score, guess=-1.0 / np.mean(L)))


def mind_ml_local(log_rho, k):
    """One-point MiND-ML estimates; ``inf`` where ``T_1 = T_k`` (``log rho = 0``)."""
    L = np.asarray(log_rho, dtype=np.float64)
    flat = L >= 0
    Ls = np.where(flat, -1.0, L)

    def score(d):
        with np.errstate(over="ignore"):  # rho^d underflows to 0: the term vanishes
            return 1.0 / d + Ls - (k - 2) * Ls / np.expm1(-d * Ls)

    local = pointwise_root(score, Ls.size)
    local[flat] = np.inf
    return local
