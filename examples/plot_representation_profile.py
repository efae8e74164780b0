"""
=================================================
Intrinsic dimension of representations over depth
=================================================

A trained network maps each image to a vector of activations at every layer. Ansuini et
al. (NeurIPS 2019) found that the intrinsic dimension of these representations first rises
and then falls towards the output (a "hunchback"), and Konz & Mazurowski (ICLR 2024) found
that the dimension :math:`d_\\mathrm{repr}` of the penultimate layer drives the scaling of
the test loss much like the dimension :math:`d_\\mathrm{data}` of the images, with
:math:`d_\\mathrm{repr}` usually not above :math:`d_\\mathrm{data}`.

:class:`~skintrinsic.RepresentationDimension` measures these profiles: it runs the network
in evaluation mode on its own training set, captures the chosen layers with forward hooks
and applies TwoNN (as in the paper's scripts) to each. ``layers="profile"`` picks the
output of every stage, from the input to the logits.

We train the small CNN of :mod:`skintrinsic.nets` on a natural task (MNIST 3 against 5)
and a medical one (PneumoniaMNIST), and compare each profile with the same network at
initialization and with :math:`d_\\mathrm{data}` of the images (dashed).
"""

# %%
import matplotlib.pyplot as plt
import torch

from skintrinsic import IntrinsicDimension, RepresentationDimension
from skintrinsic.datasets import (ReferencePreprocessor, binary_task, get_data_home,
                                  load_medmnist, load_mnist)
from skintrinsic.nets import ImageClassifier
from skintrinsic.plotting import DimensionProfileDisplay

torch.set_num_threads(1)

# the copy in the data folder, read by its path as it is; load_medmnist("pneumoniamnist")
# would instead insist on the official file (checksum) and download it if missing
xray = load_medmnist(get_data_home() / "pneumoniamnist.npz", split="all")
tasks = {
    "MNIST 3 vs 5": (load_mnist("test"), (3, 5)),
    "PneumoniaMNIST": (xray, (0, 1)),
}
twonn = IntrinsicDimension("twonn", random_state=0)

fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True, layout="constrained")
for ax, (name, (bunch, classes)) in zip(axes, tasks.items()):
    X, y = binary_task(bunch.data, bunch.target, classes=classes, n_per_class=400,
                       random_state=0)
    X = ReferencePreprocessor().fit_transform(X)
    d_data = IntrinsicDimension("twonn", random_state=0).fit(X)

    trained = RepresentationDimension(ImageClassifier(max_epochs=8, random_state=0),
                                      layers="profile", estimator=twonn, random_state=0)
    trained.fit(X, y)
    # the same architecture with its initial weights: an untrained network
    initial = ImageClassifier(max_epochs=0, random_state=0).fit(X, y)
    untrained = RepresentationDimension(initial, layers="profile", estimator=twonn,
                                        prefit=True).fit(X, y)

    DimensionProfileDisplay.from_estimator(untrained, label="at initialization", ax=ax,
                                           color="grey")
    DimensionProfileDisplay.from_estimator(trained, data_dimension=d_data, label="trained",
                                           ax=ax)
    accuracy = trained.classifier_.score(X, y)
    ax.set_title(f"{name}: d_data = {d_data.dimension_:.1f}, "
                 f"train accuracy {accuracy:.2f}")
    # the numbers behind "What to look for" below (tests/test_docs.py reads them)
    profiles = trained.profile_.assign(at_initialization=untrained.profile_["dimension"])
    print(f"{name}: d_data = {d_data.dimension_:.2f}")
    print(profiles[["layer", "dimension", "at_initialization"]].to_string(
        index=False, float_format=lambda v: f"{v:.2f}"))
plt.show()

# %%
# What to look for
# ----------------
# Each claim here is checked on the numbers printed above by ``tests/test_docs.py``.
#
# * Both trained profiles have the hunchback shape: the dimension is largest at a
#   convolutional stage and falls in the classifier. The logits of a two-class network live
#   in two dimensions, so the last point is within 0.3 of 2 whatever the data.
# * At initialization every stage already has a dimension within 20% of the trained one,
#   and the same collapse to about 2 at the logits: much of the profile comes from the
#   architecture acting on the data, not from learning. A few epochs on a few hundred
#   images move it only that much; the paper's networks train for 100 epochs.
# * The penultimate layer (the paper's :math:`d_\mathrm{repr}`, the point before the
#   logits) lies below the dashed :math:`d_\mathrm{data}` of the images here, in line
#   with the paper's observation that :math:`d_\mathrm{repr} \lesssim d_\mathrm{data}`
#   (which it also finds violated by several natural datasets).
