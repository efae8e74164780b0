"""The study layer: the one place that turns measurements into the papers' comparisons.

- :func:`dataset_properties`: d_data and K_F of each dataset, measured once and at the
  same size for every dataset;
- :func:`scaling_study`: training runs over sizes, seeds and datasets, the law fitted
  with intervals clustered by dataset, and the correlation across datasets;
- :func:`correlate_across_datasets`: one point per dataset, with a bootstrap interval
  over datasets and a permutation p-value.

The ``skintrinsic`` command measures through the same functions.
"""

from .._lazy import attach

_LAZY = {
    "dataset_properties": "_properties",
    "correlate_across_datasets": "_correlation",
    "scaling_study": "_scaling",
}

__getattr__, __dir__, __all__ = attach(__name__, _LAZY)
