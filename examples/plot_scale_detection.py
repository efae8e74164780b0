"""
===============================================================
The scale-detection task: training makes a CNN stable to moves
===============================================================

Tomasini et al. (2023) study why trained CNNs become insensitive to small
deformations of their input but *more* sensitive to noise. Their model task:
an image is black except for two active pixels, and the label says whether the
pixels are close (distance below ``xi - gap/2``, label +1) or far (at least
``xi + gap/2``, label -1). Moving each pixel by one step never changes the label,
so a network that solves the task can learn to ignore such moves.

We train a small CNN with a hinge loss, as in the paper, and measure layer by
layer, with :class:`~skintrinsic.diffeo.DiffeoSensitivity`:

* :math:`D_k`, the sensitivity to one-pixel moves of the active pixels (the
  deformation that suits sparse images);
* :math:`G_k`, the sensitivity to Gaussian noise of the same norm;
* :math:`R_k = D_k / G_k`.

Both are relative to how much layer ``k`` separates two different images.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from skintrinsic.datasets import make_scale_detection
from skintrinsic.diffeo import (
    DiffeoSensitivity,
    shuffle_channels,
    sparse_moves,
    spatial_pooling_share,
)
from skintrinsic.nets import ImageClassifier, profile_layers
from skintrinsic.plotting import SensitivityDisplay

torch.set_num_threads(1)

X_train, X_test, y_train, y_test = make_scale_detection(
    4000, d=28, xi=14, gap=2, test_size=1000, random_state=0)
print(f"train {X_train.shape}, test {X_test.shape}; "
      f"close/far in train: {(y_train == 1).sum()}/{(y_train == -1).sum()}")

# %%
# A few images, and a one-pixel move of each active pixel
# -------------------------------------------------------
# The images are zero except for two pixels of value ``d^2 / 2`` (image mean 1).
# Every pixel can be active, including those on the diagonal (the reference code
# never activates ``(i, i)``; we do not copy that quirk).

moved = sparse_moves(X_test[:4], random_state=0)
fig, axes = plt.subplots(2, 4, figsize=(8, 4.2), layout="constrained")
for j in range(4):
    axes[0, j].imshow(X_test[j, 0], cmap="gray_r")
    axes[0, j].set_title("close" if y_test[j] == 1 else "far")
    axes[1, j].imshow(moved[j, 0] - X_test[j, 0], cmap="RdBu", vmin=-400, vmax=400)
    axes[1, j].set_title("moved - original", fontsize="small")
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])

# %%
# Train a small CNN
# -----------------
# Three stages of 3x3 convolution, ReLU and 2x2 max-pool, then average pooling and
# two linear layers; ``MultiMarginLoss`` is the hinge loss. The same
# ``random_state`` with ``max_epochs=0`` gives the network's initial weights.

def small_cnn(max_epochs):
    return ImageClassifier("small_cnn", depth=3, width=0.5, criterion=torch.nn.MultiMarginLoss,
                           max_epochs=max_epochs, random_state=0)


init = small_cnn(0).fit(X_train, y_train)
trained = small_cnn(10).fit(X_train, y_train)
print(f"test accuracy: initialization {init.score(X_test, y_test):.3f}, "
      f"trained {trained.score(X_test, y_test):.3f} (chance 0.5)")

# %%
# Sensitivities layer by layer
# ----------------------------
# ``perturbation="auto"`` sees that at most 5% of the pixels are active and
# switches to one-pixel moves. After training, the sensitivity to moves falls at
# every layer along the network while the sensitivity to noise ends several times
# higher at the output than at the first layer: pooling piles up the noise that the
# ReLUs rectify. :math:`R_f` at the output drops by more than a decade.

layers = profile_layers(trained.module_)[:-1]  # the last one is the output itself
measures = {name: DiffeoSensitivity(net, layers=layers, n_probe=500, random_state=0).fit(X_test)
            for name, net in [("initialization", init), ("trained", trained)]}
for name, est in measures.items():
    print(f"{name:>15}: perturbation={est.perturbation_!r}, "
          f"R_f at the output = {est.relative_stability_:.4f}")
print(measures["trained"].sensitivity_[["layer", "depth", "D", "G", "R"]].round(4).to_string())

display = SensitivityDisplay.from_estimator(measures)
display.figure_.set_layout_engine("constrained")

# %%
# How the trained network pools
# -----------------------------
# Two probes of Tomasini et al.:
#
# * the share of each 3x3 filter on the constant eigenvector of the grid
#   Laplacian (1 for an averaging filter, 1/9 on average for random ones);
# * the test accuracy after permuting the input channels of every convolution,
#   which scrambles which channel a filter reads but keeps the filters.

for name, net in [("initialization", init), ("trained", trained)]:
    shares = spatial_pooling_share(net)["share"].round(3).tolist()
    print(f"{name:>15}: spatial-pooling share per conv layer {shares}")
accuracies = [shuffle_channels(trained, random_state=seed).score(X_test, y_test)
              for seed in range(3)]
print(f"trained net with shuffled channels: test accuracy {np.round(accuracies, 3).tolist()}")
plt.show()
