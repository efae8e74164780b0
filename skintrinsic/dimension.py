"""Intrinsic dimension of a point cloud: the Levina-Bickel MLE, TwoNN and their successors.

Both estimators read only the distances ``T_1(x) <= T_2(x) <= ...`` from each
point to its nearest neighbours, which the shared engine
(:mod:`skintrinsic._neighbors`) computes once per fit.  The formulas are small
pure functions of those distances, so that they can be checked on their own:

MLE (Levina & Bickel 2005, averaged as MacKay & Ghahramani 2005)
    :func:`mle_inverse_estimates` gives, for each point,
    ``u_k(x) = 1/(k-2) * sum_{j=1}^{k-1} log(T_k(x) / T_j(x))`` (``k-1`` in the
    textbook normalization) and :func:`mle_dimension` averages them:
    ``1 / mean(u_k)`` (inverse averaging, the reference) or ``mean(1 / u_k)``.

TwoNN (Facco et al. 2017)
    :func:`twonn_dimension` regresses ``-log(1 - i/n)`` on the sorted
    ``log mu_(i)``, ``mu = T_2 / T_1``, through the origin.  The Pope et al.
    variant drops only the largest ratio; the Facco variant drops ratios equal
    to 1 and fits the smallest 90 %.

GRIDE, MiND-ML, DANCo and the calibrated MLE and TwoNN (``estimator=``) have
their formulas in :mod:`skintrinsic._id`; this module only dispatches to them.
"""

import math
import warnings

import numpy as np
import torch
from scipy.interpolate import PchipInterpolator
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Integral, Interval, Options, Real, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._compute import progress
from ._distributed import validate_rows
import scipy.sparse as sp
from sklearn.utils.validation import validate_data

from ._neighbors import (
    compact,
    apply_duplicate_policy,
    deduplicate,
    graph_duplicates,
    graph_neighbors,
    kneighbors,
    resolve_method,
    take_rows,
)
from ._id import calibration as _cal
from ._id.classic import (
    _NORMALIZATION_OFFSET,
    _check_distances,
    local_dimensions,
    mle_dimension,
    mle_inverse_estimates,
    twonn_dimension,
    twonn_ratios,
)
from ._id.danco import MAX_K as _DANCO_MAX_K
from ._id.danco import angle_statistics, danco_dimension
from ._id.gride import gride_dimension, gride_local, gride_profile
from ._id.mind import mind_ml_dimension, mind_ml_local
from ._validation import check_enough_samples, check_memory, user_stacklevel, validate_images

__all__ = [
    "IntrinsicDimension",
    "local_dimensions",
    "mle_dimension",
    "mle_inverse_estimates",
    "twonn_dimension",
    "twonn_ratios",
]

#: Fewest bootstrap replicates ``IntrinsicDimension`` accepts (0 skips the interval).
MIN_BOOTSTRAP = 10
#: Estimators that read ``k`` neighbours (the others read two).
_K_ESTIMATORS = ("mle", "mle_calibrated", "gride", "mind_ml", "danco")
_CALIBRATED = {"mle_calibrated": "mle", "twonn_calibrated": "twonn", "danco": "danco"}


class IntrinsicDimension(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Intrinsic dimension of a set of images (or any points), by MLE, TwoNN, GRIDE, MiND-ML or DANCo.

    ``fit`` estimates one dimension for the whole dataset, with a bootstrap
    confidence interval; ``transform`` gives each sample's local dimension,
    measured against the fitted data.  Images of any shape ``(n, ...)`` are
    flattened to vectors; distances are Euclidean on the raw values.

    The defaults reproduce the reference of Konz & Mazurowski (ICLR 2024) /
    Pope et al. (ICLR 2021) exactly: MLE with ``k = 20``, normalization
    ``k - 2``, inverse averaging; TwoNN with the Pope variant.

    Parameters
    ----------
    estimator : {"mle", "twonn", "mle_calibrated", "twonn_calibrated", "gride", \
"mind_ml", "danco"}, default="mle"
        All read one neighbour pass of ``k`` neighbours (two for TwoNN); see
        :ref:`intrinsic_dimension` for their accuracy and when to choose which.

        - ``"mle"``: Levina-Bickel maximum likelihood, the paper's estimator.
        - ``"twonn"``: TwoNN (Facco et al. 2017), two neighbours.
        - ``"mle_calibrated"``, ``"twonn_calibrated"``: the same statistic,
          corrected for its finite-sample bias by inverting its expectation
          curve, simulated on uniform balls with the data's ``N`` and ``k``
          and kept on disk (see "Calibration tables" in the user guide).  The MLE
          statistic is ``1 / mean(u_k)`` with the textbook normalization, so
          ``normalization`` and ``averaging`` do not apply.
        - ``"gride"``: GRIDE (Denti et al. 2022) on the ratios
          ``T_{2 n1} / T_{n1}`` with ``n1 = gride_n1``, with its multiscale
          profile (``scale_profile_``) and Fisher standard error.
        - ``"mind_ml"``: MiND-MLk (Rozza et al. 2012) on ``T_1 / T_k``.
        - ``"danco"``: DANCo (Ceruti et al. 2014): MiND-ML and the angles
          between the ``k - 1`` nearest neighbour vectors, compared with their
          simulated values on uniform balls.  Needs ``3 <= k <= 41`` and the
          samples themselves (not ``neighbors="precomputed"``); ``k=11`` is
          scikit-dimension's default ``DANCo(k=10)``.
    k : int, default=20
        Neighbours per point (ignored by TwoNN).  The reference
        normalization of the MLE needs ``k >= 3``.
    normalization : {"reference", "textbook"}, default="reference"
        MLE only: ``u_k = sum_{j<k} log(T_k / T_j) / (k - 2)`` as in the
        reference code, or ``/ (k - 1)`` as in Levina & Bickel.  The textbook
        value is exactly ``(k - 1) / (k - 2)`` times the reference one.
    averaging : {"inverse", "mean"}, default="inverse"
        MLE only: ``1 / mean(u_k)`` (MacKay & Ghahramani, the reference) or
        ``mean(1 / u_k)``.
    twonn_variant : {"pope", "facco"}, default="pope"
        TwoNN and calibrated TwoNN; see :func:`twonn_dimension`.
    gride_n1 : int, default=1
        GRIDE only: the order ``n1`` of the nearer neighbour of the ratio
        (``n2 = 2 n1 <= k``).  1 is DADApy's default, where GRIDE is the
        unbiased maximum-likelihood TwoNN; larger values measure at a larger
        scale, less sensitive to noise.
    neighbors : {"exact", "approximate", "auto", "precomputed"}, default="exact"
        Exact kNN (the reference: the float64 brute-force answer, see
        :ref:`neighbors`), pynndescent's approximate graph re-ranked exactly,
        exact below 100,000 points and approximate above, or ``"precomputed"``:
        ``X`` is then a square distance graph such as the output of
        :func:`skintrinsic.kneighbors_graph` or of
        :class:`sklearn.neighbors.KNeighborsTransformer` (``mode="distance"``),
        with at least ``k`` neighbours per row, and ``transform`` takes the
        graph of new samples against the fitted ones.
    duplicates : {"drop", "raise"}, default="drop"
        Exact duplicate samples have distance 0, which makes both estimators
        degenerate.  ``"drop"`` keeps one copy of each and warns with the
        count; ``"raise"`` raises a ValueError.
    n_bootstrap : int, default=200
        Bootstrap replicates for ``confidence_interval_``; 0 skips it.  At
        least ``MIN_BOOTSTRAP`` (10) are needed, and fewer than
        ``1 / tail`` (40 for the default 95 % level) warn that the interval's
        ends are rough.
    confidence_level : float, default=0.95
        Coverage of the percentile bootstrap interval.
    device : str or torch.device, default="cpu"
        Where the distance GEMM of the exact search runs ("cpu", "cuda", "auto").
    random_state : int, RandomState instance or None, default=None
        Seeds the bootstrap and the approximate search.
    n_jobs : int, default=None
        Threads for the neighbour search (``None``: leave torch's setting).
    verbose : int, default=0
        Show progress bars for the neighbour search and the bootstrap.

    Attributes
    ----------
    dimension_ : float
        Intrinsic dimension of the fitted (distinct) samples.
    confidence_interval_ : ndarray of shape (2,)
        Percentile bootstrap interval for ``dimension_`` (NaN if
        ``n_bootstrap=0``), widened when needed so that it always contains
        ``dimension_``.  The points' neighbour statistics (``u_k`` or
        ``mu``) are resampled with replacement and re-aggregated; the
        neighbour graph itself is not recomputed, since resampled duplicates
        would have distance 0.
    local_dimensions_ : ndarray of shape (n_samples_fit,)
        Local dimension of each distinct fitted sample: ``1 / u_k`` (MLE) or
        ``1 / log mu`` (TwoNN); ``inf`` where neighbours tie (see
        :func:`local_dimensions`).  GRIDE and MiND-ML (and DANCo, which has no
        local form) give the one-point maximum-likelihood estimate of their
        ratio; the calibrated estimators multiply their base's local values
        by ``dimension_ / raw_dimension_``.
    raw_dimension_ : float
        Calibrated estimators: the uncorrected estimate (``1 / mean(u_k)``,
        textbook normalization, or the TwoNN fit) that the curve inverts.
        DANCo: the data's MiND-ML estimate.  Absent for the other estimators.
    std_error_ : float
        GRIDE only: ``1 / sqrt(I(d))``, the observed Fisher information's
        standard error of ``dimension_`` (it ignores the dependence between
        the neighbourhoods of nearby points).
    scale_profile_ : dict of ndarray
        GRIDE only: the multiscale scan ``n1 = 1, 2, 4, ...`` with
        ``n2 = 2 n1 <= k``, one entry per scale: ``n1``, ``n2``,
        ``dimension``, ``std_error`` and ``radius`` (the mean distance to the
        ``n2``-th neighbour).  A plateau in ``dimension`` across scales is the
        dimension; a rise at small ``radius`` is noise, a fall at large ones
        curvature or the data's extent.
    n_duplicates_ : int
        Number of samples dropped as exact duplicates.
    n_samples_fit_ : int
        Number of distinct samples kept (rows passed minus ``n_duplicates_``).
    n_features_in_ : int
        Number of features (pixels) per flattened sample.
    input_shape_ : tuple or None
        Shape of one sample when images ``(n, ...)`` with more than two
        dimensions were passed, else None.

    Notes
    -----
    Cost and memory: the exact search is one blocked pass over all pairs,
    about ``2 N^2 D`` flops, with memory ``O(N k)`` plus one block.  Like
    scikit-learn's ``KNeighbors*`` estimators, the fitted distinct samples are
    kept (``n_samples_fit_ x n_features_in_`` values, in float32 when that is
    lossless, as for 8-bit images) because ``transform`` searches them.

    Bias of the reference combination: for locally uniform data
    ``sum_{j<k} log(T_k / T_j)`` is Gamma(k-1, rate d), so ``1 / u_k`` with
    ``k - 2`` is unbiased per point but ``1 / mean(u_k)`` tends to
    ``d (k-2)/(k-1)`` (5 % low at ``k = 20``); the textbook normalization with
    inverse averaging tends to ``d``.  The default keeps the reference's value.
    With finite ``n`` and large ``d``, all variants underestimate further.

    ``transform`` of a new point ``x`` uses its neighbours among the fitted
    samples.  A point equal to a fitted sample skips that zero distance, so
    transforming the training data returns each sample's local dimension.
    For TwoNN the local value is the one-point maximum-likelihood estimate
    ``1 / log(T_2(x) / T_1(x))``: ``mu`` follows a Pareto law with index
    ``d``, whose single-observation MLE it is.  It is very noisy; average it
    over many points.

    Examples
    --------
    >>> from skintrinsic import IntrinsicDimension
    >>> from skintrinsic.datasets import make_sphere
    >>> X = make_sphere(1000, 3, ambient_dim=10, random_state=0)
    >>> est = IntrinsicDimension(random_state=0).fit(X)
    >>> round(est.dimension_)
    3
    >>> est.transform(X[:2]).shape
    (2, 1)
    """

    _parameter_constraints: dict = {
        "estimator": [StrOptions({"mle", "twonn", "mle_calibrated", "twonn_calibrated",
                                  "gride", "mind_ml", "danco"})],
        "k": [Interval(Integral, 2, None, closed="left")],
        "normalization": [StrOptions(set(_NORMALIZATION_OFFSET))],
        "averaging": [StrOptions({"inverse", "mean"})],
        "twonn_variant": [StrOptions({"pope", "facco"})],
        "gride_n1": [Interval(Integral, 1, None, closed="left")],
        "neighbors": [StrOptions({"exact", "approximate", "auto", "precomputed"})],
        "duplicates": [StrOptions({"drop", "raise"})],
        # 0 skips the interval; below MIN_BOOTSTRAP replicates it would be meaningless
        "n_bootstrap": [Options(Integral, {0}),
                        Interval(Integral, MIN_BOOTSTRAP, None, closed="left")],
        "confidence_level": [Interval(Real, 0, 1, closed="neither")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        # 0 threads means nothing: refused here, before torch or numba see it
        "n_jobs": [Interval(Integral, 1, None, closed="left"),
                   Interval(Integral, None, -1, closed="right"), None],
        "verbose": ["verbose"],
    }

    def __init__(self, estimator="mle", k=20, normalization="reference", averaging="inverse",
                 twonn_variant="pope", gride_n1=1, neighbors="exact", duplicates="drop",
                 n_bootstrap=200, confidence_level=0.95, device="cpu", random_state=None,
                 n_jobs=None, verbose=0):
        self.estimator = estimator
        self.k = k
        self.normalization = normalization
        self.averaging = averaging
        self.twonn_variant = twonn_variant
        self.gride_n1 = gride_n1
        self.neighbors = neighbors
        self.duplicates = duplicates
        self.n_bootstrap = n_bootstrap
        self.confidence_level = confidence_level
        self.device = device
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    # -- the estimators, as (neighbours needed, statistic, aggregate, local) ----------------

    def _n_neighbors(self):
        return self.k if self.estimator in _K_ESTIMATORS else 2

    def _statistic(self, distances):
        """Per-point statistic that the aggregate reads (and the bootstrap resamples).

        ``u_k`` (MLE), ``log mu`` (TwoNN), ``log(T_2n1 / T_n1)`` (GRIDE),
        ``log(T_1 / T_k)`` (MiND-ML; DANCo adds the angle columns in ``_fit``).
        """
        e = self.estimator
        if e == "mle":
            return mle_inverse_estimates(distances, self.normalization)
        if e == "mle_calibrated":
            return mle_inverse_estimates(distances, "textbook")
        if e in ("twonn", "twonn_calibrated"):
            return np.log(twonn_ratios(distances))
        distances = _check_distances(distances, 2)
        if e == "gride":
            n1 = self.gride_n1
            return np.log(distances[:, 2 * n1 - 1] / distances[:, n1 - 1])
        return np.log(distances[:, 0] / distances[:, -1])

    def _raw(self, stat):
        """The uncorrected estimate that a calibrated estimator inverts."""
        if self.estimator == "mle_calibrated":
            return mle_dimension(stat, "inverse")
        if self.estimator == "twonn_calibrated":
            return twonn_dimension(np.exp(stat), self.twonn_variant)
        return mind_ml_dimension(stat[:, 0], self.k)

    def _aggregate(self, stat):
        e = self.estimator
        if e == "mle":
            return mle_dimension(stat, self.averaging)
        if e == "twonn":
            return twonn_dimension(np.exp(stat), self.twonn_variant)
        if e == "gride":
            return gride_dimension(stat, self.gride_n1, 2 * self.gride_n1)[0]
        if e == "mind_ml":
            return mind_ml_dimension(stat, self.k)
        dims, values = self._calibration
        if e == "danco":
            observed = (self._raw(stat), stat[:, 1].mean(), stat[:, 2].mean())
            return danco_dimension(observed, dims, values.T, self.k - 1)[0]
        return float(_cal.invert_curve(dims, values[:, 0], self._raw(stat)))

    def _local(self, stat):
        e = self.estimator
        if e == "gride":
            return gride_local(stat, self.gride_n1, 2 * self.gride_n1)
        if e in ("mind_ml", "danco"):
            return mind_ml_local(stat if stat.ndim == 1 else stat[:, 0], self.k)
        local = local_dimensions(stat)
        if e in ("mle_calibrated", "twonn_calibrated"):
            local = local * (self.dimension_ / self.raw_dimension_)
        return local

    def _calibrate(self, stat, n_features):
        """Simulate (or read) the expectation curve up to past the data's raw estimate."""
        self.raw_dimension_ = self._raw(stat)
        statistic = _CALIBRATED[self.estimator]
        if statistic == "twonn":
            statistic = f"twonn_{self.twonn_variant}"
        table = _cal.Calibration.load(statistic, self.k, stat.shape[0])
        cap = n_features if self.neighbors != "precomputed" else _cal.dimension_grid(10**9)[-1]
        self._calibration = table.ensure(self.raw_dimension_, cap, n_jobs=self.n_jobs,
                                         verbose=self.verbose)
        dims, values = self._calibration
        if values[-1, 0] < self.raw_dimension_:
            warnings.warn(
                f"The data's estimate is beyond the calibration at the largest candidate "
                f"dimension ({dims[-1]}, the number of features), so the calibrated dimension "
                f"is clipped to {dims[-1]}.", UserWarning, stacklevel=user_stacklevel())
        if self.estimator == "danco":
            # DANCo's divergence is minimized over integers: the curves at every integer
            every = np.arange(1, dims[-1] + 1)
            values = PchipInterpolator(dims, values, axis=0)(every) if dims.size > 1 else values
            self._calibration = (every, values)

    def _search(self, query=None):
        if self.neighbors == "precomputed":
            return graph_neighbors(query, self._n_neighbors(), square=False,
                                   columns=self._graph_columns, exclude_zero=True)
        return kneighbors(
            self._fit_X, self._n_neighbors(), query=query, method=self._neighbors_method,
            device=self.device, random_state=self.random_state, n_jobs=self.n_jobs,
            verbose=self.verbose,
        )

    def _validate_graph(self, G, reset):
        G = validate_data(self, G, reset=reset, accept_sparse=("csr", "csc", "coo"),
                          ensure_min_samples=1 if not reset else 2, dtype=np.float64)
        if reset and G.shape[0] != G.shape[1]:
            raise ValueError(
                f"neighbors='precomputed' fits a square (n_samples, n_samples) distance graph, "
                f"got shape {G.shape}. Pass e.g. KNeighborsTransformer(mode='distance')"
                ".fit_transform(X) or skintrinsic.kneighbors_graph(X, k)."
            )
        return G

    # ---------------------------------------------------------------------------------------

    def _fit(self, X):
        """Fit on ``X``; return the duplicate info of the rows as passed."""
        self._check_options()
        for stale in ("raw_dimension_", "std_error_", "scale_profile_", "_calibration"):
            self.__dict__.pop(stale, None)  # left by a fit with another estimator
        precomputed = self.neighbors == "precomputed"
        if precomputed:
            self.input_shape_ = None
            X = self._validate_graph(X, reset=True)
            info = graph_duplicates(X)
            apply_duplicate_policy(info, self.duplicates, name="the precomputed graph")
        else:
            X = validate_rows(self, X, ensure_min_samples=2)
            info = deduplicate(X, self.duplicates)
        keep = info.keep
        self.n_duplicates_ = info.n_duplicates
        needed = self._n_neighbors() + 1
        uses_k = self.estimator in _K_ESTIMATORS
        what = f"estimator={self.estimator!r}" + (f" with k={self.k}" if uses_k else "")
        dropped = f" ({self.n_duplicates_} duplicates were dropped)" if self.n_duplicates_ else ""
        check_enough_samples(keep.size, needed, what=what,
                             hint=f"Got {X.shape[0]} rows{dropped}; pass more samples"
                             + (" or a smaller k." if uses_k else "."))
        self.n_samples_fit_ = int(keep.size)
        if precomputed:
            self._graph_columns = keep
            neighbors = self._drop_self(X, keep)
        else:
            self._fit_X = compact(take_rows(X, keep))
            self._neighbors_method = resolve_method(self.neighbors, keep.size)
            neighbors = self._search()
        # an int seed gives the search and the bootstrap independent, reproducible streams;
        # a RandomState instance is shared (and advanced) by both
        rng = check_random_state(self.random_state)
        stat = self._statistic(neighbors.distances)
        if self.estimator == "danco":
            # the angles come from the same pass: its indices, no second search
            nu, tau = angle_statistics(self._fit_X, neighbors.indices[:, :self.k - 1],
                                       verbose=self.verbose)
            stat = np.c_[stat, nu, tau]
        if self.estimator in _CALIBRATED:
            self._calibrate(stat, X.shape[1])
        self.dimension_ = self._aggregate(stat)
        if self.estimator == "gride":
            self.std_error_ = gride_dimension(stat, self.gride_n1, 2 * self.gride_n1)[1]
            self.scale_profile_ = gride_profile(neighbors.distances)
        self.local_dimensions_ = self._local(stat)
        self.confidence_interval_ = self._bootstrap(stat, rng)
        return info

    def _check_options(self):
        if self.estimator == "mle" and self.normalization == "reference" and self.k < 3:
            raise ValueError(
                f"normalization='reference' divides by k - 2, so it needs k >= 3; got k={self.k}. "
                "Use a larger k or normalization='textbook'."
            )
        if self.estimator == "gride" and 2 * self.gride_n1 > self.k:
            raise ValueError(
                f"estimator='gride' reads the n2 = 2 * gride_n1 = {2 * self.gride_n1}-th "
                f"neighbour, but k={self.k}. Pass k >= {2 * self.gride_n1} or a smaller gride_n1."
            )
        if self.estimator == "danco":
            if not 3 <= self.k <= _DANCO_MAX_K:
                raise ValueError(
                    f"estimator='danco' needs 3 <= k <= {_DANCO_MAX_K} (angles between at least "
                    f"two neighbours; beyond {_DANCO_MAX_K} its divergence loses precision), got "
                    f"k={self.k}. scikit-dimension's default, DANCo(k=10), is k=11 here."
                )
            if self.neighbors == "precomputed":
                raise ValueError(
                    "estimator='danco' measures angles between neighbour vectors, which a "
                    "precomputed distance graph does not hold. Pass the samples with "
                    "neighbors='exact' (or 'approximate'), or choose another estimator."
                )

    def _drop_self(self, G, keep):
        """Neighbour distances of the kept samples of a square graph, among the kept samples."""
        sub = G[keep][:, keep] if sp.issparse(G) else G[np.ix_(keep, keep)]
        return graph_neighbors(sub, self._n_neighbors(), square=True)

    def _bootstrap(self, stat, rng):
        if self.n_bootstrap == 0:
            return np.full(2, np.nan)
        tail = (1 - self.confidence_level) / 2
        if self.n_bootstrap * tail < 1:
            # fewer replicates than one per tail: the interval's ends are then the extreme
            # replicates or interpolations between them, not the percentiles asked for
            warnings.warn(
                f"n_bootstrap={self.n_bootstrap} leaves less than one replicate in each "
                f"{tail:.1%} tail of the {self.confidence_level:.0%} interval, so its ends are "
                f"rough. Pass n_bootstrap >= {math.ceil(1 / tail)} (the default is 200).",
                UserWarning, stacklevel=user_stacklevel())
        n = stat.shape[0]
        # each replicate draws n indices at a time; all replicates are kept
        check_memory(8.0 * (self.n_bootstrap + 2 * n), what=f"n_bootstrap={self.n_bootstrap}",
                     fix="Pass a smaller n_bootstrap (the default is 200).")
        replicates = np.empty(self.n_bootstrap)
        for b in progress(range(self.n_bootstrap), verbose=self.verbose, desc="bootstrap"):
            replicates[b] = self._aggregate(stat[rng.randint(n, size=n)])
        low, high = np.quantile(replicates, [tail, 1 - tail])
        # a skewed or short run of replicates can leave the estimate just outside its
        # percentile band; the documented interval always contains the estimate
        estimate = self._aggregate(stat)
        return np.array([min(low, estimate), max(high, estimate)])

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Estimate the intrinsic dimension of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples; images of any shape are flattened.  Exact duplicates are
            dropped (with a warning) or rejected, see ``duplicates``.  A dask or
            zarr array (or a memmap, with a dask Client) is searched out of core,
            block by block, with the same result (:ref:`distributed`).
        y : None
            Ignored.

        Returns
        -------
        self : IntrinsicDimension
        """
        self._fit(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit, then return the local dimension of every row of ``X``.

        Equal to ``fit(X).transform(X)``, without a second neighbour search.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples; images of any shape are flattened.
        y : None
            Ignored.

        Returns
        -------
        local : ndarray of shape (n_samples, 1)
            Duplicated rows get the local dimension of their kept copy.
        """
        info = self._fit(X)
        rank = np.searchsorted(info.keep, info.groups)
        return self.local_dimensions_[rank][:, None]

    def transform(self, X):
        """Local dimension of each sample of ``X`` relative to the fitted data.

        MLE: ``1 / u_k(x)`` with the ``k`` nearest fitted samples of ``x``.
        TwoNN: ``1 / log(T_2(x) / T_1(x))``, the one-point maximum-likelihood
        estimate; GRIDE, MiND-ML and DANCo: the one-point estimate of their
        likelihood; calibrated estimators: their base's value times
        ``dimension_ / raw_dimension_``.  A zero distance (``x`` equal to a
        fitted sample) is skipped.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples with the fitted number of features (or image shape).

        Returns
        -------
        local : ndarray of shape (n_samples, 1)
            ``inf`` where the neighbour distances tie.
        """
        check_is_fitted(self)
        if self.neighbors == "precomputed":
            X = self._validate_graph(X, reset=False)
        else:
            X = validate_images(self, X, reset=False)
        return self._local(self._statistic(self._search(X).distances))[:, None]

    @property
    def _n_features_out(self):
        return 1

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.pairwise = self.neighbors == "precomputed"
        tags.input_tags.sparse = self.neighbors == "precomputed"
        tags.input_tags.positive_only = self.neighbors == "precomputed"
        return tags
