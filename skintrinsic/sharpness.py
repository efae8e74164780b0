"""Label sharpness K_F: the Lipschitz constant of the labels as a function of the inputs.

    K_F = max over pairs j != k with x_j != x_k of |y_j - y_k| / ||x_j - x_k||_2

The norm is plain L2 over the raw flattened inputs.  Categorical labels use the
discrete metric 1[y_j != y_k], which turns K_F into one over the bichromatic
closest-pair distance; real-valued labels need the general ratio, computed by an
exact blocked pass over all pairs.
"""

import numpy as np
import pandas as pd
import torch
from sklearn.base import (
    BaseEstimator,
    clone,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Integral, Interval, StrOptions
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted

from ._compute import progress
from ._neighbors import (
    PairDistances,
    find_duplicates,
    kneighbors,
    nearest_other_label,
    take_rows,
)
from ._distributed import validate_rows
from ._ratios import SLACK as _SLACK
from ._ratios import block_rows as _block_rows
from ._ratios import pair_sq_distances as _pair_sq_distances
from ._ratios import row_maxima as _row_maxima
from ._validation import check_memory, validate_images

_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
def _continuous_local_sharpness(X, y, *, device, n_jobs, verbose):
    """Exact ``max_j |y_i - y_j| / ||x_i - x_j||`` for every row of ``X`` (distinct rows).

    Distances stay in the engine's frame units (a power-of-two rescaling), so
    no square overflows or underflows at any finite scale of ``X``.
    """
    # the maximizing pairs do not change under an affine map of y; this one keeps the
    # squared label gaps in [0, 1], away from float64 overflow and underflow
    y_unit = (y - y.min()) / (y.max() - y.min())
    if getattr(X, "blocked", False):  # out-of-core rows: the same pass as dask tasks
        _, arg, d2, unit = X.row_maxima(y_unit)
    else:
        pairs = PairDistances(X, device=device, n_jobs=n_jobs)
        _, arg, d2 = _row_maxima(pairs, y_unit, y_unit, same_rows=True, verbose=verbose)
        unit = pairs.unit
    return np.abs(y - y[arg]) / np.sqrt(d2) / unit, arg


def _max_pair_ratio(D, Y):
    """Dinkelbach's method for ``max over (j, k) of (Y[r, k] - Y[r, j]) / (D[r, j] + D[r, k])``.

    ``F(lam) = max_k (y_k - lam d_k) - min_j (y_j + lam d_j)`` separates over the
    two ends of a pair, so each iteration is O(n) per row.  From the pair
    maximizing ``F(lam)`` the next ``lam`` is that pair's ratio; it strictly
    increases until ``F(lam) <= 0``, which proves optimality, and there are
    finitely many pairs, so the iteration is exact and finite (a handful of
    steps in practice).  ``Y`` has the shape of ``D`` or of one of its rows.
    """
    Y = np.broadcast_to(Y, D.shape)
    lam = np.zeros(D.shape[0])
    active = np.arange(D.shape[0])
    while active.size:
        if active.size < D.shape[0]:
            D, Y = D[active], Y[active]
        la = lam[active, None]
        k = np.argmax(Y - la * D, axis=1)[:, None]
        j = np.argmin(Y + la * D, axis=1)[:, None]
        num = (np.take_along_axis(Y, k, 1) - np.take_along_axis(Y, j, 1))[:, 0]
        den = (np.take_along_axis(D, j, 1) + np.take_along_axis(D, k, 1))[:, 0]
        # den == 0 only when both ends coincide with the query, hence with each other
        ratio = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        improved = ratio > lam[active]
        D, Y = D[improved], Y[improved]
        active = active[improved]
        lam[active] = ratio[improved]
    return lam


def _continuous_query_sharpness(X_fit, y_fit, Q, *, device, n_jobs, verbose):
    """Exact ``max_{j,k} |y_j - y_k| / (||q - x_j|| + ||q - x_k||)`` for every query row.

    A first Dinkelbach pass on over-estimated distances ``sqrt(d2 + err)`` gives
    a ratio ``lam0`` no larger than the answer.  Both ends of the optimal pair
    are then among the points with ``y_j + lam0 dmin_j <= max_k (y_k - lam0
    dmin_k)`` or ``y_k - lam0 dmin_k >= min_j (y_j + lam0 dmin_j)``, ``dmin``
    being the under-estimated distances ``sqrt(d2 - err)``.  Only those few are
    recomputed exactly in float64, for the final Dinkelbach pass.
    """
    out = np.zeros(Q.shape[0])
    scale_y = np.max(np.abs(y_fit))
    pairs = PairDistances(X_fit, query=Q, device=device, n_jobs=n_jobs)
    for start, stop, d2, err in pairs.blocks(_block_rows(X_fit.shape[0]), verbose=verbose):
        d_hi = np.sqrt(np.maximum(d2 + err, 0.0))
        lam0 = _max_pair_ratio(d_hi, y_fit)[:, None] * (1 - _SLACK)
        del d_hi
        d2 -= err
        d_lo = np.sqrt(np.maximum(d2, 0.0, out=d2), out=d2)
        d_lo *= lam0
        up, down = y_fit - d_lo, y_fit + d_lo
        tol = _SLACK * (scale_y + d_lo.max(axis=1, keepdims=True))
        cand = down <= up.max(axis=1, keepdims=True) + tol
        cand |= up >= down.min(axis=1, keepdims=True) - tol
        # pack each row's candidates to the left, padding with the row's first candidate
        # (a repeated column changes no max or min)
        r, c = np.nonzero(cand)
        counts = np.bincount(r, minlength=stop - start)
        first = np.cumsum(counts) - counts
        pos = np.arange(r.size) - first[r]
        dist = np.sqrt(_pair_sq_distances(pairs, r + start, c))
        cols = np.repeat(c[first, None], counts.max(), axis=1)
        D = np.repeat(dist[first, None], counts.max(), axis=1)
        cols[r, pos] = c
        D[r, pos] = dist
        out[start:stop] = _max_pair_ratio(D, y_fit[cols])
    return out / pairs.unit


def _categorical_query_sharpness(X_fit, codes, n_classes, Q, *, device, n_jobs, verbose):
    """``1 / (m_a + m_b)`` for the two classes a != b nearest to each query.

    ``m_c`` is the distance to the nearest fitted point of class ``c`` (0 when
    the query is such a point).  Minimizing ``d_j + d_k`` over differently
    labelled pairs picks the two smallest per-class distances.
    """
    nearest = np.empty((Q.shape[0], n_classes))
    for c in range(n_classes):
        nearest[:, c] = kneighbors(X_fit[codes == c], 1, query=Q, exclude_zero=False,
                                   device=device, n_jobs=n_jobs, verbose=verbose).distances[:, 0]
    two = np.partition(nearest, 1, axis=1)[:, :2].sum(axis=1)
    return 1.0 / two


def _random_pair_ratios(X, y, pairs, categorical):
    space = PairDistances(X)
    d = np.sqrt(_pair_sq_distances(space, pairs[:, 0], pairs[:, 1]))
    a, b = y[pairs[:, 0]], y[pairs[:, 1]]
    num = (a != b).astype(np.float64) if categorical else np.abs(a - b)
    # pairs of identical inputs (same label, else fit has raised) are excluded: ratio 0
    return np.divide(num, d, out=np.zeros_like(d), where=d > 0) / space.unit


class LabelSharpness(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Label sharpness K_F of a labelled dataset (Konz & Mazurowski, ICLR 2024).

    K_F is the smallest Lipschitz constant of the labels as a function of the
    inputs::

        K_F = max over pairs j != k with x_j != x_k of |y_j - y_k| / ||x_j - x_k||_2

    The norm is plain L2 over the raw flattened inputs (images of any shape are
    flattened), with no division by the dimension, so K_F depends on the pixel
    scale: multiplying every input by ``c > 0`` divides K_F by ``c``.

    Parameters
    ----------
    pairs : {"all", "random"}, default="all"
        ``"all"``: the exact maximum over all pairs.  ``"random"``: the maximum
        over ``n_pairs`` pairs drawn uniformly at random (the published code's
        cheap estimate).  It is a maximum over a subset of the pairs, so it is
        never larger than the exact value and usually much smaller for
        categorical labels, where only the closest differently-labelled pair
        counts.
    n_pairs : int, default=2000
        Number of random pairs ``(j, k)``, ``j != k``, drawn with replacement
        when ``pairs="random"``.  Ignored otherwise.
    subsample_size : int, default=None
        Measure K_F at a fixed sample size: the exact K_F of ``n_subsamples``
        random subsets of this many samples, drawn without replacement
        (stratified by class for categorical labels).  ``sharpness_`` is then
        their mean, and ``sharpness_draws_`` holds them all.  K_F is a maximum
        over pairs and grows with the number of samples, so datasets are
        compared at the same ``subsample_size`` (see Notes).  ``None``: the
        whole of ``X``.  Equal to the number of samples, it is the exact K_F
        (one draw).
    n_subsamples : int, default=20
        Subsets drawn when ``subsample_size`` is set.
    label_type : {"auto", "categorical", "continuous"}, default="auto"
        ``"categorical"`` uses ``|y_j - y_k| = 1[y_j != y_k]`` (binary and
        multi-class labels, of any type); ``"continuous"`` the absolute
        difference of real labels.  ``"auto"`` follows
        :func:`sklearn.utils.multiclass.type_of_target`: ``"binary"`` and
        ``"multiclass"`` targets are categorical, ``"continuous"`` ones are
        continuous.  Note that real values that are all integers, such as
        ``[0., 1., 2.]``, count as classes.
    device : str or torch.device, default="cpu"
        Where the distance GEMMs run (``"cpu"``, ``"cuda"`` or ``"auto"``).
    random_state : int, RandomState instance or None, default=None
        Draws the pairs of ``pairs="random"``.
    n_jobs : int, default=None
        Torch threads for the distance computations; ``None`` leaves torch's
        setting, ``-1`` uses all cores.
    verbose : int, default=0
        Show progress bars over the distance blocks.

    Attributes
    ----------
    sharpness_ : float
        K_F; with ``subsample_size``, the mean of ``sharpness_draws_``.
    sharpness_draws_ : ndarray of shape (n_draws,)
        K_F of each subset (``subsample_size`` only; one value, the exact K_F,
        when it equals the number of samples).
    sharpness_std_ : float
        Standard deviation of ``sharpness_draws_`` (``subsample_size`` only).
    sharpness_quantiles_ : pandas.Series
        The 5 %, 25 %, 50 %, 75 % and 95 % quantiles of ``sharpness_draws_``
        (``subsample_size`` only).
    subsample_indices_ : list of ndarray
        Row indices into ``X`` of each subset (``subsample_size`` only).
    pair_ : tuple of int
        ``(j, k)``, ``j < k``: row indices into ``X`` as passed to ``fit`` of a
        pair attaining ``sharpness_`` (among several, the search picks one).
        With ``subsample_size``, a pair attaining the largest of the draws.
    label_type_ : {"categorical", "continuous"}
        How the labels were treated.
    classes_ : ndarray of shape (n_classes,)
        The class labels (categorical labels only).
    local_sharpness_ : ndarray of shape (n_samples,)
        ``max_j |y_i - y_j| / ||x_i - x_j||`` over ``x_j != x_i`` for every
        training sample, ``1 / (distance to the nearest differently-labelled
        sample)`` for categorical labels; ``sharpness_`` is its maximum.  With
        ``pairs="random"``, the maximum over the drawn pairs that contain the
        sample, NaN for samples that are in none.  Not set with
        ``subsample_size`` (the draws do not cover every sample).
    sampled_pairs_ : ndarray of shape (n_pairs, 2)
        The drawn pairs (``pairs="random"`` only).
    n_features_in_ : int
        Number of input features (pixels times channels).
    input_shape_ : tuple or None
        Shape of one input image when ``X`` had more than two dimensions.

    See Also
    --------
    skintrinsic.IntrinsicDimension : the other intrinsic property of the data.

    Notes
    -----
    **Identical inputs.** Pairs with ``x_j = x_k`` and the same label are left
    out, as in the definition.  Identical inputs with *different* labels make
    K_F infinite; ``fit`` raises a ValueError naming them instead.

    **Cost.** Categorical labels need each sample's nearest neighbour among the
    other classes (an exact bichromatic search).  It is one pass over all
    pairs, whatever the number of classes: the same-label pairs are masked in
    each distance tile, and each tile serves the rows on both of its sides, so
    the cost is about that of one exact kNN pass (see :ref:`neighbors`).  Real
    labels take one blocked pass over all ``N^2`` pairs: each float32 block of
    distances comes with a rigorous error bound, every pair that the bound
    cannot rule out as a row maximum is recomputed in float64, and memory
    stays at one block.  A float32 ``X`` is never copied to float64, and the
    distances are computed in a power-of-two rescaled frame, so K_F is exact at
    any finite scale of ``X``.  ``transform`` costs one exact kNN query pass for categorical
    labels and about four for real labels (a few Dinkelbach sweeps per block).

    **K_F at a fixed size.** Adding samples can only add pairs, so the
    exact K_F of a sample of size ``n`` grows with ``n``: two datasets are
    compared at the same ``n``, and K_F is then a random variable over the
    subsets of that size.  ``subsample_size`` gives its distribution by
    subsampling without replacement (``m``-out-of-``n``).  A naive bootstrap
    (resampling ``n`` of ``n`` with replacement) does not: a resample only
    ever holds pairs of the original sample, so its maximum is never above the
    observed one and equals it whenever the attaining pair is drawn (about
    40 % of resamples), and resampled copies add zero-distance pairs that the
    definition leaves out.  Its spread says nothing about K_F at another size.

    **transform.** New samples have no labels, so ``transform`` returns a
    label-free local sharpness: the smallest Lipschitz constant that any
    labelling of ``x`` forces on ``{x}`` together with the fitted data::

        K(x) = max over fitted pairs (j, k) of |y_j - y_k| / (||x - x_j|| + ||x - x_k||).

    By the triangle inequality ``||x_j - x_k|| <= ||x - x_j|| + ||x - x_k||``,
    so whatever label ``x`` gets, one of ``j, k`` sees a ratio of at least
    K(x).  For real labels the bound is attained by some real label of ``x``;
    for categorical labels it is ``1 / (m_a + m_b)``, with ``m_a <= m_b`` the
    distances from ``x`` to its two nearest classes.  It is computed exactly:
    per-class nearest neighbours for categorical labels, Dinkelbach's method on
    the fractional program for real labels.  A query equal to a fitted sample
    gets that sample's ``local_sharpness_`` (the bound is finite because no
    fitted inputs are identical with different labels), and ``transform`` on
    the training set returns ``local_sharpness_`` (exact mode).

    Examples
    --------
    >>> import numpy as np
    >>> from skintrinsic import LabelSharpness
    >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [7.0, 0.0]])
    >>> y = np.array([0, 0, 1, 1])
    >>> ks = LabelSharpness().fit(X, y)
    >>> ks.sharpness_, ks.pair_
    (0.5, (1, 2))
    >>> ks.local_sharpness_
    array([0.333..., 0.5 , 0.5 , 0.166...])
    >>> ks.transform([[2.0, 0.0]])
    array([[0.5]])
    >>> LabelSharpness().fit(X, [0.0, 0.5, 2.5, 3.0]).sharpness_
    1.0
    """

    _parameter_constraints = {
        "pairs": [StrOptions({"all", "random"})],
        "n_pairs": [Interval(Integral, 1, None, closed="left")],
        "subsample_size": [Interval(Integral, 2, None, closed="left"), None],
        "n_subsamples": [Interval(Integral, 1, None, closed="left")],
        "label_type": [StrOptions({"auto", "categorical", "continuous"})],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        # 0 threads means nothing: refused here, before torch or numba see it
        "n_jobs": [Interval(Integral, 1, None, closed="left"),
                   Interval(Integral, None, -1, closed="right"), None],
        "verbose": ["verbose"],
    }

    def __init__(self, pairs="all", n_pairs=2000, label_type="auto", subsample_size=None,
                 n_subsamples=20, device="cpu", random_state=None, n_jobs=None, verbose=0):
        self.pairs = pairs
        self.n_pairs = n_pairs
        self.subsample_size = subsample_size
        self.n_subsamples = n_subsamples
        self.label_type = label_type
        self.device = device
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _encode_labels(self, y):
        """Set ``label_type_`` (and ``classes_``); return integer codes or float labels."""
        label_type = self.label_type
        if label_type == "auto":
            target = type_of_target(y, input_name="y")
            if target in ("binary", "multiclass"):
                label_type = "categorical"
            elif target == "continuous":
                label_type = "continuous"
            else:
                raise ValueError(
                    f"Unknown label type {target!r} for y: LabelSharpness needs one label per "
                    "sample, either classes (binary or multi-class) or real values. Pass a 1-d y, "
                    "or set label_type='categorical' or 'continuous' explicitly."
                )
        self.label_type_ = label_type
        if label_type == "categorical":
            self.classes_, codes = np.unique(y, return_inverse=True)
            if self.classes_.size < 2:
                raise ValueError(
                    f"y has a single class ({self.classes_.tolist()[0]!r}): label sharpness "
                    "compares samples with different labels, so it needs at least two classes."
                )
            return codes.ravel()
        try:
            values = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"label_type='continuous' needs numeric y, got dtype {np.asarray(y).dtype}. "
                "Pass real labels, or label_type='categorical' for class labels."
            ) from exc
        if np.unique(values).size < 2:
            raise ValueError(
                f"y has a single value ({float(values[0])!r}): label sharpness needs at least two "
                "distinct labels."
            )
        return values

    def _check_conflicts(self, X, labels):
        """Raise on identical inputs with different labels; return the distinct rows."""
        info = find_duplicates(X)
        if info.n_duplicates:
            conflict = np.flatnonzero(labels != labels[info.groups])
            if conflict.size:
                shown = ", ".join(f"rows {info.groups[i]} and {i}" for i in conflict[:5])
                more = f" (and {conflict.size - 5} more)" if conflict.size > 5 else ""
                raise ValueError(
                    f"X has identical inputs with different labels: {shown}{more}. Their ratio "
                    "|y_j - y_k| / ||x_j - x_k|| is infinite, so K_F is infinite. Remove or "
                    "relabel these samples."
                )
        return info

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Compute K_F, the pair that attains it and every sample's local sharpness.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Inputs; images of any shape are flattened.  A dask or zarr array (or a
            memmap, with a dask Client) is processed out of core, block by block,
            with the same result (:ref:`distributed`).
        y : array-like of shape (n_samples,)
            Labels: classes (binary or multi-class) or real values (numpy or dask).

        Returns
        -------
        self : LabelSharpness
            The fitted estimator.
        """
        X, y = validate_rows(self, X, y, ensure_min_samples=2)
        labels = self._encode_labels(y)
        categorical = self.label_type_ == "categorical"
        info = self._check_conflicts(X, labels)
        self._fit_X = take_rows(X, info.keep)
        self._fit_y = labels[info.keep]
        if self.subsample_size is not None:
            self._fit_subsamples(X, y, labels, categorical)
            return self
        if self.pairs == "random":
            self._fit_random(X, labels, categorical)
            return self
        engine = dict(device=self.device, n_jobs=self.n_jobs, verbose=self.verbose)
        if categorical:
            nn = nearest_other_label(self._fit_X, self._fit_y, **engine)
            with np.errstate(divide="ignore", over="ignore"):
                local, partner = 1.0 / nn.distances[:, 0], nn.indices[:, 0]
        else:
            local, partner = _continuous_local_sharpness(self._fit_X, self._fit_y, **engine)
        with np.errstate(over="ignore"):
            if not np.all(np.isfinite(local)):
                raise ValueError(
                    "Some inputs are so close (distance below 1/1.8e308 of the label gap) that "
                    "their ratio |y_j - y_k| / ||x_j - x_k|| overflows float64. Rescale X, e.g. "
                    "multiply it by 2**500 (K_F scales by the inverse factor)."
                )
        # back from distinct rows to all rows: a duplicate shares its first occurrence's partners
        position = np.empty(X.shape[0], dtype=np.int64)
        position[info.keep] = np.arange(info.keep.size)
        self.local_sharpness_ = local[position[info.groups]]
        top = int(np.argmax(local))
        self.sharpness_ = float(local[top])
        self.pair_ = tuple(sorted((int(info.keep[top]), int(info.keep[partner[top]]))))
        return self

    def _fit_subsamples(self, X, y, labels, categorical):
        """K_F of ``n_subsamples`` subsets of ``subsample_size`` rows: its law at that size."""
        from .datasets._subsets import stratified_subset

        n, size = X.shape[0], self.subsample_size
        if isinstance(size, bool) or isinstance(self.n_subsamples, bool):
            raise TypeError("subsample_size and n_subsamples must be ints, not booleans.")
        if size > n:
            raise ValueError(
                f"subsample_size={size} exceeds the {n} samples passed to fit. Pass at most {n} "
                "(the exact K_F), or more samples."
            )
        rng = check_random_state(self.random_state)
        n_draws = 1 if size == n else self.n_subsamples
        inner = clone(self).set_params(subsample_size=None, verbose=0)
        draws, subsets, pairs = [], [], []
        for _ in progress(range(n_draws), verbose=self.verbose, desc="K_F subsets"):
            seed = rng.randint(2**31 - 1)
            if size == n:
                idx = np.arange(n)
            elif categorical:
                idx = stratified_subset(labels, size, random_state=seed)
            else:
                idx = np.sort(check_random_state(seed).choice(n, size, replace=False))
            if categorical and np.unique(labels[idx]).size < 2:
                raise ValueError(
                    f"A subset of {size} samples holds a single class, so its K_F is undefined. "
                    "Pass a larger subsample_size (at least the number of classes)."
                )
            fitted = inner.set_params(random_state=seed).fit(take_rows(X, idx), y[idx])
            draws.append(fitted.sharpness_)
            subsets.append(idx)
            pairs.append(tuple(int(idx[i]) for i in fitted.pair_))
        self.sharpness_draws_ = np.asarray(draws)
        top = int(np.argmax(self.sharpness_draws_))
        self.sharpness_ = float(self.sharpness_draws_.mean())
        self.sharpness_std_ = float(self.sharpness_draws_.std(ddof=1)) if n_draws > 1 else 0.0
        self.sharpness_quantiles_ = pd.Series(
            np.quantile(self.sharpness_draws_, _QUANTILES), index=pd.Index(_QUANTILES, name="q"),
            name="K_F")
        self.subsample_indices_ = subsets
        self.pair_ = pairs[top]

    def _fit_random(self, X, labels, categorical):
        rng = check_random_state(self.random_state)
        n = X.shape[0]
        # input validation: n_pairs is a count (sklearn's Integral admits True), and the
        # pairs, their indices and ratios are held at once
        if isinstance(self.n_pairs, bool):
            raise TypeError(f"n_pairs must be an int >= 1, got {self.n_pairs!r}.")
        check_memory(64.0 * self.n_pairs, what=f"n_pairs={self.n_pairs}",
                     fix="Pass a smaller n_pairs, or pairs='all' for the exact value.")
        first = rng.randint(n, size=self.n_pairs)
        second = rng.randint(n - 1, size=self.n_pairs)
        second += second >= first  # uniform over the other n - 1 samples
        self.sampled_pairs_ = np.column_stack([first, second])
        ratios = _random_pair_ratios(X, labels, self.sampled_pairs_, categorical)
        local = np.full(n, -np.inf)
        np.maximum.at(local, first, ratios)
        np.maximum.at(local, second, ratios)
        local[np.isneginf(local)] = np.nan
        self.local_sharpness_ = local
        top = int(np.argmax(ratios))
        self.sharpness_ = float(ratios[top])
        self.pair_ = tuple(sorted(int(i) for i in self.sampled_pairs_[top]))

    def transform(self, X):
        """Label-free local sharpness of new samples against the fitted data.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Inputs of the fitted shape.

        Returns
        -------
        K : ndarray of shape (n_samples, 1)
            ``max over fitted pairs (j, k) of |y_j - y_k| / (||x - x_j|| + ||x - x_k||)``
            (see Notes of the class).
        """
        check_is_fitted(self)
        Q = validate_images(self, X, reset=False)
        engine = dict(device=self.device, n_jobs=self.n_jobs, verbose=self.verbose)
        if self.label_type_ == "categorical":
            out = _categorical_query_sharpness(self._fit_X, self._fit_y, self.classes_.size, Q,
                                               **engine)
        else:
            out = _continuous_query_sharpness(self._fit_X, self._fit_y, Q, **engine)
        return out[:, None]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags

    @property
    def _n_features_out(self):
        return 1
