"""The constant-filter CNN of Tomasini et al. (2023): why D_k falls and G_k rises with depth.

The model is a 1-D CNN whose filters are all ones (size ``f = 2``), with
ReLU and no bias, fed single active pixels ``x_i = e_i``.  The "diffeomorphism"
moves the pixel by one site, ``e_i -> e_(i +/- 1)``.  The noise has the norm
of that move and is rectified by a ReLU, and the rectified noise piles up
under the pooling of later layers.

Because every input and filter is non-negative, the ReLUs never act after the
input and layer ``k`` is a linear map ``A_k`` (columns ``f_k(e_i)``), so all
three measures are exact (no sampling):

- ``D_k``: the mean over sites ``i`` and over their allowed moves of
  ``||A_k (e_(i+/-1) - e_i)||^2``, over the mean of ``||A_k (e_i - e_j)||^2``
  over all ``N^2`` pairs (the T23 ``mean`` aggregation);
- ``G_k``: ``E ||A_k relu(eta)||^2`` over the same denominator, with
  ``eta ~ N(0, sigma^2 I)`` and ``N sigma^2 = ||e_(i+1) - e_i||^2 = 2``, so
  ``E ||A relu(eta)||^2 = mu^2 ||A 1||^2 + (sigma^2 / 2 - mu^2) ||A||_F^2``
  with ``mu = sigma / sqrt(2 pi)``, the mean of a rectified Gaussian;
- ``R_k = D_k / G_k``.

Expected depth scalings: stride 2 (= filter size), ``D ~ 2^-k``, ``G ~ 2^k``,
``R ~ 4^-k``; stride 1, ``D ~ k^-1``, ``G ~ k^(1/2)``, ``R ~ k^(-3/2)``.
"""

import math
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .._validation import check_memory
from ..plotting._checks import as_frame

THEORY = {
    # stride: (scale, exponents) with X ~ 2^(a k) ("exponential") or X ~ k^a ("power")
    2: ("exponential", {"D": -1.0, "G": 1.0, "R": -2.0}),
    1: ("power", {"D": -1.0, "G": 0.5, "R": -1.5}),
}


def _layer_maps(n_input, n_layers, stride, filter_size, boundary):
    """Yield ``A_k`` for k = 1..n_layers, each of shape (outputs, n_input)."""
    A = np.eye(n_input)
    for k in range(1, n_layers + 1):
        length = A.shape[0]
        if boundary == "periodic":
            if length % stride:
                tile = stride**n_layers
                raise ValueError(
                    f"with periodic boundaries every layer must tile its input: layer {k} gets "
                    f"{length} sites, not a multiple of stride={stride}. Use n_input divisible by "
                    f"stride**n_layers (e.g. {tile * max(1, n_input // tile)})."
                )
            starts = np.arange(0, length, stride)
            A = sum(A[(starts + t) % length] for t in range(filter_size))
        else:
            n_out = (length - filter_size) // stride + 1
            if n_out < 1:
                raise ValueError(
                    f"layer {k} would have no output: {length} sites left for a filter of size "
                    f"{filter_size}. Use fewer layers or a larger n_input."
                )
            starts = np.arange(n_out) * stride
            A = sum(A[starts + t] for t in range(filter_size))
        # ReLU: A has non-negative entries, and so has every f_k(e_i); it acts as the identity
        yield A


def _diffeo_numerator(F, boundary):
    """Mean over sites of the mean over allowed one-site moves of ``||F_(i+/-1) - F_i||^2``."""
    if boundary == "periodic":
        step = ((np.roll(F, -1, axis=0) - F) ** 2).sum(axis=1)  # i -> i+1, on the ring
        return float(np.mean((step + np.roll(step, 1)) / 2))
    step = ((F[1:] - F[:-1]) ** 2).sum(axis=1)
    per_site = np.concatenate([step[:1], (step[1:] + step[:-1]) / 2, step[-1:]])
    return float(per_site.mean())


@validate_params(
    {
        "n_input": [Interval(Integral, 2, None, closed="left")],
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "stride": [Interval(Integral, 1, None, closed="left")],
        "filter_size": [Interval(Integral, 1, None, closed="left")],
        "boundary": [StrOptions({"periodic", "open"})],
    },
    prefer_skip_nested_validation=True,
)
def constant_filter_sensitivity(n_input=512, n_layers=5, *, stride=2, filter_size=2,
                                boundary="periodic"):
    """D_k, G_k and R_k of the constant-filter CNN, layer by layer, in closed form.

    Parameters
    ----------
    n_input : int, default=512
        Number of input sites N.  The scalings emerge for ``N >= 512``.
    n_layers : int, default=5
    stride : int, default=2
        2 (= filter size: non-overlapping pooling) or 1.
    filter_size : int, default=2
    boundary : {"periodic", "open"}, default="periodic"
        ``"periodic"``: sites and convolutions wrap around (every site moves
        both ways).  ``"open"``: valid convolutions, and the end sites move
        inward only.

    Returns
    -------
    table : pandas.DataFrame
        Columns ``depth`` (k = 1, 2, ...), ``D``, ``G`` and ``R``.

    Notes
    -----
    With ``boundary="periodic"``, ``N = 512`` and stride 2 this gives
    ``D_k = 0.502, 0.252, 0.127, 0.0645, 0.0333`` for k = 1..5, the reference
    values that Tomasini et al. report for N = 513 (an open line of 513 sites
    gives 0.5015, 0.2515, 0.1265, 0.0640, 0.0328: the same slopes).

    Examples
    --------
    >>> from skintrinsic.diffeo import constant_filter_sensitivity
    >>> t = constant_filter_sensitivity(512, 5, stride=2)
    >>> [round(d, 4) for d in t["D"]]
    [0.502, 0.252, 0.127, 0.0645, 0.0333]
    """
    # the layer maps are dense (sites x n_input) matrices, a few of them at a time
    check_memory(4 * 8.0 * n_input * n_input, what=f"n_input={n_input!r}",
                 fix="Pass a smaller n_input.")
    sigma2 = 2.0 / n_input  # ||e_(i+1) - e_i||^2 = 2 spread over N sites
    mu2 = sigma2 / (2 * math.pi)
    rows = []
    for k, A in enumerate(_layer_maps(n_input, n_layers, stride, filter_size, boundary), start=1):
        F = A.T  # row i: f_k(e_i)
        centred = F - F.mean(axis=0)
        den = 2.0 * np.einsum("ij,ij->", centred, centred) / n_input
        num_g = mu2 * float((A.sum(axis=1) ** 2).sum()) + (sigma2 / 2 - mu2) * float((A**2).sum())
        D = _diffeo_numerator(F, boundary) / den if den > 0 else math.nan
        G = num_g / den if den > 0 else math.nan
        rows.append((k, D, G, D / G if G > 0 else math.nan))
    return pd.DataFrame(rows, columns=["depth", "D", "G", "R"])


def depth_scaling_exponents(table, *, k_min=None, k_max=None, scale="exponential"):
    """Fit the depth scaling of each of D, G and R by least squares over ``k_min <= k <= k_max``.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``depth`` and some of ``D``, ``G``, ``R`` (as returned by
        :func:`constant_filter_sensitivity`, or a per-layer
        ``DiffeoSensitivity.sensitivity_`` with numeric depths).
    k_min, k_max : int, default=None
        Depth range of the fit (both ends included); ``None`` is unbounded.
    scale : {"exponential", "power"}, default="exponential"
        ``"exponential"``: the exponent ``a`` of ``X ~ 2^(a k)`` (slope of
        ``log2 X`` against ``k``).  ``"power"``: the exponent ``a`` of
        ``X ~ k^a`` (slope of ``log X`` against ``log k``).

    Returns
    -------
    exponents : dict of str to float

    Examples
    --------
    >>> from skintrinsic.diffeo import constant_filter_sensitivity, depth_scaling_exponents
    >>> t = constant_filter_sensitivity(512, 64, stride=1)
    >>> e = depth_scaling_exponents(t, k_min=32, k_max=64, scale="power")
    >>> round(e["D"], 1), round(e["G"], 1)
    (-1.0, 0.4)
    """
    if scale not in ("exponential", "power"):
        raise ValueError(f"scale must be 'exponential' or 'power', got {scale!r}.")
    table = as_frame(table, name="table", columns=("depth",),
                     source="pass constant_filter_sensitivity() or DiffeoSensitivity()."
                            "sensitivity_")
    depth = table["depth"].to_numpy(dtype=np.float64)
    mask = np.ones(depth.shape, dtype=bool)
    if k_min is not None:
        mask &= depth >= k_min
    if k_max is not None:
        mask &= depth <= k_max
    if mask.sum() < 2:
        raise ValueError(
            f"need at least 2 depths in [{k_min}, {k_max}] to fit a slope, got {int(mask.sum())}."
        )
    x = depth[mask] if scale == "exponential" else np.log(depth[mask])
    out = {}
    for name in ("D", "G", "R"):
        if name not in table:
            continue
        values = table[name].to_numpy(dtype=np.float64)[mask]
        if not (np.isfinite(values) & (values > 0)).all():
            raise ValueError(f"the {name} column holds values that are not finite and > 0 "
                             f"({values[:4].tolist()}...), so its logarithm has no slope; "
                             "restrict k_min/k_max to depths where it is measured.")
        y = np.log2(values)
        slope = np.polyfit(x, y, 1)[0]
        out[name] = float(slope if scale == "exponential" else slope * math.log(2))
    return out
