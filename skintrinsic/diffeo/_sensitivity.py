"""Sensitivity of a network to diffeomorphisms (D_f) and to noise (G_f), and their ratio R_f.

For inputs x, z of the probing set, a random diffeomorphism tau and Gaussian
noise eta with ``||eta|| = ||tau x - x||`` (per sample)::

    D_f = E ||f(tau x) - f(x)||^2 / E ||f(x) - f(z)||^2
    G_f = E ||f(x + eta) - f(x)||^2 / E ||f(x) - f(z)||^2
    R_f = D_f / G_f

``f`` is the network output or the flattened activations of a named layer,
each with its own denominator.  See ``_aggregate`` for the ``mean`` (T23) and
``median`` (P21) versions of ``E``.
"""

import copy
import math
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._compute import progress, resolve_device, torch_threads
from .._validation import check_enough_samples, validate_images
from ..nets._hooks import extract_features, resolve_layers
from ._aggregate import mean_numerator, mean_pair_distance, median_numerator, median_pair_distance
from ._moves import sparse_moves
from ._sampler import (
    INTERPOLATIONS,
    _check_cutoff,
    _check_temperature,
    _resolve_image_shape,
    matched_noise,
    random_diffeo,
    temperature_range,
    typical_displacement,
    typical_temperature,
)

COLUMNS = ["layer", "depth", "T", "c", "delta", "D", "G", "R"]
# "auto" calls images sparse when at most this fraction of their pixels is non-zero
SPARSE_FRACTION = 0.05
# P21 sweeps 30 log-spaced temperatures in [T_min / 15, 2 T_max] for each cutoff
SWEEP_SIZE = 30

_AGGREGATIONS = {
    "mean": (mean_numerator, lambda F, rng: mean_pair_distance(F)),
    "median": (median_numerator, lambda F, rng: median_pair_distance(F, random_state=rng)),
}


def _resolve_module(model):
    """The torch module inside ``model``: itself, or a fitted skorch net's ``module_``."""
    if isinstance(model, torch.nn.Module):
        return model
    module = getattr(model, "module_", None)
    if isinstance(module, torch.nn.Module):
        return module
    if hasattr(model, "initialize") and hasattr(model, "module"):
        raise NotFittedError(
            f"the {type(model).__name__} passed as model is not fitted (it has no module_); fit it "
            "first, or pass a torch.nn.Module."
        )
    raise TypeError(
        f"model must be a torch.nn.Module or a fitted skorch net (with module_), got "
        f"{type(model).__name__}."
    )


def _ratio(num, den):
    return num / den if den > 0 else math.nan


def _geometric_mean(values):
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or not np.all(values > 0):
        return float(np.mean(values)) if values.size else math.nan
    return float(np.exp(np.mean(np.log(values))))


def _as_list(value, name):
    try:
        values = np.atleast_1d(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or a list of numbers, got {value!r}.") from None
    if values.size == 0 or values.ndim != 1:
        raise ValueError(f"{name}={value!r} holds no value to probe; pass a number or a flat, "
                         "non-empty list of numbers.")
    return list(values)


class DiffeoSensitivity(BaseEstimator):
    """Relative stability of a network to diffeomorphisms, layer by layer (Petrini et al. 2021).

    ``fit(X)`` probes the model with the images ``X``: each image gets its own
    random diffeomorphism and its own norm-matched Gaussian noise, and
    ``D_f``, ``G_f`` and ``R_f = D_f / G_f`` are measured at the output and at
    each requested layer, for every point of the ``(delta or T, c)`` grid.

    Parameters
    ----------
    model : torch.nn.Module or fitted skorch net
        A skorch classifier is read through its ``module_``.  The model is run
        in eval mode without gradients and left as it was.
    layers : str or list of str, default=None
        Names from ``model.named_modules()``, or ``"penultimate"`` (the
        paper's representation layer) and ``"profile"`` (the layers that trace
        the network over depth, see :func:`~skintrinsic.nets.profile_layers`).
        ``None`` measures the output only.  Rows come in module order.
    delta : float or array-like of float, default=1
        Typical displacements in pixels; each gives ``T = typical_temperature(delta, c, n)``.
        Ignored when ``temperature`` is set.
    temperature : float, array-like of float or "sweep", default=None
        Temperatures ``T > 0`` used as is.  ``"sweep"`` is the grid of P21:
        for each cutoff, 30 log-spaced temperatures in ``[T_min / 15, 2 T_max]``.
    cutoff : float or array-like of float, default=3
        Mode cutoffs ``c >= 2``.  The grid is every temperature (or delta)
        with every cutoff.
    aggregation : {"mean", "median"}, default="mean"
        ``"mean"`` (T23): means over samples, and over all ``P^2`` pairs,
        diagonal included, for the denominator; float64.  ``"median"`` (P21):
        per component the median over samples, summed over components, and
        the median over all ``P^2`` pairs for the denominator.
    perturbation : {"auto", "diffeo", "sparse"} or callable, default="auto"
        ``"diffeo"``: random diffeomorphisms.  ``"sparse"``: one-pixel moves of
        the active pixels (:func:`sparse_moves`), for images made of a few
        non-zero pixels; the grid does not apply and ``T``, ``c``, ``delta``
        are NaN.  ``"auto"`` picks ``"sparse"`` when at most 5% of the pixels
        of the probing images are non-zero.  A callable
        ``perturbation(images, random_state=rng)`` is used as is (e.g.
        ``functools.partial(sparse_moves, block_size=32)`` for 1-D task 2).
    interpolation : {"bilinear", "nearest"}, default="bilinear"
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(channels, height, width)`` to fold flat rows
        into images for the diffeomorphism (the model still gets flat rows).
    n_probe : int, default=500
        Number of probing images; a larger ``X`` is subsampled with ``random_state``.
    batch_size : int, default=256
        Images per forward pass.
    device : str, default="cpu"
        ``"cpu"``, ``"cuda"`` or ``"auto"``.  A model elsewhere is copied there.
    random_state : int, RandomState instance or None, default=None
        Drives the subsample, the fields and the noise.
    n_jobs : int, default=None
        Torch threads during the measure; ``None`` leaves torch as it is.
    verbose : int, default=0
        Show a progress bar over the grid.

    Attributes
    ----------
    sensitivity_ : pandas.DataFrame
        One row per (grid point, layer) with columns ``layer``, ``depth``
        (1, 2, ... in module order; the output is last), ``T``, ``c``,
        ``delta`` (typical displacement in pixels), ``D``, ``G`` and ``R``.
    relative_stability_ : float
        ``R_f`` at the output (geometric mean over the grid points).
    layers_ : list of str
        Measured layers in depth order, ending with ``"output"``.
    perturbation_ : str or callable
        The perturbation used (``"auto"`` resolved).
    n_probe_ : int
        Number of probing images used.
    n_features_in_ : int
    input_shape_ : tuple of int or None

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skintrinsic.diffeo import DiffeoSensitivity
    >>> X = np.random.default_rng(0).random((40, 1, 12, 12)).astype(np.float32)
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(),
    ...                           torch.nn.Flatten(), torch.nn.Linear(400, 2))
    >>> est = DiffeoSensitivity(net, layers=["1"], random_state=0).fit(X)
    >>> list(est.sensitivity_.columns)
    ['layer', 'depth', 'T', 'c', 'delta', 'D', 'G', 'R']
    >>> est.sensitivity_["layer"].tolist()
    ['1', 'output']
    """

    _parameter_constraints = {
        "model": "no_validation",
        "layers": [None, str, list, tuple],
        "delta": [Interval(Real, 0, None, closed="neither"), "array-like"],
        "temperature": [None, Interval(Real, 0, None, closed="neither"), "array-like",
                        StrOptions({"sweep"})],
        "cutoff": [Interval(Real, 2, None, closed="left"), "array-like"],
        "aggregation": [StrOptions(set(_AGGREGATIONS))],
        "perturbation": [StrOptions({"auto", "diffeo", "sparse"}), callable],
        "interpolation": [StrOptions(set(INTERPOLATIONS))],
        "image_shape": [None, tuple, list],
        "n_probe": [Interval(Integral, 2, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        # 0 threads means nothing: refused here, before torch or numba see it
        "n_jobs": [Interval(Integral, 1, None, closed="left"),
                   Interval(Integral, None, -1, closed="right"), None],
        "verbose": ["verbose"],
    }

    def __init__(self, model, layers=None, delta=1, cutoff=3, aggregation="mean", *,
                 temperature=None, perturbation="auto", interpolation="bilinear", image_shape=None,
                 n_probe=500, batch_size=256, device="cpu", random_state=None, n_jobs=None,
                 verbose=0):
        self.model = model
        self.layers = layers
        self.delta = delta
        self.cutoff = cutoff
        self.aggregation = aggregation
        self.temperature = temperature
        self.perturbation = perturbation
        self.interpolation = interpolation
        self.image_shape = image_shape
        self.n_probe = n_probe
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    # ----------------------------------------------------------------- setup

    def _module(self):
        module = _resolve_module(self.model)
        device = resolve_device(self.device)
        param = next(module.parameters(), None)
        if param is not None and param.device != device:
            module = copy.deepcopy(module).to(device)
        return module, device

    def _layer_order(self, module):
        """Requested layers, checked and expanded, in module (depth) order."""
        if self.layers is None or (not isinstance(self.layers, str) and not len(self.layers)):
            return []
        layers = resolve_layers(module, self.layers)
        order = {name: i for i, (name, _) in enumerate(module.named_modules())}
        return sorted(layers, key=order.__getitem__)

    def _grid(self, side):
        """List of ``(T, c, delta)``; a single NaN point when the grid does not apply."""
        cutoffs = [_check_cutoff(float(c)) for c in _as_list(self.cutoff, "cutoff")]
        if isinstance(self.temperature, str):
            grid = []
            for c in cutoffs:
                t_min, t_max = temperature_range(side, c)
                grid += [(T, c) for T in np.geomspace(t_min / 15, 2 * t_max, SWEEP_SIZE)]
        elif self.temperature is not None:
            temps = [_check_temperature(float(T))
                     for T in _as_list(self.temperature, "temperature")]
            if min(temps) <= 0:
                raise ValueError(
                    "temperature must be > 0: at T = 0 both D and G vanish and R is undefined."
                )
            grid = [(T, c) for T in temps for c in cutoffs]
        else:
            deltas = _as_list(self.delta, "delta")
            if min(deltas) <= 0 or not np.all(np.isfinite(deltas)):
                raise ValueError(f"delta must be finite and > 0 pixels, got {self.delta!r}.")
            grid = [(typical_temperature(d, c, side), c) for d in deltas for c in cutoffs]
        return [(T, c, float(typical_displacement(T, c, side))) for T, c in grid]

    def _perturbation_plan(self, flat):
        """``(kind, image shape, grid)`` for probing images ``flat`` of shape (P, n_features)."""
        kind = self.perturbation
        if kind == "auto":
            active = np.count_nonzero(flat) / flat.size
            kind = "sparse" if active <= SPARSE_FRACTION else "diffeo"
        nan_grid = [(math.nan, math.nan, math.nan)]
        if kind == "diffeo":
            shape = _resolve_image_shape(self.input_shape_, flat.shape[1], self.image_shape)
            return kind, shape, self._grid(shape[-1])
        if kind == "sparse" and self.image_shape is not None:
            shape = _resolve_image_shape(None, flat.shape[1], self.image_shape)
            return kind, shape, nan_grid
        return kind, self.input_shape_ or (flat.shape[1],), nan_grid

    # ----------------------------------------------------------------- measure

    def _measure(self, flat, layers, rng):
        """The tidy table for probing images ``flat`` (P, n_features)."""
        module, device = self._module()
        n = flat.shape[0]
        sample_shape = self.input_shape_ or (flat.shape[1],)
        kind, pert_shape, grid = self._perturbation_plan(flat)
        param = next(module.parameters(), None)
        dtype = param.dtype if param is not None else torch.from_numpy(flat[:1]).dtype
        numerator, denominator = _AGGREGATIONS[self.aggregation]

        def features(rows):
            return extract_features(module, rows.reshape((n,) + sample_shape), layers,
                                    batch_size=self.batch_size, device=device, dtype=dtype,
                                    include_output=True)

        def perturb(T, c):
            images = flat.reshape((n,) + tuple(pert_shape))
            if kind == "diffeo":
                out = random_diffeo(images, T, c, interpolation=self.interpolation,
                                    random_state=rng, device=device)
            elif kind == "sparse":
                out = sparse_moves(images, random_state=rng)
            else:
                out = np.asarray(kind(images, random_state=rng))
                if out.shape != images.shape:
                    raise ValueError(
                        f"the perturbation returned shape {out.shape} for images of shape "
                        f"{images.shape}; it must return the images' shape.")
            return np.asarray(out, dtype=flat.dtype).reshape(flat.shape)

        names = layers + ["output"]
        base = features(flat)
        dens = {name: denominator(base[name], rng) for name in names}
        for name, den in dens.items():
            if not den > 0:
                warnings.warn(
                    f"{name!r} gives the same value for every probing image, so D, G and R are "
                    "undefined there (NaN). Probe with more varied images.", UserWarning,
                    stacklevel=3)
        rows = []
        for T, c, delta in progress(grid, verbose=self.verbose, desc="DiffeoSensitivity"):
            moved = perturb(T, c)
            if np.array_equal(moved, flat):
                hint = ("sparse moves only move non-zero pixels into free (zero) neighbours; "
                        "use perturbation='diffeo' for dense images" if kind == "sparse"
                        else "use a perturbation that changes the images")
                raise ValueError(
                    f"perturbation={self.perturbation!r} left every probing image unchanged, so "
                    f"D = G = 0 and R is undefined; {hint}.")
            noisy = flat + matched_noise(flat, moved, random_state=rng)
            f_moved, f_noisy = features(moved), features(noisy)
            for depth, name in enumerate(names, start=1):
                D = _ratio(numerator(base[name], f_moved[name]), dens[name])
                G = _ratio(numerator(base[name], f_noisy[name]), dens[name])
                R = D / G if G > 0 else math.nan
                rows.append((name, depth, T, c, delta, D, G, R))
        return pd.DataFrame(rows, columns=COLUMNS), kind, names

    def _probe(self, X, reset, rng):
        flat = validate_images(self, X, reset=reset)
        check_enough_samples(flat.shape[0], 2, what="DiffeoSensitivity",
                             hint="The denominator compares pairs of probing images.")
        if flat.shape[0] > self.n_probe:
            flat = flat[np.sort(rng.choice(flat.shape[0], self.n_probe, replace=False))]
        return flat

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Measure D, G and R on the probing images ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Images in the shape the model takes (flat rows need ``image_shape``
            or a square number of features).  Labels are not used.
        y : ignored

        Returns
        -------
        self : DiffeoSensitivity
        """
        rng = check_random_state(self.random_state)
        with torch_threads(self.n_jobs):
            module, _ = self._module()
            layers = self._layer_order(module)
            flat = self._probe(X, True, rng)
            table, kind, names = self._measure(flat, layers, rng)
        self.sensitivity_ = table
        self.layers_ = names
        self.perturbation_ = kind
        self.n_probe_ = flat.shape[0]
        self.relative_stability_ = _geometric_mean(table.loc[table["layer"] == "output", "R"])
        return self

    def score(self, X, y=None):
        """Minus ``R_f`` at the output on the probing images ``X`` (greater is more stable).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        y : ignored

        Returns
        -------
        score : float
            ``-R_f`` (geometric mean over the grid).
        """
        check_is_fitted(self)
        rng = check_random_state(self.random_state)
        with torch_threads(self.n_jobs):
            flat = self._probe(X, False, rng)
            table, _, _ = self._measure(flat, [], rng)
        return -_geometric_mean(table["R"])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags


class _StabilityScorer:
    """Callable ``(estimator, X, y) -> -measure``, for ``GridSearchCV(scoring=...)``."""

    def __init__(self, measure, layer, kwargs):
        self.measure = measure
        self.layer = layer
        self.kwargs = kwargs

    def __call__(self, estimator, X, y=None):
        layers = None if self.layer in (None, "output") else [self.layer]
        probe = DiffeoSensitivity(estimator, layers=layers, **self.kwargs).fit(X)
        table = probe.sensitivity_
        values = table.loc[table["layer"] == (self.layer or "output"), self.measure]
        return -_geometric_mean(values)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"make_stability_scorer(measure={self.measure!r}, layer={self.layer!r}, {args})"


def make_stability_scorer(measure="R", *, layer=None, delta=1, cutoff=3, aggregation="mean",
                          temperature=None, perturbation="auto", interpolation="bilinear",
                          image_shape=None, n_probe=500, batch_size=256, device="cpu",
                          random_state=0):
    """A scorer for model selection that prefers stable networks: it returns ``-measure``.

    The scorer ``scorer(estimator, X, y)`` fits a :class:`DiffeoSensitivity`
    on the (fitted) ``estimator`` with probing images ``X`` (``y`` is ignored)
    and returns minus ``R_f`` (or ``D_f`` / ``G_f``) at ``layer``, the
    geometric mean over the grid.  The sign follows scikit-learn's "greater
    is better": ``GridSearchCV(..., scoring=make_stability_scorer())`` picks
    the model with the smallest ``R_f``.

    Parameters
    ----------
    measure : {"R", "D", "G"}, default="R"
    layer : str, default=None
        A layer name; ``None`` or ``"output"`` reads the network output.
    delta, cutoff, aggregation, temperature, perturbation, interpolation, image_shape, n_probe, \
batch_size, device, random_state
        As in :class:`DiffeoSensitivity`; ``random_state`` defaults to 0 so
        that every candidate is probed with the same fields and noise.

    Returns
    -------
    scorer : callable

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skintrinsic.diffeo import make_stability_scorer
    >>> X = np.random.default_rng(0).random((30, 1, 10, 10)).astype(np.float32)
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(100, 3))
    >>> score = make_stability_scorer()(net, X)
    >>> bool(score < 0)
    True
    """
    if measure not in ("R", "D", "G"):
        raise ValueError(f"measure must be 'R', 'D' or 'G', got {measure!r}.")
    kwargs = dict(delta=delta, cutoff=cutoff, aggregation=aggregation, temperature=temperature,
                  perturbation=perturbation, interpolation=interpolation,
                  image_shape=image_shape, n_probe=n_probe, batch_size=batch_size, device=device,
                  random_state=random_state)
    return _StabilityScorer(measure, layer, kwargs)
