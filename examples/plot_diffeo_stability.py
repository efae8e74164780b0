"""
==============================================================
Random diffeomorphisms and relative stability, layer by layer
==============================================================

Petrini et al. (2021) measure how much a network's output moves when its input is
smoothly deformed, relative to how much it moves under noise of the same size:

.. math::

    D_f = \\frac{E\\|f(\\tau x) - f(x)\\|^2}{E\\|f(x) - f(z)\\|^2}, \\quad
    G_f = \\frac{E\\|f(x + \\eta) - f(x)\\|^2}{E\\|f(x) - f(z)\\|^2}, \\quad
    R_f = D_f / G_f,

where :math:`\\tau` is a random max-entropy diffeomorphism and :math:`\\eta` Gaussian
noise with :math:`\\|\\eta\\| = \\|\\tau x - x\\|`. Across architectures trained on
CIFAR-10 the test error follows :math:`0.2 \\sqrt{R_f}`.

This example shows the deformations on chest X-rays (PneumoniaMNIST, read from
``$SKINTRINSIC_DATA_HOME``), checks their size against the closed forms, measures
:math:`D_k`, :math:`G_k`, :math:`R_k` of a small CNN at initialization and after a
short training, and ends with the constant-filter model of Tomasini et al. (2023),
which explains why :math:`D_k` falls and :math:`G_k` rises with depth.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.model_selection import train_test_split

from skintrinsic.datasets import binary_task, get_data_home, load_medmnist
from skintrinsic.diffeo import (
    DiffeoSensitivity,
    constant_filter_sensitivity,
    depth_scaling_exponents,
    matched_noise,
    random_diffeo,
    temperature_range,
    typical_temperature,
)
from skintrinsic.nets import ImageClassifier, profile_layers
from skintrinsic.plotting import SensitivityDisplay

torch.set_num_threads(1)

# the copy in the data folder, read by its path as it is; load_medmnist("pneumoniamnist")
# would instead insist on the official file (checksum) and download it if missing
xray = load_medmnist(get_data_home() / "pneumoniamnist.npz", split="all")
X, y = binary_task(xray.data, xray.target, classes=(0, 1), n_per_class=750, random_state=0)
X = (np.asarray(X, dtype=np.float32) / 255.0).reshape(-1, 1, 28, 28)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=500, stratify=y,
                                                    random_state=0)
n, cutoff = 28, 3
t_min, t_max = temperature_range(n, cutoff)
print(f"n={n}, c={cutoff}: T_min={t_min:.3g} (half a pixel), T_max={t_max:.3g}, "
      f"T(delta=1)={typical_temperature(1, cutoff, n):.4g}")

# %%
# Deformations of growing size
# ----------------------------
# Each image gets its own field; boundary pixels never move. The last column is
# Gaussian noise with exactly the norm of the ``delta = 1`` deformation.

deltas = [0.5, 1, 2, 4]
image = np.repeat(X_test[:1], 2, axis=0)
fig, axes = plt.subplots(2, len(deltas) + 1, figsize=(11, 4.6), layout="constrained")
axes[0, 0].imshow(image[0, 0], cmap="gray")
axes[0, 0].set_title("original")
step = np.s_[::3, ::3]
grid = np.mgrid[0:n, 0:n][::-1]
for j, delta in enumerate(deltas, start=1):
    T = typical_temperature(delta, cutoff, n)
    deformed, disp = random_diffeo(image, T, cutoff, random_state=1, return_displacement=True)
    axes[0, j].imshow(deformed[0, 0], cmap="gray")
    axes[0, j].set_title(f"delta = {delta} px")
    axes[1, j].quiver(grid[0][step], grid[1][step], disp[0, 0][step], disp[0, 1][step],
                      angles="xy", scale_units="xy", scale=1)
    axes[1, j].set_ylim(n, -1)  # rows grow downwards, as in the image
    axes[1, j].set_aspect("equal")
    if delta == 1:
        noise = matched_noise(image, deformed, random_state=0)
axes[1, 0].imshow(image[0, 0] + noise[0, 0], cmap="gray")
axes[1, 0].set_title("noise, same norm as delta=1", fontsize="small")
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])

# %%
# The size of the displacement
# ----------------------------
# ``delta = (n / 2) sqrt(pi T ln c)`` is the typical displacement. Averaged over
# many fields the root-mean-square displacement is largest at the centre (about
# ``1.26 delta`` at n=32, c=3) and smaller on average over the image (``0.81 delta``).

for delta in [0.5, 1, 2]:
    _, disp = random_diffeo(np.zeros((2000, 1, 32, 32), dtype=np.float32),
                            typical_temperature(delta, 3, 32), 3, random_state=0,
                            return_displacement=True)
    sq = (disp.astype(np.float64) ** 2).sum(axis=1)
    print(f"n=32, delta={delta}: RMS displacement {np.sqrt(sq[:, 15:17, 15:17].mean()):.3f} px "
          f"at the centre, {np.sqrt(sq.mean()):.3f} px over the image")

# %%
# A small CNN at initialization and after training
# ------------------------------------------------
# We train the small CNN (normal against pneumonia) and measure both states on the
# test images over a grid of displacements. D and G both grow with the displacement;
# at initialization they grow together, so R stays within a factor of 2 over a
# four-fold range of displacements, and R_f is of order 1. A few epochs of training
# change it by less than a factor of 3 on this small task (the decades of P21 belong
# to networks trained to state-of-the-art accuracy on natural images).
# ``tests/test_docs.py`` checks these claims on the numbers printed below.

def small_cnn(max_epochs):
    return ImageClassifier("small_cnn", depth=3, width=0.5, max_epochs=max_epochs,
                           random_state=0)


nets = {"initialization": small_cnn(0).fit(X_train, y_train),
        "trained": small_cnn(8).fit(X_train, y_train)}
print(f"test accuracy after training: {nets['trained'].score(X_test, y_test):.3f}")
layers = profile_layers(nets["trained"].module_)[:-1]  # the last one is the output itself
measures = {name: DiffeoSensitivity(net, layers=layers, delta=[0.5, 1, 2], n_probe=300,
                                    random_state=0).fit(X_test)
            for name, net in nets.items()}
# the numbers behind the claims above (tests/test_docs.py reads them)
for name, est in measures.items():
    out = est.sensitivity_[est.sensitivity_["layer"] == "output"]
    print(f"{name} output:", out[["delta", "D", "G", "R"]].round(4).to_string(index=False),
          sep="\n")

fig, ax = plt.subplots(figsize=(4.5, 3.4), layout="constrained")
for (name, est), style in zip(measures.items(), ["--", "-"]):
    out = est.sensitivity_[est.sensitivity_["layer"] == "output"]
    for measure, color in [("D", "C0"), ("G", "C1"), ("R", "C2")]:
        ax.plot(out["delta"], out[measure], style, color=color, marker="o",
                label=f"{measure}, {name}")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("typical displacement delta (pixels)")
ax.set_title("network output")
ax.legend(fontsize="x-small", ncol=2)

# %%
# Layer by layer (the three displacements merged by a geometric mean):

display = SensitivityDisplay.from_estimator(measures)
display.figure_.set_layout_engine("constrained")

# %%
# The P21 aggregation takes medians instead of means. The per-image ratios are skewed to the
# right (a few images move a layer a lot), so the median R is below the mean R at every
# layer, and the order of layers whose values are close can change between the two: which
# aggregation a comparison uses must be stated.

median = DiffeoSensitivity(nets["trained"], layers=layers, aggregation="median", n_probe=300,
                           random_state=0).fit(X_test)
mean = measures["trained"].sensitivity_
print(mean.loc[mean["delta"].round(6) == 1, ["layer", "R"]]
      .assign(R_median=median.sensitivity_["R"].to_numpy()).round(3).to_string(index=False))

# %%
# Why D falls and G rises with depth: the constant-filter model
# -------------------------------------------------------------
# A 1-D CNN with all-ones filters of size 2, ReLU, fed single active pixels: a
# one-pixel shift only changes a pooled unit when it crosses the unit's border,
# while the rectified noise adds up under pooling. The exact numbers give
# ``D ~ 2^-k, G ~ 2^k`` for stride 2 and ``D ~ k^-1, G ~ k^(1/2)`` for stride 1.

stride2 = constant_filter_sensitivity(512, 7, stride=2)
stride1 = constant_filter_sensitivity(512, 64, stride=1, boundary="open")
print("stride 2, exponents of 2^(a k) for k = 3..6:",
      {k: round(v, 2) for k, v in depth_scaling_exponents(stride2, k_min=3, k_max=6).items()})
print("stride 1, exponents of k^a for k = 32..64:",
      {k: round(v, 2) for k, v in depth_scaling_exponents(stride1, k_min=32, k_max=64,
                                                          scale="power").items()})
fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
for ax, table, title, logx in [(axes[0], stride2, "stride 2 (= filter size)", False),
                               (axes[1], stride1, "stride 1", True)]:
    for measure in ("D", "G", "R"):
        ax.plot(table["depth"], table[measure], marker="o" if not logx else None,
                label=f"${measure}_k$")
    ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel("depth k")
    ax.set_title(title)
    ax.legend()
plt.show()
