"""One visual meaning per channel, shared by the Displays, the report and the gallery.

- **colour** means the dataset (or domain): the first dataset of a figure is blue, the
  second red, and so on, in the order they are given, in every plot of a report;
- **marker** means the estimator or the attack (MLE a circle, TwoNN a square, d_repr a
  diamond; FGSM a circle, PGD a square);
- **grey shades and marker sizes** mean the training size N: lighter and smaller for
  fewer images.

Grey is kept out of the dataset colours so that the two never mix.
"""

import numpy as np

__all__ = ["dataset_colors", "estimator_marker", "size_shades", "size_markersizes"]

#: matplotlib's tab10 without its grey, blue and red first
DATASET_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
                  "#bcbd22", "#17becf")
_MARKERS = (("d_repr", "D"), ("mle", "o"), ("twonn", "s"), ("fgsm", "o"), ("pgd", "s"))
_OTHER_MARKERS = ("^", "v", "P", "X", "*")


def dataset_colors(names):
    """``{name: colour}`` for datasets (or domains), in the order given, repeats ignored.

    Parameters
    ----------
    names : iterable of str
        The datasets of a figure or of a report, in the order they should keep.

    Returns
    -------
    colors : dict of str to str
        A hex colour per name: blue, red, green, purple, orange, ...

    Examples
    --------
    >>> from skintrinsic.plotting import dataset_colors
    >>> dataset_colors(["mnist", "pneumoniamnist", "mnist"])
    {'mnist': '#1f77b4', 'pneumoniamnist': '#d62728'}
    """
    if isinstance(names, str) or not hasattr(names, "__iter__"):
        raise TypeError(f"names must be an iterable of dataset names, e.g. ['mnist'], got "
                        f"{names!r}.")
    unique = list(dict.fromkeys(names))
    return {name: DATASET_COLORS[i % len(DATASET_COLORS)] for i, name in enumerate(unique)}


def estimator_marker(method, index=0):
    """The marker of an estimator or attack named in ``method`` (e.g. "d_data: MLE (k=20)")."""
    text = str(method).lower()
    for key, marker in _MARKERS:
        if key in text:
            return marker
    return _OTHER_MARKERS[index % len(_OTHER_MARKERS)]


def size_shades(sizes):
    """``{N: grey}`` from light (fewest images) to near black (most)."""
    sizes = sorted(set(float(s) for s in sizes))
    levels = np.linspace(0.65, 0.1, len(sizes)) if len(sizes) > 1 else [0.3]
    return {s: str(round(float(level), 3)) for s, level in zip(sizes, levels)}


def size_markersizes(sizes, smallest=30.0, largest=130.0):
    """``{N: scatter size}`` growing with log N, so that points show their N."""
    sizes = sorted(set(float(s) for s in sizes))
    if len(sizes) == 1:
        return {sizes[0]: (smallest + largest) / 2}
    logs = np.log(sizes)
    areas = smallest + (largest - smallest) * (logs - logs[0]) / (logs[-1] - logs[0])
    return dict(zip(sizes, areas.tolist()))
