"""Random max-entropy diffeomorphisms of square images (Petrini et al. 2021), and matched noise.

A field is a sine series on the unit square, zero on its boundary::

    tau_u(u, v) = sum_{i, j >= 1, sqrt(i^2 + j^2) < c + 1/2} C_ij sin(i pi u) sin(j pi v),
    C_ij ~ N(0, T / (i^2 + j^2)),

and ``tau_v`` is an independent copy.  On an ``n x n`` image the grid is
``linspace(0, 1, n)`` and the displacement in pixels is ``sqrt(T) * n * tau~``,
where ``tau~`` uses unit-temperature coefficients.  The deformed image
``[tau x](s) = x(s - tau(s))`` is read by bilinear interpolation at the clamped
source coordinates, which is torch ``grid_sample`` with border padding and
aligned corners.

The numeric kernels (coefficients, fields, remap) are private and take plain
tensors; the public functions validate and convert.
"""

import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils import check_random_state

from .._compute import resolve_device
from .._validation import check_real

INTERPOLATIONS = ("bilinear", "nearest")
# pixels per block of images deformed together (a float32 grid of 2 MB)
_BLOCK_PIXELS = 2**18


# --------------------------------------------------------------------------- checks

def _check_cutoff(cutoff):
    if isinstance(cutoff, bool) or not isinstance(cutoff, numbers.Real) \
            or not math.isfinite(cutoff):
        raise TypeError(f"cutoff must be a finite real number >= 2, got {cutoff!r}.")
    if cutoff < 2:
        raise ValueError(
            f"cutoff must be >= 2, got {cutoff!r}: the temperature formulas divide by ln(cutoff), "
            "and cutoff=1 keeps no mode. Use cutoff=3 (the reference default) or larger."
        )
    return float(cutoff)


def _check_cutoff_fits(cutoff, n):
    # also bounds the coefficients' memory, (n_images, 2, cutoff, cutoff), by the images' own
    if cutoff > n - 1:
        raise ValueError(
            f"cutoff={cutoff:g} asks for modes that an image of {n}x{n} pixels cannot show: on "
            f"its grid a sine of frequency k >= {n - 1} is zero or repeats a lower one. Pass "
            f"cutoff <= {n - 1}."
        )


def _check_temperature(temperature):
    if not isinstance(temperature, numbers.Real) or isinstance(temperature, bool):
        raise TypeError(f"temperature must be a real number >= 0, got {temperature!r}.")
    if not temperature >= 0 or not math.isfinite(temperature):
        raise ValueError(
            f"temperature must be a finite number >= 0, got {temperature!r}. T is the variance "
            "scale of the field; use typical_temperature(delta, cutoff, n) to pick one from a "
            "displacement in pixels."
        )
    return float(temperature)


def _check_size(n):
    if not isinstance(n, numbers.Integral) or n < 3:
        raise ValueError(
            f"images must be at least 3x3 pixels (the boundary pixels never move, so a smaller "
            f"image has nothing to deform); got side n={n!r}."
        )
    return int(n)


# --------------------------------------------------------------------------- temperatures

def temperature_range(n, cutoff):
    """Temperatures between a half-pixel displacement and a displacement gradient of about 1.

    ``T_min = 1 / (pi n^2 ln c)`` gives a typical displacement of half a pixel;
    ``T_max = 4 / (pi^3 c^2 ln c)`` gives a displacement gradient of order 1
    (not a guarantee against folding: about 30% of fields fold somewhere at
    ``T_max`` for ``c = 3``).

    Parameters
    ----------
    n : int
        Side of the square images in pixels.
    cutoff : float
        Mode cutoff ``c >= 2``.

    Returns
    -------
    t_min, t_max : float

    Examples
    --------
    >>> from skintrinsic.diffeo import temperature_range
    >>> t_min, t_max = temperature_range(32, 3)
    >>> print(f"{t_min:.4g} {t_max:.4g}")
    0.000283 0.01305
    """
    n = _check_size(n)
    cutoff = _check_cutoff(cutoff)
    log = math.log(cutoff)
    return 1.0 / (math.pi * n**2 * log), 4.0 / (math.pi**3 * cutoff**2 * log)


def typical_temperature(delta, cutoff, n):
    """Temperature of typical displacement ``delta`` pixels: ``T = 4 delta^2 / (pi n^2 ln c)``.

    It inverts ``delta = (n / 2) sqrt(pi T ln c)``.

    Parameters
    ----------
    delta : float or array-like of float
        Typical displacement in pixels (``>= 0``).
    cutoff : float
        Mode cutoff ``c >= 2``.
    n : int
        Side of the square images in pixels.

    Returns
    -------
    temperature : float or ndarray

    Examples
    --------
    >>> from skintrinsic.diffeo import typical_temperature
    >>> print(f"{typical_temperature(1, 3, 32):.5g} {typical_temperature(1, 3, 28):.5g}")
    0.0011318 0.0014783
    """
    n = _check_size(n)
    cutoff = _check_cutoff(cutoff)
    delta_arr = np.asarray(delta, dtype=np.float64)
    if not np.all(np.isfinite(delta_arr)) or np.any(delta_arr < 0):
        raise ValueError(f"delta must be finite and >= 0 pixels, got {delta!r}.")
    temperature = 4.0 * delta_arr**2 / (math.pi * n**2 * math.log(cutoff))
    return float(temperature) if temperature.ndim == 0 else temperature


def typical_displacement(temperature, cutoff, n):
    """Inverse of :func:`typical_temperature`: ``delta = (n / 2) sqrt(pi T ln c)`` pixels."""
    cutoff, n = _check_cutoff(cutoff), _check_size(n)
    T = np.asarray(temperature, dtype=np.float64)
    if not (np.isfinite(T).all() and (T >= 0).all()):
        raise ValueError(f"temperature must be finite and >= 0, got {temperature!r}.")
    return 0.5 * n * np.sqrt(math.pi * T * math.log(cutoff))


# --------------------------------------------------------------------------- kernels

def _modes(cutoff):
    """Indices ``(i, j)``, both from 1, of the modes with ``sqrt(i^2 + j^2) < cutoff + 1/2``."""
    kmax = int(math.ceil(cutoff + 0.5))
    k = np.arange(1, kmax + 1)
    i, j = np.meshgrid(k, k, indexing="ij")
    keep = i**2 + j**2 < (cutoff + 0.5) ** 2
    return i[keep], j[keep]


def _draw_coefficients(n_fields, cutoff, rng):
    """Unit-temperature coefficients, ndarray ``(n_fields, 2, K, K)``; zero outside the mode set.

    They are drawn with numpy so that a seed gives the same fields on CPU and CUDA.
    """
    i, j = _modes(cutoff)
    kmax = int(i.max())
    scale = 1.0 / np.sqrt(i**2 + j**2)
    coeffs = np.zeros((n_fields, 2, kmax, kmax))
    coeffs[:, :, i - 1, j - 1] = rng.standard_normal((n_fields, 2, i.size)) * scale
    return coeffs


def _sine_basis(n, kmax, dtype, device):
    """``sin(k pi u)`` on ``u = linspace(0, 1, n)``, shape ``(n, kmax)``, exactly 0 at both ends."""
    u = torch.linspace(0, 1, n, dtype=torch.float64)
    k = torch.arange(1, kmax + 1, dtype=torch.float64)
    basis = torch.sin(math.pi * u[:, None] * k[None, :])
    # sin(k pi) is ~1e-16, not 0, in floating point: boundary pixels must not move at all
    basis[0] = 0.0
    basis[-1] = 0.0
    return basis.to(dtype=dtype, device=device)


def _displacement(coeffs, n, temperature, *, dtype, device, unit=1.0):
    """Fields, tensor ``(B, n, n, 2)``: ``[..., 0]`` along the width, ``[..., 1]`` the height.

    ``field[b, y, x, :] = unit sqrt(T) n sum_ij C[b, :, i, j] sin(i pi x/(n-1)) sin(j pi y/(n-1))``,
    in pixels for ``unit=1``.  The components come last, as ``grid_sample`` reads its grid.
    """
    # scaling the few coefficients is cheaper than scaling B n^2 field values
    coeffs = torch.as_tensor(coeffs * (math.sqrt(temperature) * n * unit), dtype=dtype,
                             device=device)
    basis = _sine_basis(n, coeffs.shape[-1], dtype, device)
    return torch.einsum("bcij,xi,yj->byxc", coeffs, basis, basis)


def _remap(images, displacement, interpolation, *, normalized=False):
    """``out[b, :, y, x] = images[b, :, y - dy, x - dx]``, clamped, by ``grid_sample``.

    ``images`` is ``(B, C, H, W)`` and ``displacement`` ``(B, H, W, 2)`` (``dx`` then
    ``dy``) in pixels, or, with ``normalized``, already in ``grid_sample`` units
    (``2 / (size - 1)`` per pixel).
    """
    height, width = images.shape[-2:]
    dtype, device = images.dtype, images.device
    # -1 and +1 are the centres of the corner pixels (align_corners=True)
    base = torch.stack(torch.meshgrid(torch.linspace(-1, 1, width, dtype=dtype, device=device),
                                      torch.linspace(-1, 1, height, dtype=dtype, device=device),
                                      indexing="xy"), dim=-1)
    if not normalized:
        scale = torch.tensor([2.0 / (width - 1), 2.0 / (height - 1)], dtype=dtype, device=device)
        displacement = displacement * scale
    # one pass that also lays the grid out contiguously (einsum's output is strided)
    grid = torch.sub(base, displacement)
    return F.grid_sample(images, grid, mode=interpolation, padding_mode="border",
                         align_corners=True)


# --------------------------------------------------------------------------- array plumbing

def _as_batch(images, device=None):
    """Tensor ``(B, C, n, n)`` from ``(B, n, n)`` or ``(B, C, n, n)``, and a function undoing it."""
    is_numpy = not isinstance(images, torch.Tensor)
    check_real(images, "images")
    if is_numpy:
        array = np.asarray(images)
        if array.dtype != np.float32:
            array = array.astype(np.float64)
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    else:
        tensor = images.detach()
        if not tensor.is_floating_point():
            tensor = tensor.to(torch.get_default_dtype())
    shape = tuple(tensor.shape)
    if tensor.ndim not in (3, 4):
        raise ValueError(
            "images must have shape (n_images, height, width) or (n_images, channels, height, "
            f"width), got shape {shape}. Reshape flat rows to images first, or use "
            "DiffeoTransformer(image_shape=...)."
        )
    if shape[-1] != shape[-2]:
        raise ValueError(
            f"images must be square (the field lives on the unit square), got height {shape[-2]} "
            f"and width {shape[-1]}. Crop or pad them to a square first."
        )
    _check_size(shape[-1])
    if torch.is_tensor(images) and device is None:
        device = tensor.device
    device = resolve_device(device if device is not None else "cpu")
    batch = tensor.reshape(shape[0], -1, shape[-2], shape[-1]).to(device)

    def restore(out):
        out = out.reshape(shape)
        if is_numpy:
            return out.cpu().numpy()
        return out

    return batch, restore


# --------------------------------------------------------------------------- public API

def random_diffeo(images, temperature, cutoff, *, interpolation="bilinear", random_state=None,
                  device=None, return_displacement=False):
    """Deform each image by its own random max-entropy diffeomorphism.

    All fields of the batch are sampled in one vectorized call; the channels of
    an image share its field.  Boundary pixels never move.

    Parameters
    ----------
    images : ndarray or torch.Tensor of shape (n_images, n, n) or (n_images, channels, n, n)
        Square images, ``n >= 3``.  float32 and float64 are kept; other
        dtypes become float64 (numpy) or torch's default dtype (tensors).
    temperature : float
        ``T >= 0``, the variance scale of the coefficients.  ``T = 0`` returns
        an unchanged copy.  See :func:`typical_temperature`.
    cutoff : float
        ``c >= 2``; modes with ``sqrt(i^2 + j^2) < c + 1/2`` are kept.
    interpolation : {"bilinear", "nearest"}, default="bilinear"
        How the source is read at non-integer coordinates (``grid_sample``
        modes; nearest rounds half to even).
    random_state : int, RandomState instance or None, default=None
        Draws the coefficients (with numpy, so a seed gives the same fields on
        any device).
    device : str or torch.device, default=None
        Where to deform numpy input; ``None`` keeps a tensor where it is and
        runs numpy input on the CPU.  Numpy input comes back as numpy.
    return_displacement : bool, default=False
        Also return the displacement fields in pixels, shape
        ``(n_images, 2, n, n)`` (component 0 along the width, 1 along the height).

    Returns
    -------
    deformed : same type and shape as ``images``
    displacement : same type as ``images``, only if ``return_displacement``

    Examples
    --------
    >>> import numpy as np
    >>> from skintrinsic.diffeo import random_diffeo, typical_temperature
    >>> X = np.random.default_rng(0).random((4, 1, 16, 16))
    >>> T = typical_temperature(1, 3, 16)
    >>> random_diffeo(X, T, 3, random_state=0).shape
    (4, 1, 16, 16)
    """
    temperature = _check_temperature(temperature)
    cutoff = _check_cutoff(cutoff)
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}.")
    batch, restore = _as_batch(images, device)
    rng = check_random_state(random_state)
    n = batch.shape[-1]
    _check_cutoff_fits(cutoff, n)
    coeffs = _draw_coefficients(batch.shape[0], cutoff, rng)
    # unless the caller wants pixels, the field comes in grid_sample's units: two passes fewer
    unit = 1.0 if return_displacement else 2.0 / (n - 1)
    deformed = batch.clone() if temperature == 0 else torch.empty_like(batch)
    fields = []
    # blocks of images whose fields and grids stay in cache; the draws above were one call
    block = max(1, _BLOCK_PIXELS // (n * n))
    for start in range(0, batch.shape[0], block):
        part = slice(start, start + block)
        field = _displacement(coeffs[part], n, temperature, dtype=batch.dtype,
                              device=batch.device, unit=unit)
        if temperature != 0:
            # at T = 0 grid_sample is skipped: its coordinate round trip is not exact
            deformed[part] = _remap(batch[part], field, interpolation,
                                    normalized=not return_displacement)
        if return_displacement:
            fields.append(field)
    if not return_displacement:
        return restore(deformed)
    field = torch.cat(fields).permute(0, 3, 1, 2)
    disp = field if torch.is_tensor(images) else field.cpu().numpy()
    return restore(deformed), disp


def matched_noise(images, deformed, *, random_state=None):
    """Gaussian noise with, per sample, exactly the norm of ``deformed - images``.

    The norm is over all channels and pixels of a sample.  The noise is built
    in float64 and then cast to the dtype of ``images``.

    Parameters
    ----------
    images, deformed : ndarray or torch.Tensor of shape (n_samples, ...)
        Originals and their perturbations, same shape.
    random_state : int, RandomState instance or None, default=None
        Draws the Gaussian directions (with numpy, device independent).

    Returns
    -------
    noise : same type, shape and dtype as ``images``
        ``||noise[i]|| = ||deformed[i] - images[i]||``; a zero difference gives
        zero noise.

    Examples
    --------
    >>> import numpy as np
    >>> from skintrinsic.diffeo import matched_noise
    >>> X = np.zeros((2, 3, 3)); Y = X.copy(); Y[0, 1, 1] = 2.0
    >>> eta = matched_noise(X, Y, random_state=0)
    >>> np.linalg.norm(eta.reshape(2, -1), axis=1)
    array([2., 0.])
    """
    check_real(images, "images")
    check_real(deformed, "deformed")
    is_tensor = torch.is_tensor(images)
    x = images.detach().cpu().double().numpy() if is_tensor else \
        np.asarray(images, dtype=np.float64)
    y = deformed.detach().cpu().double().numpy() if torch.is_tensor(deformed) else \
        np.asarray(deformed, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(
            f"images and deformed must have the same shape, got {x.shape} and {y.shape}."
        )
    n = x.shape[0]
    target = np.linalg.norm((y - x).reshape(n, -1), axis=1)
    rng = check_random_state(random_state)
    gauss = rng.standard_normal((n, x[0].size))
    norms = np.linalg.norm(gauss, axis=1)
    noise = gauss * (target / norms)[:, None]
    noise = noise.reshape(x.shape)
    if is_tensor:
        return torch.from_numpy(noise).to(device=images.device, dtype=images.dtype
                                          if images.is_floating_point() else torch.float64)
    out_dtype = images.dtype if np.asarray(images).dtype.kind == "f" else np.float64
    return noise.astype(out_dtype, copy=False)


def _resolve_image_shape(input_shape, n_features, image_shape):
    """``(channels, n, n)`` of one sample, from its array shape or the ``image_shape`` parameter.

    Flat rows are single-channel square images when ``n_features`` is a
    perfect square; otherwise ``image_shape`` must say how to fold them.
    """
    if image_shape is not None:
        shape = tuple(int(s) for s in image_shape)
        if len(shape) == 2:
            shape = (1,) + shape
        if len(shape) != 3 or int(np.prod(shape)) != n_features:
            raise ValueError(
                f"image_shape={image_shape!r} does not fold {n_features} features into "
                "(height, width) or (channels, height, width); pass a shape whose product is "
                f"{n_features}."
            )
    elif input_shape is not None and len(input_shape) in (2, 3):
        shape = tuple(input_shape) if len(input_shape) == 3 else (1,) + tuple(input_shape)
    else:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(
                f"flat samples of {n_features} features are not square single-channel images; pass "
                "images of shape (n, height, width) or (n, channels, height, width), or set "
                "image_shape=(channels, height, width)."
            )
        shape = (1, side, side)
    if shape[-1] != shape[-2]:
        raise ValueError(
            f"images must be square (the field lives on the unit square), got height {shape[-2]} "
            f"and width {shape[-1]}. Crop or pad them to a square first."
        )
    _check_size(shape[-1])
    return shape
