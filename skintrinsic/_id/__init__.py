"""Formulas of the intrinsic-dimension estimators beyond the paper's MLE and TwoNN.

One module per estimator, each a set of small pure functions of the neighbour
distances (and, for DANCo, of the neighbour vectors) that the shared engine
returns; :class:`skintrinsic.IntrinsicDimension` dispatches to them.

- :mod:`.gride`: GRIDE (Denti et al. 2022), its multiscale profile and Fisher errors;
- :mod:`.mind`: MiND-ML (Rozza et al. 2012), the likelihood of ``T_1 / T_k``;
- :mod:`.danco`: DANCo (Ceruti et al. 2014), norms and angles against a calibration;
- :mod:`.calibration`: the simulated expectation curves on uniform balls, cached on disk;
- :mod:`._roots`: the root of a decreasing score, scalar or one per point.
"""
