"""
===================================================
Intrinsic dimension of manifolds of known dimension
===================================================

Before trusting an intrinsic-dimension estimate on images, check it where the answer is
known. We sample points uniformly from hypercubes and spheres of dimension ``d``, rotate
them into a 100-dimensional space, and compare the two estimators of
:class:`~skintrinsic.IntrinsicDimension` with the truth:

* the Levina-Bickel maximum-likelihood estimator with ``k = 20`` and MacKay-Ghahramani
  averaging (the reference of Pope et al. 2021 and Konz & Mazurowski 2024);
* TwoNN (Facco et al. 2017), which uses only the two nearest neighbours.

Both are accurate at low dimension and *underestimate* at high dimension for a fixed
number of points: ``N`` points cannot fill a high-dimensional space, so the neighbours
look closer together than the dimension would imply. The hypercube is harder than the
sphere because of its faces: near a face, the neighbours all lie on one side, and the
estimate at those points is too low. The bars are 95 % bootstrap intervals; they reflect
sampling noise only, not these biases.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from skintrinsic import IntrinsicDimension
from skintrinsic.datasets import make_hypercube, make_sphere

torch.set_num_threads(1)

n_samples = 2000
ambient_dim = 100
dimensions = [2, 4, 8, 12, 16, 24]

rows = []
for name, make in [("hypercube", make_hypercube), ("sphere", make_sphere)]:
    for d in dimensions:
        X = make(n_samples, d, ambient_dim, random_state=d)
        for estimator in ("mle", "twonn"):
            est = IntrinsicDimension(estimator, k=20, n_bootstrap=100, random_state=0).fit(X)
            rows.append((name, estimator, d, est.dimension_, *est.confidence_interval_))

# %%
# Estimates against the truth
# ---------------------------
# The dashed diagonal is a perfect estimate.

fig, axes = plt.subplots(1, 2, figsize=(9, 4), sharey=True, layout="constrained")
for ax, name in zip(axes, ["hypercube", "sphere"]):
    for estimator, marker in [("mle", "o"), ("twonn", "s")]:
        sub = [r for r in rows if r[0] == name and r[1] == estimator]
        d = np.array([r[2] for r in sub])
        est = np.array([r[3] for r in sub])
        low = np.array([r[4] for r in sub])
        high = np.array([r[5] for r in sub])
        ax.errorbar(d, est, yerr=[est - low, high - est], marker=marker, capsize=3,
                    label={"mle": "MLE (k=20)", "twonn": "TwoNN"}[estimator])
    ax.plot([0, max(dimensions)], [0, max(dimensions)], "k--", lw=1, label="truth")
    ax.set_title(f"uniform {name}, N={n_samples}, D={ambient_dim}")
    ax.set_xlabel("true intrinsic dimension d")
axes[0].set_ylabel("estimated dimension")
axes[0].legend()
plt.show()

# %%
# The numbers
# -----------
print(f"{'manifold':<10} {'estimator':<6} {'d':>3} {'estimate':>9}  95% CI")
for name, estimator, d, value, low, high in rows:
    print(f"{name:<10} {estimator:<6} {d:>3} {value:9.2f}  [{low:.2f}, {high:.2f}]")
