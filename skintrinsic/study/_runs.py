"""One training run of a study: train a net, then measure it on held-out data.

``scaling_study`` and the ``skintrinsic`` command both train networks and probe them
(test loss, d_repr, robustness); this is the one place that does it, so that the two
report the same quantities under the same names.
"""

import threading

import numpy as np
import pandas as pd
from sklearn.base import clone

#: The paper's attack size, as a fraction of the clipping range.
REFERENCE_EPSILON = 2 / 255

# torch's RNG is global to the process: runs sharing a process (thread backends) take turns,
# so that each run's seeded draws are its own and the results match a serial study
_TORCH_RNG_LOCK = threading.RLock()


def seeded(estimator, seed, device=None):
    """A clone of ``estimator`` with its ``random_state`` (and ``device``, when given) set."""
    estimator = clone(estimator)
    params = estimator.get_params(deep=False)
    if "random_state" in params:
        estimator.set_params(random_state=seed)
    if device is not None and "device" in params:
        estimator.set_params(device=device)
    return estimator


def relative_delta_loss(delta_loss, clean_loss):
    """Loss increase under attack relative to the clean loss: ``delta_loss / clean_loss``.

    The paper's ``delta_loss`` grows with the clean loss itself (a harder task loses
    more under any perturbation), so comparing it across datasets mixes difficulty
    with fragility.  The ratio is the attacked loss in units of the clean loss, minus
    one: 0 means unaffected, 1 means the attack doubled the loss.
    """
    return float(delta_loss) / float(clean_loss) if clean_loss > 0 else np.nan


def _optimizer_steps(net):
    """Optimizer steps a skorch net took: the sum of its epochs' batch counts."""
    try:
        return float(sum(net.history_[:, "train_batch_count"]))
    except (AttributeError, KeyError, TypeError):
        return np.nan


def train_and_evaluate(classifier, X_train, y_train, X_test, y_test, *, seed, attacks=("fgsm",),
                       epsilons=(REFERENCE_EPSILON,), bounds, representation=None, device=None,
                       verbose=0):
    """Train a clone of ``classifier`` on the training set and probe it on the test set.

    Parameters
    ----------
    classifier : skorch-style classifier
        Cloned, seeded with ``seed`` and fitted on ``(X_train, y_train)``.
    X_train, y_train, X_test, y_test : ndarray
    seed : int
        Seeds the clone, torch's global RNG (for nets without a ``random_state``),
        the representation estimator and PGD's random start.
    attacks : sequence of {"fgsm", "pgd"}
    epsilons : sequence of float
        Attack sizes as fractions of ``bounds``; the row reports the one closest to
        the paper's 2/255, the curve all of them.
    bounds : (float, float)
        Clipping range of the attacks.
    representation : dict, default=None
        Parameters of :class:`~skintrinsic.RepresentationDimension` (``prefit=True``).
    device : str, default=None
    verbose : int, default=0

    Returns
    -------
    row : dict
        ``test_loss``, ``test_accuracy``, ``d_repr`` (with ``d_repr_ci_low``,
        ``d_repr_ci_high`` and ``d_repr_layer``), ``optimizer_steps`` (the training
        budget actually spent; NaN when the net keeps no skorch history), and per
        attack ``delta_loss_<a>``,
        ``relative_delta_loss_<a>``, ``delta_accuracy_<a>``, ``robust_accuracy_<a>``.
    curve : pandas.DataFrame
        :func:`~skintrinsic.robustness_curve` rows of every attack and epsilon.
    net : the fitted classifier
    """
    import torch

    from ..representation import RepresentationDimension
    from ..robustness import robustness_curve

    epsilons = [float(e) for e in epsilons]
    at = int(np.argmin(np.abs(np.asarray(epsilons) - REFERENCE_EPSILON)))
    devices = list(range(torch.cuda.device_count()))
    with _TORCH_RNG_LOCK, torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        net = seeded(classifier, seed, device).fit(X_train, y_train)
        rep = RepresentationDimension(net, **{"prefit": True, **(representation or {})})
        if "random_state" in rep.get_params(deep=False):
            rep.set_params(random_state=seed)
        rep.fit(X_train, y_train)
        layer = rep.profile_.set_index("layer").loc[rep.layer_]
        row = {"d_repr": float(rep.dimension_), "d_repr_ci_low": float(layer["ci_low"]),
               "d_repr_ci_high": float(layer["ci_high"]), "d_repr_layer": rep.layer_,
               "optimizer_steps": _optimizer_steps(net)}
        curves = []
        for attack in attacks:
            curve = robustness_curve(net, X_test, y_test, epsilons, attack=attack, bounds=bounds,
                                     random_state=seed, verbose=verbose)
            curves.append(curve)  # its "attack" column names the attack
            ref = curve.iloc[at]
            row["test_loss"] = float(ref["clean_loss"])
            row["test_accuracy"] = float(ref["clean_accuracy"])
            row[f"delta_loss_{attack}"] = float(ref["delta_loss"])
            row[f"relative_delta_loss_{attack}"] = relative_delta_loss(ref["delta_loss"],
                                                                       ref["clean_loss"])
            row[f"delta_accuracy_{attack}"] = float(ref["delta_accuracy"])
            row[f"robust_accuracy_{attack}"] = float(ref["robust_accuracy"])
    return row, pd.concat(curves, ignore_index=True), net
