"""Input validation shared by every estimator: images in, flat float arrays out."""

import inspect
import math
import numbers
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.utils.validation import validate_data


def validate_images(estimator, X, y="no_validation", *, reset=True, dtype=(np.float64, np.float32),
                    **check_params):
    """Validate ``X`` of shape ``(n, ...)`` and return it flattened to ``(n, n_features)``.

    Images of any shape are accepted: ``(n, H, W)``, ``(n, C, H, W)`` or already
    flat ``(n, D)``.  The trailing shape is stored as ``estimator.input_shape_``
    when ``reset`` is true, and checked against it otherwise, so that
    ``n_features_in_`` counts pixels, not rows of an image.

    The caller's array is never modified: validation copies whenever it converts
    and estimators only read the result.
    """
    if hasattr(X, "shape") and not hasattr(X, "iloc") and len(getattr(X, "shape", ())) > 2:
        shape = tuple(X.shape[1:])
        # an explicit width, not -1: numpy cannot infer it when there are 0 rows
        X = np.reshape(np.asarray(X), (X.shape[0], _n_values(shape)))
    else:
        shape = None
        if not hasattr(X, "shape") and not hasattr(X, "iloc") and X is not None:
            arr = as_array(X, "X")
            if arr.ndim > 2 and arr.dtype.kind in "biuf":
                shape = tuple(arr.shape[1:])
                X = arr.reshape(arr.shape[0], _n_values(shape))
    if reset:
        estimator.input_shape_ = shape if shape is not None else None
    elif shape is not None and getattr(estimator, "input_shape_", None) not in (None, shape):
        raise ValueError(
            f"X has image shape {shape}, but {type(estimator).__name__} was fitted on images of "
            f"shape {estimator.input_shape_}. Pass images of the fitted shape."
        )
    if sp.issparse(X) and not check_params.get("accept_sparse"):
        raise TypeError(
            f"{type(estimator).__name__} takes dense arrays, got a sparse {type(X).__name__}. "
            "Convert it first, e.g. X.toarray()."
        )
    check_params.setdefault("ensure_all_finite", True)
    check_params.setdefault("ensure_min_samples", 1)
    return validate_numeric(estimator, X, y, reset=reset, dtype=list(dtype), **check_params)


def validate_numeric(estimator, X, y="no_validation", **check_params):
    """sklearn's ``validate_data``, with text that is not a number named as such."""
    try:
        return validate_data(estimator, X, y, **check_params)
    except ValueError as exc:
        if "could not convert" not in str(exc):
            raise
        raise ValueError(
            f"{type(estimator).__name__} needs numeric X (pixel or feature values), but {exc}. "
            "Convert the data to numbers first, e.g. np.asarray(X, dtype=float)."
        ) from None


def as_array(values, name):
    """``np.asarray(values)``, with nested lists of different lengths named as such."""
    try:
        return np.asarray(values)
    except ValueError:
        raise ValueError(f"{name} is ragged: its rows do not all have the same length. Pass a "
                         "rectangular array.") from None


def _n_values(shape):
    return int(np.prod(shape, dtype=np.int64))


def check_enough_samples(n_samples, needed, *, what, hint):
    """Raise a ValueError that names the shortfall and the fix."""
    if n_samples < needed:
        raise ValueError(
            f"{what} needs at least {needed} distinct samples, got {n_samples}. {hint}"
        )


def is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


_INTERNAL_DIRS = (str(Path(__file__).resolve().parent), str(Path(sklearn.__file__).resolve().parent))


def user_stacklevel():
    """The ``stacklevel`` that makes a warning point at the user's code.

    Counts the frames inside skintrinsic and scikit-learn (whose ``fit``
    wrappers add a varying number of them) above the caller of this function.
    """
    level = 1
    frame = inspect.currentframe().f_back
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL_DIRS):
        level += 1
        frame = frame.f_back
    return level


def memory_limit():
    """Bytes of physical memory: the bound every size-like parameter is checked against."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # no sysconf (Windows): assume a large box
        return 1 << 40


def _format_bytes(n):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


def check_memory(n_bytes, *, what, fix):
    """Refuse, before allocating, a request larger than the machine's memory.

    ``what`` names the request (e.g. ``"cutoff=3000"``) and ``fix`` says what to pass
    instead.  NaN and infinite sizes are refused too.
    """
    limit = memory_limit()
    if not n_bytes <= limit:
        size = "an unbounded amount" if not math.isfinite(n_bytes) else _format_bytes(n_bytes)
        raise ValueError(f"{what} would need {size} of memory, more than this machine's "
                         f"{_format_bytes(limit)}. {fix}")


def unique_labels(y, **unique_kwargs):
    """``np.unique`` of class labels, refusing those that cannot be classes (mixed types, NaN)."""
    y = np.asarray(y)
    try:
        out = np.unique(y, **unique_kwargs)
    except TypeError:  # labels that cannot be ordered, e.g. numbers mixed with strings
        kinds = sorted({type(v).__name__ for v in y.ravel().tolist()})
        raise ValueError(f"the labels mix types ({', '.join(kinds)}); use one type, e.g. "
                         "y.astype(str).") from None
    classes = out[0] if isinstance(out, tuple) else out
    if classes.dtype.kind in "fc" and np.isnan(classes).any():
        raise ValueError("the labels contain NaN; drop those samples or give them a class.")
    return out


def check_real(values, name):
    """Refuse complex, text or object values, NaN and infinity, before any conversion.

    ``values`` is an array-like or a torch tensor (torch is not imported for numpy input).
    """
    if type(values).__module__.startswith("torch"):
        import torch

        if torch.is_tensor(values):
            if values.is_complex():
                raise TypeError(f"{name} must hold real numbers, got dtype {values.dtype}.")
            finite = not values.is_floating_point() or bool(torch.isfinite(values).all())
            if not finite:
                raise ValueError(f"{name} contain NaN or infinity; remove or impute them first.")
            return
    values = as_array(values, name)
    if values.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {values.dtype}. Convert "
                        "them first, e.g. np.asarray(X, dtype=float).")
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise ValueError(f"{name} contain NaN or infinity; remove or impute them first.")
