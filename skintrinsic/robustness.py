"""Adversarial robustness of a trained classifier: FGSM and PGD from foolbox, as an sklearn scorer.

The paper (Konz & Mazurowski, ICLR 2024, §6 of the spec) attacks each trained
network with untargeted single-step FGSM, ``x' = clip(x + eps * sign(grad_x CE))``
at ``eps = 2/255`` of the pixel range, in eval mode, and reports the increase
of the test loss.  FGSM alone overstates robustness, so PGD is offered too.

The attacks are foolbox 3.3.4's own (``LinfFastGradientAttack``,
``L2FastGradientAttack``, ``LinfProjectedGradientDescentAttack``,
``L2ProjectedGradientDescentAttack``); this module only feeds them torch
tensors (foolbox raises a bare ``NotImplementedError`` on numpy input), picks
the clipping bounds and the epsilon scale, and turns the attacked outputs into
losses and accuracies.
"""

import inspect
import math
import numbers
import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_parameter_constraints,
)

from ._compute import progress, resolve_device
from ._validation import as_array
from .nets._hooks import eval_mode

__all__ = ["RobustnessScorer", "robustness_curve"]

METRICS = ("delta_loss", "delta_accuracy", "robust_accuracy")
# epsilons beyond this many widths of the clipping range are refused: they change nothing
_MAX_EPSILON_RANGES = 1e6


def _foolbox():
    # foolbox 3.3.4 imports scipy.ndimage.filters, which scipy deprecated; silence only that.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Please import `gaussian_filter`", category=DeprecationWarning
        )
        import foolbox
    return foolbox


def _make_attack(attack, norm, steps, rel_stepsize):
    """The foolbox attack object for a name (or a foolbox attack passed through)."""
    fb = _foolbox()
    if not isinstance(attack, str):
        return attack
    if attack == "fgsm":
        if norm == "linf":
            return fb.attacks.LinfFastGradientAttack()
        return fb.attacks.L2FastGradientAttack()
    kwargs = {}
    if steps is not None:
        kwargs["steps"] = steps
    # enough travel (2.5 epsilon) to cross the ball from any random start
    kwargs["rel_stepsize"] = 2.5 / kwargs.get("steps", 40) if rel_stepsize is None else rel_stepsize
    if norm == "linf":
        return fb.attacks.LinfProjectedGradientDescentAttack(**kwargs)
    return fb.attacks.L2ProjectedGradientDescentAttack(**kwargs)


class _Logits(torch.nn.Module):
    """Present a classifier's output as logits for foolbox's cross-entropy.

    A module that returns probabilities (skorch's default with ``NLLLoss``) gets
    ``log(p + eps)``, exactly the loss skorch trains it with; softmax of those
    logits gives back ``p``.  A single output column is a binary classifier's
    logit (or probability) for class 1.
    """

    def __init__(self, module, probabilities):
        super().__init__()
        self.module = module
        self.probabilities = probabilities

    def forward(self, x):
        out = self.module(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        if out.ndim == 1 or out.shape[-1] == 1:
            out = out.reshape(out.shape[0])
            if self.probabilities:
                out = torch.stack([1 - out, out], dim=1)
            else:
                return torch.stack([torch.zeros_like(out), out], dim=1)
        if self.probabilities:
            return torch.log(_check_probabilities(out) + torch.finfo(out.dtype).eps)
        return out


def _check_probabilities(out):
    """Probabilities must lie in [0, 1]: logits taken for them would give log of negatives."""
    low, high = float(out.detach().min()), float(out.detach().max())
    if not (low >= -1e-6 and high <= 1 + 1e-6):
        raise ValueError(
            f"The model's outputs lie in [{low:.3g}, {high:.3g}], so they are not probabilities; "
            "they look like logits. Pass output='logits' (or 'auto' for a skorch net trained "
            "with CrossEntropyLoss)."
        )
    return out


def _unwrap(estimator, output):
    """Return ``(module, probabilities, classes, default_device)`` for a network or skorch net."""
    if isinstance(estimator, torch.nn.Module):
        module, classes = estimator, None
        param = next(module.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        probabilities = output == "probabilities"
        return module, probabilities, classes, device
    if hasattr(estimator, "module") and hasattr(estimator, "initialize"):  # a skorch net
        if not getattr(estimator, "initialized_", False) or not hasattr(estimator, "module_"):
            raise NotFittedError(
                f"This {type(estimator).__name__} is not fitted (it has no module_). "
                "Call fit before scoring its robustness."
            )
        module = estimator.module_
        if output == "auto":
            criterion = getattr(estimator, "criterion_", None)
            criterion = getattr(criterion, "_orig_mod", criterion)
            probabilities = isinstance(criterion, (torch.nn.NLLLoss, torch.nn.BCELoss))
        else:
            probabilities = output == "probabilities"
        try:
            classes = np.asarray(estimator.classes_)
        except AttributeError:
            classes = None
        device = getattr(estimator, "device", None)
        if device is None:  # skorch's device=None: the module stays where it is
            param = next(module.parameters(), None)
            device = param.device if param is not None else "cpu"
        return module, probabilities, classes, torch.device(device)
    raise TypeError(
        f"Robustness is measured on a torch.nn.Module or a fitted skorch net (with module_), got "
        f"{type(estimator).__name__}. For a Pipeline, attack its final network on the transformed "
        "inputs."
    )


def _encode_labels(y, classes, n):
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"y must be 1-d with one label per sample ({n}), got shape {y.shape}.")
    if classes is None:
        if y.dtype.kind not in "iub" and not (y.dtype.kind == "f" and np.all(y == np.round(y))):
            raise ValueError(
                "For a plain torch module y must hold class indices 0..n_classes-1; got "
                f"dtype {y.dtype}. Encode the labels (e.g. LabelEncoder) first."
            )
        return y.astype(np.int64)
    lookup = {c: i for i, c in enumerate(classes.tolist())}
    unknown = sorted({v for v in y.tolist() if v not in lookup}, key=str)
    if unknown:
        raise ValueError(
            f"y holds labels {unknown[:5]!r} that the classifier was not fitted on "
            f"(classes_ = {classes.tolist()!r}). Score on data with the fitted classes."
        )
    return np.fromiter((lookup[v] for v in y.tolist()), dtype=np.int64, count=n)


def _check_label_range(labels, logits):
    """Class indices must address one of the network's outputs."""
    n_outputs = logits.shape[-1]
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= n_outputs:
        raise ValueError(
            f"y holds class indices in [{low}, {high}], but the network has {n_outputs} outputs "
            f"(classes 0..{n_outputs - 1}). For a plain torch module y must hold class indices; "
            "encode the labels (e.g. LabelEncoder) first."
        )


def _to_tensor(X, dtype):
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu()
    else:
        X = as_array(X, "X")
        if X.dtype.kind not in "biuf":  # before torch, whose error would name numpy's object_
            raise ValueError(f"X must be numeric, got dtype {X.dtype}.")
        # a read-only array (joblib hands its workers memory-mapped ones) would make torch warn
        # once per process that tensors cannot be read-only: copy it instead
        X = torch.as_tensor(X if X.flags.writeable else X.copy())
    if X.ndim < 2:
        raise ValueError(f"X must be (n_samples, ...), got shape {tuple(X.shape)}.")
    if X.dtype.is_complex or not (X.dtype.is_floating_point or X.dtype in (
            torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)):
        raise ValueError(f"X must be numeric, got dtype {X.dtype}.")
    X = X.to(dtype)
    if not torch.isfinite(X).all():
        raise ValueError("X contains NaN or infinity; remove or impute those samples first.")
    return X


def _resolve_bounds(bounds, X):
    if isinstance(bounds, str):  # "data"
        lo, hi = float(X.min()), float(X.max())
    else:
        try:
            lo, hi = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise ValueError(f"bounds must be 'data' or two numbers (low, high), got "
                             f"{bounds!r}.") from None
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(
                f"bounds=({lo:g}, {hi:g}) is not finite: an attack clips its images to the "
                "bounds and scales epsilon by their width. Pass the data's finite range, e.g. "
                "(0, 1), or bounds='data'."
            )
        tol = 1e-6 * max(1.0, abs(lo), abs(hi))
        if float(X.min()) < lo - tol or float(X.max()) > hi + tol:
            raise ValueError(
                f"X lies in [{float(X.min()):g}, {float(X.max()):g}], outside "
                f"bounds=({lo:g}, {hi:g}). Pass the data's true range as bounds, or bounds='data'."
            )
    if not hi > lo:
        raise ValueError(
            f"The clipping bounds are empty ({lo:g}, {hi:g}): X is constant. "
            "Pass bounds=(low, high)."
        )
    return lo, hi


def _check_params(params, constraints, caller):
    validate_parameter_constraints(constraints, params, caller_name=caller)
    attack = params["attack"]
    if not isinstance(attack, str) and not hasattr(attack, "run"):
        raise TypeError(
            "attack must be 'fgsm', 'pgd' or a foolbox attack instance, got "
            f"{type(attack).__name__}."
        )
    bounds = params["bounds"]
    if not isinstance(bounds, str) and (len(bounds) != 2):
        raise ValueError(f"bounds must be 'data' or (low, high), got {bounds!r}.")


_CONSTRAINTS = {
    "attack": [StrOptions({"fgsm", "pgd"}), HasMethods(["run"])],
    "norm": [StrOptions({"linf", "l2"})],
    "epsilon_scale": [StrOptions({"range", "absolute"})],
    "bounds": [StrOptions({"data"}), tuple, list],
    "output": [StrOptions({"auto", "logits", "probabilities"})],
    "steps": [Interval(numbers.Integral, 1, None, closed="left"), None],
    "rel_stepsize": [Interval(numbers.Real, 0, None, closed="neither"), None],
    "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
    "device": [str, torch.device, None],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}
_SCORER_CONSTRAINTS = {
    "attack": _CONSTRAINTS["attack"],
    "epsilon": [Interval(numbers.Real, 0, None, closed="left")],
    "metric": [StrOptions(set(METRICS))],
    **{k: v for k, v in _CONSTRAINTS.items() if k != "attack"},
}


def _attack_name(attack):
    return attack if isinstance(attack, str) else type(attack).__name__


def _curve(estimator, X, y, epsilons, params):
    """Clean and attacked loss and accuracy for each epsilon: the shared engine."""
    try:
        epsilons = np.atleast_1d(np.asarray(epsilons, dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError(f"epsilons must be finite numbers >= 0, got {epsilons!r}.") from None
    if epsilons.ndim != 1 or epsilons.size == 0 or np.any(epsilons < 0) or not np.all(
            np.isfinite(epsilons)):
        raise ValueError(f"epsilons must be finite numbers >= 0, got {epsilons!r}.")
    module, probabilities, classes, own_device = _unwrap(estimator, params["output"])
    device = own_device if params["device"] is None else resolve_device(params["device"])
    param = next(module.parameters(), None)
    dtype = param.dtype if param is not None and param.dtype.is_floating_point else torch.float32
    X = _to_tensor(X, dtype)
    n = X.shape[0]
    if n == 0:
        raise ValueError("X has no samples; robustness is measured on at least one sample.")
    shape = getattr(estimator, "image_shape_", None)  # ImageClassifier: the module's input shape
    if shape is not None and tuple(X.shape[1:]) != tuple(shape):
        if X[0].numel() != int(np.prod(shape)):
            raise ValueError(
                f"X has samples of shape {tuple(X.shape[1:])}, but the network takes images of "
                f"shape {tuple(shape)}. Pass images of the fitted shape."
            )
        X = X.reshape((n, *shape))
    labels = torch.as_tensor(_encode_labels(y, classes, n))
    lo, hi = _resolve_bounds(params["bounds"], X)
    # the bounds as X's float type holds them: clamping rounds to that type, and foolbox checks
    # the clamped images against these numbers (a float64 bound rounded up by float32 failed)
    lo, hi = (float(torch.tensor(b, dtype=X.dtype)) for b in (lo, hi))
    X = X.clamp(lo, hi)
    scale = (hi - lo) if params["epsilon_scale"] == "range" else 1.0
    eps_abs = [float(e) * scale for e in epsilons]
    # an attack never leaves the bounds: a larger epsilon only overflows float32 in foolbox
    too_big = [e for e, a in zip(epsilons, eps_abs) if not a <= _MAX_EPSILON_RANGES * (hi - lo)]
    if too_big:
        raise ValueError(
            f"epsilon {too_big[0]!r} exceeds {_MAX_EPSILON_RANGES} times the clipping range "
            f"({lo:g}, {hi:g}); an attack is clipped to that range, so pass an epsilon below "
            f"{_MAX_EPSILON_RANGES:g} (epsilon_scale='range') or below "
            f"{_MAX_EPSILON_RANGES * (hi - lo):g} (epsilon_scale='absolute').")

    fb = _foolbox()
    attack = _make_attack(params["attack"], params["norm"], params["steps"], params["rel_stepsize"])
    seed = None
    if params["random_state"] is not None:
        seed = int(check_random_state(params["random_state"]).randint(np.iinfo(np.int32).max))

    clean_loss = 0.0
    clean_correct = 0
    adv_loss = np.zeros(len(eps_abs))
    adv_correct = np.zeros(len(eps_abs))
    ce = torch.nn.CrossEntropyLoss(reduction="sum")
    param_device = param.device if param is not None else None
    net = _Logits(module, probabilities)
    rng_devices = [device.index or 0] if device.type == "cuda" else []
    try:
        with eval_mode(net), torch.random.fork_rng(devices=rng_devices, enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            # foolbox moves the model to `device` in place; it is moved back in `finally`
            fmodel = fb.PyTorchModel(net, bounds=(lo, hi), device=device)
            # counted in attacked images (one per image and epsilon), so that the bar moves
            # and its time estimate holds even when a PGD batch takes minutes
            bar = progress(None, verbose=params["verbose"], total=n * len(eps_abs),
                           unit="img", desc=f"{_attack_name(params['attack'])} attack")
            for start in range(0, n, params["batch_size"]):
                xb = X[start:start + params["batch_size"]].to(device)
                yb = labels[start:start + params["batch_size"]].to(device)
                with torch.no_grad():
                    logits = net(xb)
                    _check_label_range(yb, logits)
                    clean_loss += float(ce(logits, yb))
                    clean_correct += int((logits.argmax(1) == yb).sum())
                # one epsilon at a time is what foolbox does inside a call with several, in
                # the same order: the random starts of PGD are the same either way
                for k, eps in enumerate(eps_abs):
                    _, adv, _ = attack(fmodel, xb, yb, epsilons=eps)
                    with torch.no_grad():
                        logits = net(adv)
                        adv_loss[k] += float(ce(logits, yb))
                        adv_correct[k] += int((logits.argmax(1) == yb).sum())
                    bar.update(len(xb))
            bar.close()
    finally:
        if param_device is not None:
            module.to(param_device)

    name = _attack_name(params["attack"])
    frame = pd.DataFrame(
        {
            "attack": name,
            "norm": params["norm"],
            "epsilon": epsilons,
            "epsilon_abs": eps_abs,
            "clean_loss": clean_loss / n,
            "attacked_loss": adv_loss / n,
            "clean_accuracy": clean_correct / n,
            "robust_accuracy": adv_correct / n,
        }
    )
    frame["delta_loss"] = frame["attacked_loss"] - frame["clean_loss"]
    frame["delta_accuracy"] = frame["clean_accuracy"] - frame["robust_accuracy"]
    return frame


class RobustnessScorer:
    """Score a classifier's robustness to FGSM or PGD, as ``scorer(estimator, X, y) -> float``.

    Usable wherever scikit-learn takes a scorer, e.g. ``GridSearchCV(scoring=...)``.
    The returned value follows scikit-learn's "greater is better" rule:

    - ``metric="delta_loss"`` returns ``-(attacked loss - clean loss)``,
    - ``metric="delta_accuracy"`` returns ``-(clean accuracy - attacked accuracy)``,
    - ``metric="robust_accuracy"`` returns the attacked accuracy as is,

    so a more robust model always scores higher (like sklearn's ``neg_*``
    scorers).  :meth:`evaluate` and :func:`robustness_curve` give the raw,
    unsigned values.

    Parameters
    ----------
    attack : {"fgsm", "pgd"} or foolbox attack, default="fgsm"
        ``"fgsm"``: foolbox's single-step fast gradient attack (the paper's;
        with ``norm="l2"`` the L2 fast gradient method).  ``"pgd"``: projected
        gradient descent with a random start.  A foolbox ``FixedEpsilonAttack``
        instance is used as given.
    epsilon : float, default=2/255
        Size of the perturbation: a fraction of the clipping range when
        ``epsilon_scale="range"`` (the paper: 2/255 of [0, 255]), in the data's
        own units when ``"absolute"``.
    metric : {"delta_loss", "delta_accuracy", "robust_accuracy"}, default="delta_loss"
        Loss is the mean cross-entropy per sample; see the sign convention above.
    norm : {"linf", "l2"}, default="linf"
        Threat model.
    epsilon_scale : {"range", "absolute"}, default="range"
    bounds : "data" or (float, float), default="data"
        Range the attacked inputs are clipped to.  ``"data"`` takes the min and
        max of the ``X`` being scored; pass the true pixel range, e.g.
        ``(0, 255)``, when a batch might not reach it.
    output : {"auto", "logits", "probabilities"}, default="auto"
        What the network returns.  ``"auto"``: probabilities for a skorch net
        trained with ``NLLLoss`` (skorch's default), logits otherwise.
    steps : int, default=None
        PGD steps; 40 when None (foolbox's default).
    rel_stepsize : float, default=None
        PGD step relative to epsilon; ``2.5 / steps`` when None (the rule of
        Madry et al., 2018).  foolbox's own default, 0.01/0.3, moves only 1.33
        epsilon in 40 steps: from a random start that cannot reach the far
        corner of the L-inf ball, and PGD then scores *weaker* than FGSM (we
        measured it on a logistic model and a small MLP).
    batch_size : int, default=256
        Samples attacked at once.
    device : str or torch.device, default=None
        Where to attack; None means where the network is (skorch's ``device``
        or the module's parameters).  The module is moved back afterwards.
    random_state : int, RandomState instance or None, default=None
        Seeds PGD's random start (torch's global generator is forked, not
        disturbed).
    verbose : int, default=0
        Show a progress bar counting attacked images (one per image and epsilon), with
        the time left.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skintrinsic import RobustnessScorer
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Linear(4, 2)
    >>> X = np.random.default_rng(0).uniform(0, 1, (8, 4)).astype("float32")
    >>> y = np.array([0, 1] * 4)
    >>> scorer = RobustnessScorer("fgsm", epsilon=0.1, metric="delta_loss")
    >>> scorer(net, X, y) <= 0   # FGSM raises the loss: greater is better means -delta
    True
    """

    def __init__(self, attack="fgsm", epsilon=2 / 255, *, metric="delta_loss", norm="linf",
                 epsilon_scale="range", bounds="data", output="auto", steps=None,
                 rel_stepsize=None, batch_size=256, device=None, random_state=None, verbose=0):
        self.attack = attack
        self.epsilon = epsilon
        self.metric = metric
        self.norm = norm
        self.epsilon_scale = epsilon_scale
        self.bounds = bounds
        self.output = output
        self.steps = steps
        self.rel_stepsize = rel_stepsize
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def get_params(self, deep=True):
        """Parameters of the scorer, as for an estimator.

        Parameters
        ----------
        deep : bool, default=True
            Unused (the scorer holds no sub-estimators); kept for sklearn's signature.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        return {k: getattr(self, k) for k in _SCORER_CONSTRAINTS}

    def evaluate(self, estimator, X, y):
        """All metrics at ``epsilon``, unsigned.

        Parameters
        ----------
        estimator : fitted skorch classifier or torch.nn.Module
            The network to attack.
        X : array-like or torch.Tensor of shape (n_samples, ...)
            Inputs in the data's units, inside ``bounds``.
        y : array-like of shape (n_samples,)
            True labels (class indices for a plain module).

        Returns
        -------
        metrics : dict
            The columns of :func:`robustness_curve` for ``epsilon``.
        """
        params = self.get_params()
        _check_params(params, _SCORER_CONSTRAINTS, "RobustnessScorer")
        params = {k: params[k] for k in _CONSTRAINTS}
        return _curve(estimator, X, y, [self.epsilon], params).iloc[0].to_dict()

    def __call__(self, estimator, X, y):
        """Greater-is-better robustness score of ``estimator`` on ``(X, y)``.

        Parameters
        ----------
        estimator : fitted skorch classifier or torch.nn.Module
            The network to attack.
        X : array-like or torch.Tensor of shape (n_samples, ...)
            Inputs in the data's units, inside ``bounds``.
        y : array-like of shape (n_samples,)
            True labels.

        Returns
        -------
        score : float
            ``-delta_loss``, ``-delta_accuracy`` or ``robust_accuracy``.
        """
        value = float(self.evaluate(estimator, X, y)[self.metric])
        return value if self.metric == "robust_accuracy" else -value

    def __repr__(self):
        defaults = inspect.signature(type(self)).parameters
        shown = [
            f"{k}={v!r}" for k, v in self.get_params().items()
            if k in ("attack", "epsilon") or v is not defaults[k].default
            and not (isinstance(v, (str, numbers.Number)) and v == defaults[k].default)
        ]
        return f"{type(self).__name__}({', '.join(shown)})"


def robustness_curve(estimator, X, y, epsilons, *, attack="fgsm", norm="linf",
                     epsilon_scale="range", bounds="data", output="auto", steps=None,
                     rel_stepsize=None, batch_size=256, device=None, random_state=None, verbose=0):
    """Clean and attacked loss and accuracy of a classifier over a range of epsilons.

    Parameters
    ----------
    estimator : fitted skorch classifier or torch.nn.Module
        The network to attack (its ``module_`` for a skorch net).
    X : array-like or torch.Tensor of shape (n_samples, ...)
        Inputs in the data's units, inside ``bounds``.
    y : array-like of shape (n_samples,)
        True labels (class indices for a plain module).
    epsilons : sequence of float
        Perturbation sizes, >= 0 (0 gives the clean values).
    attack : {"fgsm", "pgd"} or foolbox attack, default="fgsm"
        See :class:`RobustnessScorer`.
    norm : {"linf", "l2"}, default="linf"
        Threat model.
    epsilon_scale : {"range", "absolute"}, default="range"
        ``epsilons`` as fractions of the clipping range, or in data units.
    bounds : "data" or (float, float), default="data"
        Clipping range; ``"data"`` is the min and max of ``X``.
    output : {"auto", "logits", "probabilities"}, default="auto"
        What the network returns; see :class:`RobustnessScorer`.
    steps : int, default=None
        PGD steps (40 when None).
    rel_stepsize : float, default=None
        PGD step relative to epsilon (``2.5 / steps`` when None).
    batch_size : int, default=256
        Samples attacked at once.
    device : str or torch.device, default=None
        Where to attack; None: where the network is.
    random_state : int, RandomState instance or None, default=None
        Seeds PGD's random start.
    verbose : int, default=0
        Show a progress bar counting attacked images (one per image and epsilon), with
        the time left.

    Returns
    -------
    curve : pandas.DataFrame
        One row per epsilon: attack, norm, epsilon (as given), epsilon_abs (in
        the data's units), clean_loss, attacked_loss, clean_accuracy,
        robust_accuracy, delta_loss (attacked - clean) and delta_accuracy
        (clean - attacked).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skintrinsic import robustness_curve
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Linear(4, 2)
    >>> X = np.random.default_rng(0).uniform(0, 1, (8, 4)).astype("float32")
    >>> curve = robustness_curve(net, X, np.array([0, 1] * 4), [0, 0.05, 0.1])
    >>> bool(curve["attacked_loss"].is_monotonic_increasing)
    True
    """
    params = dict(attack=attack, norm=norm, epsilon_scale=epsilon_scale, bounds=bounds,
                  output=output, steps=steps, rel_stepsize=rel_stepsize, batch_size=batch_size,
                  device=device, random_state=random_state, verbose=verbose)
    _check_params(params, _CONSTRAINTS, "robustness_curve")
    return _curve(estimator, X, y, epsilons, params)
