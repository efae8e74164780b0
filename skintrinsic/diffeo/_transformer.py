"""Random diffeomorphisms as a scikit-learn transformer, for augmentation and pipelines."""

from numbers import Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._validation import validate_images
from ._sampler import INTERPOLATIONS, _resolve_image_shape, random_diffeo, typical_temperature


class DiffeoTransformer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Deform each image by its own random max-entropy diffeomorphism.

    Every call to :meth:`transform` draws fresh fields, one per image.  With an
    integer ``random_state`` each call draws the same fields (reproducible
    pipelines); pass a ``RandomState`` instance or ``None`` to get new
    deformations at every call, as augmentation wants.

    Parameters
    ----------
    delta : float, default=1.0
        Typical displacement in pixels; the temperature is
        ``typical_temperature(delta, cutoff, n)`` for images of side ``n``.
        Ignored when ``temperature`` is set.
    temperature : float, default=None
        Temperature ``T >= 0`` used as is.
    cutoff : float, default=3
        Mode cutoff ``c >= 2``.
    interpolation : {"bilinear", "nearest"}, default="bilinear"
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(channels, height, width)`` to fold flat rows
        into images.  ``None``: image arrays keep their shape and flat rows
        must be square single-channel images.
    device : str, default="cpu"
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    temperature_ : float
        Temperature used by :meth:`transform`.
    image_shape_ : tuple of int
        ``(channels, n, n)`` of one image.
    input_shape_ : tuple of int or None
        Trailing shape of the ``X`` passed to :meth:`fit` (``None`` for flat rows).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from skintrinsic.diffeo import DiffeoTransformer
    >>> X = np.random.default_rng(0).random((5, 1, 12, 12))
    >>> tr = DiffeoTransformer(delta=1.0, random_state=0).fit(X)
    >>> tr.transform(X).shape
    (5, 1, 12, 12)
    >>> round(tr.temperature_, 6)
    0.008048
    """

    _parameter_constraints = {
        "delta": [Interval(Real, 0, None, closed="left")],
        "temperature": [None, Interval(Real, 0, None, closed="left")],
        "cutoff": [Interval(Real, 2, None, closed="left")],
        "interpolation": [StrOptions(set(INTERPOLATIONS))],
        "image_shape": [None, tuple, list],
        "device": [str, torch.device],
        "random_state": ["random_state"],
    }

    def __init__(self, delta=1.0, *, temperature=None, cutoff=3, interpolation="bilinear",
                 image_shape=None, device="cpu", random_state=None):
        self.delta = delta
        self.temperature = temperature
        self.cutoff = cutoff
        self.interpolation = interpolation
        self.image_shape = image_shape
        self.device = device
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the images and set the temperature from their size.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Images ``(n, n, n)`` / ``(n, channels, n, n)``, or flat rows.
        y : ignored

        Returns
        -------
        self : DiffeoTransformer
        """
        validate_images(self, X)
        self.image_shape_ = _resolve_image_shape(self.input_shape_, self.n_features_in_,
                                                 self.image_shape)
        if self.temperature is not None:
            self.temperature_ = float(self.temperature)
        else:
            self.temperature_ = typical_temperature(self.delta, self.cutoff, self.image_shape_[-1])
        return self

    def transform(self, X):
        """Return the deformed images, in the shape ``X`` came in.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        X_new : ndarray of the same shape as ``X``
        """
        check_is_fitted(self)
        shape = getattr(X, "shape", None) or np.shape(X)
        flat = validate_images(self, X, reset=False)
        out_shape = shape if len(shape) > 2 else flat.shape
        images = flat.reshape((flat.shape[0],) + self.image_shape_)
        deformed = random_diffeo(images, self.temperature_, self.cutoff,
                                 interpolation=self.interpolation,
                                 random_state=check_random_state(self.random_state),
                                 device=self.device)
        return np.reshape(deformed, out_shape)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.requires_fit = True
        return tags
