"""Compiled numeric kernels of the neighbour engine (numba, compiled on first use and cached).

The engine's fast pass is a float32 GEMM; what a GEMM cannot do well is kept
here: float64 distances of *chosen* pairs from differences (nothing cancels,
so they equal a float64 brute force) and row hashing for duplicate detection.
Both read each row once, at memory speed, and never copy ``X``.

numba comes with pynndescent; it is imported only when a kernel is first
needed, and the compiled code is cached on disk when a cache folder is
writable (about a second to compile otherwise, once per process).
"""

import contextlib
import functools
import warnings

import numpy as np


@functools.lru_cache(maxsize=None)
def _compiled():
    import numba  # noqa: PLC0415  (import and compile cost paid on first use only)

    def jit(fn):
        # reassociation lets the float64 sums vectorize; they stay float64-accurate
        flags = dict(parallel=True, nogil=True, fastmath={"reassoc", "contract", "nsz"})
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return numba.njit(cache=True, **flags)(fn)
        except Exception:  # noqa: BLE001  (no writable cache folder: compile per process)
            return numba.njit(**flags)(fn)

    prange = numba.prange

    def pair_sq(A, B, rows_a, rows_b, scale, out):
        # out[i, j] = sum_t ((A[rows_a[i], t] - B[rows_b[i, j], t]) * scale) ** 2, inf for j < 0
        n, m = rows_b.shape
        D = A.shape[1]
        for i in prange(n):
            a = rows_a[i]
            for jj in range(m):
                b = rows_b[i, jj]
                if b < 0:
                    out[i, jj] = np.inf
                    continue
                s = 0.0
                for t in range(D):
                    d = (np.float64(A[a, t]) - np.float64(B[b, t])) * scale
                    s += d * d
                out[i, jj] = s

    def row_hash(W, negative_zero, out):
        # FNV-1a-style 64-bit hash over the integer words of each row; the word of -0.0
        # hashes as that of 0.0, since the two compare equal
        n, D = W.shape
        for i in prange(n):
            h = np.uint64(14695981039346656037)
            for t in range(D):
                w = np.uint64(W[i, t])
                if w == negative_zero:
                    w = np.uint64(0)
                h = (h ^ w) * np.uint64(1099511628211)
            out[i] = h

    def shifted(X, r0, c0, center, scale, out):
        # out = (X[r0:, c0:] - center[c0:]) * scale, in the arithmetic of X (center and scale
        # have X's dtype), rounded to out's dtype
        n, w = out.shape
        for i in prange(n):
            for t in range(w):
                out[i, t] = (X[r0 + i, c0 + t] - center[c0 + t]) * scale

    def shifted_sq(X, center, scale, to32, sq):
        # squared norms, in float64, of the rows as ``shifted`` turns them out
        n, D = X.shape
        for i in prange(n):
            s = 0.0
            for t in range(D):
                v = (X[i, t] - center[t]) * scale
                if to32:
                    v = np.float32(v)
                s += np.float64(v) * np.float64(v)
            sq[i] = s

    def merge_rows(d2, offset, row0, vals, cand):
        # fold each row of d2 into the sorted running top m of vals[row0 + r] (insertion;
        # a value equal to the m-th does not enter, so every left-out pair stays >= it)
        n, w = d2.shape
        m = vals.shape[1]
        for r in prange(n):
            row = row0 + r
            worst = vals[row, m - 1]
            for c in range(w):
                v = d2[r, c]
                if v < worst:
                    j = m - 1
                    while j > 0 and vals[row, j - 1] > v:
                        vals[row, j] = vals[row, j - 1]
                        cand[row, j] = cand[row, j - 1]
                        j -= 1
                    vals[row, j] = v
                    cand[row, j] = offset + c
                    worst = vals[row, m - 1]

    def column_stats(X, scale, block, sums, squares, amax):
        # one pass over X: per column, the sum and the sum of squares of X * scale, and the
        # largest |X|; each thread owns a block of columns, so nothing is shared
        n, D = X.shape
        for b in prange((D + block - 1) // block):
            lo = b * block
            hi = min(lo + block, D)
            top = 0.0
            for i in range(n):
                for c in range(lo, hi):
                    v = np.float64(X[i, c])
                    if abs(v) > top or v != v:
                        top = abs(v) if v == v else np.inf
                    v *= scale
                    sums[c] += v
                    squares[c] += v * v
            amax[b] = top

    return (numba, jit(pair_sq), jit(row_hash), jit(shifted), jit(shifted_sq),
            jit(merge_rows), jit(column_stats))


@contextlib.contextmanager
def numba_threads(n_jobs):
    """Set numba's thread count from an sklearn-style ``n_jobs`` (None: leave it)."""
    numba = _compiled()[0]
    if n_jobs is None:
        yield
        return
    limit = numba.config.NUMBA_NUM_THREADS
    wanted = limit + 1 + n_jobs if n_jobs < 0 else n_jobs
    previous = numba.get_num_threads()
    numba.set_num_threads(int(min(max(wanted, 1), limit)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def pair_sq_distances(A, B, rows_a, rows_b, scale=1.0):
    """Float64 ``||(A[rows_a[i]] - B[rows_b[i, j]]) * scale||^2``, from differences.

    ``rows_b`` is (n, m); entries ``< 0`` give ``inf``.  ``scale`` should be a
    power of two, so that scaling is exact and only keeps squares in range.
    """
    kernel = _compiled()[1]
    rows_a = np.ascontiguousarray(rows_a, dtype=np.int64)
    rows_b = np.ascontiguousarray(rows_b, dtype=np.int64)
    out = np.empty(rows_b.shape)
    if out.size:
        kernel(_c(A), _c(B), rows_a, rows_b, float(scale), out)
    return out


def _c(A):
    # the kernels index rows; a row-contiguous array is read at memory speed
    return A if A.flags.c_contiguous else np.ascontiguousarray(A)


def row_hashes(X):
    """A 64-bit hash of each row's values (``-0.0`` hashes as ``0.0``); O(N D), no copy of X."""
    kernel = _compiled()[2]
    X = _c(X)
    word = {8: np.uint64, 4: np.uint32, 2: np.uint16, 1: np.uint8}[X.dtype.itemsize]
    negative_zero = np.uint64(1 << (8 * X.dtype.itemsize - 1)) if X.dtype.kind == "f" \
        else np.uint64(0)
    out = np.empty(X.shape[0], dtype=np.uint64)
    if X.shape[0]:
        kernel(X.view(word), negative_zero, out)
    return out


def shifted_block(X, rows, cols, center, scale, dtype):
    """``(X[rows, cols] - center[cols]) * scale`` as a new C-contiguous ``dtype`` array.

    ``rows`` and ``cols`` are slices with unit step.  The arithmetic is X's own
    (float32 data is shifted in float32), then rounded to ``dtype``.
    """
    r0, r1, _ = rows.indices(X.shape[0])
    c0, c1, _ = cols.indices(X.shape[1])
    out = np.empty((max(r1 - r0, 0), max(c1 - c0, 0)), dtype=dtype)
    if out.size:
        _compiled()[3](_c(X), r0, c0, center.astype(X.dtype, copy=False), X.dtype.type(scale), out)
    return out


def shifted_sq_norms(X, center, scale, dtype):
    """Float64 squared norms of the rows of ``(X - center) * scale`` rounded to ``dtype``."""
    sq = np.empty(X.shape[0])
    if X.shape[0]:
        _compiled()[4](_c(X), center.astype(X.dtype, copy=False), X.dtype.type(scale),
                       np.dtype(dtype) == np.float32, sq)
    return sq


def merge_rows(d2, offset, row0, vals, cand):
    """Fold the rows of ``d2`` (columns from ``offset``) into the running sorted top-m
    ``vals``/``cand`` rows ``row0 ...``, in place: one pass, no sort of the tile."""
    _compiled()[5](d2, int(offset), int(row0), vals, cand)


def column_stats(X, scale):
    """``(amax, sums, squares)`` in one pass: the largest ``|x|`` (inf with a NaN), and per
    column the float64 sums of ``x * scale`` and of its square."""
    block = 256
    D = X.shape[1]
    sums, squares = np.zeros(D), np.zeros(D)
    amax = np.zeros(max(1, -(-D // block)))
    if X.size:
        _compiled()[6](_c(X), float(scale), block, sums, squares, amax)
    return float(amax.max()), sums, squares
