"""The single k-nearest-neighbour engine shared by every estimator.

Exact search, in three steps
    1. *Candidates.*  Rows are shifted by their mean and scaled by a power of
       two (distances are translation-invariant, and a power-of-two scale is
       exact), then squared distances come from float32 GEMMs (torch, on CPU or
       CUDA) over column chunks of at most ``_CHUNK`` features.  A search of a
       set against itself uses the symmetry of the distances: each tile of rows
       is computed once and feeds the running top ``m`` of the rows on both of
       its sides.  Pairs that must not be neighbours (the point itself, the same
       label in a bichromatic search) are masked in the tile.
    2. *Exact values.*  The ``m = k + margin`` candidates of each row are
       re-ranked with float64 distances computed from differences
       (:mod:`skintrinsic._kernels`), exactly as a float64 brute force would.
    3. *Certificate.*  Each row gets its own rigorous bound on the float32
       error, from its norm and from the norms of the points that could still
       be nearer (the others are ruled out by the reverse triangle
       inequality).  When every non-candidate is provably farther than the
       ``k``-th exact distance, the row is done.  The few rows that are not
       are searched again in the same way in float64 (a batched float64 GEMM),
       and the rare ones left after that (exact ties past the candidates)
       exhaustively from differences.

    The result is the float64 brute-force answer (ties broken by index) at any
    finite scale, with memory ``O(N k)`` plus one tile.  A float32 input is
    never copied to float64; a float64 input is read once into a float32 copy
    (half its size) for the GEMM.

Approximate search
    pynndescent's NN-descent graph.  Its returned distances are recomputed in
    float64 as well, so only the *set* of neighbours is approximate.

Duplicates
    Exact duplicate rows make distance ratios infinite.  :func:`find_duplicates`
    hashes the rows (O(N D)) and confirms equality only within a hash bucket;
    :func:`deduplicate` drops them (with a warning giving the count) or raises.

Bichromatic search
    :func:`nearest_other_label` finds, for each query, the nearest reference
    point carrying a different label, from one pass over all pairs (the
    same-label pairs are masked), which is what label sharpness needs.
"""

import contextlib
import math
import warnings
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils import check_array
from sklearn.utils._param_validation import Integral, Interval, validate_params

from ._compute import progress, resolve_device, torch_threads
from ._kernels import (
    column_stats,
    merge_rows,
    numba_threads,
    pair_sq_distances,
    row_hashes,
    shifted_block,
    shifted_sq_norms,
)
from ._validation import user_stacklevel

#: Above this many reference points, ``method="auto"`` switches to pynndescent.
#: Below it an exact pass takes well under a minute at D=784 on 2 cores and pays
#: no numba compilation (20-30 s per new process).
AUTO_APPROXIMATE_MIN_SAMPLES = 100_000

_U32 = 2.0**-24  # unit roundoff of float32
_U64 = 2.0**-53
#: Features summed by one GEMM call.  The float32 error bound grows with it
#: (gamma_chunk); the cost of adding the partial products grows with 1 / it.
_CHUNK = 4096
#: float32 tile of distances held at once (plus its transposed copy)
_TILE_BYTES = 64 * 2**20
#: Rows of a float64 re-search done in one batch (their float64 copy is held).
_RESCUE_BYTES = 64 * 2**20
SHIFT_GAIN = 4.0
_LARGEST = float(np.finfo(np.float64).max)
#: Below this largest value, 1 / distance can overflow and the frame's scale 2**-exp could not
#: be held in float64.
_SMALLEST = 2.0**-1000


class Neighbors(NamedTuple):
    """Sorted neighbour distances (float64) and indices (int64), each of shape (n_queries, k)."""

    distances: np.ndarray
    indices: np.ndarray


class DuplicateInfo(NamedTuple):
    """Which rows were kept; ``groups[i]`` is the kept row that row ``i`` duplicates."""

    keep: np.ndarray
    groups: np.ndarray
    n_duplicates: int


# -- duplicates --------------------------------------------------------------------------------

def find_duplicates(X):
    """Locate exact duplicate rows of ``X`` (first occurrence kept), in O(N D).

    Rows are hashed; equality is then confirmed within each bucket of equal
    hashes only, so a hash collision can never merge two different rows.

    Returns
    -------
    info : DuplicateInfo
        ``keep`` are sorted indices of the first occurrence of each distinct row,
        ``groups[i]`` the index (into ``X``) of the first occurrence of row ``i``.
    """
    if getattr(X, "blocked", False):  # out-of-core rows: hash, shuffle, confirm (dask)
        return X.find_duplicates()
    n = X.shape[0]
    groups = np.arange(n)
    hashes = row_hashes(X)
    order = np.argsort(hashes, kind="stable")  # within a bucket, rows stay in index order
    sorted_h = hashes[order]
    starts = np.flatnonzero(np.r_[True, sorted_h[1:] != sorted_h[:-1]])
    sizes = np.diff(np.r_[starts, n])
    for s in starts[sizes > 1]:
        bucket = order[s:s + np.searchsorted(sorted_h[s:], sorted_h[s], side="right")]
        pending = list(bucket)
        while pending:
            first, rest = pending[0], pending[1:]
            same = [r for r in rest if np.array_equal(X[first], X[r])]
            groups[same] = first
            pending = [r for r in rest if groups[r] == r]
    keep = np.flatnonzero(groups == np.arange(n))
    return DuplicateInfo(keep=keep, groups=groups, n_duplicates=n - keep.size)


def apply_duplicate_policy(info, policy="drop", *, name="X"):
    """Raise (``policy="raise"``) or warn with the count (``"drop"``) when ``info`` has duplicates.

    The warning points at the user's line that called the estimator.
    """
    if not info.n_duplicates:
        return
    dup = np.flatnonzero(info.groups != np.arange(info.groups.size))
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


def deduplicate(X, policy="drop", *, name="X"):
    """Find the duplicate rows of ``X`` and apply ``policy``; return the :class:`DuplicateInfo`."""
    info = find_duplicates(X)
    apply_duplicate_policy(info, policy, name=name)
    return info


def compact(A):
    """A float64 array as float32 when that loses nothing (8-bit images, say): half the memory.

    Exact distances are computed from differences in float64 either way.
    """
    if getattr(A, "blocked", False):
        return A.compact()
    if A.dtype != np.float64 or not A.size or _abs_max(A) >= float(np.finfo(np.float32).max):
        return A
    A32 = A.astype(np.float32)
    return A32 if np.array_equal(A32, A) else A


def take_rows(X, rows):
    """``X[rows]``, but ``X`` itself (no copy) when ``rows`` selects every row in order."""
    rows = np.asarray(rows)
    if rows.size == X.shape[0] and (rows.size == 0 or (rows[0] == 0 and rows[-1] == rows.size - 1)):
        return X
    return X[rows]


# -- the frame: how rows are shifted and scaled before the GEMM --------------------------------

def as_float(A):
    """float32 and float64 arrays as they are (no copy); anything else as float64."""
    A = np.asarray(A)
    return A if A.dtype in (np.float32, np.float64) else A.astype(np.float64)


def _row_chunks(n, D, itemsize=8, target=64 * 2**20):
    step = max(1, target // max(1, D * itemsize))
    return [slice(s, min(s + step, n)) for s in range(0, n, step)]


def _abs_max(A):
    return max(float(A.max()), -float(A.min())) if A.size else 0.0


class _Frame(NamedTuple):
    """Rows enter the GEMM as ``(x - center) * 2**-exp``; distances are reported in these units."""

    center: np.ndarray  # float64, or None for no shift
    exp: int

    @property
    def scale(self):
        return math.ldexp(1.0, -self.exp)

    def to_user(self, distances):
        """Distances from frame units back to the user's units (exact: a power of two)."""
        return np.ldexp(distances, self.exp)


def _make_frame(R, Q=None, *, shift=True):
    """The frame for a search among the rows of ``R`` (and queries ``Q``).

    Raises before any work when distances of these values cannot be held in
    float64.
    """
    amax, sums, squares = column_stats(R, 1.0)
    if Q is not None:
        amax = max(amax, _abs_max(Q))
    float32 = R.dtype == np.float32 and (Q is None or Q.dtype == np.float32)
    return frame_from_stats(amax, sums, squares, R.shape[0], R.shape[1],
                            rescaled=lambda scale: column_stats(R, scale)[1:],
                            float32=float32, shift=shift)


def frame_from_stats(amax, sums, squares, n, D, *, rescaled, float32, shift=True):
    """The frame from one pass of column statistics (:func:`column_stats` at scale 1).

    ``rescaled(scale)`` returns ``(sums, squares)`` of the rows times ``scale``,
    needed only when the unscaled sums could have overflowed or underflowed.
    Row blocks may be scanned separately and their statistics added: the frame
    then differs from a one-pass one in rounding only, which moves the GEMM's
    approximations, never the certified result.
    """
    if not np.isfinite(amax):
        raise ValueError("X contains NaN or infinity; pass finite values.")
    if amax * 2 * math.sqrt(max(D, 1)) >= _LARGEST:
        raise ValueError(
            f"X has values up to {amax:.3g}: distances between such rows exceed the largest "
            "float64 number (1.8e308). Rescale X (distance ratios, and so the intrinsic "
            "dimension, do not change; K_F scales by the inverse factor)."
        )
    if 0 < amax < _SMALLEST:
        raise ValueError(
            f"X has values only up to {amax:.3g}: distances between such rows, and their "
            "inverses (K_F), leave float64's range. Rescale X (the intrinsic dimension does not "
            "change; K_F scales by the inverse factor)."
        )
    # after the shift every value is at most 2 * amax, so the scaled values lie in [-1, 1]
    exp = math.frexp(2 * amax)[1] if amax > 0 else 0
    if not shift or n == 0:
        return _Frame(None, exp)
    scale = math.ldexp(1.0, -exp)
    if amax * amax * max(n, 1) < 1e300 and (amax == 0 or amax > 1e-140):
        # the unscaled sums neither overflowed nor underflowed: scaling them is exact
        sums, squares = sums * scale, squares * (scale * scale)
    else:
        sums, squares = rescaled(scale)
    mean = sums / n
    total = float(squares.sum()) / n
    spread = total - float(mean @ mean)
    if float32 and 2.0**-40 <= amax <= 2.0**40 and total <= SHIFT_GAIN * spread:
        # the shift would shrink the error bounds less than 4x: the GEMM reads X as it is,
        # with no copy (the values are far from float32's overflow and underflow)
        return _Frame(None, 0)
    return _Frame(np.ldexp(mean, exp), exp)


# -- the GEMM operand: rows as the GEMM sees them ----------------------------------------------

def _gamma(n, u):
    return n * u / (1 - n * u)


class _Operand:
    """The rows of ``X`` as the GEMM sees them: ``a = fl((x - center) * 2**-exp)`` in ``dtype``.

    A float32 ``X`` in a frame with no shift is used as it is (no copy).  A
    float64 ``X`` read into float32 is converted once (a copy half its size);
    otherwise tiles are converted as the GEMM needs them, so that a float32
    ``X`` is never copied whole.  ``sq`` holds the squared norms of the rows
    *as converted*, in float64.
    """

    def __init__(self, X, frame, dtype, device, *, materialize=None):
        self.X, self.frame, self.dtype, self.device = X, frame, dtype, device
        self.n, self.D = X.shape
        self.np_dtype = np.float32 if dtype == torch.float32 else np.float64
        self.center = frame.center if frame.center is not None else np.zeros(self.D)
        self.identity = (X.dtype == self.np_dtype and frame.center is None and frame.exp == 0)
        self.rounding = operand_rounding(X.dtype, frame, dtype)
        self.sq = shifted_sq_norms(X, self.center, frame.scale, self.np_dtype)
        if materialize is None:
            materialize = device.type != "cpu" or (X.dtype == np.float64
                                                   and self.np_dtype == np.float32)
        self.full = None
        if self.identity and not materialize:
            self.full = torch.from_numpy(X)
        elif materialize:
            full = torch.empty(X.shape, dtype=dtype, device=device)
            for rows in _row_chunks(self.n, self.D):
                full[rows] = torch.from_numpy(self._convert(rows, slice(None))).to(device)
            self.full = full

    @property
    def converts(self):
        return self.full is None

    def _convert(self, rows, cols):
        if self.identity:
            return self.X[rows, cols]
        return shifted_block(self.X, rows, cols, self.center, self.frame.scale, self.np_dtype)

    def block(self, rows, cols):
        """Rows and features (unit-step slices) as a torch tensor on the device."""
        if self.full is not None:
            return self.full[rows, cols]
        return torch.from_numpy(self._convert(rows, cols)).to(self.device)

    def error_coefficients(self):
        return error_coefficients(self.dtype, self.D)


def operand_rounding(x_dtype, frame, dtype):
    """The rounding of ``x`` into the operand, relative to ``|x - center| * scale`` per value:
    0 when a float32 ``X`` enters the GEMM as it is."""
    same = x_dtype == (np.float32 if dtype == torch.float32 else np.float64)
    if same and frame.center is None and frame.exp == 0:
        return 0.0
    return (_U32 if dtype == torch.float32 else _U64) + 2 * _U64


def error_coefficients(dtype, D):
    """``(K, K2)``: ``|approx d2 - |a_i - a_j|^2| <= K |a_i||a_j| + K2 (|a_i|^2 + |a_j|^2)``.

    Each GEMM call sums at most ``_CHUNK`` products in any order
    (``gamma_chunk``), the partial sums are added one chunk at a time
    (``gamma_chunks``), and the squared norms are rounded to the working
    precision and added (a few ``u``).
    """
    u = _U32 if dtype == torch.float32 else _U64
    chunk = min(D, _CHUNK)
    n_chunks = -(-D // _CHUNK)
    g = _gamma(chunk, u) + _gamma(n_chunks, u) * (1 + _gamma(chunk, u))
    return 1.01 * (2 * g + 4 * u), 1.01 * 3 * u


@contextlib.contextmanager
def _exact_matmul():
    # TF32 or bf16 GEMMs would void the error bounds
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def _chunks(D):
    return [slice(c, min(c + _CHUNK, D)) for c in range(0, D, _CHUNK)]


def _accumulate(acc, A, B):
    # each chunk's products are summed in a fresh buffer, then added: the bound holds
    g = torch.mm(A, B.T)
    return g if acc is None else acc.add_(g)


def _to_sq_distances(acc, opA, rows_a, opB, rows_b):
    """``|a|^2 + |b|^2 - 2 a.b`` from the accumulated products (in place)."""
    sq_a = torch.from_numpy(opA.sq[rows_a]).to(acc)
    sq_b = torch.from_numpy(opB.sq[rows_b]).to(acc)
    return torch.add(sq_b[None, :], acc, alpha=-2.0, out=acc).add_(sq_a[:, None])


def _gemm_sq(opA, rows_a, opB, rows_b):
    """Approximate squared distances between rows of two operands (torch, their dtype)."""
    acc = None
    for cols in _chunks(opA.D):
        acc = _accumulate(acc, opA.block(rows_a, cols), opB.block(rows_b, cols))
    return _to_sq_distances(acc, opA, rows_a, opB, rows_b)


def _merge_candidates(vals, cand, rows, d2, offset, m):
    """Fold the ``m`` best of each row of ``d2`` (columns from ``offset``) into ``vals, cand``."""
    if d2.device.type == "cpu":
        # a compiled insertion pass: 2-3x faster than two top-k and a gather on the CPU
        merge_rows(d2.numpy(), offset, rows.start, vals.numpy(), cand.numpy())
    else:
        _merge_candidates_torch(vals, cand, rows, d2, offset, m)


def _merge_candidates_torch(vals, cand, rows, d2, offset, m):
    """The same merge with torch's top-k, on any device."""
    # the merge below sorts: this first selection need not
    v, j = torch.topk(d2, min(m, d2.shape[1]), dim=1, largest=False, sorted=False)
    j += offset
    v = torch.cat([vals[rows], v], 1)
    j = torch.cat([cand[rows], j], 1)
    v, pos = torch.topk(v, m, dim=1, largest=False, sorted=True)
    vals[rows] = v
    cand[rows] = torch.gather(j, 1, pos)


#: float32 distances of all bands held at once by the chunk-outer pass
_ACCUMULATOR_BYTES = 256 * 2**20


def _tile_shape(n_q, n_r, D, itemsize):
    """``(T, S)``: query rows per band and reference rows per tile.

    About 8 bands make the symmetric pass compute ~56 % of the full product; a
    band has at least 512 rows, below which the GEMM rate falls (measured 66 against
    81 GFLOP/s at 256 rows).  A tile of distances and a converted chunk of references
    stay within ``_TILE_BYTES``.
    """
    S = int(max(1, min(n_r, _TILE_BYTES // (itemsize * max(1, min(D, _CHUNK))))))
    T = int(max(1, min(n_q, _TILE_BYTES // (itemsize * S), max(512, -(-n_q // 8)))))
    return T, S


class _Running:
    """The running top ``m`` of every query row, fed tile by tile.

    A tile comes as the GEMM's products ``a_i . a_j``.  Each row ranks
    ``|a_j|^2 - 2 a_i . a_j``, its squared distances less its own constant
    ``|a_i|^2``, which saves a pass over every tile; :meth:`result` adds it back.
    """

    def __init__(self, opQ, opR, m, self_mode, q_labels, r_labels):
        device = opR.device
        self.m, self.self_mode, self.device = m, self_mode, device
        self.sq_q, self.sq_r = opQ.sq, opR.sq
        self.tsq_q = torch.from_numpy(opQ.sq).to(device=device, dtype=opR.dtype)
        self.tsq_r = self.tsq_q if self_mode else \
            torch.from_numpy(opR.sq).to(device=device, dtype=opR.dtype)
        self.vals = torch.full((opQ.n, m), float("inf"), dtype=opR.dtype, device=device)
        self.cand = torch.full((opQ.n, m), -1, dtype=torch.int64, device=device)
        self.lq = None if q_labels is None else torch.from_numpy(np.asarray(q_labels)).to(device)
        self.lr = None if r_labels is None else torch.from_numpy(np.asarray(r_labels)).to(device)

    def feed(self, acc, I, J):
        """Merge the products ``acc`` of rows ``I`` against references ``J`` (slices)."""
        a, b = I.start, J.start
        if self.self_mode and J.stop > I.stop:
            # the pairs with the band's rows, for the references past the band (those inside
            # it get them below), transposed into a contiguous tile in the same pass
            past = max(I.stop - b, 0)
            rows = slice(b + past, J.stop)
            t = torch.empty((rows.stop - rows.start, I.stop - a), dtype=acc.dtype,
                            device=self.device)
            torch.add(self.tsq_q[None, I], acc[:, past:].T, alpha=-2.0, out=t)
            if self.lq is not None:
                t.masked_fill_(self.lr[rows, None] == self.lq[None, I], float("inf"))
            _merge_candidates(self.vals, self.cand, rows, t, a, self.m)
        d2 = torch.add(self.tsq_r[None, J], acc, alpha=-2.0, out=acc)
        if self.self_mode and b < I.stop and a < J.stop:
            # the tile holds part of the band's own block: mask each row's self pair
            i = torch.arange(max(a, b), min(I.stop, J.stop), device=self.device)
            d2[i - a, i - b] = float("inf")
        if self.lq is not None:
            d2.masked_fill_(self.lq[I, None] == self.lr[None, J], float("inf"))
        _merge_candidates(self.vals, self.cand, I, d2, b, self.m)

    def result(self):
        vals = self.vals.cpu().numpy().astype(np.float64)
        cand = self.cand.cpu().numpy()
        # a masked pair (itself, the same label) can fill a slot when m exceeds the eligible
        cand = np.where(np.isinf(vals), np.int64(-1), cand)
        return vals + self.sq_q[:, None], cand


def _candidates(opQ, opR, m, *, self_mode, q_labels, r_labels, verbose, desc):
    """Each query row's ``m`` smallest approximate squared distances and their indices.

    A pair never enters a row's running set once a better one has pushed it out,
    and kept values only decrease, so every eligible non-candidate has an
    approximate value at least the final ``m``-th one.

    When the products of all bands fit in ``_ACCUMULATOR_BYTES`` (small N,
    where D is large), the pass runs chunk by chunk over the features, so that
    each chunk of rows is converted once; otherwise band by band and tile by
    tile, in memory ``O(tile)``.
    """
    nq, nr = opQ.n, opR.n
    itemsize = 4 if opR.dtype == torch.float32 else 8
    T, S = _tile_shape(nq, nr, opR.D, itemsize)
    running = _Running(opQ, opR, m, self_mode, q_labels, r_labels)
    bands = [slice(a, min(a + T, nq)) for a in range(0, nq, T)]
    refs = [slice(I.start if self_mode else 0, nr) for I in bands]
    held = sum((I.stop - I.start) * (J.stop - J.start) for I, J in zip(bands, refs)) * itemsize
    converted = (nr + (0 if self_mode else nq)) * min(opR.D, _CHUNK) * itemsize
    chunks = _chunks(opR.D)
    tiles = [(I, slice(b, min(b + S, nr))) for I, J in zip(bands, refs)
             for b in range(J.start, nr, S)]
    if len(chunks) == 1 and converted <= _ACCUMULATOR_BYTES:
        # one GEMM per tile: convert the rows once, then merge tile by tile
        B = opR.block(slice(0, nr), chunks[0])
        A = B if self_mode else opQ.block(slice(0, nq), chunks[0])
        for I, J in progress(tiles, verbose=verbose, desc=desc, total=len(tiles)):
            running.feed(torch.mm(A[I], B[J].T), I, J)
    elif held <= _ACCUMULATOR_BYTES and converted <= _ACCUMULATOR_BYTES:
        accs = [None] * len(bands)
        for cols in progress(chunks, verbose=verbose, desc=desc):
            B = opR.block(slice(0, nr), cols)
            A = B if self_mode else opQ.block(slice(0, nq), cols)
            for t, (I, J) in enumerate(zip(bands, refs)):
                accs[t] = _accumulate(accs[t], A[I], B[J])
        for t, (I, J) in enumerate(zip(bands, refs)):
            running.feed(accs[t], I, J)
            accs[t] = None
    else:
        for I, J in progress(tiles, verbose=verbose, desc=desc, total=len(tiles)):
            acc = None
            for cols in chunks:
                acc = _accumulate(acc, opQ.block(I, cols), opR.block(J, cols))
            running.feed(acc, I, J)
    return running.result()


def _argsort_rows(values, tiebreak):
    # sort by value, ties by index, so that results do not depend on block boundaries
    return np.lexsort((tiebreak, values), axis=-1)


def _symmetric_pair_sq(X, cand, scale):
    """Exact squared distances of each row's candidates in ``X`` against itself, each
    unordered pair computed once (a pair often stands in both rows' lists)."""
    n, m = cand.shape
    valid = cand >= 0
    rows = np.broadcast_to(np.arange(n)[:, None], cand.shape)
    lo, hi = np.minimum(rows, cand)[valid], np.maximum(rows, cand)[valid]
    keys, inverse = np.unique(lo * np.int64(n) + hi, return_inverse=True)
    values = pair_sq_distances(X, X, keys // n, (keys % n)[:, None], scale)[:, 0]
    out = np.full(cand.shape, np.inf)
    out[valid] = values[inverse.ravel()]
    return out


def _rank_exact(XQ, XR, q_rows, cand, frame, *, exclude_zero, self_rows=None,
                symmetric=False, exact=None):
    """Exact squared distances (frame units) of the candidates, sorted by (distance, index).

    ``symmetric``: ``XQ`` is ``XR`` and ``q_rows`` every row, so each pair is computed once.
    ``exact``: the distances, already computed.
    """
    if exact is not None:
        exact = exact.copy()
    elif symmetric:
        exact = _symmetric_pair_sq(XR, cand, frame.scale)
    else:
        exact = pair_sq_distances(XQ, XR, q_rows, cand, frame.scale)
    if self_rows is not None:
        exact[cand == self_rows[:, None]] = np.inf
    if exclude_zero:
        exact[exact == 0.0] = np.inf
    cand = np.where(np.isinf(exact), np.int64(-1), cand)
    order = _argsort_rows(exact, np.where(cand < 0, np.iinfo(np.int64).max, cand))
    return np.take_along_axis(exact, order, 1), np.take_along_axis(cand, order, 1)


def _certified(op_q, op_r, q_rows, approx_mth, kth_sq, n_eligible, m):
    """Rows whose non-candidates are all provably farther than their ``k``-th exact distance
    (see :func:`certificate`)."""
    K, K2 = op_r.error_coefficients()
    r_max = float(np.sqrt(op_r.sq.max())) if op_r.n else 0.0
    return certificate(K, K2, max(op_q.rounding, op_r.rounding), op_q.sq[q_rows], r_max,
                       op_r.D, approx_mth, kth_sq, n_eligible, m)


def certificate(K, K2, rho, sq_q, r_max, D, approx_mth, kth_sq, n_eligible, m):
    """Rows whose non-candidates are all provably farther than their ``k``-th exact distance.

    For a non-candidate ``j`` of row ``i`` the approximate value is at least
    ``v = approx_mth[i]``, so ``|a_i - a_j|^2 >= v - K r_i r_j - K2 (r_i^2 + r_j^2)``
    (``r`` the operand norms, ``sq_q = r_i^2``), and the true distance is at most
    a relative rounding ``rho`` of the operand away from it.  That bound weakens
    as ``r_j`` grows, so points with ``r_j > T`` are ruled out instead by
    ``||x_i - x_j|| >= |x_j| - |x_i|``, with ``T`` just large enough for that
    (``r_max`` is the largest reference norm).
    """
    r_i = np.sqrt(sq_q)
    kth = np.sqrt(kth_sq) * (1 + 8 * D * _U64 + 1e-14)  # the kernel's own float64 rounding
    T = ((kth + r_i / (1 - rho)) * (1 + rho)) * (1 + 1e-12)
    T = np.minimum(T, r_max)
    gap = approx_mth - K * r_i * T - K2 * (r_i**2 + T**2)
    with np.errstate(invalid="ignore"):
        low = np.sqrt(np.maximum(gap, 0.0)) - rho * (r_i + T) / (1 - rho)
    # with every eligible point among the candidates, there is nothing left to rule out
    return np.isfinite(kth_sq) & ((low > kth) | np.isposinf(approx_mth) | (m >= n_eligible))


def _search_exact(R, Q, k, *, self_mode, exclude_zero, device, verbose, desc,
                  labels=None, q_labels=None, stats=None):
    """Exact kNN of the rows of ``Q`` among the rows of ``R`` (float32 or float64 arrays).

    Returns distances in the user's units and indices, and fills ``stats``
    (when given) with the number of rows that needed the float64 and the
    exhaustive re-search.
    """
    n_q, n_r = Q.shape[0], R.shape[0]
    frame = _make_frame(R, None if self_mode else Q)
    bichromatic = labels is not None
    if bichromatic:
        q_lab = labels if self_mode else q_labels
        counts = np.bincount(labels, minlength=int(max(labels.max(), q_lab.max(initial=0))) + 1)
        n_eligible = n_r - counts[q_lab]
    else:
        n_eligible = np.full(n_q, n_r - (1 if self_mode else 0))
    n_excluded = 0 if self_mode or bichromatic or not exclude_zero else 1
    m = int(min(n_r, k + n_excluded + max(4, k // 5)))
    opR = _Operand(R, frame, torch.float32, device)
    opQ = opR if self_mode else _Operand(Q, frame, torch.float32, device)
    q_rows = np.arange(n_q)
    self_rows = q_rows if self_mode else None
    approx, cand = _candidates(opQ, opR, m, self_mode=self_mode, q_labels=q_labels if not
                               self_mode else labels, r_labels=labels, verbose=verbose, desc=desc)
    exact, cand = _rank_exact(Q, R, q_rows, cand, frame, exclude_zero=exclude_zero,
                              self_rows=self_rows, symmetric=self_mode)
    ok = _certified(opQ, opR, q_rows, approx[:, -1], exact[:, k - 1], n_eligible, m)
    failed = np.flatnonzero(~ok)
    if stats is not None:
        stats.update(rows=n_q, float64=int(failed.size), exhaustive=0)
    if failed.size:
        exact_f, cand_f = _rescue(R, Q, failed, k, m, frame, self_mode=self_mode,
                                  exclude_zero=exclude_zero, labels=labels,
                                  q_labels=None if self_mode else q_labels,
                                  n_eligible=n_eligible[failed], device=device, stats=stats)
        exact[failed, :k], cand[failed, :k] = exact_f, cand_f
    exact, cand = exact[:, :k], cand[:, :k]
    if not np.all(np.isfinite(exact)):
        raise ValueError(
            f"Fewer than k={k} valid neighbours are available for some queries "
            f"({n_r} reference points). Use a smaller k or more samples."
        )
    return frame.to_user(np.sqrt(exact)), cand


def _rescue(R, Q, rows, k, m, frame, *, self_mode, exclude_zero, labels, q_labels, n_eligible,
            device, stats):
    """Search ``rows`` of ``Q`` again with float64 GEMMs; what still fails, exhaustively."""
    opR = _Operand(R, frame, torch.float64, device, materialize=False)
    batch = max(1, _RESCUE_BYTES // (8 * max(1, R.shape[1])))
    out_d = np.empty((rows.size, k))
    out_i = np.empty((rows.size, k), dtype=np.int64)
    q_lab_all = labels if self_mode else q_labels
    for s in range(0, rows.size, batch):
        sub = rows[s:s + batch]
        opQ = _Operand(Q[sub], frame, torch.float64, device, materialize=True)
        ql = None if labels is None else q_lab_all[sub]
        approx, cand = _candidates(opQ, opR, m, self_mode=False, q_labels=ql, r_labels=labels,
                                   verbose=0, desc="")
        exact, cand = _rank_exact(Q, R, sub, cand, frame, exclude_zero=exclude_zero,
                                  self_rows=sub if self_mode else None)
        # unlike the self pass, this query pass does not mask the row itself, which may then
        # hold a candidate slot (with labels, its own label masks it)
        covered = n_eligible[s:s + batch] + (1 if self_mode and labels is None else 0)
        ok = _certified(opQ, opR, np.arange(sub.size), approx[:, -1], exact[:, k - 1],
                        covered, m)
        bad = np.flatnonzero(~ok)
        if stats is not None:
            stats["exhaustive"] += int(bad.size)
        # exact ties past the candidates: every eligible distance, from differences, in
        # batches of rows that hold at most 8M candidate indices
        step = max(1, 2**23 // max(1, R.shape[0]))
        for t in range(0, bad.size, step):
            rr = bad[t:t + step]
            everyone = np.tile(np.arange(R.shape[0]), (rr.size, 1))
            if labels is not None:
                everyone[labels[None, :] == ql[rr][:, None]] = -1
            e, c = _rank_exact(Q, R, sub[rr], everyone, frame, exclude_zero=exclude_zero,
                               self_rows=sub[rr] if self_mode else None)
            exact[rr, :k], cand[rr, :k] = e[:, :k], c[:, :k]
        out_d[s:s + sub.size], out_i[s:s + sub.size] = exact[:, :k], cand[:, :k]
    return out_d, out_i


#: Above this many features, the approximate graph is built on a PCA projection.
PROJECT_ABOVE_FEATURES = 4096
_PROJECTION = {"components": 64, "sample": 1000, "power_iterations": 2, "extra_candidates": 10}


def _approximate_space(R, Q, frame, seed, self_mode):
    """The float32 rows pynndescent searches, and how many extra candidates to ask for.

    At most ``PROJECT_ABOVE_FEATURES`` features the rows themselves (scaled by
    the frame's power of two, so nothing overflows float32) and one extra
    candidate.  Above, NN-descent's distance evaluations would cost a GEMM's
    worth: the rows are projected onto the top principal components of a
    random sample (fitted once, applied in chunks), and ten extra candidates
    make up for the projection; every candidate is re-ranked in full D.
    """
    if R.shape[1] <= PROJECT_ABOVE_FEATURES:
        scaled = [(A * frame.scale).astype(np.float32) for A in (R, None if self_mode else Q)
                  if A is not None]
        return scaled, 1
    from sklearn.decomposition import PCA  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(R.shape[0], min(R.shape[0], _PROJECTION["sample"]),
                                replace=False))
    pca = PCA(min(_PROJECTION["components"], sample.size), svd_solver="randomized",
              iterated_power=_PROJECTION["power_iterations"], random_state=seed)
    pca.fit(np.multiply(R[sample], frame.scale, dtype=np.float32))
    components = torch.from_numpy(pca.components_.astype(np.float32)).T
    mean = torch.from_numpy(pca.mean_.astype(np.float32))
    out = []
    for A in (R, None if self_mode else Q):
        if A is None:
            continue
        P = np.empty((A.shape[0], pca.n_components_), dtype=np.float32)
        for rows in _row_chunks(A.shape[0], A.shape[1]):
            # the projection is one float32 GEMM per chunk of rows
            block = torch.from_numpy(np.multiply(A[rows], frame.scale, dtype=np.float32))
            P[rows] = torch.mm(block.sub_(mean), components).numpy()
        out.append(P)
    return out, _PROJECTION["extra_candidates"]


def _search_approximate(R, Q, k, *, self_mode, exclude_zero, random_state, n_jobs, verbose):
    import pynndescent  # noqa: PLC0415  (numba compile cost paid only on request)

    seed = random_state if isinstance(random_state, (int, np.integer)) or random_state is None \
        else int(random_state.randint(np.iinfo(np.int32).max))
    frame = _make_frame(R, None if self_mode else Q, shift=False)
    spaces, extra_candidates = _approximate_space(R, Q, frame, seed, self_mode)
    extra = 1 if (self_mode or exclude_zero) else 0
    n_neighbors = min(R.shape[0], k + extra + extra_candidates)
    index = pynndescent.NNDescent(
        spaces[0], n_neighbors=n_neighbors, random_state=seed,
        n_jobs=-1 if n_jobs is None else n_jobs, verbose=bool(verbose),
    )
    if self_mode:
        cand, _ = index.neighbor_graph
    else:
        cand, _ = index.query(spaces[1], k=n_neighbors)
    cand = np.asarray(cand, dtype=np.int64)
    cand = np.where(cand >= 0, cand, -1)
    exact, cand = _rank_exact(Q, R, np.arange(Q.shape[0]), cand, frame,
                              exclude_zero=exclude_zero,
                              self_rows=np.arange(Q.shape[0]) if self_mode else None)
    exact, cand = exact[:, :k], cand[:, :k]
    if not np.all(np.isfinite(exact)):
        raise ValueError(
            f"The approximate search returned fewer than k={k} neighbours for some points; use "
            "neighbors='exact' or a smaller k."
        )
    return frame.to_user(np.sqrt(exact)), cand


def resolve_method(method, n_reference):
    """Turn ``"auto"`` into ``"exact"`` or ``"approximate"`` (see AUTO_APPROXIMATE_MIN_SAMPLES)."""
    if method == "auto":
        return "approximate" if n_reference >= AUTO_APPROXIMATE_MIN_SAMPLES else "exact"
    if method not in ("exact", "approximate"):
        raise ValueError(f"method must be 'exact', 'approximate' or 'auto', got {method!r}.")
    return method


@contextlib.contextmanager
def _engine_context(n_jobs):
    with torch_threads(n_jobs), numba_threads(n_jobs), torch.no_grad(), _exact_matmul():
        yield


def kneighbors(X, k, *, query=None, method="exact", exclude_zero=None, device="cpu",
               random_state=None, n_jobs=None, verbose=0, stats=None):
    """The ``k`` nearest neighbours in ``X`` of each row of ``query`` (default: of ``X`` itself).

    Parameters
    ----------
    X : ndarray of shape (n_reference, D)
        Reference points, float32 or float64 (other types are read as float64).
        Callers remove exact duplicates first (:func:`deduplicate`).
    k : int
        Number of neighbours.
    query : ndarray of shape (n_queries, D), default=None
        Query points.  ``None`` searches ``X`` against itself, excluding each point.
    method : {"exact", "approximate", "auto"}, default="exact"
    exclude_zero : bool, default=None
        Skip reference points at distance exactly 0 (a query equal to a fitted
        point).  Defaults to True when ``query`` is given.
    device : str or torch.device, default="cpu"
        Where the GEMMs of the exact search run.
    random_state : int, RandomState instance or None
        Seeds the approximate search.
    n_jobs : int, default=None
        Threads (torch and numba); ``None`` leaves their settings.
    verbose : int, default=0
        Show a progress bar over tiles.
    stats : dict, default=None
        Filled with ``rows``, ``float64`` (rows re-searched with float64 GEMMs)
        and ``exhaustive`` (rows searched exhaustively) by the exact search.

    Returns
    -------
    neighbors : Neighbors
        ``distances`` (float64, ascending) and ``indices`` into ``X``, shape (n_queries, k).
    """
    if getattr(X, "blocked", False):  # out-of-core rows: the same search as dask tasks
        _refuse_query(query)
        return X.kneighbors(k, method=method)
    X = as_float(X)
    self_mode = query is None
    Q = X if self_mode else as_float(query)
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
        with numba_threads(n_jobs):
            d, i = _search_approximate(X, Q, k, self_mode=self_mode, exclude_zero=exclude_zero,
                                       random_state=random_state, n_jobs=n_jobs,
                                       verbose=verbose)
    else:
        with _engine_context(n_jobs):
            d, i = _search_exact(X, Q, k, self_mode=self_mode, exclude_zero=exclude_zero,
                                 device=resolve_device(device), verbose=verbose, desc="kNN",
                                 stats=stats)
    return Neighbors(d, i)


def nearest_other_label(X, labels, *, query=None, query_labels=None, device="cpu", n_jobs=None,
                        verbose=0, stats=None):
    """Nearest reference point with a *different* label, for each query (bichromatic 1-NN).

    One pass over all pairs, whatever the number of classes: the same-label
    pairs are masked in each distance tile, and a search of ``X`` against
    itself computes each tile once for the rows on both of its sides.

    Parameters
    ----------
    X : ndarray of shape (n, D)
    labels : ndarray of shape (n,)
        Integer class codes of the rows of ``X``.
    query, query_labels : ndarrays, default=None
        Queries and their labels; ``None`` uses ``X`` and ``labels``.

    Returns
    -------
    neighbors : Neighbors
        Shape (n_queries, 1).
    """
    if getattr(X, "blocked", False):
        _refuse_query(query)
        return X.kneighbors(1, labels=labels)
    X = as_float(X)
    labels = np.asarray(labels, dtype=np.int64)
    self_mode = query is None
    Q = X if self_mode else as_float(query)
    q_labels = None if self_mode else np.asarray(query_labels, dtype=np.int64)
    classes = np.unique(labels)
    if classes.size < 2:
        raise ValueError(
            "Bichromatic search needs at least two distinct labels in the reference set; "
            f"got only {classes.tolist()}."
        )
    with _engine_context(n_jobs):
        d, i = _search_exact(X, Q, 1, self_mode=self_mode, exclude_zero=False,
                             device=resolve_device(device), verbose=verbose, desc="bichromatic",
                             labels=labels, q_labels=q_labels, stats=stats)
    return Neighbors(d, i)


#: Refusal of what needs the fitted samples in memory, after an out-of-core fit.
IN_MEMORY_ONLY = (
    "X was fitted out of core (a dask, zarr or memmap input read in row blocks), so the "
    "fitted samples are not held in memory, and {what} needs them. Fit on an in-memory "
    "numpy array (e.g. X.compute() or np.asarray(X)) to use it."
)


def _refuse_query(query):
    if query is not None:
        raise ValueError(IN_MEMORY_ONLY.format(what="transform"))


class PairDistances:
    """Blocks of approximate squared distances with rigorous error bounds, for exact passes.

    Callers doing exact all-pairs work that is not a kNN search (real-valued
    label sharpness) prune with the fast float32 blocks and recompute only the
    few pairs that the bound cannot rule out, in float64, with :meth:`exact`.
    Everything is in *frame units*: the user's distances times ``2**-exp``
    (:attr:`unit` converts back), so that no square overflows or underflows.
    """

    def __init__(self, X, query=None, *, device="cpu", n_jobs=None, frame=None):
        self.X = as_float(X)
        self.Q = self.X if query is None else as_float(query)
        # a given frame is shared by the row blocks of one distributed pass
        self.frame = _make_frame(self.X, None if query is None else self.Q) if frame is None \
            else frame
        self.device = resolve_device(device)
        self.n_jobs = n_jobs
        self.unit = math.ldexp(1.0, self.frame.exp)

    def blocks(self, block_rows, *, verbose=0):
        """Yield ``(start, stop, d2, err)``: float64 numpy arrays (query rows x all of ``X``).

        ``|d2[r, j] - ||q_r - x_j||^2| <= err[r, j]`` in frame units.
        """
        with _engine_context(self.n_jobs):
            opR = _Operand(self.X, self.frame, torch.float32, self.device)
            opQ = opR if self.Q is self.X else _Operand(self.Q, self.frame, torch.float32,
                                                        self.device)
            K, K2 = opR.error_coefficients()
            rho = max(opQ.rounding, opR.rounding)
            r_r = np.sqrt(opR.sq)
            starts = range(0, self.Q.shape[0], block_rows)
            for start in progress(starts, verbose=verbose, desc="pairs", total=len(starts)):
                stop = min(start + block_rows, self.Q.shape[0])
                d2 = _gemm_sq(opQ, slice(start, stop), opR, slice(None)).cpu().numpy()
                d2 = d2.astype(np.float64)
                r_q = np.sqrt(opQ.sq[start:stop])
                # the GEMM's error on |a_q - a_x|^2, then the operand's rounding of x
                err = K * np.outer(r_q, r_r) + K2 * np.add.outer(r_q**2, r_r**2)
                reach = rho * np.add.outer(r_q, r_r) / (1 - rho)
                err += reach * (2 * np.sqrt(np.maximum(d2, 0.0) + err) + reach)
                yield start, stop, d2, err

    def exact(self, rows_q, rows_x):
        """Float64 squared distances (frame units) of matched pairs, from differences."""
        with _engine_context(self.n_jobs):
            return pair_sq_distances(self.Q, self.X, np.asarray(rows_q),
                                     np.asarray(rows_x)[:, None], self.frame.scale)[:, 0]


# -- a precomputed neighbour graph -------------------------------------------------------------

def _graph_entries(G, *, square):
    """``(rows, cols, vals)`` of the stored entries of a distance graph, the diagonal left out
    when the graph is square (each sample itself)."""
    if sp.issparse(G):
        G = sp.coo_matrix(G)
        rows, cols, vals = G.row.astype(np.int64), G.col.astype(np.int64), G.data
    else:
        rows, cols = np.indices(G.shape).reshape(2, -1)
        vals = np.asarray(G).ravel()
    vals = vals.astype(np.float64)
    if vals.size and not (np.all(np.isfinite(vals)) and vals.min() >= 0):
        what = "Negative values" if np.nanmin(vals) < 0 else "NaN or infinite values"
        raise ValueError(
            f"{what} in data passed as a precomputed neighbour graph: it must hold finite, "
            "non-negative distances (e.g. KNeighborsTransformer(mode='distance') output)."
        )
    if square:
        off = rows != cols
        rows, cols, vals = rows[off], cols[off], vals[off]
    return rows, cols, vals


def graph_duplicates(G):
    """Duplicates of a square precomputed graph: samples at distance 0 from another.

    Of each pair at distance 0 the later sample is dropped; the result is a
    :class:`DuplicateInfo` (``groups[i]`` names the sample ``i`` repeats).
    """
    rows, cols, vals = _graph_entries(G, square=True)
    zero = vals == 0
    lo, hi = np.minimum(rows[zero], cols[zero]), np.maximum(rows[zero], cols[zero])
    groups = np.arange(G.shape[0])
    order = np.lexsort((lo, hi))
    for a, b in zip(lo[order][::-1], hi[order][::-1]):
        groups[b] = min(groups[b], a)
    # follow chains (c repeats b, which repeats a) to the kept sample
    while True:
        nxt = groups[groups]
        if np.array_equal(nxt, groups):
            break
        groups = nxt
    keep = np.flatnonzero(groups == np.arange(G.shape[0]))
    return DuplicateInfo(keep=keep, groups=groups, n_duplicates=G.shape[0] - keep.size)


def graph_neighbors(G, k, *, square, columns=None, exclude_zero=False):
    """Each row's ``k`` nearest neighbours read from a precomputed distance graph.

    ``G`` follows scikit-learn's ``metric="precomputed"`` convention: a sparse
    (n_queries, n_samples_fit) matrix of distances such as the output of
    :class:`sklearn.neighbors.KNeighborsTransformer` (``mode="distance"``), whose
    stored entries (an explicit 0 included) are the candidate neighbours, or a
    dense matrix of all distances.  ``square`` skips the diagonal;
    ``columns`` (sorted indices) keeps only those samples as neighbours, renumbered;
    ``exclude_zero`` skips distances of exactly 0.
    """
    rows, cols, vals = _graph_entries(G, square=square)
    if columns is not None:
        pos = np.searchsorted(columns, cols)
        ok = (pos < columns.size) & (columns[np.minimum(pos, columns.size - 1)] == cols)
        rows, cols, vals = rows[ok], pos[ok], vals[ok]
    if exclude_zero:
        rows, cols, vals = rows[vals > 0], cols[vals > 0], vals[vals > 0]
    counts = np.bincount(rows, minlength=G.shape[0])
    if G.shape[0] and counts.min() < k:
        worst = int(np.argmin(counts))
        raise ValueError(
            f"The precomputed graph gives row {worst} only {counts[worst]} usable neighbours, but "
            f"k={k} are needed. Build the graph with more neighbours per row (e.g. "
            f"KNeighborsTransformer(n_neighbors={k + 1}, mode='distance'))."
        )
    order = np.lexsort((cols, vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    first = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
    pos = first[:, None] + np.arange(k)[None, :]
    return Neighbors(vals[pos], cols[pos])


@validate_params(
    {
        "X": ["array-like"],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "n_jobs": [Interval(Integral, 1, None, closed="left"),
                   Interval(Integral, None, -1, closed="right"), None],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=True,
)
def kneighbors_graph(X, n_neighbors=20, *, device="cpu", n_jobs=None, verbose=0):
    """The exact ``n_neighbors``-nearest-neighbour graph of ``X``, as a sparse distance matrix.

    One exact neighbour pass (the engine every estimator uses) whose result can
    feed several estimators with ``neighbors="precomputed"``, for instance the
    MLE and TwoNN on the same images.  The format is scikit-learn's
    ``mode="distance"`` graph (as from :class:`sklearn.neighbors.KNeighborsTransformer`),
    with each sample itself left out.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Samples; images of any shape are flattened.  Exact duplicates appear
        as stored zeros, which the estimators drop or refuse.
    n_neighbors : int, default=20
        Neighbours per sample; the MLE with ``k`` needs ``k`` of them.
    device : str or torch.device, default="cpu"
        Where the distance GEMMs run.
    n_jobs : int, default=None
        Threads (``None`` leaves torch's and numba's settings).
    verbose : int, default=0
        Show a progress bar.

    Returns
    -------
    graph : scipy.sparse.csr_matrix of shape (n_samples, n_samples)
        Row ``i`` holds the distances to its ``n_neighbors`` nearest samples.

    Examples
    --------
    >>> from skintrinsic import IntrinsicDimension, kneighbors_graph
    >>> from skintrinsic.datasets import make_sphere
    >>> X = make_sphere(1000, 3, ambient_dim=10, random_state=0)
    >>> G = kneighbors_graph(X, 20)
    >>> G.shape, G.nnz
    ((1000, 1000), 20000)
    >>> mle = IntrinsicDimension(neighbors="precomputed", n_bootstrap=0).fit(G)
    >>> twonn = IntrinsicDimension("twonn", neighbors="precomputed", n_bootstrap=0).fit(G)
    >>> mle.dimension_ == IntrinsicDimension(n_bootstrap=0).fit(X).dimension_
    True
    """
    if isinstance(n_neighbors, bool):
        raise TypeError(f"n_neighbors must be an int >= 1, got {n_neighbors!r}.")
    X = check_array(np.reshape(X, (len(X), -1)) if np.ndim(X) > 2 else X,
                    dtype=[np.float64, np.float32], ensure_min_samples=2,
                    input_name="X")
    nb = kneighbors(X, n_neighbors, device=device, n_jobs=n_jobs, verbose=verbose)
    n = nb.indices.shape[0]
    indptr = np.arange(0, n * n_neighbors + 1, n_neighbors)
    return sp.csr_matrix((nb.distances.ravel(), nb.indices.ravel(), indptr), shape=(n, n))
