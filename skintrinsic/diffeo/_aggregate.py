"""The two published ways of turning feature differences into D and G: mean (T23) and median (P21).

All sums run in float64.  No function here builds a P x P matrix: pair
statistics are either closed forms (mean) or a blocked selection (median).
"""

import numpy as np
from sklearn.utils import check_random_state


def mean_pair_distance(F):
    """Mean of ``||F_i - F_j||^2`` over all ``P^2`` ordered pairs, diagonal included.

    In closed form, ``2 (mean ||F_i||^2 - ||mean F||^2) = 2 mean ||F_i - mean F||^2``;
    the centred form avoids cancellation.
    """
    F = np.asarray(F, dtype=np.float64)
    centred = F - F.mean(axis=0)
    return 2.0 * np.einsum("ij,ij->", centred, centred) / F.shape[0]


def mean_numerator(F, F_perturbed):
    """Mean over samples of ``||F'_i - F_i||^2`` (T23)."""
    diff = np.asarray(F_perturbed, dtype=np.float64) - np.asarray(F, dtype=np.float64)
    return np.einsum("ij,ij->", diff, diff) / diff.shape[0]


def median_numerator(F, F_perturbed):
    """Per component, the median over samples of ``(F'_ik - F_ik)^2``; then the sum (P21)."""
    diff = np.asarray(F_perturbed, dtype=np.float64) - np.asarray(F, dtype=np.float64)
    return float(np.median(diff * diff, axis=0).sum())


def _upper_blocks(F, norms, block):
    """Yield the squared distances ``||F_i - F_j||^2``, ``i < j``, one block of rows at a time."""
    P = F.shape[0]
    for start in range(0, P - 1, block):
        stop = min(start + block, P)
        rows = F[start:stop]
        d2 = norms[start:stop, None] + norms[None, start + 1:] - 2.0 * rows @ F[start + 1:].T
        np.maximum(d2, 0.0, out=d2)  # rounding can make a tiny distance negative
        # row i of the block keeps the columns j > i
        keep = np.arange(start + 1, P)[None, :] > np.arange(start, stop)[:, None]
        yield d2[keep]


def median_pair_distance(F, *, block=256, max_sample=2**18, random_state=None):
    """Median of ``||F_i - F_j||^2`` over all ``P^2`` ordered pairs, diagonal included (P21).

    The ``P^2`` values are ``P`` zeros (the diagonal) and each of the
    ``M = P (P - 1) / 2`` distances ``i < j`` twice, so the median is read from
    order statistics of the ``M`` distances.  When ``M <= max_sample`` they are
    all kept (one pass).  Otherwise a first pass keeps a uniform sample of
    ``max_sample`` of them, whose quantiles bracket the wanted ranks, and a
    second pass counts the distances below the bracket and keeps those inside;
    the result is exact in both cases.  Memory is ``O(P * block + max_sample)``
    plus the bracket contents (about ``4 M / sqrt(max_sample)`` values).

    Parameters
    ----------
    F : ndarray of shape (P, n_features)
    block : int, default=256
        Rows per block of the pair computation.
    max_sample : int, default=2**18
    random_state : int, RandomState instance or None, default=None
        Only picks the sample; the result does not depend on it.

    Returns
    -------
    median : float
    """
    F = np.asarray(F, dtype=np.float64)
    P = F.shape[0]
    total = P * P
    ranks = sorted({(total - 1) // 2, total // 2})
    # rank r of the full multiset: 0 if r < P, else the ((r - P) // 2)-th smallest i < j distance
    wanted = [(r - P) // 2 for r in ranks if r >= P]
    values = {}
    if wanted:
        picked = _order_statistics(F, wanted, block=block, max_sample=max_sample,
                                   random_state=random_state)
        values = dict(zip(wanted, picked))
    return float(np.mean([values[(r - P) // 2] if r >= P else 0.0 for r in ranks]))


def _order_statistics(F, wanted, *, block, max_sample, random_state):
    """The ``wanted`` order statistics (0-based) of the ``i < j`` squared distances."""
    rng = check_random_state(random_state)
    P = F.shape[0]
    M = P * (P - 1) // 2
    norms = np.einsum("ij,ij->i", F, F)
    if M <= max_sample:
        everything = np.concatenate(list(_upper_blocks(F, norms, block)))
        everything.sort()
        return [everything[t] for t in wanted]
    # pass 1: a uniform sample (each block contributes in proportion to its size)
    parts = []
    for chunk in _upper_blocks(F, norms, block):
        take = rng.binomial(chunk.size, max_sample / M)
        parts.append(rng.choice(chunk, size=min(take, chunk.size), replace=False))
    sample = np.sort(np.concatenate(parts))
    s = sample.size
    q = (np.array(wanted, dtype=np.float64) + 0.5) / M
    margin = 4.0 * np.sqrt(q * (1 - q) / s) + 2.0 / s
    lo_q, hi_q = q.min() - margin.max(), q.max() + margin.max()
    lo = sample[int(np.floor(lo_q * s))] if lo_q > 0 else -np.inf
    hi = sample[min(int(np.ceil(hi_q * s)), s - 1)] if hi_q < 1 else np.inf
    while True:
        # pass 2: how many lie below the bracket, and what lies inside it
        below = 0
        inside = []
        for chunk in _upper_blocks(F, norms, block):
            below += int(np.count_nonzero(chunk < lo))
            inside.append(chunk[(chunk >= lo) & (chunk <= hi)])
        inside = np.sort(np.concatenate(inside))
        if below <= min(wanted) and max(wanted) < below + inside.size:
            return [inside[t - below] for t in wanted]
        # the sample missed (probability ~ 1e-4): open the bracket on the side that failed
        if below > min(wanted):
            lo = -np.inf
        else:
            hi = np.inf
