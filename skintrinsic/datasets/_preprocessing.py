"""The paper's image preprocessing as a transformer: channels, resize, then per-image max to 255."""

import math
from numbers import Integral

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Options, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._compute import resolve_device
from .._validation import check_memory, validate_images

# ITU-R 601-2 luma, the weights of Pillow's convert("L")
_LUMA = (0.299, 0.587, 0.114)
# floats per block of images pushed through torch at once (~64 MB of float32)
_BLOCK_VALUES = 1 << 24


def _as_size(size):
    if size is None:
        return None
    pair = (size, size) if isinstance(size, Integral) else tuple(size)
    if len(pair) != 2 or not all(isinstance(s, Integral) and not isinstance(s, bool) and s > 0
                                 for s in pair):
        raise ValueError(f"size must be a positive int or a (height, width) pair of positive "
                         f"ints; got {size!r}.")
    return tuple(int(s) for s in pair)


class ReferencePreprocessor(TransformerMixin, BaseEstimator):
    """Preprocess images as Konz & Mazurowski (2024) do before measuring them.

    In order, for each image: convert the channels (optional), resize (optional), then scale
    it so that its largest value is exactly 255.  There is no mean/std normalization.  The
    paper resizes to 224x224 with one channel for medical images and MNIST and three for
    natural RGB datasets: ``ReferencePreprocessor(size=224, channels=1)``.

    Scaling comes last so that the maximum of every output image is 255 exactly (a resize
    can move the maximum).  The MLE of the intrinsic dimension does not change when all
    images are multiplied by one factor, but this scaling is per image, and resolution and
    channel count do change it, so compare datasets only after the same preprocessing.

    Parameters
    ----------
    size : int or (int, int), default=None
        Output ``size`` x ``size`` (or ``(height, width)``); ``None`` keeps the resolution.
    channels : {1, 3}, default=None
        Output channels: 1 converts RGB with the ITU-R 601-2 luma weights (0.299, 0.587,
        0.114; Pillow's ``convert("L")``); 3 repeats a single channel.  ``None`` keeps the
        channels and the input layout; 1 or 3 always gives ``(n, channels, H, W)``.
    interpolation : {"bilinear", "bicubic", "nearest", "nearest-exact", "area"}, \
            default="bilinear"
        Mode of :func:`torch.nn.functional.interpolate` (``align_corners=False``).  Values
        below 0 that bicubic overshoot can produce are clipped to 0.
    antialias : bool, default=True
        Low-pass filter when downsampling with bilinear or bicubic (torchvision's default);
        it has no effect on upsampling.
    device : {"cpu", "cuda", "auto"} or torch.device, default="cpu"
        Where the resize runs.

    Attributes
    ----------
    n_features_in_ : int
        Pixels per input image (all channels).
    input_shape_ : tuple or None
        Shape of one input image, ``(H, W)`` or ``(C, H, W)``; ``None`` for flat input
        ``(n, D)``, which can only be scaled (neither resized nor converted).
    output_shape_ : tuple
        Shape of one output image.

    Notes
    -----
    Images are taken channels first: ``(n, H, W)`` or ``(n, C, H, W)``.  Pixel values must
    be nonnegative.  An all-zero image has no maximum to scale: it is left at zero.
    Integer input gives float32 output; float32 and float64 are kept.  The input is never
    modified.  Mind the output size: at 224x224 each float32 image takes 196 kB (2 GB for
    10000 images), which is why the package's small-scale experiments stay at 28x28.

    Examples
    --------
    >>> import numpy as np
    >>> from skintrinsic.datasets import ReferencePreprocessor
    >>> X = np.array([[[0, 1], [2, 5]], [[0, 0], [0, 0]]], dtype=np.uint8)
    >>> Xt = ReferencePreprocessor(size=4).fit_transform(X)
    >>> Xt.shape, Xt.dtype, Xt.max(axis=(1, 2)).tolist()
    ((2, 4, 4), dtype('float32'), [255.0, 0.0])
    """

    _parameter_constraints: dict = {
        "size": [Integral, tuple, list, None],
        "channels": [Options(Integral, {1, 3}), None],
        "interpolation": [StrOptions({"bilinear", "bicubic", "nearest", "nearest-exact",
                                      "area"})],
        "antialias": ["boolean"],
        "device": [str, torch.device],
    }

    def __init__(self, size=None, channels=None, interpolation="bilinear", antialias=True,
                 device="cpu"):
        self.size = size
        self.channels = channels
        self.interpolation = interpolation
        self.antialias = antialias
        self.device = device

    def _validate(self, X, reset):
        X = validate_images(self, X, reset=reset, dtype=(np.float32, np.float64))
        if X.size and X.min() < 0:
            raise ValueError(
                "Negative values in data passed to ReferencePreprocessor: it scales each image "
                "so that its maximum is 255, which needs nonnegative pixel values. Pass raw "
                "intensities (e.g. uint8 images), or shift them first (X - X.min()).")
        return X

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the images and record their shape.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W), (n_samples, C, H, W) or (n_samples, D)
            Images with nonnegative values.
        y : None
            Ignored.

        Returns
        -------
        self : ReferencePreprocessor
        """
        n_fit = self._validate(X, reset=True).shape[0]
        size = _as_size(self.size)
        shape = self.input_shape_
        if shape is None:
            if size is not None or self.channels is not None:
                raise ValueError(
                    "X is flat (n_samples, n_features), so its height and width are unknown: "
                    "it can be scaled but not resized or converted. Pass images of shape "
                    "(n, H, W) or (n, C, H, W), or leave size and channels at None.")
            self.output_shape_ = (self.n_features_in_,)
            return self
        if len(shape) not in (2, 3):
            raise ValueError(f"images must be (n, H, W) or (n, C, H, W), channels first; got "
                             f"images of shape {shape}.")
        in_channels = 1 if len(shape) == 2 else shape[0]
        if self.channels is not None and in_channels not in (1, self.channels) and \
                not (self.channels == 1 and in_channels == 3):
            raise ValueError(
                f"cannot convert images with {in_channels} channels to {self.channels}; "
                "channels=1 takes 1 or 3 input channels and channels=3 takes 1 or 3. Images "
                "must be channels first, (n, C, H, W).")
        height, width = size if size is not None else shape[-2:]
        if self.channels is not None:
            self.output_shape_ = (self.channels, height, width)
        else:
            self.output_shape_ = (*shape[:-2], height, width)
        self._check_output_memory(n_fit)
        return self

    def _check_output_memory(self, n):
        """Refuse, before any allocation, an output larger than the machine's memory."""
        check_memory(4.0 * n * math.prod(self.output_shape_),
                     what=f"{type(self).__name__}(size={self.size!r}) on {n} images of output "
                     f"shape {self.output_shape_}",
                     fix="Pass a smaller size, or transform fewer images at a time.")

    def transform(self, X):
        """Convert channels, resize, and scale each image to a maximum of 255.

        Parameters
        ----------
        X : array-like of the fitted image shape
            Images with nonnegative values.

        Returns
        -------
        X_new : ndarray of shape (n_samples, ...)
            Each image resized to ``output_shape_`` and scaled to a maximum of 255;
            float32 for integer input, else the input's float dtype.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        n = X.shape[0]
        self._check_output_memory(n)
        out = np.empty((n, *self.output_shape_), dtype=X.dtype)
        if self.input_shape_ is None:
            out[...] = _scale_to_255(X)
            return out
        shape = self.input_shape_
        images = X.reshape(n, 1, *shape) if len(shape) == 2 else X.reshape(n, *shape)
        device = resolve_device(self.device)
        size = _as_size(self.size)
        block = max(1, _BLOCK_VALUES // max(images[0].size, int(np.prod(self.output_shape_))))
        for start in range(0, n, block):
            chunk = images[start:start + block]
            # torch wants writable memory; copy a read-only (e.g. memory-mapped) block
            chunk = chunk if chunk.flags.writeable else chunk.copy()
            batch = self._convert(torch.from_numpy(np.ascontiguousarray(chunk)).to(device), size)
            resized = batch.cpu().numpy().reshape(len(chunk), -1)
            out[start:start + block] = _scale_to_255(resized).reshape(-1, *self.output_shape_)
        return out

    def _convert(self, batch, size):
        if self.channels == 1 and batch.shape[1] == 3:
            luma = torch.tensor(_LUMA, dtype=batch.dtype, device=batch.device)
            batch = torch.einsum("nchw,c->nhw", batch, luma)[:, None]
        elif self.channels == 3 and batch.shape[1] == 1:
            batch = batch.expand(-1, 3, -1, -1)
        if size is not None and tuple(batch.shape[-2:]) != size:
            smooth = self.interpolation in ("bilinear", "bicubic")
            batch = torch.nn.functional.interpolate(
                batch, size=size, mode=self.interpolation,
                align_corners=False if smooth else None,
                antialias=self.antialias and smooth)
            if self.interpolation == "bicubic":
                batch = batch.clamp_(min=0)
        return batch

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.positive_only = True
        return tags


def _scale_to_255(rows):
    """Each row (one flattened image) divided by its own maximum, times 255.

    All-zero rows stay zero.  ``x / peak * 255`` (not ``x * (255 / peak)``) maps the maximum
    to exactly 255: ``peak / peak`` is exactly 1 in floating point.
    """
    peak = rows.max(axis=1, keepdims=True)
    return rows / np.where(peak > 0, peak, 1) * 255
