"""Stability to diffeomorphisms (Petrini et al. 2021; Tomasini et al. 2023).

- :func:`random_diffeo`, :func:`temperature_range`, :func:`typical_temperature`:
  random max-entropy deformations of square images; :class:`DiffeoTransformer`
  wraps them as a transformer.
- :func:`matched_noise`: Gaussian noise with the norm of a perturbation.
- :func:`sparse_moves`: one-pixel moves of the active pixels of sparse images.
- :class:`DiffeoSensitivity`, :func:`make_stability_scorer`: D_f, G_f and R_f,
  layer by layer.
- :func:`constant_filter_sensitivity`, :func:`depth_scaling_exponents`: the
  analytic constant-filter model of how D_k and G_k scale with depth.
- :func:`shuffle_channels`, :func:`spatial_pooling_share`: pooling probes.
"""

from ._constant_filter import constant_filter_sensitivity, depth_scaling_exponents
from ._moves import sparse_moves
from ._pooling import shuffle_channels, spatial_pooling_share
from ._sampler import (
    matched_noise,
    random_diffeo,
    temperature_range,
    typical_displacement,
    typical_temperature,
)
from ._sensitivity import DiffeoSensitivity, make_stability_scorer
from ._transformer import DiffeoTransformer

__all__ = [
    "constant_filter_sensitivity",
    "depth_scaling_exponents",
    "DiffeoSensitivity",
    "DiffeoTransformer",
    "make_stability_scorer",
    "matched_noise",
    "random_diffeo",
    "shuffle_channels",
    "sparse_moves",
    "spatial_pooling_share",
    "temperature_range",
    "typical_displacement",
    "typical_temperature",
]
