"""Exact row maxima of label-gap over distance ratios, for real-valued label sharpness.

Shared by :class:`~skintrinsic.LabelSharpness` (in memory) and the out-of-core pass of
:mod:`skintrinsic._distributed` (one tile at a time): float32 distance blocks with
rigorous error bounds prune the pairs, and the few that could be a row's maximum are
recomputed in float64.
"""

import numpy as np

BLOCK_BYTES = 16 * 2**20  # float32 distance block; the float64 temporaries are a few times this
GATHER_PAIRS = 4096  # candidate pairs whose float64 distances are computed at once
SLACK = 1e-9  # relative margin on the float64 bound comparisons (their own rounding is ~1e-16)


def block_rows(n_reference):
    return int(max(16, min(4096, BLOCK_BYTES // (4 * max(n_reference, 1)))))


def pair_sq_distances(pairs, rows_q, rows_x):
    """Float64 squared distances (frame units) of matched pairs, a bounded number at once."""
    out = np.empty(rows_q.size)
    for s in range(0, rows_q.size, GATHER_PAIRS):
        sl = slice(s, s + GATHER_PAIRS)
        out[sl] = pairs.exact(rows_q[sl], rows_x[sl])
    return out


def first_max_per_row(row, value, col, n_rows):
    """For each row, the position (in ``row``) of its largest ``value``, the smallest ``col``
    among ties; -1 for rows with no entry."""
    order = np.lexsort((col, -value, row))
    first = np.flatnonzero(np.r_[True, row[order][1:] != row[order][:-1]])
    pos = np.full(n_rows, -1, dtype=np.int64)
    pos[row[order][first]] = order[first]
    return pos


def row_maxima(pairs, y_query, y_ref, *, same_rows, verbose=0):
    """Each query row's largest exact squared ratio ``(y_i - y_j)^2 / ||x_i - x_j||^2``.

    Each float32 block of squared distances comes with a bound ``err`` on its
    error, so ``dy^2 / (d2 + err)`` and ``dy^2 / (d2 - err)`` bracket every
    squared ratio.  The largest lower bound of a row is attained by some pair,
    so only the pairs whose upper bound reaches it can be the row's maximum;
    those few are recomputed exactly in float64.  Memory is one block.
    ``same_rows``: the queries are the references (the pair of a row with
    itself is left out).  Returns the ratios, the maximizing columns (the
    smallest among ties) and their exact squared distances (frame units).
    """
    n = pairs.Q.shape[0]
    best = np.full(n, -np.inf)
    arg = np.full(n, -1, dtype=np.int64)
    best_d2 = np.full(n, np.inf)
    for start, stop, d2, err in pairs.blocks(block_rows(pairs.X.shape[0]), verbose=verbose):
        diag = (np.arange(stop - start), np.arange(start, stop)) if same_rows else None
        dy2 = np.subtract.outer(y_query[start:stop], y_ref)
        np.square(dy2, out=dy2)
        # lower bounds on the squared ratios; d2 + err >= the true squared distance > 0
        # off the diagonal, where dy2 is 0 and the denominator is set to 1
        work = d2 + err
        if same_rows:
            work[diag] = 1.0
        np.divide(dy2, work, out=work)
        floor = work.max(axis=1, keepdims=True)
        # a pair is a candidate unless its upper bound dy2 / (d2 - err) is below the floor
        d2 -= err
        d2 *= floor
        if same_rows:
            d2[diag] = np.inf
        np.multiply(dy2, 1 + SLACK, out=work)
        r, c = np.nonzero(work >= d2)
        exact = pair_sq_distances(pairs, r + start, c)
        ratio2 = dy2[r, c] / exact
        pos = first_max_per_row(r, ratio2, c, stop - start)
        found = pos >= 0
        rows = np.arange(start, stop)[found]
        best[rows], arg[rows], best_d2[rows] = ratio2[pos[found]], c[pos[found]], \
            exact[pos[found]]
    return best, arg, best_d2
