"""The single k-nearest-neighbour engine shared by every estimator.

Exact search
    Rows of queries are processed in blocks.  For each block, squared distances to
    all reference points come from one float32 GEMM (torch, on CPU or CUDA), which
    is fast but can cancel for close points.  A search of a set against itself
    uses the symmetry of the distances: each square tile is computed once and
    feeds the candidates of the rows on both of its sides.  The ``k + margin`` best candidates
    of each row are then re-ranked with distances recomputed directly in float64,
    and a rigorous bound on the float32 error certifies that no point outside the
    candidates could have entered the top ``k``.  The rare rows that cannot be
    certified are searched again exhaustively in float64.  The result is exactly
    the float64 brute-force answer, with memory ``O(N k + block)``.

Approximate search
    pynndescent's NN-descent graph.  Its returned distances are recomputed in
    float64 as well, so only the *set* of neighbours is approximate.

Duplicates
    Exact duplicate rows make distance ratios infinite.  :func:`deduplicate`
    finds them by hashing rows and either drops them (with a warning giving the
    count) or raises.

Bichromatic search
    :func:`nearest_other_label` finds, for each query, the nearest reference
    point carrying a different label, which is what label sharpness needs.
"""

import warnings
from typing import NamedTuple

import numpy as np
import torch

from ._compute import progress, resolve_device, torch_threads
from ._validation import user_stacklevel

#: Above this many reference points, ``method="auto"`` switches to pynndescent.
#: Below it an exact pass takes well under a minute at D=784 on 2 cores and pays
#: no numba compilation (20-30 s per new process).
AUTO_APPROXIMATE_MIN_SAMPLES = 100_000

_F32_EPS = float(np.finfo(np.float32).eps) / 2  # unit roundoff u
_BLOCK_BYTES = 256 * 2**20  # float32 distance block held at once


class Neighbors(NamedTuple):
    """Sorted neighbour distances (float64) and indices (int64), each of shape (n_queries, k)."""

    distances: np.ndarray
    indices: np.ndarray


class DuplicateInfo(NamedTuple):
    """Which rows were kept; ``groups[i]`` is the kept row that row ``i`` duplicates."""

    keep: np.ndarray
    groups: np.ndarray
    n_duplicates: int


def _row_keys(X):
    # +0.0 turns -0.0 into 0.0 so that equal values hash to equal bytes
    X = np.ascontiguousarray(X + 0.0)
    return X.view(np.dtype((np.void, X.dtype.itemsize * X.shape[1]))).ravel()


def find_duplicates(X):
    """Locate exact duplicate rows of ``X`` (first occurrence kept).

    Returns
    -------
    info : DuplicateInfo
        ``keep`` are sorted indices of the first occurrence of each distinct row,
        ``groups[i]`` the index (into ``X``) of the first occurrence of row ``i``.
    """
    _, first, inverse = np.unique(_row_keys(X), return_index=True, return_inverse=True)
    groups = first[inverse.ravel()]
    keep = np.sort(first)
    return DuplicateInfo(keep=keep, groups=groups, n_duplicates=X.shape[0] - keep.size)


def deduplicate(X, policy="drop", *, name="X"):
    """Apply the duplicate ``policy`` ("drop" with a warning, or "raise") to the rows of ``X``.

    The warning points at the user's line that called the estimator.
    Returns the indices of the rows to keep and the number of dropped rows.
    """
    info = find_duplicates(X)
    if info.n_duplicates:
        dup = np.flatnonzero(info.groups != np.arange(X.shape[0]))
        example = f"row {dup[0]} repeats row {info.groups[dup[0]]}"
        if policy == "raise":
            raise ValueError(
                f"{name} contains {info.n_duplicates} exact duplicate rows ({example}). Duplicates "
                "have distance 0, which makes distance-ratio estimators infinite. Remove them, or "
                "pass duplicates='drop' to drop them automatically."
            )
        warnings.warn(
            f"Dropped {info.n_duplicates} exact duplicate rows of {name} ({example}); estimates use "
            f"the {info.keep.size} distinct rows. Pass duplicates='raise' to make this an error.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    return info.keep, info.n_duplicates


def _auto_block_rows(n_reference, block_size):
    if block_size is not None:
        return int(block_size)
    return int(max(32, min(4096, _BLOCK_BYTES // (4 * max(n_reference, 1)))))


def _as_float(A):
    """float32 and float64 arrays as they are (no copy); anything else as float64."""
    A = np.asarray(A)
    return A if A.dtype in (np.float32, np.float64) else A.astype(np.float64)


def _exact_store(A):
    """``A`` as float32 when that is lossless (images usually are), else float64.

    Re-ranking gathers rows of this array; subtracting two float32 rows in
    float64 is exact, and gathering half the bytes halves the re-rank time.
    """
    if A.dtype == np.float32:
        return A
    A32 = A.astype(np.float32)
    return A32 if np.array_equal(A32, A) else A


def _direct_sq_rows(Q, R, cand, chunk=16):
    """Float64 ``||Q[i] - R[cand[i, j]]||^2`` from differences, so nothing cancels."""
    out = np.empty(cand.shape)
    for s in range(0, Q.shape[0], chunk):
        diff = R[cand[s:s + chunk]].astype(np.float64)
        diff -= Q[s:s + chunk, None, :]
        out[s:s + chunk] = np.einsum("ijk,ijk->ij", diff, diff)
    return out


def _direct_sq(Q, R, chunk=16):
    """Float64 squared distances between all rows of ``Q`` and all rows of ``R``, from differences."""
    out = np.empty((Q.shape[0], R.shape[0]))
    for s in range(0, R.shape[0], 4096):
        cols = np.arange(s, min(s + 4096, R.shape[0]))
        out[:, cols] = _direct_sq_rows(Q, R, np.broadcast_to(cols, (Q.shape[0], cols.size)), chunk)
    return out


class _GemmIndex:
    """Reference points prepared for the blocked float32 GEMM pass.

    The points are centred first: distances do not change, but the norms, and
    with them the float32 error bound, shrink.
    """

    def __init__(self, R, device, chunk=8192):
        self.center = R.mean(axis=0, dtype=np.float64)
        # centred in float64 chunk by chunk: no full-size float64 temporary
        R32 = np.empty(R.shape, dtype=np.float32)
        sq = np.empty(R.shape[0])
        for s in range(0, R.shape[0], chunk):
            Rc = R[s:s + chunk] - self.center
            R32[s:s + chunk] = Rc
            sq[s:s + chunk] = np.einsum("ij,ij->i", Rc, Rc)
        self.norms = np.sqrt(sq)
        self.max_norm = float(self.norms.max()) if R.shape[0] else 0.0
        self.device = device
        self.R32 = torch.from_numpy(R32).to(device)
        self.sq32 = torch.from_numpy(sq.astype(np.float32)).to(device)
        # |fl32(||q-x||^2) - ||q-x||^2| <= err_coef * (|q| + |x|)^2: the length-D dot
        # product (gamma_D |q||x|), rounding the inputs and norms to float32, two additions.
        self.err_coef = (2 * R.shape[1] + 12) * _F32_EPS

    def block(self, Q):
        """Approximate squared distances (torch, float32) and their per-row error bound."""
        Qc = Q - self.center
        q_sq = np.einsum("ij,ij->i", Qc, Qc)
        Q32 = torch.from_numpy(Qc.astype(np.float32)).to(self.device)
        d2 = torch.addmm(self.sq32[None, :], Q32, self.R32.T, alpha=-2.0)
        d2 += torch.from_numpy(q_sq.astype(np.float32)).to(self.device)[:, None]
        err = self.err_coef * (np.sqrt(q_sq) + self.max_norm) ** 2
        return d2, err


def _row_candidates(index, Q, m, block, *, verbose, desc):
    """Yield ``(start, stop, approx, cand, err)``: each query row's ``m`` best candidates."""
    starts = range(0, Q.shape[0], block)
    for start in progress(starts, verbose=verbose, desc=desc, total=len(starts)):
        stop = min(start + block, Q.shape[0])
        d2, err = index.block(Q[start:stop])
        vals, cand = torch.topk(d2, m, dim=1, largest=False, sorted=True)
        yield start, stop, vals.cpu().numpy().astype(np.float64), cand.cpu().numpy(), err


def _merge_candidates(vals, cand, rows, d2, offset, m):
    """Fold the ``m`` best of each row of ``d2`` (columns from ``offset``) into ``vals, cand``."""
    v, j = torch.topk(d2, min(m, d2.shape[1]), dim=1, largest=False)
    v = torch.cat([vals[rows], v], 1)
    j = torch.cat([cand[rows], j + offset], 1)
    v, pos = torch.topk(v, m, dim=1, largest=False, sorted=True)
    vals[rows] = v
    cand[rows] = torch.gather(j, 1, pos)


def _symmetric_candidates(index, m, tile, *, verbose, desc):
    """Self-search candidates with half the GEMM work.

    The distance matrix is symmetric, so each tile ``d2(I, J)`` with ``J >= I``
    is computed once and feeds the running top-``m`` of the rows of ``I`` and,
    transposed, of the rows of ``J``.  A point dropped from a row's running set
    was no closer (in float32) than every point kept then, and the kept values
    only decrease, so every non-candidate is at least the final ``m``-th value:
    the certification in :func:`_search_exact` holds unchanged.
    """
    n = index.R32.shape[0]
    device = index.R32.device
    vals = torch.full((n, m), float("inf"), device=device)
    cand = torch.full((n, m), -1, dtype=torch.int64, device=device)
    starts = range(0, n, tile)
    tiles = [(a, b) for a in starts for b in starts if b >= a]
    for a, b in progress(tiles, verbose=verbose, desc=desc, total=len(tiles)):
        I, J = slice(a, min(a + tile, n)), slice(b, min(b + tile, n))
        d2 = torch.addmm(index.sq32[None, J], index.R32[I], index.R32[J].T, alpha=-2.0)
        d2 += index.sq32[I, None]
        if a == b:
            d2.fill_diagonal_(float("inf"))
        _merge_candidates(vals, cand, I, d2, b, m)
        if a != b:
            # top-k along rows of a contiguous copy is 2-3x faster than along columns
            _merge_candidates(vals, cand, J, d2.T.contiguous(), a, m)
    err = index.err_coef * (index.norms + index.max_norm) ** 2
    vals = vals.cpu().numpy().astype(np.float64)
    cand = cand.cpu().numpy()
    for start in range(0, n, tile):
        stop = min(start + tile, n)
        yield start, stop, vals[start:stop], cand[start:stop], err[start:stop]


def _search_exact(R, Q, k, *, self_mode, exclude_zero, device, block_size, verbose, desc):
    """Exact kNN of the rows of ``Q`` among the rows of ``R`` (float32 or float64 arrays)."""
    n_q, n_r = Q.shape[0], R.shape[0]
    index = _GemmIndex(R, device)
    R_exact = _exact_store(R)
    Q_exact = R_exact if self_mode else _exact_store(Q)
    n_excluded = 1 if (self_mode or exclude_zero) else 0
    m = min(n_r, k + n_excluded + max(4, k // 5))
    out_d = np.empty((n_q, k))
    out_i = np.empty((n_q, k), dtype=np.int64)
    if self_mode:
        # square tiles: a float32 tile and its transposed copy take at most 2 x 64 MiB
        tile = int(block_size or min(n_r, 4096))
        blocks = _symmetric_candidates(index, m, tile, verbose=verbose, desc=desc)
    else:
        blocks = _row_candidates(index, Q, m, _auto_block_rows(n_r, block_size), verbose=verbose,
                                 desc=desc)
    for start, stop, vals, cand, err in blocks:
        rows = np.arange(start, stop)
        missing = cand < 0  # unfilled slots, only when m exceeds the points a row can see
        cand = np.where(missing, 0, cand)
        exact = _direct_sq_rows(Q_exact[start:stop], R_exact, cand)
        exact[missing] = np.inf
        if self_mode:
            exact[cand == rows[:, None]] = np.inf
        if exclude_zero:
            exact[exact == 0.0] = np.inf
        order = _argsort_rows(exact, cand)
        exact = np.take_along_axis(exact, order, 1)
        cand = np.take_along_axis(cand, order, 1)
        kth = exact[:, k - 1]
        # Certification: a point outside the candidates has approx >= vals[:, -1], so its
        # true squared distance is >= vals[:, -1] - err.  When that bound is strictly above
        # the k-th candidate, no outsider can enter the top k, not even as a tie (ties are
        # broken by index).  Uncertified rows are searched again in float64.
        ok = np.isfinite(kth) & ((m == n_r) | (vals[:, -1] - err > kth))
        for r in np.flatnonzero(~ok):
            full = _direct_sq(Q_exact[start + r:start + r + 1], R_exact)[0]
            if self_mode:
                full[start + r] = np.inf
            if exclude_zero:
                full[full == 0.0] = np.inf
            idx = np.lexsort((np.arange(n_r), full))[:k]
            exact[r, :k] = full[idx]
            cand[r, :k] = idx
        out_d[start:stop] = np.sqrt(exact[:, :k])
        out_i[start:stop] = cand[:, :k]
    if not np.all(np.isfinite(out_d)):
        raise ValueError(
            f"Fewer than k={k} valid neighbours are available for some queries "
            f"({n_r} reference points). Use a smaller k or more samples."
        )
    return out_d, out_i


def _argsort_rows(values, tiebreak):
    # sort by value, ties by index, so that results do not depend on block boundaries
    return np.lexsort((tiebreak, values), axis=-1)


def _search_approximate(R64, Q64, k, *, self_mode, exclude_zero, random_state, n_jobs, verbose):
    import pynndescent  # noqa: PLC0415  (numba compile cost paid only on request)

    extra = 1 if (self_mode or exclude_zero) else 0
    n_neighbors = min(R64.shape[0], k + extra + 5)
    seed = random_state if isinstance(random_state, (int, np.integer)) or random_state is None \
        else int(random_state.randint(np.iinfo(np.int32).max))
    index = pynndescent.NNDescent(
        R64.astype(np.float32), n_neighbors=n_neighbors, random_state=seed,
        n_jobs=-1 if n_jobs is None else n_jobs, verbose=bool(verbose),
    )
    if self_mode:
        cand, _ = index.neighbor_graph
    else:
        cand, _ = index.query(Q64.astype(np.float32), k=n_neighbors)
    cand = np.asarray(cand, dtype=np.int64)
    valid = cand >= 0
    cand = np.where(valid, cand, 0)
    exact = _direct_sq_rows(_exact_store(Q64), _exact_store(R64), cand)
    exact[~valid] = np.inf
    if self_mode:
        exact[cand == np.arange(Q64.shape[0])[:, None]] = np.inf
    if exclude_zero:
        exact[exact == 0.0] = np.inf
    order = _argsort_rows(exact, cand)
    exact = np.take_along_axis(exact, order, 1)[:, :k]
    cand = np.take_along_axis(cand, order, 1)[:, :k]
    if not np.all(np.isfinite(exact)):
        raise ValueError(
            f"The approximate search returned fewer than k={k} neighbours for some points; use "
            "neighbors='exact' or a smaller k."
        )
    return np.sqrt(exact), cand


def resolve_method(method, n_reference):
    """Turn ``"auto"`` into ``"exact"`` or ``"approximate"`` (see AUTO_APPROXIMATE_MIN_SAMPLES)."""
    if method == "auto":
        return "approximate" if n_reference >= AUTO_APPROXIMATE_MIN_SAMPLES else "exact"
    if method not in ("exact", "approximate"):
        raise ValueError(f"method must be 'exact', 'approximate' or 'auto', got {method!r}.")
    return method


def kneighbors(X, k, *, query=None, method="exact", exclude_zero=None, device="cpu",
               block_size=None, random_state=None, n_jobs=None, verbose=0):
    """The ``k`` nearest neighbours in ``X`` of each row of ``query`` (default: of ``X`` itself).

    Parameters
    ----------
    X : ndarray of shape (n_reference, D)
        Reference points.  Callers remove exact duplicates first (:func:`deduplicate`).
    k : int
        Number of neighbours.
    query : ndarray of shape (n_queries, D), default=None
        Query points.  ``None`` searches ``X`` against itself, excluding each point.
    method : {"exact", "approximate", "auto"}, default="exact"
    exclude_zero : bool, default=None
        Skip reference points at distance exactly 0 (a query equal to a fitted
        point).  Defaults to True when ``query`` is given.
    device : str or torch.device, default="cpu"
        Where the GEMM of the exact search runs.
    block_size : int, default=None
        Query rows per block; by default sized so that one float32 block of
        distances takes at most 256 MiB.
    random_state : int, RandomState instance or None
        Seeds the approximate search.
    n_jobs : int, default=None
        Threads (torch for exact, numba for approximate).
    verbose : int, default=0
        Show a progress bar over blocks.

    Returns
    -------
    neighbors : Neighbors
        ``distances`` (float64, ascending) and ``indices`` into ``X``, shape (n_queries, k).
    """
    X = _as_float(X)
    self_mode = query is None
    Q = X if self_mode else _as_float(query)
    if exclude_zero is None:
        exclude_zero = not self_mode
    available = X.shape[0] - (1 if self_mode else 0)
    if k < 1 or k > available:
        raise ValueError(
            f"k={k} neighbours were requested but only {available} other points are available; "
            f"use 1 <= k <= {available} or provide more samples."
        )
    method = resolve_method(method, X.shape[0])
    if method == "approximate":
        d, i = _search_approximate(X, Q, k, self_mode=self_mode, exclude_zero=exclude_zero,
                                   random_state=random_state, n_jobs=n_jobs, verbose=verbose)
    else:
        with torch_threads(n_jobs), torch.no_grad():
            d, i = _search_exact(X, Q, k, self_mode=self_mode, exclude_zero=exclude_zero,
                                 device=resolve_device(device), block_size=block_size,
                                 verbose=verbose, desc="kNN")
    return Neighbors(d, i)


def nearest_other_label(X, labels, *, query=None, query_labels=None, device="cpu",
                        block_size=None, n_jobs=None, verbose=0, one_sided=False):
    """Nearest reference point with a *different* label, for each query (bichromatic 1-NN).

    Parameters
    ----------
    X : ndarray of shape (n, D)
    labels : ndarray of shape (n,)
        Integer class codes of the rows of ``X``.
    query, query_labels : ndarrays, default=None
        Queries and their labels; ``None`` uses ``X`` and ``labels``.
    one_sided : bool, default=False
        Only meaningful without ``query``: search each class against the classes
        with a larger code only.  Every bichromatic pair is still examined once,
        so the global closest pair is found with about half the work; per-point
        results are then only valid for the global minimum.

    Returns
    -------
    neighbors : Neighbors
        Shape (n_queries, 1); distance ``inf`` and index -1 where no other label
        exists (one-sided mode, last class).
    """
    X = _as_float(X)
    labels = np.asarray(labels)
    self_mode = query is None
    Q = X if self_mode else _as_float(query)
    q_labels = labels if self_mode else np.asarray(query_labels)
    classes = np.unique(labels)
    if classes.size < 2:
        raise ValueError(
            "Bichromatic search needs at least two distinct labels in the reference set; "
            f"got only {classes.tolist()}."
        )
    dist = np.full(Q.shape[0], np.inf)
    ind = np.full(Q.shape[0], -1, dtype=np.int64)
    device = resolve_device(device)
    with torch_threads(n_jobs), torch.no_grad():
        for c in progress(np.unique(q_labels), verbose=verbose, desc="bichromatic"):
            q_rows = np.flatnonzero(q_labels == c)
            ref_mask = labels > c if (one_sided and self_mode) else labels != c
            ref_rows = np.flatnonzero(ref_mask)
            if ref_rows.size == 0:
                continue
            d, i = _search_exact(X[ref_rows], Q[q_rows], 1, self_mode=False,
                                 exclude_zero=False, device=device, block_size=block_size,
                                 verbose=0, desc="")
            dist[q_rows] = d[:, 0]
            ind[q_rows] = ref_rows[i[:, 0]]
    return Neighbors(dist[:, None], ind[:, None])


def iter_sq_distance_blocks(X, *, query=None, device="cpu", block_size=None, n_jobs=None,
                            verbose=0):
    """Yield ``(start, stop, d2_approx, err)`` blocks of float32 squared distances, query rows × X.

    ``err[r]`` bounds ``|d2_approx[r, j] - ||q_r - x_j||^2|`` for every ``j``, so
    callers doing exact all-pairs passes (e.g. real-valued label sharpness) can
    prune with the fast float32 block and recompute only the few candidates that
    the bound cannot rule out, in float64 via :func:`exact_sq_distances`.

    Use :func:`exact_sq_distances` for the float64 values of chosen pairs.
    """
    X = _as_float(X)
    Q = X if query is None else _as_float(query)
    index = _GemmIndex(X, resolve_device(device))
    block = _auto_block_rows(X.shape[0], block_size)
    starts = range(0, Q.shape[0], block)
    with torch_threads(n_jobs), torch.no_grad():
        for start in progress(starts, verbose=verbose, desc="pairs", total=len(starts)):
            stop = min(start + block, Q.shape[0])
            d2, err = index.block(Q[start:stop])
            yield start, stop, d2.cpu().numpy(), err


def exact_sq_distances(A, B):
    """Float64 squared distances between matched rows ``A[i]`` and ``B[i]``, by differences."""
    diff = np.asarray(A, dtype=np.float64) - np.asarray(B, dtype=np.float64)
    return np.einsum("ij,ij->i", diff, diff)
