"""What the Displays accept: frames with named columns, study results, numeric vectors.

Anything else is refused here with an error that names what was expected, instead of
an AttributeError from deep inside pandas or matplotlib.
"""

import numpy as np
import pandas as pd


def as_frame(value, *, name, columns, source):
    """``value`` (a DataFrame, a dict of columns or a list of records) as a DataFrame."""
    expected = f"{name} must be a pandas DataFrame with the columns {', '.join(columns)}"
    if not isinstance(value, pd.DataFrame):
        if not isinstance(value, (dict, list)):
            raise TypeError(f"{expected} ({source}), got {type(value).__name__}.")
        try:
            value = pd.DataFrame(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{expected} ({source}); the {type(value).__name__} passed cannot "
                            f"be read as one ({exc}).") from None
    missing = [c for c in columns if c not in value.columns]
    if missing:
        raise ValueError(f"{name} lacks the columns {missing} (missing from its columns "
                         f"{list(value.columns)[:8]}); {source}.")
    return value


def study_frame(result, columns):
    """The results frame of a :func:`~skintrinsic.scaling_study` Bunch."""
    if not hasattr(result, "results") or not hasattr(result, "law"):
        raise TypeError("result must be the Bunch returned by skintrinsic.scaling_study (with "
                        f"results and law), got {type(result).__name__}.")
    return as_frame(result.results, name="result.results", columns=columns,
                    source="pass the return value of scaling_study")


def as_vector(value, name):
    """A 1-d float64 array, or a ValueError naming ``name``."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-d array of numbers, got "
                         f"{type(value).__name__}.") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-d array of numbers, got shape {array.shape}.")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values; drop those points first.")
    return array
