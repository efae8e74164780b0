"""Expectation curves of the estimators on uniform balls, simulated once and kept on disk.

Every estimator underestimates high dimensions at finite ``N``: the
neighbourhoods of ``k`` points are not small against the data when ``d`` is
large, and most points sit near a boundary.  The calibrated estimators measure
this bias where the answer is known, on uniform samples of the unit ``d``-ball
with the data's ``N`` and ``k``, and invert it (the route of DANCo, which
calibrates the same way).

The procedure, for one key ``(statistic, k, N)``:

1. ``N`` is snapped to the grid ``2^(j/8)`` (at most 4.4 % away; exact below
   64 points), so that data sets of nearby sizes share one table.
2. For each candidate dimension ``d`` of :func:`dimension_grid`, in increasing
   order: ``N`` points uniform in the unit ``d``-ball (Gaussian direction times
   ``U^(1/d)``), of which the first ``m = min(N, 2500)`` are queries; their
   neighbours among all ``N`` come from the shared engine; the estimator's
   statistic is computed on them.  This repeats on fresh balls until about
   ``QUERIES[statistic]`` queries have been seen (at most ``MAX_REPEATS``
   balls), and the results are pooled:
   ``mle`` is ``1 / mean(u)`` (textbook normalization), ``twonn_*`` the mean of
   the TwoNN fits, ``danco`` the MiND-ML estimate, mean ``nu`` and mean ``tau``.
3. Dimensions are added only until the curve passes the data's own value by a
   margin (:func:`Calibration.ensure`), so the cost is bounded by the
   estimate, never by the ambient dimension: per dimension ``d``, at most
   ``MAX_REPEATS`` balls of ``N x d`` values and searches of ``m x N`` pairs.

The seed of each ball is fixed by ``(SEED, statistic, k, N, d, repeat)``: a
table is a deterministic function of its key, whichever ``random_state`` the
user passes, and a table extended later equals one computed at once.

Tables are kept in memory and written to ``<cache>/id_calibration/`` as
``.npz`` files, ``<cache>`` being ``$SKINTRINSIC_CACHE`` when set, else
``$XDG_CACHE_HOME/skintrinsic``, else ``~/.cache/skintrinsic``.  Deleting the
folder only costs the re-simulation.  A cache that cannot be written is
reported once and the tables are kept in memory.
"""

import os
import warnings
from pathlib import Path

import numpy as np

from .._neighbors import kneighbors
from .classic import mle_inverse_estimates, twonn_dimension
from .danco import angle_statistics
from .mind import mind_ml_dimension

SEED = 20141
VERSION = 1
#: Queries pooled per dimension, per statistic (the noise of the curve is about
#: ``1 / sqrt(queries * (k - 1))`` for the MLE, ``1 / sqrt(queries)`` for TwoNN).
QUERIES = {"mle": 10_000, "twonn_pope": 20_000, "twonn_facco": 20_000, "danco": 10_000}
MAX_QUERIES_PER_BALL = 2500
MAX_REPEATS = 16
_CODES = {"mle": 1, "twonn_pope": 2, "twonn_facco": 3, "danco": 4}
_MEMORY = {}
_WARNED = []


def dimension_grid(cap):
    """Candidate dimensions: every integer to 24, then steps of 2, 5, 10 and 20, up to ``cap``."""
    grid = np.r_[np.arange(1, 25), np.arange(26, 41, 2), np.arange(45, 101, 5),
                 np.arange(110, 201, 10), np.arange(220, 1025, 20)]
    return grid[grid <= cap]


def snap_samples(n):
    """``n`` on the grid ``2^(j/8)`` (unchanged below 64)."""
    if n < 64:
        return int(n)
    return int(round(2.0 ** (round(8 * np.log2(n)) / 8)))


def uniform_ball(n, d, rng):
    """``n`` points uniform in the unit ``d``-ball."""
    Z = rng.standard_normal((n, d))
    Z *= (rng.uniform(size=(n, 1)) ** (1.0 / d)) / np.linalg.norm(Z, axis=1, keepdims=True)
    return Z


def cache_dir():
    """The folder of the kept tables (see the module docstring); not created here."""
    root = os.environ.get("SKINTRINSIC_CACHE")
    if root:
        return Path(root) / "id_calibration"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "skintrinsic" / "id_calibration"


def _needed_neighbors(statistic, k):
    return 2 if statistic.startswith("twonn") else k


def _simulate(statistic, n, k, d, n_jobs):
    m = min(n, MAX_QUERIES_PER_BALL)
    repeats = int(min(MAX_REPEATS, max(1, np.ceil(QUERIES[statistic] / m))))
    pooled, fits = [], []
    for r in range(repeats):
        rng = np.random.default_rng([SEED, _CODES[statistic], k, n, d, r, VERSION])
        R = uniform_ball(n, d, rng)
        nb = kneighbors(R, _needed_neighbors(statistic, k), query=R[:m], n_jobs=n_jobs)
        if statistic == "mle":
            pooled.append(mle_inverse_estimates(nb.distances, "textbook"))
        elif statistic.startswith("twonn"):
            fits.append(twonn_dimension(nb.distances[:, 1] / nb.distances[:, 0],
                                        statistic.split("_")[1]))
        else:
            nu, tau = angle_statistics(R, nb.indices[:, :k - 1], centres=R[:m])
            pooled.append(np.c_[np.log(nb.distances[:, 0] / nb.distances[:, -1]), nu, tau])
    if statistic == "mle":
        return np.array([1.0 / np.concatenate(pooled).mean()])
    if statistic.startswith("twonn"):
        return np.array([np.mean(fits)])
    P = np.concatenate(pooled)
    return np.array([mind_ml_dimension(P[:, 0], k), P[:, 1].mean(), P[:, 2].mean()])


class Calibration:
    """The expectation curve of one statistic at one ``(k, N)``, grown on demand.

    ``dims`` holds the simulated dimensions and ``values`` one row of
    statistics per dimension (``[d_hat]``, or ``[dhat, mu_nu, mu_tau]`` for DANCo).
    """

    def __init__(self, statistic, k, n_samples):
        self.statistic = statistic
        self.k = int(k) if statistic in ("mle", "danco") else 2
        self.n = snap_samples(n_samples)
        self.dims = np.zeros(0, dtype=np.int64)
        self.values = np.zeros((0, 3 if statistic == "danco" else 1))

    @property
    def key(self):
        return f"v{VERSION}_{self.statistic}_k{self.k}_n{self.n}"

    @classmethod
    def load(cls, statistic, k, n_samples):
        table = cls(statistic, k, n_samples)
        if table.key in _MEMORY:
            return _MEMORY[table.key]
        path = cache_dir() / f"{table.key}.npz"
        if path.exists():
            try:
                with np.load(path) as f:
                    table.dims, table.values = f["dims"], f["values"]
            except (OSError, ValueError, KeyError):
                pass  # a damaged file is simulated again and overwritten
        _MEMORY[table.key] = table
        return table

    def _save(self):
        folder = cache_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f"{self.key}.{os.getpid()}.tmp.npz"
            np.savez(tmp, dims=self.dims, values=self.values)
            os.replace(tmp, folder / f"{self.key}.npz")
        except OSError as exc:
            if not _WARNED:
                _WARNED.append(True)
                warnings.warn(f"The intrinsic-dimension calibration tables cannot be kept in "
                              f"{folder} ({exc}); they are kept in memory for this session. "
                              "Set SKINTRINSIC_CACHE to a writable folder.", UserWarning,
                              stacklevel=3)

    def ensure(self, target, cap, *, n_jobs=None, verbose=0, margin=1.25, beyond=2):
        """Simulate dimensions until the curve's first column passes ``margin * target``.

        ``beyond`` more grid dimensions are added after that (DANCo's
        divergence needs both sides of its minimum); never past ``cap``.
        Returns the simulated ``(dims, values)`` up to ``cap``.
        """
        grid = dimension_grid(cap)
        added = False
        for d in grid:
            if d in self.dims:
                continue
            done = self.dims[self.dims <= cap]
            if done.size and d > done.max():
                over = self.values[self.dims <= cap][:, 0] > margin * target
                if over.any() and np.count_nonzero(done > done[over][0]) >= beyond:
                    break
            if verbose:
                print(f"calibrating {self.statistic} (k={self.k}, N={self.n}) at d={d}")
            row = _simulate(self.statistic, self.n, self.k, int(d), n_jobs)
            order = np.argsort(np.r_[self.dims, d], kind="stable")
            self.dims = np.r_[self.dims, d][order]
            self.values = np.vstack([self.values, row])[order]
            added = True
        if added:
            self._save()
        keep = self.dims <= cap
        return self.dims[keep], self.values[keep]


def invert_curve(dims, curve, value):
    """The dimension whose expected estimate is ``value`` (piecewise linear inverse).

    Below the first dimension the curve is taken proportional (``g(d) = d
    g(1)``); above the last it is clipped to the last dimension.  Noise can
    make a simulated curve dip; its running maximum is inverted.
    """
    curve = np.maximum.accumulate(np.asarray(curve, dtype=np.float64))
    value = np.asarray(value, dtype=np.float64)
    inside = np.interp(value, curve, dims)
    return np.where(value < curve[0], value * dims[0] / curve[0], inside)
