"""
========================================
A scaling law from a training-size sweep
========================================

Konz & Mazurowski (ICLR 2024) relate the test loss :math:`L` of a network trained on
:math:`N` images to the intrinsic dimension :math:`d_\\mathrm{data}` and the label sharpness
:math:`K_F` of its training set:

.. math::

   \\log L \\approx -\\frac{1}{d_\\mathrm{data}} \\log N + \\log K_F + a .

:func:`~skintrinsic.scaling_study` runs the experiment behind such a law: for each training
size it draws a stratified subset, measures :math:`d_\\mathrm{data}` and :math:`K_F` on
exactly that subset, trains a fresh network and records its test loss (and its loss under
an FGSM attack). :class:`~skintrinsic.ScalingLawRegressor` then fits the free constant
:math:`a` by least squares in log space.

The paper trains ResNets and VGGs for 100 epochs on 224×224 images. To run in well under a
minute on a laptop CPU, this example trains the small CNN of :mod:`skintrinsic.nets` for a
few epochs on 28×28 images, on a natural task (two MNIST digits) and a medical one
(PneumoniaMNIST, normal against pneumonia). The constants differ from the paper's; the
shape of the law is what we look at.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from skintrinsic import ScalingLawRegressor, scaling_study
from skintrinsic.datasets import (ReferencePreprocessor, binary_task, get_data_home,
                                  load_medmnist, load_mnist)
from skintrinsic.nets import ImageClassifier
from skintrinsic.plotting import ScalingLawDisplay, dataset_colors

torch.set_num_threads(1)

# the copy in the data folder, read by its path as it is; load_medmnist("pneumoniamnist")
# would instead insist on the official file (checksum) and download it if missing
xray = load_medmnist(get_data_home() / "pneumoniamnist.npz", split="all")
tasks = {
    "natural (MNIST 3 vs 5)": (load_mnist("test"), (3, 5)),
    "medical (PneumoniaMNIST)": (xray, (0, 1)),
}
train_sizes = [100, 200, 400, 600]
preprocess = ReferencePreprocessor()

studies = []
for domain, (bunch, classes) in tasks.items():
    X, y = binary_task(bunch.data, bunch.target, classes=classes, n_per_class=450,
                       random_state=0)
    X = preprocess.fit_transform(X)
    study = scaling_study(
        X, y, train_sizes, test_size=250,
        classifier=ImageClassifier(max_epochs=12, random_state=0),
        attacks=("fgsm",), domain=domain, random_state=0)
    studies.append(study.results)
results = pd.concat(studies, ignore_index=True)
print(results[["domain", "N", "d_data", "K_F", "d_repr", "test_loss", "test_accuracy"]]
      .to_string(float_format=lambda v: f"{v:.4g}"))

# %%
# Test loss against training size
# -------------------------------
# On log-log axes the law predicts straight lines of slope :math:`-1/d_\mathrm{data}`,
# shifted up by :math:`\log K_F`. With only a few epochs the networks are far from
# converged, so the slopes are steeper than the law's; the ordering by :math:`K_F` is
# the part to look at: at every N, the task with the larger :math:`K_F` has the larger
# loss. (``tests/test_docs.py`` checks both on the table printed above.)

# one colour per dataset, the same in this figure and in the law's figure below
colors = dataset_colors(results["domain"])
fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
for domain, sub in results.groupby("domain", sort=False):
    ax.plot(sub["N"], sub["test_loss"], "o-", color=colors[domain],
            label=f"{domain}, K_F={sub['K_F'].mean():.2g}")
ax.set(xscale="log", yscale="log", xlabel="N (training images)", ylabel="test loss L",
       title="Test loss over training size")
ax.legend()
plt.show()

# %%
# Fitting the law
# ---------------
# With the coefficients fixed as in the paper, only :math:`a` is fitted. Freeing the
# coefficients (``law="free"``) tests the paper's fixed values against our data: the
# confidence intervals say whether :math:`-1` and :math:`+1` are compatible with them.

law = ScalingLawRegressor(law="data", columns=("N", "d_data", "K_F"))
law.fit(results, results["test_loss"])
print(law.summary_.to_string(float_format=lambda v: f"{v:.3g}"))
print(f"R^2 of log L: {law.score(results, results['test_loss']):.2f}")

free = ScalingLawRegressor(law="free", columns=("N", "d_data", "K_F"))
free.fit(results, results["test_loss"])
print(free.summary_.to_string(float_format=lambda v: f"{v:.3g}"))

# %%
# The paper's figure: log L against the intrinsic dimension, one curve of the fitted law
# per training size.

# colour: the dataset; grey shade and point size: the training size N
fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
disp = ScalingLawDisplay.from_estimator(law, results, results["test_loss"],
                                        domain=results["domain"].to_numpy(), ax=ax)
disp.ax_.set_title("Fitted law, log L = -(1/d) log N + log K_F + a")
plt.show()
