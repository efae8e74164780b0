"""
===========================================================
Correcting the bias of intrinsic-dimension estimators
===========================================================

The paper's MLE and TwoNN underestimate high dimensions at finite ``N``: ``N`` points
cannot fill a high-dimensional cube, so most of them sit near a face and their neighbours
look closer together than the dimension implies. ``IntrinsicDimension`` offers estimators
that correct for this (see :ref:`intrinsic_dimension`); here we compare, on uniform
hypercubes of dimension 2 to 16 (1000 points, rotated into R^40) and on a noisy 1-d
spiral:

* ``"mle"`` (the default, the paper's) and ``"twonn"``;
* ``"twonn_calibrated"``: the TwoNN fit mapped through its expectation curve, simulated on
  uniform balls with the same ``N``.  The first run simulates that curve (about 20 s on
  one core) and keeps it on disk; later runs read it;
* ``"gride"``: its multiscale profile shows the dimension as a function of scale.

This is a reduced version of the benchmark of ``benchmarks/bench_id_accuracy.py`` (the 24
manifolds of Hein & Audibert and Campadelli et al. at N = 2500, with DANCo and
scikit-dimension's estimators), chosen to run in under a minute on a CPU.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from skintrinsic import IntrinsicDimension
from skintrinsic.datasets import make_hypercube

torch.set_num_threads(1)

n_samples = 1000
dimensions = [2, 4, 8, 12, 16]
estimators = ["mle", "twonn", "twonn_calibrated"]

results = {e: [] for e in estimators}
for d in dimensions:
    X = make_hypercube(n_samples, d, ambient_dim=40, random_state=d)
    for e in estimators:
        est = IntrinsicDimension(estimator=e, n_bootstrap=50, random_state=0).fit(X)
        results[e].append((est.dimension_, *est.confidence_interval_))

# %%
# Estimates against the truth.  The calibrated TwoNN follows the diagonal; the plain
# estimators fall further below it as ``d`` grows.
fig, ax = plt.subplots(figsize=(5.5, 4.5))
for i, e in enumerate(estimators):
    r = np.array(results[e])
    x = np.array(dimensions) * (1 + 0.02 * (i - 1))
    ax.errorbar(x, r[:, 0], yerr=[r[:, 0] - r[:, 1], r[:, 2] - r[:, 0]], fmt="o-",
                capsize=3, label=e)
ax.plot([1, 18], [1, 18], color="k", lw=0.8, label="truth")
ax.set(xlabel="true dimension of the hypercube", ylabel="estimate",
       title=f"uniform hypercubes, N = {n_samples}")
ax.legend()
fig.tight_layout()

for e in estimators:
    errors = [abs(r[0] - d) / d for r, d in zip(results[e], dimensions)]
    print(f"{e:17s} mean relative error {100 * np.mean(errors):5.1f} %")

# %%
# Noise: a 1-d spiral in R^3 with Gaussian noise of standard deviation 0.01.  At the
# smallest scales the points fill a small 3-d tube, so the two-neighbour estimators see
# more than one dimension; the MLE's 20 neighbours reach further and see less of it.
# GRIDE's scale profile shows the transition: about 2.3 at ``n1 = 1`` (TwoNN's scale),
# falling to a plateau near 1 once the neighbourhoods are much wider than the noise
# (``radius`` is the mean distance to the ``n2``-th neighbour).  Calibration does not help
# here: it corrects the bias of a finite sample, not the dimension of the noise.
rng = np.random.default_rng(0)
t = np.sort(rng.uniform(0, 6 * np.pi, n_samples))
spiral = np.c_[t * np.cos(t), t * np.sin(t), 0.5 * t] / 10
spiral += rng.normal(scale=0.01, size=spiral.shape)
for e in ("mle", "twonn", "twonn_calibrated"):
    d_hat = IntrinsicDimension(estimator=e, n_bootstrap=0).fit(spiral).dimension_
    print(f"noisy spiral, {e:17s} {d_hat:.2f}")

gride = IntrinsicDimension(estimator="gride", k=64, n_bootstrap=0).fit(spiral)
profile = gride.scale_profile_
fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.errorbar(profile["radius"], profile["dimension"], yerr=profile["std_error"], fmt="o-",
            capsize=3)
for n1, r, d_hat in zip(profile["n1"], profile["radius"], profile["dimension"]):
    ax.annotate(f"n1={n1}", (r, d_hat), textcoords="offset points", xytext=(4, 4), fontsize=8)
ax.axhline(1, color="k", lw=0.8)
ax.set(xscale="log", xlabel="scale (mean distance to the n2-th neighbour)",
       ylabel="GRIDE estimate", title="GRIDE scale profile of the noisy spiral")
fig.tight_layout()
plt.show()
