"""The exact neighbour engine over row blocks, as a dask task graph (data beyond one process).

Inputs that do not fit in one process -- a dask array (rows chunked), a zarr
array, or a numpy memmap while a ``dask.distributed`` Client is active -- are
wrapped in :class:`BlockedRows`, which holds no data: only where the rows are
and how to read one block of them.  The in-memory engine's pieces
(:mod:`skintrinsic._neighbors`) then run on pairs of blocks, as pure tasks:

1. *Scan* (one task per block): column sums, squares and the largest value,
   added up by a tree reduction into the frame that every tile shares (one
   mean shift and one power-of-two scale), and a 64-bit hash of every row.
2. *Duplicates*: the client groups the ``N`` hashes; rows in a bucket of
   two or more are read by one task per block, shuffled by hash into
   partitions, and confirmed equal within each partition
   (:func:`~skintrinsic._neighbors.find_duplicates` on the few rows there).
3. *Tiles* (one task per unordered pair of blocks, the diagonal included):
   both blocks are read and the float32 GEMM gives each row's top ``m``
   approximate candidates on both sides of the tile.
4. *Tree reduction* per block: the ``m`` smallest approximate values of the
   union.  Every pair left out is at least the ``m``-th kept value, as in the
   in-memory pass, so the in-memory certificate applies unchanged.
5. *Exact values*: one task per pair of blocks that holds candidate pairs
   reads both blocks again and computes those pairs' float64 distances from
   differences, each unordered pair once.  The client ranks them, certifies
   each row, and the rare rows left (exact ties past the candidates) are
   searched exhaustively from differences, one task per pair of (a block's
   failed rows, a block).

The result is the in-memory engine's answer: the float64 brute force with ties
broken by index.  A task holds two blocks and ``O(block k)`` candidates; the
client holds ``O(N k)`` numbers (hashes, labels, the merged lists, the candidate
pairs), never X.
Tasks are pure, so a lost worker's tasks are simply run again by dask.
"""

import contextlib
import math
import mmap
import sys

import numpy as np
import torch

from ._compute import progress, resolve_device
from ._kernels import column_stats, pair_sq_distances, row_hashes
from ._neighbors import (
    IN_MEMORY_ONLY,
    DuplicateInfo,
    Neighbors,
    PairDistances,
    _argsort_rows,
    _accumulate,
    _candidates,
    _chunks,
    _engine_context,
    _Operand,
    _rank_exact,
    _Running,
    _tile_shape,
    certificate,
    error_coefficients,
    find_duplicates,
    frame_from_stats,
    operand_rounding,
)
from ._ratios import row_maxima
from ._validation import validate_images

#: Rows per block of a memmap (and at least per block of a zarr array): a block of about this
#: many bytes, as read.  A dask array's own row chunks are its blocks.
BLOCK_BYTES = 128 * 2**20
#: Exact distances computed at once by the exhaustive re-search of uncertified rows.
_EXHAUSTIVE_PAIRS = 2**23
_F32_MAX = float(np.finfo(np.float32).max)



def _client():
    # a Client can only exist once distributed is imported; importing it costs ~1 s
    if "distributed" not in sys.modules:
        return None
    from distributed import get_client, get_worker  # noqa: PLC0415

    try:
        get_worker()
        # inside a task (joblib's dask backend, say): run here; resubmitting from a busy
        # worker's thread could wait on itself
        return None
    except ValueError:
        pass
    try:
        return get_client()
    except ValueError:
        return None


def _is_dask(X):
    # xarray and others define __dask_graph__ and return None when not backed by dask
    graph = getattr(X, "__dask_graph__", None)
    return callable(graph) and graph() is not None and hasattr(X, "chunks") \
        and hasattr(X, "shape")


def _is_zarr(X):
    return type(X).__module__.split(".")[0] == "zarr" and hasattr(X, "chunks")


def is_out_of_core(X):
    """Whether ``X`` is read in row blocks: a dask or zarr array, or a memmap with a Client."""
    if _is_dask(X) or _is_zarr(X):
        return True
    return isinstance(X, np.memmap) and _client() is not None


def validate_rows(estimator, X, y="no_validation", **check_params):
    """``validate_images`` for in-memory input; a :class:`BlockedRows` for out-of-core input.

    ``y`` (numpy or dask) is brought into memory: it has one value per row.
    """
    if getattr(X, "blocked", False):  # rows of an out-of-core set (a subset of it, say)
        rows = X
        rows.describe(estimator)
    elif not is_out_of_core(X):
        return validate_images(estimator, X, y, **check_params)
    else:
        rows = BlockedRows(estimator, X, min_samples=check_params.get("ensure_min_samples", 1))
    if isinstance(y, str) and y == "no_validation":
        return rows
    from sklearn.utils.validation import _check_y  # noqa: PLC0415

    if _is_dask(y):
        y = y.compute()
    y = _check_y(y, estimator=estimator)
    if y.shape[0] != rows.shape[0]:
        raise ValueError(
            f"X has {rows.shape[0]} samples but y has {y.shape[0]}; pass one label per sample."
        )
    return rows, y


# -- reading blocks ------------------------------------------------------------------------------

class _Reader:
    """Reads rows ``a:b`` of the source as a 2-d array; pickles without the data."""

    def __init__(self, X):
        self.n = X.shape[0]
        self.D = int(np.prod(X.shape[1:], dtype=np.int64))
        if _is_dask(X):
            self.kind = "dask"
            if any(np.isnan(c) for c in X.chunks[0]):
                raise ValueError("X is a dask array with unknown chunk sizes; call "
                                 "X.compute_chunk_sizes() first.")
            # the features of a row in one chunk, so that a block is a slice of whole rows
            self.array = X.rechunk({i: -1 for i in range(1, X.ndim)}).reshape(self.n, self.D)
            self.name = X.name
        elif _is_zarr(X):
            self.kind, self.array = "zarr", X
            self.name = (str(X.store), X.path, X.shape)
        else:
            self.kind = "memmap"
            if not X.flags.c_contiguous or X.filename is None:
                raise ValueError("X is a numpy memmap that is not C-contiguous (or has no "
                                 "file); pass the memmap as opened, e.g. np.load(path, "
                                 "mmap_mode='r').")
            base = np.frombuffer(X._mmap, dtype=np.uint8)
            start = X.offset - X.offset % mmap.ALLOCATIONGRANULARITY
            self.filename = X.filename
            self.offset = start + (X.ctypes.data - base.ctypes.data)
            self.dtype = X.dtype
            self.name = (self.filename, self.offset, X.shape, str(X.dtype))

    def __dask_tokenize__(self):
        return (self.kind, self.name)

    def read(self, a, b):
        if self.kind == "dask":
            # only the chunks that hold these rows are computed, in this task
            return np.asarray(self.array[a:b].compute(scheduler="sync"))
        if self.kind == "zarr":
            return np.asarray(self.array[a:b]).reshape(b - a, self.D)
        rows = np.memmap(self.filename, dtype=self.dtype, mode="r",
                         offset=self.offset + a * self.D * self.dtype.itemsize,
                         shape=(b - a, self.D))
        return np.array(rows)


def _read(reader, block, dtype):
    """The kept rows of a block, as ``dtype``, C-contiguous."""
    rows = reader.read(block.start, block.stop)
    if block.keep is not None:
        rows = rows[block.keep]
    return np.ascontiguousarray(rows, dtype=dtype)


class _Block:
    """Rows ``start:stop`` of the source; ``keep`` (local indices, None for all) are the
    rows in the set, numbered from ``offset``; ``labels`` theirs."""

    def __init__(self, start, stop, keep=None, offset=None, labels=None):
        self.start, self.stop, self.keep, self.labels = start, stop, keep, labels
        self.offset = start if offset is None else offset
        self.n = (stop - start) if keep is None else keep.size


# -- the tasks -----------------------------------------------------------------------------------

def _scan(reader, block, dtype):
    """Column statistics, whether float32 holds the rows exactly, and the row hashes."""
    X = _read(reader, block, dtype)
    amax, sums, squares = column_stats(X, 1.0)
    lossless = X.dtype == np.float32 or (
        amax < _F32_MAX and np.array_equal(X.astype(np.float32), X))
    return (amax, sums, squares, bool(lossless)), row_hashes(X)


def _add_stats(a, b):
    return max(a[0], b[0]), a[1] + b[1], a[2] + b[2], a[3] and b[3]


def _scaled_sums(reader, block, dtype, scale):
    return column_stats(_read(reader, block, dtype), scale)[1:]


def _add_pairs(a, b):
    return a[0] + b[0], a[1] + b[1]


def _extract(reader, block, dtype, local, index, part, n_parts):
    """The rows ``local`` of a block, split by hash partition into ``(index, rows)`` pieces."""
    X = _read(reader, block, dtype)[local]
    return tuple((index[part == p], X[part == p]) for p in range(n_parts))


def _confirm(*pieces):
    """``(index, first)``: each row of the partition and the first row equal to it."""
    index = np.concatenate([p[0] for p in pieces])
    rows = np.concatenate([p[1] for p in pieces])
    order = np.argsort(index)
    index, rows = index[order], rows[order]
    return index, index[find_duplicates(rows).groups]


def _knn_part(approx, cand, offset, sq):
    return approx, np.where(cand >= 0, cand + offset, -1), sq


def _cross_candidates(opA, opB, m, la, lb):
    """Top ``m`` candidates of the rows of ``opA`` in ``opB`` and of ``opB`` in ``opA``, from
    one GEMM per tile (its transpose feeds the other side)."""
    runA = _Running(opA, opB, m, False, la, lb)
    runB = _Running(opB, opA, m, False, lb, la)
    T, S = _tile_shape(opA.n, opB.n, opA.D, 4)
    for a in range(0, opA.n, T):
        I = slice(a, min(a + T, opA.n))
        for b in range(0, opB.n, S):
            J = slice(b, min(b + S, opB.n))
            acc = None
            for cols in _chunks(opA.D):
                acc = _accumulate(acc, opA.block(I, cols), opB.block(J, cols))
            runB.feed(acc.T.contiguous(), J, I)  # before runA's feed overwrites acc
            runA.feed(acc, I, J)
    return runA.result(), runB.result()


def _knn_tile(reader, frame, spec, bi, bj):
    """Each row's ``m`` best candidates within the tile of blocks ``bi`` x ``bj`` (``bj``
    None: the block against itself): approximate squared distances and global indices."""
    m = spec["m"]
    with _engine_context(spec["n_jobs"]):
        device = resolve_device(spec["device"])
        opA = _Operand(_read(reader, bi, spec["dtype"]), frame, torch.float32, device)
        if bj is None:
            approx, cand = _candidates(opA, opA, m, self_mode=True, q_labels=bi.labels,
                                       r_labels=bi.labels, verbose=0, desc="")
            return _knn_part(approx, cand, bi.offset, opA.sq), None
        opB = _Operand(_read(reader, bj, spec["dtype"]), frame, torch.float32, device)
        (approxA, candA), (approxB, candB) = _cross_candidates(opA, opB, m, bi.labels,
                                                               bj.labels)
        return (_knn_part(approxA, candA, bj.offset, opA.sq),
                _knn_part(approxB, candB, bi.offset, opB.sq))


def _merge_candidates(p, q):
    """The ``m`` smallest approximate values of two candidate lists of the same rows: every
    left-out pair stays at least the ``m``-th kept value, as in the in-memory pass."""
    m = p[0].shape[1]
    approx = np.concatenate([p[0], q[0]], axis=1)
    cand = np.concatenate([p[1], q[1]], axis=1)
    order = _argsort_rows(approx, np.where(cand < 0, np.iinfo(np.int64).max, cand))[:, :m]
    return (np.take_along_axis(approx, order, 1), np.take_along_axis(cand, order, 1),
            p[2] if p[2] is not None else q[2])


def _exact_pairs(reader, dtype, frame, bi, bj, rows_a, rows_b):
    """Float64 squared distances (frame units) of rows ``rows_a`` of ``bi`` and ``rows_b`` of
    ``bj`` (``bj`` None: of ``bi``), from differences."""
    A = _read(reader, bi, dtype)
    B = A if bj is None else _read(reader, bj, dtype)
    return pair_sq_distances(A, B, rows_a, rows_b[:, None], frame.scale)[:, 0]


def _merge_knn(p, q):
    """The ``k`` best of two lists of the same rows, by (exact distance, index)."""
    k = p[0].shape[1]
    exact = np.concatenate([p[0], q[0]], axis=1)
    cand = np.concatenate([p[1], q[1]], axis=1)
    order = _argsort_rows(exact, np.where(cand < 0, np.iinfo(np.int64).max, cand))[:, :k]
    return np.take_along_axis(exact, order, 1), np.take_along_axis(cand, order, 1)


def _take(reader, block, dtype, local):
    return _read(reader, block, dtype)[local]


def _exhaustive(reader, frame, spec, block, Q, q_index, q_labels):
    """Exact ``k`` nearest rows of ``block`` for each query, from every distance."""
    k = spec["k"]
    with _engine_context(spec["n_jobs"]):
        B = _read(reader, block, spec["dtype"])
        out_d = np.full((Q.shape[0], k), np.inf)
        out_i = np.full((Q.shape[0], k), -1, dtype=np.int64)
        step = max(1, _EXHAUSTIVE_PAIRS // max(1, B.shape[0]))
        for s in range(0, Q.shape[0], step):
            sub = np.arange(s, min(s + step, Q.shape[0]))
            everyone = np.tile(np.arange(B.shape[0]), (sub.size, 1))
            if block.labels is not None:
                everyone[block.labels[None, :] == q_labels[sub][:, None]] = -1
            exact, cand = _rank_exact(Q, B, sub, everyone, frame, exclude_zero=False,
                                      self_rows=q_index[sub] - block.offset)
            pad = max(0, k - exact.shape[1])
            exact = np.pad(exact, ((0, 0), (0, pad)), constant_values=np.inf)[:, :k]
            cand = np.pad(cand, ((0, 0), (0, pad)), constant_values=-1)[:, :k]
            out_d[sub], out_i[sub] = exact, np.where(cand >= 0, cand + block.offset, -1)
    return out_d, out_i


def _ratio_tile(reader, frame, spec, bi, bj):
    """Each row's largest exact squared label-to-distance ratio within the tile."""

    engine = dict(device=spec["device"], n_jobs=spec["n_jobs"], frame=frame)
    A = _read(reader, bi, spec["dtype"])
    if bj is None:
        best, arg, d2 = row_maxima(PairDistances(A, **engine), bi.labels, bi.labels,
                                    same_rows=True)
        return (best, np.where(arg >= 0, arg + bi.offset, -1), d2), None
    B = _read(reader, bj, spec["dtype"])
    sides = []
    for (Q, bq), (R, br) in (((A, bi), (B, bj)), ((B, bj), (A, bi))):
        best, arg, d2 = row_maxima(PairDistances(R, query=Q, **engine), bq.labels, br.labels,
                                    same_rows=False)
        sides.append((best, np.where(arg >= 0, arg + br.offset, -1), d2))
    return tuple(sides)


def _merge_max(p, q):
    """Per row, the larger ratio; among equal ones the smaller index (-1 is none)."""
    big = np.iinfo(np.int64).max
    pa, qa = np.where(p[1] < 0, big, p[1]), np.where(q[1] < 0, big, q[1])
    take_q = (q[0] > p[0]) | ((q[0] == p[0]) & (qa < pa))
    return tuple(np.where(take_q, b, a) for a, b in zip(p, q))


# -- running the graph ---------------------------------------------------------------------------

def _tree(parts, merge):
    from dask import delayed  # noqa: PLC0415

    parts = list(parts)
    while len(parts) > 1:
        parts = [delayed(merge, pure=True)(parts[i], parts[i + 1]) if i + 1 < len(parts)
                 else parts[i] for i in range(0, len(parts), 2)]
    return parts[0]


class _TaskBar:
    """Counts finished tasks of dask's local scheduler on a progress bar."""

    def __init__(self, bar):
        self.bar = bar

    def __call__(self, *args):
        self.bar.update(1)


def _compute(objs, *, verbose, desc):
    """Compute delayed objects: on the active Client's cluster, else in this process.

    Without a Client the tasks run one at a time (dask's synchronous scheduler),
    each using ``n_jobs`` threads, so that no two tasks share torch's thread pool.
    """
    import dask  # noqa: PLC0415

    client = _client()
    if client is not None:
        futures = client.compute(list(objs))
        if verbose:
            from distributed import as_completed  # noqa: PLC0415

            for _ in progress(as_completed(futures), verbose=verbose, desc=desc,
                              total=len(futures), unit="result"):
                pass
        return client.gather(futures)
    callbacks = contextlib.nullcontext()
    bar = progress(None, verbose=verbose, desc=desc, unit="task")
    if verbose:
        from dask.callbacks import Callback  # noqa: PLC0415

        callbacks = Callback(posttask=_TaskBar(bar))
    with callbacks:
        out = dask.compute(*objs, scheduler="sync")
    bar.close()
    return list(out)


# -- the row set -----------------------------------------------------------------------------------

class BlockedRows:
    """The rows of an out-of-core array, read block by block by dask tasks (no data held).

    It stands where the in-memory engine takes an ndarray: ``find_duplicates``,
    ``take_rows``, ``compact``, ``kneighbors``, ``nearest_other_label`` and the
    continuous label sharpness dispatch to it.  Anything else that would need
    the rows in memory refuses it with a clear error (``__array__``).  The
    estimator's ``device``, ``n_jobs`` and ``verbose`` apply to its tasks.
    """

    blocked = True

    def __init__(self, estimator, X, *, min_samples=1):
        if len(getattr(X, "shape", ())) < 2:
            raise ValueError(
                f"Expected a 2-d (or image) array of shape (n_samples, ...), got an out-of-core "
                f"array of shape {getattr(X, 'shape', None)}."
            )
        dtype = np.dtype(X.dtype)
        if dtype.kind not in "biuf":
            raise TypeError(f"{type(estimator).__name__} needs numeric X (pixel or feature "
                            f"values), got dtype {dtype}.")
        n = X.shape[0]
        if n < min_samples:
            raise ValueError(f"Found array with {n} sample(s) (shape={X.shape}) while a minimum "
                             f"of {min_samples} is required.")
        self._reader = _Reader(X)
        self.shape = (n, self._reader.D)
        # as validate_images: float32 stays, anything else is read as float64
        self.dtype = np.dtype(np.float32) if dtype == np.float32 else np.dtype(np.float64)
        self.input_shape = tuple(X.shape[1:]) if len(X.shape) > 2 else None
        self._blocks = self._plan(X)
        self._rows = None  # every row
        self._stats = None
        self.describe(estimator)

    def describe(self, estimator):
        """Set the estimator's input attributes, and take its engine settings for the tasks."""
        estimator.input_shape_ = self.input_shape
        estimator.n_features_in_ = self.shape[1]
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        self.engine = dict(device=getattr(estimator, "device", "cpu"),
                           n_jobs=getattr(estimator, "n_jobs", None),
                           verbose=getattr(estimator, "verbose", 0))

    def _plan(self, X):
        if self._reader.kind == "dask":
            bounds = np.r_[0, np.cumsum(self._reader.array.chunks[0])]
        else:
            step = max(1, BLOCK_BYTES // max(1, self.shape[1] * X.dtype.itemsize))
            if self._reader.kind == "zarr":
                chunk = X.chunks[0]
                step = max(chunk, step // chunk * chunk)
            bounds = np.r_[np.arange(0, self.shape[0], step), self.shape[0]]
        return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]

    def __array__(self, *args, **kwargs):
        raise ValueError(IN_MEMORY_ONLY.format(what="this operation (transform, "
                                               "pairs='random')"))

    def __len__(self):
        return self.shape[0]

    @property
    def size(self):
        return self.shape[0] * self.shape[1]

    @property
    def n_blocks(self):
        return len(self._blocks)

    def __getitem__(self, rows):
        """The rows ``rows`` (sorted indices or a boolean mask) of this set, lazily."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        if rows.ndim != 1 or np.any(np.diff(rows) <= 0):
            raise ValueError("Rows of an out-of-core array are taken by sorted, distinct "
                             "indices or a boolean mask.")
        out = object.__new__(BlockedRows)
        out.__dict__.update(self.__dict__)
        out._rows = rows if self._rows is None else self._rows[rows]
        out.shape = (rows.size, self.shape[1])
        return out

    # -- passes ---------------------------------------------------------------------------------

    def _block_list(self, labels=None):
        """The blocks holding rows of this set, their kept rows and numbering."""
        out, offset = [], 0
        rows = self._rows
        for a, b in self._blocks:
            if rows is None:
                keep, n = None, b - a
            else:
                lo, hi = np.searchsorted(rows, [a, b])
                keep, n = rows[lo:hi] - a, hi - lo
                if n == b - a:
                    keep = None
            if n:
                lab = None if labels is None else labels[offset:offset + n]
                out.append(_Block(a, b, keep, offset, lab))
            offset += n
        return out

    def _scan(self):
        """Statistics of every row (all rows of the source) and their hashes, once."""
        if self._stats is None:
            from dask import delayed  # noqa: PLC0415

            reader = delayed(self._reader, pure=True, traverse=False)
            blocks = [_Block(a, b) for a, b in self._blocks]
            scans = [delayed(_scan, nout=2, pure=True)(reader, b, self.dtype) for b in blocks]
            out = _compute([_tree([s[0] for s in scans], _add_stats)] + [s[1] for s in scans],
                           verbose=self.engine["verbose"], desc="scan")
            self._stats = (out[0], np.concatenate(out[1:]))
        return self._stats

    def find_duplicates(self):
        """:func:`~skintrinsic._neighbors.find_duplicates` by hash, shuffle and confirm."""
        from dask import delayed  # noqa: PLC0415

        _, hashes = self._scan()
        if self._rows is not None:
            hashes = hashes[self._rows]
        n = hashes.size
        order = np.argsort(hashes, kind="stable")
        sorted_h = hashes[order]
        shared = np.r_[sorted_h[1:] == sorted_h[:-1], False] | \
            np.r_[False, sorted_h[1:] == sorted_h[:-1]]
        suspects = np.sort(order[shared])
        groups = np.arange(n)
        if suspects.size:
            reader = delayed(self._reader, pure=True, traverse=False)
            blocks = self._block_list()
            n_parts = max(1, min(len(blocks), suspects.size))
            part_of = (hashes[suspects] % np.uint64(n_parts)).astype(np.int64)
            pieces = []
            for block in blocks:
                lo, hi = np.searchsorted(suspects, [block.offset, block.offset + block.n])
                if hi > lo:
                    local = suspects[lo:hi] - block.offset
                    pieces.append(delayed(_extract, nout=n_parts, pure=True)(
                        reader, block, self.dtype, local, suspects[lo:hi], part_of[lo:hi],
                        n_parts))
            confirmed = [delayed(_confirm, pure=True)(*[p[i] for p in pieces])
                         for i in range(n_parts)]
            for index, first in _compute(confirmed, verbose=self.engine["verbose"],
                                         desc="duplicates"):
                groups[index] = first
        keep = np.flatnonzero(groups == np.arange(n))
        return DuplicateInfo(keep=keep, groups=groups, n_duplicates=n - keep.size)

    def compact(self):
        """These rows read as float32 when float32 holds every value exactly (as ``compact``)."""
        if self.dtype != np.float64 or not self._scan()[0][3]:
            return self
        out = self[np.arange(self.shape[0])]
        out.dtype = np.dtype(np.float32)
        return out

    def _frame(self):
        from dask import delayed  # noqa: PLC0415

        (amax, sums, squares, _), _ = self._scan()
        reader = delayed(self._reader, pure=True, traverse=False)

        def rescaled(scale):
            parts = [delayed(_scaled_sums, pure=True)(reader, _Block(a, b), self.dtype, scale)
                     for a, b in self._blocks]
            return _compute([_tree(parts, _add_pairs)], verbose=0, desc="")[0]

        # the shift is the mean of every row of the source, duplicates included: it moves the
        # GEMM's approximations only, never the certified result
        return frame_from_stats(amax, sums, squares, self._reader.n, self.shape[1],
                                rescaled=rescaled, float32=self.dtype == np.float32)

    def _spec(self, **extra):
        return dict(dtype=self.dtype, device=self.engine["device"],
                    n_jobs=self.engine["n_jobs"], **extra)

    def _tiles(self, task, blocks, spec, frame, merge, desc):
        """One task per unordered pair of blocks; each block's parts merged by a tree."""
        from dask import delayed  # noqa: PLC0415

        reader = delayed(self._reader, pure=True, traverse=False)
        frame = delayed(frame, pure=True, traverse=False)
        parts = [[] for _ in blocks]
        for i, bi in enumerate(blocks):
            for j in range(i, len(blocks)):
                tile = delayed(task, nout=2, pure=True)(reader, frame, spec, bi,
                                                        None if i == j else blocks[j])
                parts[i].append(tile[0])
                if j != i:
                    parts[j].append(tile[1])
        merged = _compute([_tree(p, merge) for p in parts], verbose=self.engine["verbose"],
                          desc=desc)
        return [np.concatenate(x) if x[0] is not None else None for x in zip(*merged)]

    def kneighbors(self, k, *, labels=None, method="exact"):
        """Exact ``k`` nearest rows of each row (bichromatic with ``labels``): the in-memory
        :func:`~skintrinsic._neighbors.kneighbors` answer."""
        from dask import delayed  # noqa: PLC0415

        if method != "exact":
            raise ValueError(
                f"neighbors={method!r}: out-of-core inputs (dask, zarr, memmap with a Client) "
                "are searched exactly only; pass neighbors='exact'."
            )
        n = self.shape[0]
        if labels is None:
            n_eligible = np.full(n, n - 1)
        else:
            labels = np.asarray(labels, dtype=np.int64)
            n_eligible = n - np.bincount(labels)[labels]
        if labels is None and not 1 <= k <= n - 1:
            raise ValueError(
                f"k={k} neighbours were requested but only {n - 1} other points are available; "
                f"use 1 <= k <= {n - 1} or provide more samples."
            )
        m = int(min(n, k + max(4, k // 5)))
        frame = self._frame()
        blocks = self._block_list(labels)
        spec = self._spec(k=k, m=m)
        approx, cand, sq = self._tiles(_knn_tile, blocks, spec, frame, _merge_candidates,
                                       "tiles")
        rows = np.arange(n)
        exact, cand = _rank_exact(None, None, rows, cand, frame, exclude_zero=False,
                                  self_rows=rows, exact=self._exact(blocks, frame, cand))
        K, K2 = error_coefficients(torch.float32, self.shape[1])
        rho = operand_rounding(self.dtype, frame, torch.float32)
        ok = certificate(K, K2, rho, sq, float(np.sqrt(sq.max())), self.shape[1],
                         approx[:, -1], exact[:, k - 1], n_eligible, m)
        exact, cand = exact[:, :k], cand[:, :k]
        failed = np.flatnonzero(~ok)
        self.stats = dict(rows=n, tiles=len(blocks) * (len(blocks) + 1) // 2,
                          exhaustive=int(failed.size))
        if failed.size:
            reader = delayed(self._reader, pure=True, traverse=False)
            frame_d = delayed(frame, pure=True, traverse=False)
            # the failed rows of one block against every block: a task holds at most a
            # block of queries and a block of references
            batches, trees = [], []
            for block in blocks:
                lo, hi = np.searchsorted(failed, [block.offset, block.offset + block.n])
                if hi == lo:
                    continue
                rows = failed[lo:hi]
                queries = delayed(_take, pure=True)(reader, block, self.dtype,
                                                    rows - block.offset)
                q_labels = None if labels is None else labels[rows]
                trees.append(_tree([delayed(_exhaustive, pure=True)(
                    reader, frame_d, spec, ref, queries, rows, q_labels) for ref in blocks],
                    _merge_knn))
                batches.append(rows)
            for rows, (e, c) in zip(batches, _compute(trees, verbose=self.engine["verbose"],
                                                      desc="exhaustive")):
                exact[rows], cand[rows] = e, c
        if not np.all(np.isfinite(exact)):
            raise ValueError(
                f"Fewer than k={k} valid neighbours are available for some queries "
                f"({n} reference points). Use a smaller k or more samples."
            )
        return Neighbors(frame.to_user(np.sqrt(exact)), cand)

    def _exact(self, blocks, frame, cand):
        """Exact squared distances of every row's candidates, each unordered pair once, by one
        task per pair of blocks that holds some (both blocks are read again)."""
        from dask import delayed  # noqa: PLC0415

        n = np.int64(self.shape[0])
        valid = cand >= 0
        rows = np.broadcast_to(np.arange(n)[:, None], cand.shape)
        lo, hi = np.minimum(rows, cand)[valid], np.maximum(rows, cand)[valid]
        keys, inverse = np.unique(lo * n + hi, return_inverse=True)
        lo, hi = keys // n, keys % n
        starts = np.array([b.offset for b in blocks])
        block_lo = np.searchsorted(starts, lo, side="right") - 1
        block_hi = np.searchsorted(starts, hi, side="right") - 1
        pair = block_lo * len(blocks) + block_hi
        order = np.argsort(pair, kind="stable")
        bounds = np.flatnonzero(np.r_[True, pair[order][1:] != pair[order][:-1], True])
        reader = delayed(self._reader, pure=True, traverse=False)
        frame_d = delayed(frame, pure=True, traverse=False)
        tasks = []
        for s, e in zip(bounds[:-1], bounds[1:]):
            sel = order[s:e]
            bi, bj = blocks[block_lo[sel[0]]], blocks[block_hi[sel[0]]]
            tasks.append(delayed(_exact_pairs, pure=True)(
                reader, self.dtype, frame_d, bi, None if bi is bj else bj,
                lo[sel] - bi.offset, hi[sel] - bj.offset))
        values = np.empty(keys.size)
        for (s, e), v in zip(zip(bounds[:-1], bounds[1:]),
                             _compute(tasks, verbose=self.engine["verbose"], desc="exact")):
            values[order[s:e]] = v
        exact = np.full(cand.shape, np.inf)
        exact[valid] = values[inverse.ravel()]
        return exact

    def row_maxima(self, y_unit):
        """Each row's largest exact ``(y_i - y_j)^2 / ||x_i - x_j||^2``: the ratios, the
        maximizing rows (smallest among ties), their squared distances, and the frame's unit."""
        frame = self._frame()
        blocks = self._block_list(np.asarray(y_unit, dtype=np.float64))
        best, arg, d2 = self._tiles(_ratio_tile, blocks, self._spec(), frame, _merge_max,
                                    "tiles")
        return best, arg, d2, math.ldexp(1.0, frame.exp)
