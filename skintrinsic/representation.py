"""Intrinsic dimension of a trained network's representations (d_repr), layer by layer.

The network is run in eval mode on its own training data, a forward hook reads
each requested layer (flattened per sample), and an
:class:`~skintrinsic.IntrinsicDimension` estimates the dimension of every
layer's point cloud.  With the default ``layers="penultimate"`` this is the
paper's ``d_repr``; several layers give the profile over depth.
"""

import inspect

import numpy as np
import pandas as pd
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
    clone,
    is_classifier,
)
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Integral, Interval
from sklearn.utils.validation import check_is_fitted

from ._validation import validate_images
from .dimension import IntrinsicDimension
from .nets._hooks import extract_features, layer_depth, resolve_layers
from .nets.classifier import data_fingerprint

__all__ = ["RepresentationDimension"]


def _default_estimator():
    # TwoNN, as in the paper's scripts for d_repr
    return IntrinsicDimension(estimator="twonn")


class RepresentationDimension(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Intrinsic dimension of the representations a classifier learned, at one or several layers.

    ``fit`` trains (a clone of) the classifier on ``X, y`` unless ``prefit``,
    then runs the trained network in eval mode on the training data and
    estimates the intrinsic dimension of each requested layer's outputs.  If
    the classifier trained on a subset (``ImageClassifier(train_size=...)``
    records it in ``train_indices_``), exactly that subset is used.

    Parameters
    ----------
    classifier : classifier with a torch network, or torch.nn.Module
        A skorch classifier such as :class:`~skintrinsic.nets.ImageClassifier`
        (its network is read from ``module_``), unfitted or fitted (then set
        ``prefit=True``).  A plain ``torch.nn.Module`` is taken as already
        trained (``prefit=True``) and is fed ``X`` in the shape given to
        ``fit``.
    layers : str or list of str, default="penultimate"
        Names of modules (see :func:`skintrinsic.nets.layer_names`);
        ``"penultimate"`` is the paper's layer (``layer4`` before pooling for
        ResNet, the second classifier Linear for VGG) and ``"profile"`` a set
        of layers from input to output (:func:`skintrinsic.nets.profile_layers`).
    estimator : IntrinsicDimension or None, default=None
        The estimator applied to each layer (cloned).  None means
        ``IntrinsicDimension(estimator="twonn")``, TwoNN as in the paper's
        scripts.
    prefit : bool, default=False
        Whether ``classifier`` is already fitted; it is then used as is and not
        refitted.  Pass the same ``X`` it was fitted on to ``fit``.
    batch_size : int, default=256
        Samples per forward pass when reading layers.
    random_state : int, RandomState instance or None, default=None
        When given, seeds the clones of the classifier (if it is fitted here)
        and of the estimator through their ``random_state``.  None leaves
        theirs as they are.

    Attributes
    ----------
    classifier_ : estimator or torch.nn.Module
        The fitted classifier: a fitted clone, or ``classifier`` when
        ``prefit``.
    layers_ : list of str
        The layers measured, sorted by depth.
    layer_ : str
        The deepest of them, the one ``dimension_`` and ``transform`` refer to.
    dimension_ : float
        Intrinsic dimension of ``layer_``'s representation.
    profile_ : pandas.DataFrame
        One row per layer, by depth: ``layer``, ``depth`` (position among the
        network's named modules, in registration order), ``n_features``,
        ``dimension``, ``ci_low``, ``ci_high`` (the estimator's bootstrap
        interval).
    estimators_ : dict of str to IntrinsicDimension
        The fitted estimator of each layer.
    train_indices_ : ndarray of int
        Rows of ``X`` whose representations were measured.
    n_features_in_ : int
    input_shape_ : tuple or None

    See Also
    --------
    skintrinsic.IntrinsicDimension : The estimator applied to each layer.
    skintrinsic.plotting.DimensionProfileDisplay : The profile over depth.

    Notes
    -----
    The representation of a layer is its output for each training sample,
    flattened (for ResNet's ``layer4`` at 32x32 and full width: 512 x 4 x 4
    values).  Distances are Euclidean in that space.  Ansuini et al. (2019)
    find a "hunchback": the dimension rises over the first layers and falls
    towards the output.

    Memory: each layer's features are extracted and measured in turn; the
    fitted estimators in ``estimators_`` keep them (as scikit-learn's
    neighbour estimators keep their data) for their ``transform``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skintrinsic import RepresentationDimension
    >>> from skintrinsic.nets import ImageClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = (X / 16).astype("float32").reshape(-1, 8, 8)
    >>> clf = ImageClassifier(max_epochs=2, train_size=500, random_state=0)
    >>> rep = RepresentationDimension(clf, layers=["features.2", "penultimate"]).fit(X, y)
    >>> rep.layer_, rep.train_indices_.size
    ('classifier.0', 500)
    >>> list(rep.profile_.columns)
    ['layer', 'depth', 'n_features', 'dimension', 'ci_low', 'ci_high']
    >>> rep.transform(X[:3]).shape
    (3, 128)
    """

    _parameter_constraints: dict = {
        "classifier": [HasMethods(["fit"]), torch.nn.Module],
        "layers": [str, list, tuple],
        # an unsupervised estimator with dimension_: fit(X) alone, as IntrinsicDimension
        "estimator": [HasMethods(["fit", "transform"]), None],
        "prefit": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, classifier, layers="penultimate", estimator=None, prefit=False,
                 batch_size=256, random_state=None):
        self.classifier = classifier
        self.layers = layers
        self.estimator = estimator
        self.prefit = prefit
        self.batch_size = batch_size
        self.random_state = random_state

    # ------------------------------------------------------------------ the network
    def _fitted_classifier(self, X, y, seeds):
        classifier = self.classifier
        if isinstance(classifier, torch.nn.Module):
            if not self.prefit:
                raise ValueError(
                    "A torch.nn.Module is taken as trained: pass prefit=True, or wrap it in "
                    "skintrinsic.nets.ImageClassifier(module=...) to train it here."
                )
            return classifier
        if not is_classifier(classifier):
            raise TypeError(
                f"classifier must be a classifier with a torch network, such as "
                f"skintrinsic.nets.ImageClassifier; got {type(classifier).__name__}, which is not "
                "a classifier."
            )
        no_network = TypeError(
            f"{type(classifier).__name__} has no torch network in module_; RepresentationDimension "
            "reads the layers of a skorch classifier such as skintrinsic.nets.ImageClassifier."
        )
        if not hasattr(classifier, "module_") and "module" not in classifier.get_params(deep=False):
            raise no_network  # before any training: this classifier will never have one
        if self.prefit:
            try:
                check_is_fitted(classifier)
            except NotFittedError as exc:
                raise NotFittedError(
                    f"prefit=True but the {type(classifier).__name__} is not fitted. Fit it first, "
                    "or use prefit=False."
                ) from exc
            fitted = classifier
        else:
            if y is None:
                raise ValueError(
                    f"{type(self).__name__} requires y to be passed, but the target y is None: "
                    "the classifier is trained on (X, y). Pass y, or a fitted classifier with "
                    "prefit=True."
                )
            fitted = clone(classifier)
            if seeds is not None and "random_state" in fitted.get_params(deep=False):
                fitted.set_params(random_state=seeds[0])
            fitted.fit(X, y)
        if not isinstance(getattr(fitted, "module_", None), torch.nn.Module):
            raise no_network
        return fitted

    def _network(self):
        clf = self.classifier_
        return clf if isinstance(clf, torch.nn.Module) else clf.module_

    def _reshape(self, X):
        """Validated flat rows back to the shape passed to fit."""
        return X if self.input_shape_ is None else X.reshape((X.shape[0],) + self.input_shape_)

    def _features(self, X, layers):
        """Flattened outputs of ``layers`` for rows of ``X`` (as passed to fit)."""
        clf = self.classifier_
        if hasattr(clf, "extract_features") and not isinstance(clf, torch.nn.Module):
            return clf.extract_features(X, list(layers), batch_size=self.batch_size)
        device = getattr(clf, "device", None)
        return extract_features(self._network(), X, layers, batch_size=self.batch_size,
                                device=None if isinstance(clf, torch.nn.Module) else device)

    # ------------------------------------------------------------------ estimator API
    @_fit_context(prefer_skip_nested_validation=False)  # the classifier validates its own params
    def fit(self, X, y=None):
        """Fit the classifier if needed, then estimate each layer's intrinsic dimension.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training images (the data the classifier is, or was, fitted on).
        y : array-like of shape (n_samples,), default=None
            Labels; needed unless ``prefit``.

        Returns
        -------
        self : RepresentationDimension
        """
        X_flat = validate_images(self, X, reset=True)
        seeds = None
        if self.random_state is not None:
            rng = check_random_state(self.random_state)
            seeds = [int(s) for s in rng.randint(0, 2**31 - 1, size=2)]
        X_in = self._reshape(X_flat)
        self.classifier_ = self._fitted_classifier(X_in, y, seeds)

        indices = getattr(self.classifier_, "train_indices_", None)
        if indices is None:
            indices = np.arange(X_flat.shape[0])
        indices = np.asarray(indices)
        if indices.size and indices.max() >= X_flat.shape[0]:
            raise ValueError(
                f"The classifier was trained on rows up to {int(indices.max())}, but X has "
                f"{X_flat.shape[0]} rows. Pass the X the classifier was fitted on."
            )
        self.train_indices_ = indices
        expected = getattr(self.classifier_, "train_fingerprint_", None)
        if self.prefit and expected is not None and \
                data_fingerprint(X_flat[indices]) != expected:
            raise ValueError(
                f"X is not the data the prefit {type(self.classifier_).__name__} was trained on: "
                f"its {indices.size} training rows differ from the images seen in fit. d_repr is "
                "measured on the network's own training set; pass the X given to the "
                "classifier's fit (or use prefit=False to train a clone on this X).")

        network = self._network()
        names = resolve_layers(network, self.layers)
        depths = {name: layer_depth(network, name) for name in names}
        self.layers_ = sorted(names, key=depths.get)
        self.layer_ = self.layers_[-1]
        X_train = X_in[indices]

        base = _default_estimator() if self.estimator is None else self.estimator
        needs_y = inspect.signature(base.fit).parameters.get("y")
        if needs_y is not None and needs_y.default is inspect.Parameter.empty:
            raise TypeError(f"estimator must measure a dimension from the features alone, as "
                            f"IntrinsicDimension does; {type(base).__name__}.fit needs labels y.")
        self.estimators_ = {}
        rows = []
        for name in self.layers_:
            # one layer at a time: a forward pass is cheap next to the neighbour search, and
            # early layers of a wide network hold N x (C x H x W) values each
            features = self._features(X_train, [name])[name]
            est = clone(base)
            if seeds is not None and "random_state" in est.get_params(deep=False):
                est.set_params(random_state=seeds[1])
            est.fit(features)
            self.estimators_[name] = est
            ci = np.asarray(getattr(est, "confidence_interval_", (np.nan, np.nan)), dtype=float)
            rows.append({"layer": name, "depth": depths[name],
                         "n_features": int(features.shape[1]),
                         "dimension": float(est.dimension_), "ci_low": ci[0], "ci_high": ci[1]})
        self.profile_ = pd.DataFrame(rows)
        self.dimension_ = float(self.estimators_[self.layer_].dimension_)
        self._n_features_out = int(rows[-1]["n_features"])
        return self

    def transform(self, X):
        """Representations of ``X`` at ``layer_`` (the deepest measured layer).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Images of the fitted shape.

        Returns
        -------
        features : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        X = self._reshape(validate_images(self, X, reset=False))
        return self._features(X, [self.layer_])[self.layer_]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = not self.prefit
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = ["float32"]  # networks compute in float32
        return tags
