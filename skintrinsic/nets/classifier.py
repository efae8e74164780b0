"""ImageClassifier: a skorch classifier for the paper's networks, configured by parameters.

Everything that depends on the data (input channels, image size, number of
classes) is read in ``fit``; ``__init__`` only stores parameters, so that
``clone`` and ``GridSearchCV`` work as for any scikit-learn classifier.  The
training-set size is itself a parameter (``train_size``): a grid search over
it is a learning curve.

The network is trained by skorch itself: the paper's defaults are parameters
(``optimizer__weight_decay=1e-4``, ``iterator_train__shuffle=True``,
``train_split=None``) and callbacks work as in skorch.  What remains overridden,
and why:

- ``fit`` and ``partial_fit``: validate the images, encode the labels, draw the
  ``train_size`` subset (:func:`~skintrinsic.datasets.stratified_subset`) and
  seed torch from ``random_state``, then hand the subset to skorch's
  ``partial_fit``.
- ``initialize_module`` (skorch's hook for building the module): builds
  ``arch`` with the channels, size and classes read from the data, and checks
  that a user's module returns one score per class.
- ``get_params_for_optimizer``: resolves ``lr="auto"`` (the paper's rate for the
  architecture) and drops ``optimizer__weight_decay=None`` for optimizers
  without weight decay.
- ``get_iterator`` (skorch's hook for the batches): with ``steps_per_epoch``
  an epoch is that many batches, whatever the training-set size.
- ``check_data``: the classes are the labels as given (``classes_``), not
  skorch's ``np.unique`` of the encoded targets it is passed.
- ``predict_proba``, ``predict``: validate new images against the fitted shape
  and return labels from ``classes_`` (skorch returns column indices).
- ``_get_predict_nonlinearity``: the softmax of the scores for any criterion of
  scores (skorch takes the identity for criteria it does not know, e.g. a
  hinge loss).
- ``_validate_params``: scikit-learn's parameter constraints and skorch's
  check of prefixed names share this name; both run.
- ``device`` (a property), ``get_params``, ``__getstate__``, ``__setstate__``:
  ``device="auto"`` is kept as given by ``get_params`` and ``clone``, while
  skorch, which moves tensors to ``self.device``, sees the resolved device.

Training budget
---------------
By default an epoch is one pass over the training set, so a fit makes
``max_epochs * ceil(N / batch_size)`` optimizer steps: the paper's fixed-epoch
budget (its code trains 100 epochs; the default here is 20, for CPUs).  Small
``N`` then gets few updates.  With ``steps_per_epoch=s`` an epoch is ``s``
batches drawn from reshuffled passes over the training set, and every
training size gets the same ``max_epochs * s`` updates.

The choice moves the fitted scaling law ``log L = -(1/d) log N + b``.  With
fixed epochs the small-``N`` networks get few updates: when they are
undertrained their test loss is inflated, the fitted slope ``-1/d`` is
steeper than the data's, and ``d`` is underestimated.  With fixed steps the
small-``N`` networks are trained as long as the large ones and fit their few
samples, which can inflate their cross-entropy in turn (overfitting).
Measured with the CPU default of 20 epochs against the same 220 steps for
every ``N`` in 50-700 (``benchmarks/README.md``, "Training budget"): at
``N = 50`` the fixed-epoch networks had a training loss near chance, and the
fitted slope was 4x (MNIST 3-vs-5) and 2.5x (PneumoniaMNIST) steeper than
with equal steps; the equal-steps networks had the lower test loss at every ``N``.
"""

import functools
import hashlib
import inspect
import math

import numpy as np
import torch
from skorch import NeuralNetClassifier
from skorch.utils import is_dataset
from sklearn.base import _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    Integral,
    Interval,
    Options,
    Real,
    RealNotInt,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from .._compute import resolve_device
from .._validation import validate_images
from ..datasets._subsets import stratified_subset
from ._hooks import eval_mode, extract_features, resolve_layers
from .models import ARCHITECTURES, MIN_INPUT_SIZE, build_model

__all__ = ["ImageClassifier", "data_fingerprint"]


def data_fingerprint(X):
    """A hash of the values of ``X`` as float32 rows: equal data give equal fingerprints.

    One pass of BLAKE2 over the array (about 1 GB/s); float64 and float32 copies of the same
    images agree.
    """
    values = np.ascontiguousarray(np.asarray(X).reshape(len(X), -1), dtype=np.float32)
    return hashlib.blake2b(values.tobytes(), digest_size=16).hexdigest()

# the paper's learning rates (Adam): 1e-3 for ResNets, 1e-4 for VGGs
_AUTO_LR = {"vgg13": 1e-4, "vgg16": 1e-4, "vgg19": 1e-4}
_DEFAULT_LR = 1e-3


class _StepBatches:
    """A batch sampler of ``n_steps`` batches per epoch, whatever the number of samples.

    Batches are taken in turn from passes over the samples (reshuffled for each pass with
    torch's RNG, which ``random_state`` seeds); a pass's tail shorter than a batch is
    dropped, so every batch holds ``batch_size`` distinct samples.  The position carries
    over from one epoch to the next: skorch builds the iterator once per ``fit``.
    """

    def __init__(self, n_samples, batch_size, n_steps, shuffle=True):
        self.n_samples = n_samples
        self.batch_size = batch_size
        self.n_steps = n_steps
        self.shuffle = shuffle
        self._order = []
        self._position = 0

    def __len__(self):
        return self.n_steps

    def __iter__(self):
        for _ in range(self.n_steps):
            if self._position + self.batch_size > len(self._order):
                self._order = (torch.randperm(self.n_samples) if self.shuffle
                               else torch.arange(self.n_samples)).tolist()
                self._position = 0
            yield self._order[self._position:self._position + self.batch_size]
            self._position += self.batch_size


class ImageClassifier(NeuralNetClassifier):
    """A skorch ``NeuralNetClassifier`` for images, set up as in Konz & Mazurowski (ICLR 2024).

    The network is one of :func:`~skintrinsic.nets.build_model`'s
    architectures, built in ``fit`` with the channels, size and classes of the
    data; or any torch module passed as ``module``.  The defaults are the
    paper's: Adam, weight decay 1e-4, learning rate 1e-3 (ResNet, small CNN)
    or 1e-4 (VGG), cross-entropy, shuffled batches, no augmentation and no
    validation split; only the number of epochs is lowered for CPUs (the
    paper trains 100).

    All of skorch's parameters work as usual (``criterion``, ``optimizer``,
    ``lr``, ``max_epochs``, ``batch_size``, ``callbacks``, ``module__*``,
    ``optimizer__*``, ``iterator_train__*``, ...).  As in skorch,
    ``set_params(module__...)`` on a fitted net rebuilds the module and drops
    its weights.

    Parameters
    ----------
    arch : {"small_cnn", "resnet18", "resnet34", "resnet50", "vgg13", "vgg16", "vgg19"}, \
default="small_cnn"
        Architecture built when ``module`` is None.
    module : torch module class, instance or None, default=None
        A network to use instead of ``arch``.  A class (or any callable) is
        called with the ``module__*`` parameters plus those of ``in_channels``,
        ``n_classes`` and ``input_shape`` that its signature accepts, read
        from the data.  Such a module gets ``image_shape`` inputs, or the flat
        rows when the data are flat and no ``image_shape`` is given.
    width : float, default=1.0
        Channel multiplier of the built network (see ``build_model``).
    depth : int, tuple of int or None, default=None
        Blocks or convolutions per stage of the built network (see
        ``build_model``); None keeps the architecture's.
    stem : {"auto", "imagenet", "small"}, default="auto"
        First layers of the built network (see ``build_model``).
    image_shape : tuple of int or None, default=None
        ``(H, W)`` or ``(C, H, W)`` of flat input rows.  None: taken from
        image arrays ``(n, H, W)`` (one channel) or ``(n, C, H, W)``; flat rows
        of a square number ``s * s`` of pixels are read as ``(1, s, s)``.
    train_size : int, float or None, default=None
        Train on a stratified random subset of the data passed to ``fit``:
        that many samples (int) or that fraction (float in (0, 1]), drawn by
        :func:`~skintrinsic.datasets.stratified_subset`.  None uses all.  The
        subset is drawn from ``random_state`` (in ``fit`` and in each
        ``partial_fit``) and recorded in ``train_indices_``;
        ``GridSearchCV(net, {"train_size": [...]})`` sweeps the training-set
        size.
    criterion : torch criterion class or instance, default=torch.nn.CrossEntropyLoss
        Takes the module's scores; e.g. ``torch.nn.MultiMarginLoss`` for a
        hinge loss.  ``predict_proba`` is the softmax of the scores either way.
    optimizer : torch optimizer class, default=torch.optim.Adam
    lr : float or "auto", default="auto"
        "auto": the paper's 1e-4 for VGG, 1e-3 otherwise.
    optimizer__weight_decay : float or None, default=1e-4
        The optimizer's weight decay (skorch passes every ``optimizer__*``
        parameter to the optimizer); None passes nothing, for optimizers
        without weight decay.
    max_epochs : int, default=20
        Number of epochs.  The paper trains for 100 epochs on a GPU.
    steps_per_epoch : int or None, default=None
        The training budget.  None: an epoch is one pass over the training
        set, ``ceil(N / batch_size)`` optimizer steps (the paper's fixed
        epochs).  An int: an epoch is that many steps, on batches of
        ``min(batch_size, N)`` distinct samples taken from reshuffled passes
        over the training set, so that every training size ``N`` gets the same
        ``max_epochs * steps_per_epoch`` updates.  See the module's notes for
        how the choice moves fitted scaling laws.
    batch_size : int, default=64
        The paper uses 40 / 25 / 12 / 6 for ResNet-18 / ResNet-34 /
        ResNet-50 / VGG (GPU memory limits); -1 is the whole training set.
    iterator_train__shuffle : bool, default=True
        Reshuffle the training set for each pass, as the paper's code does
        (skorch's own default is not to).
    train_split : callable or None, default=None
        No internal validation split by default: none of the paper's training
        uses one, and it would shrink ``train_size``.  Pass e.g.
        ``skorch.dataset.ValidSplit(5)`` to monitor a held-out part.
    random_state : int, RandomState instance or None, default=None
        Seeds the subset, the initial weights, the batch order and dropout
        (torch's RNG is forked, so the global state is left as it was).  With
        an int, a fit on the CPU is reproducible exactly.  None uses the
        global RNGs.
    device : str, torch.device or None, default="cpu"
        "cpu", "cuda", "cuda:1", ... or "auto" (CUDA when present).
    verbose : int, default=0
        skorch's per-epoch table when 1.
    **kwargs
        Any other skorch parameter.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained network.
    classes_ : ndarray of shape (n_classes,)
    train_indices_ : ndarray of int
        Rows of the ``X`` passed to ``fit`` that the network was trained on
        (all of them unless ``train_size`` is set).
    train_fingerprint_ : str or None
        A hash of the images the network was trained on (see :func:`data_fingerprint`), by
        which :class:`~skintrinsic.RepresentationDimension` checks that it is given the
        training set; None after a ``partial_fit`` that continued training on new data.
    image_shape_ : tuple of int or None
        Shape of one input of the module (None: flat rows).
    n_features_in_ : int
        Pixels per sample.
    input_shape_ : tuple or None
        Trailing shape of the image array passed to ``fit`` (None if flat).
    history_ : skorch.History
        Per-epoch training loss and the like; ``history_[-1, "train_batch_count"]``
        is the number of optimizer steps of the last epoch.

    See Also
    --------
    skintrinsic.nets.build_model : The architectures.
    skintrinsic.datasets.stratified_subset : The ``train_size`` subset.
    skintrinsic.RepresentationDimension : Intrinsic dimension of a layer.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skintrinsic.nets import ImageClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = (X / 16).astype("float32").reshape(-1, 8, 8)
    >>> clf = ImageClassifier(max_epochs=3, train_size=600, random_state=0).fit(X[:1000], y[:1000])
    >>> clf.train_indices_.shape
    (600,)
    >>> clf.predict_proba(X[1000:1005]).shape
    (5, 10)
    >>> clf.extract_features(X[:5]).shape  # the penultimate layer
    (5, 128)

    A fixed number of optimizer steps for every training size:

    >>> for size in (50, 500):
    ...     net = ImageClassifier(max_epochs=2, steps_per_epoch=5, train_size=size,
    ...                           random_state=0).fit(X, y)
    ...     print(size, net.history_[:, "train_batch_count"])
    50 [5, 5]
    500 [5, 5]
    """

    _parameter_constraints: dict = {
        "arch": [StrOptions(set(ARCHITECTURES))],
        "module": [callable, torch.nn.Module, None],
        "width": [Interval(Real, 0, None, closed="neither")],
        "depth": [Interval(Integral, 1, None, closed="left"), tuple, list, None],
        "stem": [StrOptions({"auto", "imagenet", "small"})],
        "image_shape": [tuple, list, None],
        "train_size": [Interval(Integral, 1, None, closed="left"),
                       Interval(RealNotInt, 0, 1, closed="right"), None],
        "criterion": [callable],
        "optimizer": [callable],
        "lr": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "optimizer__weight_decay": [Interval(Real, 0, None, closed="left"), None],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "steps_per_epoch": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left"),
                       Options(Integral, {-1})],
        "iterator_train__shuffle": ["boolean"],
        "train_split": [callable, None],
        "random_state": ["random_state"],
        "device": [str, torch.device, None],
        "verbose": ["verbose"],
    }

    def __init__(self, arch="small_cnn", *, module=None, width=1.0, depth=None, stem="auto",
                 image_shape=None, train_size=None, criterion=torch.nn.CrossEntropyLoss,
                 optimizer=torch.optim.Adam, lr="auto", optimizer__weight_decay=1e-4,
                 max_epochs=20, steps_per_epoch=None, batch_size=64,
                 iterator_train__shuffle=True, train_split=None, random_state=None,
                 device="cpu", verbose=0, **kwargs):
        super().__init__(module, criterion=criterion, optimizer=optimizer, lr=lr,
                         max_epochs=max_epochs, batch_size=batch_size, train_split=train_split,
                         device=device, verbose=verbose, **kwargs)
        self.arch = arch
        self.width = width
        self.depth = depth
        self.stem = stem
        self.image_shape = image_shape
        self.train_size = train_size
        self.optimizer__weight_decay = optimizer__weight_decay
        self.steps_per_epoch = steps_per_epoch
        self.iterator_train__shuffle = iterator_train__shuffle
        self.random_state = random_state

    # ------------------------------------------------------------------ parameters
    # skorch reads ``self.device`` wherever it moves tensors; the property hands it a
    # resolved device ("auto" -> cuda or cpu) while get_params returns the value as given.
    @property
    def device(self):
        requested = self.__dict__.get("_device_requested_", "cpu")
        return None if requested is None else resolve_device(requested)

    @device.setter
    def device(self, value):
        self.__dict__["_device_requested_"] = value

    def _get_param_names(self):
        # skorch lists every public attribute; its private bookkeeping set is not a parameter.
        # "device" is added by get_params, as given: reading the property would resolve it.
        return [k for k in super()._get_param_names() if k != "_params_to_validate"]

    def get_params(self, deep=True, **kwargs):
        params = super().get_params(deep=deep, **kwargs)
        params["device"] = self.__dict__.get("_device_requested_", "cpu")
        return params

    def __getstate__(self):
        state = super().__getstate__()
        state["device"] = None if self.device is None else str(self.device)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        checked = self.__dict__.pop("device", None)
        requested = self.__dict__.get("_device_requested_")
        if requested not in (None, "auto") and checked is not None and \
                torch.device(requested).type != torch.device(checked).type:
            self._device_requested_ = checked  # skorch already warned about the fallback

    def _validate_params(self):
        # skorch checks the names of **kwargs against the prefixes its components register
        # when initialised; before that (fit's own check) "module__..." would look unknown
        if "optimizer" in self.prefixes_:
            super()._validate_params()
        params = {key: getattr(self, key) for key in self._parameter_constraints}
        params["device"] = self.__dict__.get("_device_requested_", "cpu")
        validate_parameter_constraints(self._parameter_constraints, params,
                                       caller_name=type(self).__name__)
        if params["device"] is not None:
            resolve_device(params["device"])  # a clear error if CUDA is asked for but missing

    def get_params_for_optimizer(self, prefix, named_parameters):
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        if isinstance(kwargs.get("lr"), str):  # "auto"
            kwargs["lr"] = _AUTO_LR.get(self.arch, _DEFAULT_LR) if self.module is None \
                else _DEFAULT_LR
        if kwargs.get("weight_decay", 0) is None:
            del kwargs["weight_decay"]
        return args, kwargs

    def get_iterator(self, dataset, training=False):
        """skorch's batches; with ``steps_per_epoch``, that many training batches per epoch."""
        if not training or self.steps_per_epoch is None:
            return super().get_iterator(dataset, training=training)
        kwargs = self.get_params_for("iterator_train")
        batch_size = kwargs.pop("batch_size", self.batch_size)
        shuffle = kwargs.pop("shuffle", True)
        clash = sorted({"sampler", "batch_sampler", "drop_last"} & set(kwargs))
        if clash:
            raise ValueError(
                f"steps_per_epoch draws its own batches, so it cannot be combined with "
                f"iterator_train__{clash[0]}. Drop one of them."
            )
        n = len(dataset)
        batch_size = n if batch_size == -1 else min(batch_size, n)
        sampler = _StepBatches(n, batch_size, self.steps_per_epoch, shuffle=shuffle)
        return self.iterator_train(dataset, batch_sampler=sampler, **kwargs)

    # ------------------------------------------------------------------ the module
    def initialize_module(self):
        """Build the network from ``arch`` (or ``module``) with the shapes read by ``fit``."""
        shape, n_classes = self._module_dims()
        kwargs = self.get_params_for("module")
        if self.module is None:
            params = dict(in_channels=shape[0], n_classes=n_classes, input_size=shape[1:],
                          width=self.width, depth=self.depth, stem=self.stem)
            params.update(kwargs)
            self.module_ = build_model(self.arch, **params)
            return self
        module = self.module
        flat = (self.n_features_in_,) if hasattr(self, "n_features_in_") else None
        if not isinstance(module, torch.nn.Module):
            inferred = {"in_channels": None if shape is None else shape[0],
                        "n_classes": n_classes, "input_shape": shape or flat}
            try:
                accepted = inspect.signature(module).parameters
            except (TypeError, ValueError):
                accepted = {}
            for name, value in inferred.items():
                if name in accepted and name not in kwargs and value is not None:
                    kwargs[name] = value
        self.module_ = self.initialized_instance(module, kwargs)
        if shape or flat:
            self._check_scores(shape or flat, n_classes)
        return self

    def _check_scores(self, input_shape, n_classes):
        """A user's module must return one score per class: one blank sample checks it."""
        weights = next(self.module_.parameters(), None)
        blank = torch.zeros((1,) + tuple(input_shape),
                            device=None if weights is None else weights.device)
        with eval_mode(self.module_), torch.no_grad():
            scores = self.module_(blank)
        if isinstance(scores, tuple):
            scores = scores[0]
        if isinstance(scores, torch.Tensor) and (scores.ndim != 2 or scores.shape[1] != n_classes):
            classes = self.classes_inferred_.tolist()[:10]
            raise ValueError(
                f"The module returns scores of shape {tuple(scores.shape)} for one sample, but y "
                f"holds {n_classes} classes ({classes!r}), so it must return (1, {n_classes}). "
                f"Build the module with n_classes={n_classes}, or pass only the labels it was "
                "built for."
            )

    def _module_dims(self):
        """``(image_shape, n_classes)`` from ``fit``, or from ``image_shape`` and ``classes``."""
        if hasattr(self, "image_shape_") and hasattr(self, "classes_inferred_"):
            return self.image_shape_, len(self.classes_inferred_)
        if self.classes is not None and (self.image_shape is not None or self.module is not None):
            shape = None if self.image_shape is None else _chw(self.image_shape)
            self.image_shape_ = shape
            self.classes_inferred_ = np.asarray(self.classes)
            if shape is not None:
                self.n_features_in_ = int(np.prod(shape))
            return shape, len(self.classes_inferred_)
        raise ValueError(
            f"{type(self).__name__} reads the image shape and the classes from the data: call fit, "
            "or pass image_shape and classes before initialize()."
        )

    # ------------------------------------------------------------------ data
    def _prepare_fit(self, X, y, *, reset, classes, subset_seed):
        """Validated images in the module's shape, encoded labels and the training subset."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None. "
                "Pass fit(X, y)."
            )
        X, y = validate_images(self, X, y, reset=reset, dtype=(np.float32, np.float64))
        check_classification_targets(y)
        if reset:
            self.image_shape_ = self._infer_image_shape(X.shape[1])
            if classes is None:
                classes = np.unique(y) if self.classes is None else np.asarray(self.classes)
            classes = np.asarray(classes)
            if classes.size < 2:
                raise ValueError(
                    f"{type(self).__name__} needs at least 2 classes, but y holds one class only "
                    f"({classes.tolist()!r}). Pass data with two or more classes."
                )
            self.classes_inferred_ = classes
        codes = self._encode(y)
        self.train_indices_ = self._subset(codes, subset_seed)
        X = X[self.train_indices_]
        # training continued on other data has no single training set to check against
        self.train_fingerprint_ = data_fingerprint(X) if reset else None
        return self._as_input(X), codes[self.train_indices_]

    def _infer_image_shape(self, n_features):
        shape = self.image_shape
        if shape is None and self.input_shape_ is not None:
            shape = self.input_shape_
        if shape is None:
            if self.module is not None:
                return None  # flat rows for a user's module
            side = math.isqrt(n_features)
            if side * side != n_features:
                raise ValueError(
                    f"X has {n_features} features per row, which is not a square image; pass "
                    "images (n, H, W) or (n, C, H, W), or give image_shape=(C, H, W)."
                )
            shape = (side, side)
        shape = _chw(shape)
        if int(np.prod(shape)) != n_features:
            raise ValueError(
                f"image_shape={tuple(self.image_shape)} holds {int(np.prod(shape))} values, but X "
                f"has {n_features} features per sample. Fix image_shape."
            )
        if self.module is None and min(shape[1:]) < MIN_INPUT_SIZE:
            raise ValueError(
                f"The networks take images of at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} pixels as "
                f"(n, H, W) or (n, C, H, W); got images of shape {shape} (C, H, W). Channels-last "
                "arrays (n, H, W, C) must be transposed to (n, C, H, W); small images must be "
                "upsampled or padded."
            )
        return shape

    def _as_input(self, X):
        """Flat validated rows -> float32 array in the module's input shape."""
        with np.errstate(over="ignore"):
            X = np.asarray(X, dtype=np.float32)
        if not np.isfinite(X).all():  # validation let only finite float64 through
            raise ValueError(
                f"X holds values beyond float32's range (|x| > {np.finfo(np.float32).max:.3g}); "
                "the networks compute in float32. Rescale X, e.g. divide it by its largest "
                "absolute value."
            )
        if self.image_shape_ is not None:
            X = X.reshape((X.shape[0],) + tuple(self.image_shape_))
        return X

    def _images(self, X):
        """Validate new samples against the fitted shape and give them the module's shape."""
        check_is_fitted(self)
        if is_dataset(X):  # skorch's scoring callbacks pass the (already shaped) split datasets
            return X
        X = validate_images(self, X, reset=False, dtype=(np.float32, np.float64))
        return self._as_input(X)

    def _encode(self, y):
        """Labels -> positions in ``classes_`` (which a user may give in any order)."""
        classes = self.classes_
        order = np.argsort(classes, kind="stable")
        pos = np.clip(np.searchsorted(classes[order], y), 0, classes.size - 1)
        codes = order[pos]
        unknown = classes[codes] != y
        if np.any(unknown):
            raise ValueError(
                f"y holds labels {np.unique(y[unknown])[:5].tolist()!r} that are not among the "
                f"classes {classes.tolist()!r}. Add them to `classes`, or drop those samples."
            )
        return codes.astype(np.int64)

    def _subset(self, codes, seed):
        if self.train_size is None:
            return np.arange(codes.size)
        try:
            return stratified_subset(codes, self.train_size, random_state=seed)
        except ValueError as exc:
            message = str(exc).replace("Change the subset size.", "Change train_size.")
            raise ValueError(f"train_size={self.train_size!r}: {message}") from None

    def check_data(self, X, y):
        # the classes are read from the full y in fit, not from the encoded training subset
        if y is None:
            raise ValueError(f"{type(self).__name__} needs labels y to train.")

    # ------------------------------------------------------------------ training
    def _seeds(self):
        """``(subset seed, torch seed)`` drawn from ``random_state``; Nones when unseeded."""
        if self.random_state is None:
            return None, None
        rng = check_random_state(self.random_state)
        return tuple(int(s) for s in rng.randint(0, 2**31 - 1, size=2))

    def _train(self, X, y, *, reset, classes, routing, fit_params):
        """Validate and subset the data, then train with skorch's own ``partial_fit``."""
        subset_seed, torch_seed = self._seeds()
        device = self.device
        devices = [device.index or 0] if device is not None and device.type == "cuda" else []
        # a forked RNG: the seed fixes the initial weights, batch order and dropout, and the
        # caller's global torch state is left as it was
        with torch.random.fork_rng(devices=devices, enabled=torch_seed is not None):
            if torch_seed is not None:
                torch.manual_seed(torch_seed)
            X, y = self._prepare_fit(X, y, reset=reset, classes=classes,
                                     subset_seed=subset_seed)
            if reset:
                self.initialize()
            super().partial_fit(X, y, _routing_method=routing, **fit_params)
        losses = [loss for loss in self.history[:, "train_loss"] if loss is not None] \
            if len(self.history) and "train_loss" in self.history[-1] else []
        if losses and not np.isfinite(losses[-1]):
            raise ValueError(
                f"Training diverged: the training loss is {losses[-1]}. Rescale X (e.g. to "
                "[0, 1]) or lower lr."
            )
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, **fit_params):
        """Train a freshly initialised network (unless ``warm_start``) on ``X, y``.

        The ``train_size`` subset is drawn here, then skorch trains on it.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W), (n_samples, C, H, W) or (n_samples, n_pixels)
            Images; flat rows need ``image_shape`` unless they are square.
        y : array-like of shape (n_samples,)
            Class labels (any values; two classes at least).
        **fit_params
            Passed to the module's forward.

        Returns
        -------
        self
        """
        reset = not self.warm_start or not self.initialized_
        return self._train(X, y, reset=reset, classes=None, routing="fit",
                           fit_params=fit_params)

    def partial_fit(self, X, y, classes=None, **fit_params):
        """Train the current network further (initialising it on the first call).

        Parameters
        ----------
        X, y : as in :meth:`fit`
        classes : array-like, default=None
            All classes, when the first batch might not hold each of them.

        Returns
        -------
        self
        """
        reset = not self.initialized_
        if reset:
            self._validate_params()
        return self._train(X, y, reset=reset, classes=classes, routing="partial_fit",
                           fit_params=fit_params)

    # ------------------------------------------------------------------ prediction
    def _get_predict_nonlinearity(self):
        # skorch's "auto" is the identity for criteria it does not know (a hinge loss, say);
        # the networks here return scores, so their softmax is taken unless the module returns
        # probabilities itself (NLLLoss, BCELoss: skorch's own handling)
        nonlin = super()._get_predict_nonlinearity()
        criterion = getattr(self.criterion_, "_orig_mod", self.criterion_)
        if self.predict_nonlinearity == "auto" and not isinstance(
                criterion, (torch.nn.NLLLoss, torch.nn.BCELoss, torch.nn.BCEWithLogitsLoss)):
            return functools.partial(torch.softmax, dim=-1)
        return nonlin

    def predict_proba(self, X):
        """Class probabilities: the softmax of the network's scores, whatever the criterion.

        With ``criterion=torch.nn.NLLLoss`` the module's output is taken as
        probabilities (as in skorch); ``predict_nonlinearity`` overrides both.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Images of the shape seen in ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return super().predict_proba(self._images(X))

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)  # first: raises NotFittedError before classes_ is read
        return self.classes_[proba.argmax(axis=1)]

    def loss_score(self, X, y):
        """Mean cross-entropy per sample on ``X, y``: the paper's test loss L.

        Computed from the logits (``log_softmax``), whatever criterion the net
        was trained with; for ``NLLLoss`` the module's output is taken as
        probabilities, as skorch does.  Lower is better (``GridSearchCV``
        takes ``scoring="neg_log_loss"``, which agrees up to its clipping).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        y : array-like of shape (n_samples,)

        Returns
        -------
        loss : float
        """
        X = self._images(X)
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y must hold one label per sample ({X.shape[0]}), got {y.shape}.")
        codes = torch.as_tensor(self._encode(y))
        out = self.forward(X)
        if isinstance(out, tuple):
            out = out[0]
        out = out.double()
        if isinstance(self.criterion_, torch.nn.NLLLoss):
            log_p = torch.log(out + torch.finfo(torch.float32).eps)
        else:
            log_p = torch.log_softmax(out, dim=1)
        return float(torch.nn.functional.nll_loss(log_p, codes, reduction="mean"))

    def extract_features(self, X, layers="penultimate", *, batch_size=None):
        """Outputs of named layers of the trained network, one row per sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Images of the shape seen in ``fit``.
        layers : str or list of str, default="penultimate"
            Module names (see :func:`~skintrinsic.nets.layer_names`),
            ``"penultimate"`` (the paper's representation layer) or
            ``"profile"`` (layers over depth, see
            :func:`~skintrinsic.nets.profile_layers`).
        batch_size : int, default=None
            None: the net's ``batch_size`` (at least 256).

        Returns
        -------
        features : ndarray of shape (n_samples, n_features) or dict of such arrays
            An array for a single layer name, a dict keyed by layer name
            otherwise.
        """
        X = self._images(X)
        names = resolve_layers(self.module_, layers)
        if batch_size is None:
            batch_size = max(256, self.batch_size if self.batch_size > 0 else X.shape[0])
        feats = extract_features(self.module_, X, names, batch_size=batch_size,
                                 device=self.device)
        single = isinstance(layers, str) and len(names) == 1 and layers != "profile"
        return feats[names[0]] if single else feats

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        # a few epochs of a small network on tiny data do not reach sklearn's bars
        tags.classifier_tags.poor_score = True
        return tags


def _chw(shape):
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        return (1,) + shape
    if len(shape) == 3:
        return shape
    raise ValueError(
        f"Images must be (H, W) or (C, H, W) per sample; got {shape}. Reshape the data, or pass "
        "image_shape."
    )
