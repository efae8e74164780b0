"""Hostile input against every public entry point: each case ends in one of two ways.

- **Refused**: a ValueError or TypeError (an OSError for files) raised by skintrinsic itself
  or by scikit-learn's validation -- never deep inside numpy, torch, numba or foolbox --
  whose message names the problem (checked with a regular expression).
- **Accepted**: the result equals an oracle (a float64 copy of the input, a brute-force
  computation, a documented identity).

The classes of hostile input: size (empty, one sample, fewer than k), values (NaN, inf,
duplicates), dtypes (int8, uint16, bool, complex, object, str), shapes (1-D, 5-D, sparse),
labels (NaN, float, mixed, a single class), parameter domains (0, negative, bool, huge), not
fitted, pickling, and corrupted or truncated files.  Scales of 1e+-300 for the kNN estimators
belong to the engine's own tests.

The table of cases is ``CASES``; hypothesis tests add random hostile arrays, labels and
parameters.  Coverage by entry point is checked by ``test_every_public_name_is_covered`` and
printed by ``python tests/test_hostile_inputs.py`` (or ``pytest -s -k coverage_table``).
"""

import contextlib
import functools
import gzip
import io
import itertools
import math
import pickle
import re
import sys
import tempfile
import warnings
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import sklearn
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

import skintrinsic
from skintrinsic import (
    DiffeoSensitivity,
    DiffeoTransformer,
    IntrinsicDimension,
    LabelSharpness,
    RepresentationDimension,
    RobustnessScorer,
    ScalingLawRegressor,
    make_stability_scorer,
    robustness_curve,
    scaling_study,
)
from skintrinsic import datasets as ds
from skintrinsic import diffeo as df
from skintrinsic import nets
from skintrinsic import plotting as pl
from skintrinsic import study
from skintrinsic.cli import main as cli_main
from skintrinsic.plotting._style import DATASET_COLORS

PACKAGE = Path(skintrinsic.__file__).resolve().parent
SKLEARN = Path(sklearn.__file__).resolve().parent
REFUSALS = (ValueError, TypeError)

# the hostile classes of the issue, as named in the coverage table
KINDS = ("size", "values", "dtype", "shape", "labels", "params", "not fitted", "pickle",
         "files")

# --------------------------------------------------------------------------- the harness


def raised_by_us(excinfo):
    """The innermost frame of the traceback lies in skintrinsic or scikit-learn."""
    path = Path(str(excinfo.traceback[-1].path)).resolve()
    return PACKAGE in path.parents or SKLEARN in path.parents


@dataclass
class Case:
    entry: str  # the public name, e.g. "IntrinsicDimension" or "datasets.load_mnist"
    kind: str  # one of KINDS
    what: str  # the hostile input, for the test id
    call: object  # () -> result
    refuse: str = None  # regex the refusal must match; None: the result is checked
    types: tuple = REFUSALS
    check: object = None  # result -> None (asserts), when accepted


CASES = []
COVERAGE = defaultdict(set)  # entry -> kinds covered


def refuse(entry, kind, what, call, match, types=REFUSALS):
    assert kind in KINDS
    CASES.append(Case(entry, kind, what, call, refuse=match, types=types))
    COVERAGE[entry].add(kind)


def accept(entry, kind, what, call, check):
    assert kind in KINDS
    CASES.append(Case(entry, kind, what, call, check=check))
    COVERAGE[entry].add(kind)


def covers(entry, *kinds):
    """Register the coverage of a test written outside the table (hypothesis, files)."""
    for kind in kinds:
        assert kind in KINDS
        COVERAGE[entry].add(kind)

    def decorate(test):
        return test
    return decorate


# messages of numpy, torch and Python itself, raised from C code called by our own lines
_INTERNAL_MESSAGES = re.compile(
    r"could not convert|setting an array element|only integers, slices|object is not "
    r"iterable|unsupported operand|cannot reshape|index out of range|not supported between "
    r"instances|array is too big|Expected one of cpu|can't allocate memory|must be real number")


def assert_refused(call, match, types=REFUSALS):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warnings on the way are not what is tested here
        with pytest.raises(types) as info:
            call()
    message = str(info.value)
    assert re.search(match, message, re.IGNORECASE | re.DOTALL), message
    assert raised_by_us(info), (f"raised in {info.traceback[-1].path}, not by skintrinsic or "
                                f"scikit-learn: {type(info.value).__name__}: {message}")
    internal = _INTERNAL_MESSAGES.search(message)
    # our own messages may quote an internal one, after naming the problem themselves
    assert internal is None or internal.start() > 40, f"an internal error passed on: {message}"
    return message


def run_quietly(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


# --------------------------------------------------------------------------- common inputs

RNG = np.random.RandomState(0)
X = RNG.rand(40, 5)  # points in general position: no duplicates, no ties

# data homes of the loader cases: one that does not exist, one holding files of junk
_HOMES = Path(tempfile.mkdtemp(prefix="skintrinsic-hostile-"))
EMPTY_HOME = _HOMES / "absent"
JUNK_HOME = _HOMES / "junk"
JUNK_HOME.mkdir()
for _name in ("cifar-10-binary.tar.gz", "svhn-test_32x32.mat"):
    (JUNK_HOME / _name).write_bytes(b"not the dataset" * 64)
Y = np.arange(40) % 2
IMAGES = RNG.rand(24, 1, 8, 8).astype(np.float32)
IMAGE_LABELS = np.arange(24) % 2
GRAY = (RNG.rand(12, 8, 8) * 255).astype(np.uint8)


def with_nan(A):
    A = np.array(A, dtype=np.float64)
    A.flat[3] = np.nan
    return A


def with_inf(A):
    A = np.array(A, dtype=np.float64)
    A.flat[3] = np.inf
    return A


@functools.cache
def net():
    torch.manual_seed(0)
    return nets.build_model("small_cnn", 1, 2, input_size=8)


@functools.cache
def fitted_classifier():
    return run_quietly(lambda: nets.ImageClassifier(max_epochs=1, random_state=0)
                       .fit(IMAGES, IMAGE_LABELS))


@functools.cache
def fitted_sensitivity():
    return DiffeoSensitivity(net(), n_probe=12, random_state=0).fit(IMAGES)


@functools.cache
def fitted_law():
    N = np.array([100, 200, 400, 800, 100, 200, 400, 800], dtype=float)
    d = np.array([5, 5, 5, 5, 10, 10, 10, 10], dtype=float)
    loss = np.exp(-np.log(N) / d + 0.2)  # the representation law, exactly
    return law().fit(np.c_[N, d], loss), np.c_[N, d], loss


def law(**kw):
    return ScalingLawRegressor(**{"law": "representation", **kw})


def equal_to(expected, rtol=1e-9):
    def check(result):
        np.testing.assert_allclose(result, expected, rtol=rtol)
    return check


def equal_to_dict(expected):
    def check(out):
        assert out == expected, out
    return check


def pickled(estimator):
    return pickle.loads(pickle.dumps(estimator))


def brute_sharpness(A, y):
    """K_F by definition: the largest |y_j != y_k| / ||x_j - x_k|| over all pairs."""
    A = np.asarray(A, dtype=np.float64).reshape(len(A), -1)
    best = 0.0
    for j, k in itertools.combinations(range(len(A)), 2):
        if y[j] != y[k]:
            best = max(best, 1.0 / np.linalg.norm(A[j] - A[k]))
    return best


# =========================================================================== estimators

def _id(**kw):
    return IntrinsicDimension(**{"k": 5, "n_bootstrap": 0, **kw})


ID_REF = _id().fit(X).dimension_
E = "IntrinsicDimension"
refuse(E, "size", "empty", lambda: _id().fit(np.empty((0, 5))), r"0 sample")
refuse(E, "size", "empty 3-D", lambda: _id().fit(np.empty((0, 4, 4))), r"0 sample")
refuse(E, "size", "one sample", lambda: _id().fit(X[:1]), r"minimum of 2")
refuse(E, "size", "fewer than k", lambda: _id(k=10).fit(X[:8]), r"at least 11 distinct.*k")
refuse(E, "size", "zero features", lambda: _id().fit(np.empty((40, 0))), r"0 feature")
refuse(E, "values", "NaN", lambda: _id().fit(with_nan(X)), r"NaN")
refuse(E, "values", "inf", lambda: _id().fit(with_inf(X)), r"infinity")
refuse(E, "values", "all duplicates", lambda: _id().fit(np.repeat(X[:1], 40, 0)),
       r"distinct samples.*duplicates were dropped")
refuse(E, "values", "duplicates='raise'",
       lambda: _id(duplicates="raise").fit(np.r_[X, X[:1]]), r"duplicate")
accept(E, "values", "one duplicate dropped",
       lambda: run_quietly(lambda: _id().fit(np.r_[X, X[:1]]).dimension_), equal_to(ID_REF))
for name, dtype in (("int8", np.int8), ("uint16", np.uint16)):
    scaled = (X * 100).astype(dtype)
    accept(E, "dtype", name, lambda scaled=scaled: _id().fit(scaled).dimension_,
           equal_to(_id().fit(scaled.astype(np.float64)).dimension_))
accept(E, "dtype", "object", lambda: _id().fit(X.astype(object)).dimension_, equal_to(ID_REF))
accept(E, "dtype", "list", lambda: _id().fit(X.tolist()).dimension_, equal_to(ID_REF))
refuse(E, "dtype", "complex", lambda: _id().fit(X + 1j), r"complex")
refuse(E, "dtype", "text", lambda: _id().fit(np.array([["a", "b"]] * 40)), r"numeric")
refuse(E, "dtype", "bool (all duplicates)", lambda: _id().fit(np.ones((40, 3), dtype=bool)),
       r"distinct samples")
refuse(E, "shape", "1-D", lambda: _id().fit(X[:, 0]), r"Expected 2D array|1D")
accept(E, "shape", "5-D", lambda: _id().fit(X.reshape(40, 1, 1, 5, 1)).dimension_,
       equal_to(ID_REF))
refuse(E, "shape", "sparse", lambda: _id().fit(sp.csr_matrix(X)), r"sparse.*toarray")
refuse(E, "shape", "transform of another image shape",
       lambda: _id().fit(X.reshape(40, 1, 5)).transform(X.reshape(40, 5, 1)), r"image shape")
for param, value, match in (("k", 0, "'k' parameter"), ("k", -3, "'k' parameter"),
                            ("k", 1.5, "'k' parameter"), ("k", 10**9, "distinct samples"),
                            ("n_bootstrap", 1, "n_bootstrap"), ("n_bootstrap", -1, "n_bootstrap"),
                            ("confidence_level", 0, "confidence_level"),
                            ("confidence_level", 1.0, "confidence_level"),
                            ("n_jobs", 0, "n_jobs"), ("device", "tpu", "not a torch device"),
                            ("estimator", "pca", "estimator"), ("neighbors", None, "neighbors")):
    refuse(E, "params", f"{param}={value!r}", lambda p={param: value}: _id(**p).fit(X), match)
refuse(E, "params", "k=2 with the reference normalization", lambda: _id(k=2).fit(X),
       r"k >= 3.*textbook")
refuse(E, "not fitted", "transform", lambda: _id().transform(X), r"not fitted",
       (NotFittedError,))
accept(E, "pickle", "fitted round trip", lambda: pickled(_id().fit(X)).transform(X[:5]),
       equal_to(_id().fit(X).transform(X[:5])))

# the estimators of issue 12, as options of IntrinsicDimension
for est_name in ("gride", "mind_ml", "danco", "mle_calibrated", "twonn_calibrated"):
    ref = run_quietly(lambda e=est_name: _id(estimator=e).fit(X).dimension_)
    accept(E, "dtype", f"{est_name}: list", lambda e=est_name: _id(estimator=e).fit(
        X.tolist()).dimension_, equal_to(ref))
    accept(E, "values", f"{est_name}: one duplicate dropped", lambda e=est_name: run_quietly(
        lambda: _id(estimator=e).fit(np.r_[X, X[:1]]).dimension_), equal_to(ref))
    refuse(E, "values", f"{est_name}: NaN", lambda e=est_name: _id(estimator=e).fit(with_nan(X)),
           r"NaN")
    refuse(E, "size", f"{est_name}: too few samples", lambda e=est_name: _id(estimator=e, k=10)
           .fit(X[:2]), r"at least 3 distinct" if est_name == "twonn_calibrated"
           else r"at least 11 distinct.*k")
    refuse(E, "not fitted", f"{est_name}: transform", lambda e=est_name: _id(estimator=e)
           .transform(X), r"not fitted", (NotFittedError,))
refuse(E, "params", "gride_n1=0", lambda: _id(estimator="gride", gride_n1=0).fit(X), r"gride_n1")
accept(E, "params", "gride_n1=True (an int to Python)",
       lambda: _id(estimator="gride", gride_n1=True).fit(X).dimension_,
       equal_to(_id(estimator="gride", gride_n1=1).fit(X).dimension_))
refuse(E, "params", "gride_n1 beyond k/2", lambda: _id(estimator="gride", gride_n1=3).fit(X),
       r"k >= 6 or a smaller gride_n1")
refuse(E, "params", "danco k=50", lambda: _id(estimator="danco", k=50).fit(X), r"3 <= k <= 41")
refuse(E, "params", "danco k=2", lambda: _id(estimator="danco", k=2).fit(X), r"3 <= k <= 41")
refuse(E, "params", "danco on a precomputed graph",
       lambda: _id(estimator="danco", neighbors="precomputed").fit(np.eye(40)), r"does not hold")
accept(E, "pickle", "gride fitted round trip",
       lambda: pickled(_id(estimator="gride").fit(X)).scale_profile_["dimension"],
       equal_to(_id(estimator="gride").fit(X).scale_profile_["dimension"]))

E = "class_dimensions"
_CD_MLE = _id()
CD_REF = skintrinsic.class_dimensions(X, Y, estimator=_CD_MLE)
accept(E, "values", "each class as fitted alone", lambda: CD_REF.dimensions,
       equal_to([_id().fit(X[Y == c]).dimension_ for c in (0, 1)]))
accept(E, "values", "pooled as fitted alone", lambda: CD_REF.pooled_dimension, equal_to(ID_REF))
refuse(E, "size", "empty", lambda: skintrinsic.class_dimensions(np.empty((0, 5)), []),
       r"0 sample|at least 2 classes")
refuse(E, "size", "a class smaller than k",
       lambda: skintrinsic.class_dimensions(X, (np.arange(40) < 3).astype(int), estimator=_CD_MLE),
       r"class 1: .*at least 6 distinct")
refuse(E, "values", "NaN", lambda: skintrinsic.class_dimensions(with_nan(X), Y, estimator=_CD_MLE),
       r"NaN")
refuse(E, "values", "inf", lambda: skintrinsic.class_dimensions(with_inf(X), Y, estimator=_CD_MLE),
       r"infinity")
refuse(E, "dtype", "complex", lambda: skintrinsic.class_dimensions(X + 1j, Y, estimator=_CD_MLE),
       r"complex")
refuse(E, "dtype", "text", lambda: skintrinsic.class_dimensions(np.array([["a", "b"]] * 40), Y,
                                                                estimator=_CD_MLE), r"numeric")
accept(E, "dtype", "list", lambda: skintrinsic.class_dimensions(X.tolist(), Y.tolist(),
                                                                estimator=_CD_MLE).dimensions,
       equal_to(CD_REF.dimensions))
refuse(E, "shape", "1-D", lambda: skintrinsic.class_dimensions(X[:, 0], Y), r"one sample per row")
refuse(E, "shape", "sparse", lambda: skintrinsic.class_dimensions(sp.csr_matrix(X), Y),
       r"sparse.*toarray")
accept(E, "shape", "5-D", lambda: skintrinsic.class_dimensions(
    X.reshape(40, 1, 5, 1, 1), Y, estimator=_CD_MLE).dimensions, equal_to(CD_REF.dimensions))
refuse(E, "labels", "single class", lambda: skintrinsic.class_dimensions(X, np.zeros(40)),
       r"at least 2 classes")
refuse(E, "labels", "NaN", lambda: skintrinsic.class_dimensions(X, np.where(Y, np.nan, 0.0)),
       r"NaN|label")
refuse(E, "labels", "wrong length", lambda: skintrinsic.class_dimensions(X, Y[:10]),
       r"inconsistent")
refuse(E, "labels", "continuous", lambda: skintrinsic.class_dimensions(X, np.linspace(0, 1, 40)),
       r"continuous|label")
accept(E, "labels", "text", lambda: skintrinsic.class_dimensions(
    X, np.where(Y, "b", "a"), estimator=_CD_MLE).dimensions, equal_to(CD_REF.dimensions))
refuse(E, "params", "estimator='mle'", lambda: skintrinsic.class_dimensions(X, Y, estimator="mle"),
       r"estimator")

E = "LabelSharpness"
LS_REF = LabelSharpness().fit(X, Y).sharpness_
accept(E, "values", "brute force", lambda: LS_REF, equal_to(brute_sharpness(X, Y)))
refuse(E, "size", "empty", lambda: LabelSharpness().fit(np.empty((0, 5)), []), r"0 sample")
refuse(E, "size", "one sample", lambda: LabelSharpness().fit(X[:1], Y[:1]), r"minimum of 2")
refuse(E, "values", "NaN", lambda: LabelSharpness().fit(with_nan(X), Y), r"NaN")
refuse(E, "values", "inf", lambda: LabelSharpness().fit(with_inf(X), Y), r"infinity")
refuse(E, "values", "identical images, other labels",
       lambda: LabelSharpness().fit(np.r_[X, X[:1]], np.r_[Y, 1 - Y[:1]]), r"identical|infinite")
for name, dtype in (("int8", np.int8), ("uint16", np.uint16)):
    scaled = (X * 100).astype(dtype)
    accept(E, "dtype", name, lambda scaled=scaled: LabelSharpness().fit(scaled, Y).sharpness_,
           equal_to(brute_sharpness(scaled, Y)))
refuse(E, "dtype", "complex", lambda: LabelSharpness().fit(X + 1j, Y), r"complex")
accept(E, "shape", "5-D", lambda: LabelSharpness().fit(X.reshape(40, 1, 5, 1, 1), Y).sharpness_,
       equal_to(LS_REF))
refuse(E, "shape", "sparse", lambda: LabelSharpness().fit(sp.csr_matrix(X), Y), r"sparse")
refuse(E, "shape", "1-D", lambda: LabelSharpness().fit(X[:, 0], Y), r"2D|1D")
refuse(E, "labels", "NaN", lambda: LabelSharpness().fit(X, np.where(Y, np.nan, 0.0)), r"NaN")
refuse(E, "labels", "single class", lambda: LabelSharpness().fit(X, np.zeros(40)),
       r"class|label")
refuse(E, "labels", "wrong length", lambda: LabelSharpness().fit(X, Y[:10]), r"inconsistent")
refuse(E, "labels", "mixed types",
       lambda: LabelSharpness().fit(X, np.array([1, "a"] * 20, dtype=object)), r"label|type")
accept(E, "labels", "text", lambda: LabelSharpness().fit(X, np.where(Y, "b", "a")).sharpness_,
       equal_to(LS_REF))
accept(E, "labels", "bool", lambda: LabelSharpness().fit(X, Y.astype(bool)).sharpness_,
       equal_to(LS_REF))
for param, value in (("n_pairs", 0), ("n_pairs", -1), ("pairs", "some"), ("n_jobs", 0),
                     ("label_type", "ordinal"), ("subsample_size", 1), ("subsample_size", 2.5),
                     ("subsample_size", True), ("n_subsamples", 0)):
    refuse(E, "params", f"{param}={value!r}",
           lambda p={param: value}: LabelSharpness(**p).fit(X, Y), param)
refuse(E, "size", "subsample_size above the samples",
       lambda: LabelSharpness(subsample_size=41).fit(X, Y), r"subsample_size=41 exceeds")
refuse(E, "labels", "subsample smaller than the classes",
       lambda: LabelSharpness(subsample_size=2).fit(X, np.arange(40) % 3), r"between 3")
accept(E, "size", "subsample_size = all samples is exact",
       lambda: LabelSharpness(subsample_size=40).fit(X, Y).sharpness_, equal_to(LS_REF))
refuse(E, "params", "n_pairs beyond memory",
       lambda: LabelSharpness(pairs="random", n_pairs=10**15).fit(X, Y), r"memory.*n_pairs")
refuse(E, "not fitted", "transform", lambda: LabelSharpness().transform(X), r"not fitted",
       (NotFittedError,))
accept(E, "pickle", "fitted round trip", lambda: pickled(LabelSharpness().fit(X, Y)).sharpness_,
       equal_to(LS_REF))


@covers("IntrinsicDimension", "params")
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_bootstrap=st.sampled_from([10, 11, 25]),
       estimator=st.sampled_from(["mle", "twonn"]))
def test_bootstrap_interval_always_holds_the_estimate(seed, n_bootstrap, estimator):
    """The documented interval contains dimension_, however few replicates are drawn."""
    data = np.random.RandomState(seed % 1000).rand(30, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        est = IntrinsicDimension(estimator, k=5, n_bootstrap=n_bootstrap,
                                 random_state=seed).fit(data)
    low, high = est.confidence_interval_
    assert low <= est.dimension_ <= high


def test_few_bootstrap_replicates_are_refused_or_warned_about():
    assert_refused(lambda: _id(n_bootstrap=9).fit(X), r"n_bootstrap")
    with pytest.warns(UserWarning, match=r"n_bootstrap=20 .*Pass n_bootstrap >= 40"):
        _id(n_bootstrap=20).fit(X)


E = "RepresentationDimension"
refuse(E, "params", "classifier is text", lambda: RepresentationDimension("x").fit(IMAGES, Y),
       r"classifier|module|net")
refuse(E, "params", "unknown layer",
       lambda: RepresentationDimension(fitted_classifier(), layers=["nope"], prefit=True)
       .fit(IMAGES, IMAGE_LABELS), r"nope")
refuse(E, "params", "batch_size=0",
       lambda: RepresentationDimension(fitted_classifier(), batch_size=0, prefit=True)
       .fit(IMAGES, IMAGE_LABELS), r"batch_size")
refuse(E, "values", "NaN images",
       lambda: RepresentationDimension(fitted_classifier(), prefit=True)
       .fit(with_nan(IMAGES), IMAGE_LABELS), r"NaN")
refuse(E, "size", "empty",
       lambda: RepresentationDimension(fitted_classifier(), prefit=True)
       .fit(IMAGES[:0], IMAGE_LABELS[:0]), r"0 sample|rows")
refuse(E, "labels", "NaN",
       lambda: RepresentationDimension(nets.ImageClassifier(max_epochs=1), random_state=0)
       .fit(IMAGES, np.where(IMAGE_LABELS, np.nan, 0.0)), r"NaN|label")
refuse(E, "not fitted", "transform",
       lambda: RepresentationDimension(fitted_classifier()).transform(IMAGES), r"not fitted",
       (NotFittedError,))

refuse(E, "params", "a supervised estimator",
       lambda: RepresentationDimension(fitted_classifier(), estimator=LabelSharpness(),
                                       prefit=True).fit(IMAGES, IMAGE_LABELS),
       r"from the features alone.*needs labels y")

E = "ScalingLawRegressor"
_, LAW_X, LAW_Y = fitted_law()
refuse(E, "size", "empty", lambda: law().fit(np.empty((0, 2)), []),
       r"0 sample|at least")
refuse(E, "size", "one point", lambda: law().fit(LAW_X[:1], LAW_Y[:1]),
       r"at least|sample")
refuse(E, "values", "zero loss",
       lambda: law().fit(LAW_X, np.r_[0.0, LAW_Y[1:]]), r"> 0|positive")
refuse(E, "values", "negative N",
       lambda: law().fit(np.c_[-LAW_X[:, 0], LAW_X[:, 1]], LAW_Y),
       r"> 0|positive")
refuse(E, "values", "NaN", lambda: law().fit(with_nan(LAW_X), LAW_Y), r"NaN")
refuse(E, "shape", "four columns", lambda: law().fit(np.ones((8, 4)), LAW_Y),
       r"2 or 3 columns")
refuse(E, "params", "law='x'", lambda: law(law="x").fit(LAW_X, LAW_Y), r"law")
refuse(E, "params", "confidence_level=0",
       lambda: law(confidence_level=0).fit(LAW_X, LAW_Y), r"confidence_level")
refuse(E, "not fitted", "predict", lambda: law().predict(LAW_X), r"not fitted",
       (NotFittedError,))
accept(E, "pickle", "fitted round trip", lambda: pickled(fitted_law()[0]).predict(LAW_X),
       equal_to(fitted_law()[0].predict(LAW_X)))
accept(E, "values", "exact power law", lambda: fitted_law()[0].predict(LAW_X),
       equal_to(LAW_Y, rtol=1e-6))

E = "scaling_study"
refuse(E, "size", "no training size", lambda: scaling_study(IMAGES, IMAGE_LABELS, []),
       r"train_sizes")
refuse(E, "size", "training size 1", lambda: scaling_study(IMAGES, IMAGE_LABELS, [1]),
       r"train_sizes")
refuse(E, "size", "training size beyond the pool",
       lambda: scaling_study(IMAGES, IMAGE_LABELS, [10**9]), r"train_sizes")
refuse(E, "params", "X_test without y_test",
       lambda: scaling_study(IMAGES, IMAGE_LABELS, [6], X_test=IMAGES), r"together")
refuse(E, "params", "y_test without X_test",
       lambda: scaling_study(IMAGES, IMAGE_LABELS, [6], y_test=IMAGE_LABELS), r"together")
refuse(E, "params", "a list of datasets",
       lambda: scaling_study([(IMAGES, IMAGE_LABELS)], train_sizes=[6, 8]), r"mapping")
refuse(E, "params", "a dataset that is not (X, y)",
       lambda: scaling_study({"a": IMAGES}, train_sizes=[6, 8]), r"\(X, y\)")
refuse(E, "params", "a test set for several datasets",
       lambda: scaling_study({"a": (IMAGES, IMAGE_LABELS), "b": (IMAGES, IMAGE_LABELS)},
                             train_sizes=[6], X_test=IMAGES, y_test=IMAGE_LABELS),
       r"single dataset")
refuse(E, "labels", "X_test and y_test of other lengths",
       lambda: scaling_study(IMAGES, IMAGE_LABELS, [6], X_test=IMAGES, y_test=IMAGE_LABELS[:3]),
       r"one label per image")
refuse(E, "labels", "single class", lambda: scaling_study(IMAGES, np.zeros(24), [6, 10]),
       r"class")
refuse(E, "params", "n_repeats=0", lambda: scaling_study(IMAGES, IMAGE_LABELS, [6], n_repeats=0),
       r"n_repeats")

E = "RobustnessScorer"
refuse(E, "params", "epsilon=-1",
       lambda: RobustnessScorer(epsilon=-1)(fitted_classifier(), IMAGES, IMAGE_LABELS),
       r"epsilon")
refuse(E, "params", "epsilon=1e300",
       lambda: RobustnessScorer(epsilon=1e300)(fitted_classifier(), IMAGES, IMAGE_LABELS),
       r"epsilon.*clipping range")
refuse(E, "params", "bounds=(0, inf)",
       lambda: RobustnessScorer(bounds=(0, np.inf))(fitted_classifier(), IMAGES, IMAGE_LABELS),
       r"not finite")
refuse(E, "params", "bounds=(1, 0)",
       lambda: RobustnessScorer(bounds=(1, 0))(fitted_classifier(), IMAGES, IMAGE_LABELS),
       r"bounds")
refuse(E, "params", "output='probabilities' on logits",
       lambda: RobustnessScorer(output="probabilities")(net(), IMAGES, IMAGE_LABELS),
       r"not probabilities.*logits")
refuse(E, "params", "device='tpu'",
       lambda: RobustnessScorer(device="tpu")(fitted_classifier(), IMAGES, IMAGE_LABELS),
       r"not a torch device")
refuse(E, "labels", "7 on a plain module",
       lambda: RobustnessScorer()(net(), IMAGES, IMAGE_LABELS * 7), r"class indices.*outputs")
refuse(E, "labels", "-1 on a plain module",
       lambda: RobustnessScorer()(net(), IMAGES, IMAGE_LABELS - 1), r"class indices.*outputs")
refuse(E, "labels", "unknown to the classifier",
       lambda: RobustnessScorer()(fitted_classifier(), IMAGES, IMAGE_LABELS + 5), r"not fitted on")
refuse(E, "values", "NaN images",
       lambda: RobustnessScorer()(fitted_classifier(), with_nan(IMAGES), IMAGE_LABELS), r"NaN")
refuse(E, "dtype", "complex images",
       lambda: RobustnessScorer()(fitted_classifier(), IMAGES + 1j, IMAGE_LABELS), r"numeric")
refuse(E, "not fitted", "classifier",
       lambda: RobustnessScorer()(nets.ImageClassifier(), IMAGES, IMAGE_LABELS), r"not fitted",
       (NotFittedError,))
accept(E, "values", "epsilon=0 changes nothing",
       lambda: RobustnessScorer(epsilon=0.0)(fitted_classifier(), IMAGES, IMAGE_LABELS),
       equal_to(0.0))

E = "robustness_curve"
refuse(E, "params", "no epsilon",
       lambda: robustness_curve(fitted_classifier(), IMAGES, IMAGE_LABELS, []), r"epsilon")
refuse(E, "params", "text epsilon",
       lambda: robustness_curve(fitted_classifier(), IMAGES, IMAGE_LABELS, ["a"]), r"epsilon")
refuse(E, "params", "NaN epsilon",
       lambda: robustness_curve(fitted_classifier(), IMAGES, IMAGE_LABELS, [np.nan]), r"epsilon")
refuse(E, "shape", "flat rows of another size",
       lambda: robustness_curve(fitted_classifier(), RNG.rand(24, 5), IMAGE_LABELS, [0.01]),
       r"shape")
refuse(E, "labels", "2-D y",
       lambda: robustness_curve(fitted_classifier(), IMAGES, np.c_[IMAGE_LABELS, IMAGE_LABELS],
                                [0.01]), r"1-d")

E = "DiffeoSensitivity"
for param, value, match in (("delta", [], "holds no value"), ("cutoff", [], "holds no value"),
                            ("temperature", [], "holds no value"), ("delta", 0, "delta"),
                            ("delta", [1, np.nan], "delta"), ("cutoff", 100, "cutoff=100"),
                            ("n_probe", 1, "n_probe"), ("batch_size", 0, "batch_size"),
                            ("n_jobs", 0, "n_jobs"), ("device", "tpu", "not a torch device"),
                            ("layers", ["nope"], "nope"), ("aggregation", "x", "aggregation")):
    refuse(E, "params", f"{param}={value!r}",
           lambda p={param: value}: DiffeoSensitivity(
               net(), **{"n_probe": 12, "random_state": 0, **p}).fit(IMAGES), match)
refuse(E, "params", "a perturbation of the wrong shape",
       lambda: DiffeoSensitivity(net(), perturbation=lambda x, random_state: x[:2], n_probe=8)
       .fit(IMAGES), r"perturbation returned shape \(2, 1, 8, 8\)")
refuse(E, "params", "sparse moves on dense images",
       lambda: DiffeoSensitivity(net(), perturbation="sparse", n_probe=12).fit(IMAGES),
       r"unchanged.*perturbation='diffeo'")
refuse(E, "values", "NaN", lambda: DiffeoSensitivity(net()).fit(with_nan(IMAGES)), r"NaN")
refuse(E, "size", "one image", lambda: DiffeoSensitivity(net()).fit(IMAGES[:1]), r"at least 2")
refuse(E, "dtype", "complex", lambda: DiffeoSensitivity(net()).fit(IMAGES + 1j), r"complex")
refuse(E, "not fitted", "score", lambda: DiffeoSensitivity(net()).score(IMAGES), r"not fitted",
       (NotFittedError,))
accept(E, "pickle", "fitted round trip",
       lambda: pickled(fitted_sensitivity()).sensitivity_[["D", "G", "R"]].to_numpy(),
       equal_to(fitted_sensitivity().sensitivity_[["D", "G", "R"]].to_numpy()))

E = "DiffeoTransformer"
refuse(E, "params", "cutoff beyond the image", lambda: DiffeoTransformer(cutoff=100)
       .fit_transform(IMAGES), r"cutoff <= 7")
refuse(E, "params", "cutoff=1", lambda: DiffeoTransformer(cutoff=1).fit_transform(IMAGES),
       r"cutoff")
refuse(E, "params", "negative delta", lambda: DiffeoTransformer(delta=-1).fit_transform(IMAGES),
       r"delta")
refuse(E, "values", "NaN", lambda: DiffeoTransformer().fit_transform(with_nan(IMAGES)), r"NaN")
refuse(E, "not fitted", "transform", lambda: DiffeoTransformer().transform(IMAGES),
       r"not fitted", (NotFittedError,))
accept(E, "values", "delta=0 is the identity",
       lambda: DiffeoTransformer(delta=0).fit_transform(IMAGES), equal_to(IMAGES))
accept(E, "pickle", "fitted round trip",
       lambda: pickled(DiffeoTransformer(random_state=0).fit(IMAGES)).transform(IMAGES),
       equal_to(DiffeoTransformer(random_state=0).fit(IMAGES).transform(IMAGES)))

refuse("DiffeoSensitivity", "shape", "1-D",
       lambda: DiffeoSensitivity(net()).fit(IMAGES[:, 0, 0, 0]), r"2D|1D")
refuse("DiffeoSensitivity", "shape", "sparse",
       lambda: DiffeoSensitivity(net()).fit(sp.csr_matrix(IMAGES.reshape(24, -1))), r"sparse")
refuse("DiffeoTransformer", "size", "empty", lambda: DiffeoTransformer().fit_transform(IMAGES[:0]),
       r"0 sample")
refuse("DiffeoTransformer", "dtype", "complex",
       lambda: DiffeoTransformer().fit_transform(IMAGES + 1j), r"complex")
refuse("DiffeoTransformer", "shape", "not square",
       lambda: DiffeoTransformer().fit_transform(RNG.rand(4, 8, 9)), r"square")
accept("DiffeoTransformer", "dtype", "uint8 as float64",
       lambda: DiffeoTransformer(random_state=0).fit_transform(GRAY),
       equal_to(DiffeoTransformer(random_state=0).fit_transform(GRAY.astype(np.float64))))
refuse("RobustnessScorer", "size", "empty",
       lambda: RobustnessScorer()(fitted_classifier(), IMAGES[:0], IMAGE_LABELS[:0]),
       r"0 sample|empty|at least")
refuse("RobustnessScorer", "shape", "1-D",
       lambda: RobustnessScorer()(fitted_classifier(), IMAGES[:, 0, 0, 0], IMAGE_LABELS),
       r"shape")
accept("RobustnessScorer", "pickle", "scorer round trip",
       lambda: pickled(RobustnessScorer(random_state=0))(fitted_classifier(), IMAGES,
                                                        IMAGE_LABELS),
       equal_to(RobustnessScorer(random_state=0)(fitted_classifier(), IMAGES, IMAGE_LABELS)))
refuse("ScalingLawRegressor", "dtype", "text", lambda: law().fit(LAW_X.astype(str).astype(object)
                                                                 + "x", LAW_Y), r"numeric|float")
accept("datasets.binary_task", "values", "X is only indexed, NaN and all",
       lambda: (lambda out: out[0] - with_nan(X)[out[2]])(
           ds.binary_task(with_nan(X), Y, random_state=0, return_indices=True)),
       lambda diff: np.testing.assert_array_equal(np.isnan(diff).sum(), 1))
accept("datasets.binary_task", "shape", "5-D images keep their shape",
       lambda: ds.binary_task(X.reshape(40, 1, 1, 5, 1), Y, random_state=0)[0].shape,
       equal_to((40, 1, 1, 5, 1)))

E = "make_stability_scorer"
refuse(E, "params", "measure='x'", lambda: make_stability_scorer("x"), r"measure")
refuse(E, "params", "unknown layer",
       lambda: make_stability_scorer(layer="nope", n_probe=12)(fitted_classifier(), IMAGES),
       r"nope")

E = "datasets.load_cifar10"
refuse(E, "params", "subset='nope'",
       lambda: ds.load_cifar10("nope", data_home=EMPTY_HOME, download_if_missing=False),
       r"subset must be one of")
refuse(E, "files", "missing", lambda: ds.load_cifar10(data_home=EMPTY_HOME,
                                                      download_if_missing=False),
       r"cifar-10-binary.tar.gz was not found", types=(OSError,))
refuse(E, "files", "corrupted", lambda: ds.load_cifar10(data_home=JUNK_HOME,
                                                        download_if_missing=False),
       r"corrupted or is not the expected file", types=(OSError,))

E = "datasets.load_svhn"
refuse(E, "params", "subset='nope'",
       lambda: ds.load_svhn("nope", data_home=EMPTY_HOME, download_if_missing=False),
       r"subset must be one of")
refuse(E, "files", "missing", lambda: ds.load_svhn(data_home=EMPTY_HOME,
                                                   download_if_missing=False),
       r"svhn-test_32x32.mat was not found", types=(OSError,))
refuse(E, "files", "corrupted", lambda: ds.load_svhn(data_home=JUNK_HOME,
                                                     download_if_missing=False),
       r"corrupted or is not the expected file", types=(OSError,))

E = "datasets.fetch_datasets"
refuse(E, "params", "unknown name", lambda: ds.fetch_datasets(["nope"], data_home=EMPTY_HOME),
       r"unknown dataset 'nope'")
refuse(E, "params", "None", lambda: ds.fetch_datasets(None, data_home=EMPTY_HOME),
       r"names must be a list of dataset names")
refuse(E, "dtype", "numbers", lambda: ds.fetch_datasets([1, 2], data_home=EMPTY_HOME),
       r"names must be a list of dataset names")

E = "plotting.dataset_colors"
refuse(E, "params", "None", lambda: pl.dataset_colors(None), r"iterable of dataset names")
refuse(E, "params", "a bare string", lambda: pl.dataset_colors("mnist"),
       r"iterable of dataset names")
accept(E, "size", "empty", lambda: pl.dataset_colors([]), equal_to_dict({}))
accept(E, "values", "repeats", lambda: pl.dataset_colors(["a", "b", "a"]),
       equal_to_dict({"a": DATASET_COLORS[0], "b": DATASET_COLORS[1]}))

E = "kneighbors_graph"
refuse(E, "size", "one sample", lambda: skintrinsic.kneighbors_graph(X[:1], 2),
       r"minimum of 2")
refuse(E, "size", "empty", lambda: skintrinsic.kneighbors_graph(X[:0], 2), r"0 sample")
refuse(E, "params", "n_neighbors=1.5", lambda: skintrinsic.kneighbors_graph(X, 1.5),
       r"n_neighbors.*must be an int")
refuse(E, "params", "n_neighbors=True", lambda: skintrinsic.kneighbors_graph(X, True),
       r"n_neighbors must be an int")
refuse(E, "dtype", "complex", lambda: skintrinsic.kneighbors_graph(X + 1j, 3), r"[Cc]omplex")
refuse(E, "shape", "1-D", lambda: skintrinsic.kneighbors_graph(X[:, 0], 3), r"2D array")
refuse(E, "shape", "sparse", lambda: skintrinsic.kneighbors_graph(sp.csr_matrix(X), 3),
       r"[Ss]parse")
refuse(E, "size", "fewer samples than neighbours",
       lambda: skintrinsic.kneighbors_graph(X[:5], 10), r"only 4 other points")
refuse(E, "params", "n_neighbors=0", lambda: skintrinsic.kneighbors_graph(X, 0),
       r"n_neighbors.*range \[1, inf\)")
refuse(E, "params", "n_jobs=0", lambda: skintrinsic.kneighbors_graph(X, 3, n_jobs=0), r"n_jobs")
refuse(E, "params", "device='tpu'", lambda: skintrinsic.kneighbors_graph(X, 3, device="tpu"),
       r"not a torch device")
refuse(E, "values", "NaN", lambda: skintrinsic.kneighbors_graph(with_nan(X), 3), r"NaN")
refuse(E, "values", "inf", lambda: skintrinsic.kneighbors_graph(with_inf(X), 3), r"infinity")
accept(E, "shape", "5-D", lambda: skintrinsic.kneighbors_graph(X.reshape(40, 1, 5, 1, 1), 3)
       .toarray(), equal_to(skintrinsic.kneighbors_graph(X, 3).toarray()))
accept(E, "dtype", "int8", lambda: skintrinsic.kneighbors_graph((X * 100).astype(np.int8), 3)
       .toarray(), equal_to(skintrinsic.kneighbors_graph(
           (X * 100).astype(np.int8).astype(float), 3).toarray()))

# =========================================================================== nets

E = "nets.ImageClassifier"
for param, value, match in (("width", 0, "width"), ("width", np.inf, "width"),
                            ("width", 1e4, "memory"), ("depth", 1.5, "depth"),
                            ("depth", 0, "depth"), ("max_epochs", -1, "max_epochs"),
                            ("batch_size", 0, "batch_size"), ("lr", 0, "lr"),
                            ("train_size", 0, "train_size"), ("train_size", 100, "train_size"),
                            ("device", "tpu", "not a torch device"), ("arch", "resnet1", "arch"),
                            ("criterion", "x", "criterion"),
                            ("steps_per_epoch", 0, "steps_per_epoch"),
                            ("optimizer__weight_decay", -1.0, "weight_decay")):
    refuse(E, "params", f"{param}={value!r}",
           lambda p={param: value}: nets.ImageClassifier(**{"max_epochs": 1, **p})
           .fit(IMAGES, IMAGE_LABELS), match)
refuse(E, "values", "beyond float32",
       lambda: nets.ImageClassifier(max_epochs=1).fit(IMAGES.astype(np.float64) * 1e300,
                                                      IMAGE_LABELS), r"float32's range")
refuse(E, "values", "NaN", lambda: nets.ImageClassifier(max_epochs=1).fit(with_nan(IMAGES),
                                                                           IMAGE_LABELS), r"NaN")
refuse(E, "values", "predict beyond float32",
       lambda: fitted_classifier().predict(IMAGES.astype(np.float64) * 1e300), r"float32's range")
refuse(E, "labels", "NaN", lambda: nets.ImageClassifier(max_epochs=1)
       .fit(IMAGES, np.where(IMAGE_LABELS, np.nan, 0.0)), r"NaN")
refuse(E, "labels", "single class", lambda: nets.ImageClassifier(max_epochs=1)
       .fit(IMAGES, np.zeros(24)), r"at least 2 classes")
refuse(E, "labels", "continuous", lambda: nets.ImageClassifier(max_epochs=1)
       .fit(IMAGES, RNG.rand(24)), r"continuous|classification")
refuse(E, "labels", "more classes than the module's outputs",
       lambda: nets.ImageClassifier(module=torch.nn.Sequential(torch.nn.Flatten(),
                                                               torch.nn.Linear(64, 2)),
                                    max_epochs=1).fit(IMAGES, np.arange(24) % 3),
       r"must return \(1, 3\)")
refuse(E, "size", "empty", lambda: nets.ImageClassifier(max_epochs=1).fit(IMAGES[:0], []),
       r"0 sample")
refuse(E, "shape", "images below 8x8", lambda: nets.ImageClassifier(max_epochs=1)
       .fit(RNG.rand(24, 4, 4), IMAGE_LABELS), r"at least 8x8")
refuse(E, "shape", "sparse", lambda: nets.ImageClassifier(max_epochs=1)
       .fit(sp.csr_matrix(IMAGES.reshape(24, -1)), IMAGE_LABELS), r"sparse")
refuse(E, "dtype", "complex", lambda: nets.ImageClassifier(max_epochs=1)
       .fit(IMAGES + 1j, IMAGE_LABELS), r"complex")
refuse(E, "not fitted", "predict", lambda: nets.ImageClassifier().predict(IMAGES), r"not",
       (NotFittedError, AttributeError))
accept(E, "dtype", "float64 predicts as float32",
       lambda: fitted_classifier().predict_proba(IMAGES.astype(np.float64)),
       equal_to(fitted_classifier().predict_proba(IMAGES), rtol=1e-6))
accept(E, "pickle", "fitted round trip", lambda: pickled(fitted_classifier()).predict_proba(IMAGES),
       equal_to(fitted_classifier().predict_proba(IMAGES), rtol=1e-6))

E = "nets.build_model"
for kw, match in ((dict(width=np.inf), "finite"), (dict(width=True), "width"),
                  (dict(depth=1.5), "depth"), (dict(depth=10**6), "memory"),
                  (dict(n_classes=1), "n_classes"), (dict(n_classes=10**9), "memory"),
                  (dict(in_channels=0), "in_channels"), (dict(input_size=2), "at least 8"),
                  (dict(dropout=-1), "dropout"), (dict(stem="x"), "stem")):
    refuse(E, "params", repr(kw), lambda kw=kw: nets.build_model("vgg13", **kw), match)
refuse(E, "params", "unknown architecture", lambda: nets.build_model("resnet1"), r"arch")

E = "datasets.stratified_subset"
refuse(E, "params", "size=0", lambda: ds.stratified_subset(Y, 0), r"between 2")
refuse(E, "params", "huge size", lambda: ds.stratified_subset(Y, 10**9), r"between 2")
refuse(E, "params", "float size", lambda: ds.stratified_subset(Y, 2.5), r"between 2")
refuse(E, "labels", "NaN", lambda: ds.stratified_subset(np.where(Y, np.nan, 0.0), 4), r"NaN")
refuse(E, "labels", "mixed", lambda: ds.stratified_subset(
    np.array([1, "a"] * 20, dtype=object), 4), r"mix types")
accept(E, "labels", "one of each class", lambda: np.sort(Y[ds.stratified_subset(Y, 2)]),
       equal_to([0, 1]))
refuse(E, "params", "allocation='equal'", lambda: ds.stratified_subset(Y, 4, allocation="equal"),
       r"allocation")
refuse(E, "params", "fraction 0", lambda: ds.stratified_subset(Y, 0.0), r"fraction in \(0, 1\]")
refuse(E, "labels", "balanced beyond the smaller class", lambda: ds.stratified_subset(
    np.repeat([0, 1], [30, 3]), 10, allocation="balanced"), r"class 1 has 3")
accept(E, "params", "fraction 1.0 is every sample", lambda: ds.stratified_subset(Y, 1.0),
       equal_to(np.arange(len(Y))))

E = "study.dataset_properties"
PROPS = dict(n_draws=2, dimension=IntrinsicDimension(k=5, n_bootstrap=0), random_state=0)
refuse(E, "params", "not a mapping", lambda: study.dataset_properties([X], **PROPS), r"mapping")
refuse(E, "params", "empty mapping", lambda: study.dataset_properties({}, **PROPS), r"empty")
refuse(E, "params", "name not a string", lambda: study.dataset_properties({1: (X, Y)}, **PROPS),
       r"names")
refuse(E, "params", "n_reference above the smallest dataset",
       lambda: study.dataset_properties({"a": (X, Y), "b": (X[:20], Y[:20])}, n_reference=30,
                                        **PROPS), r"n_reference=30")
refuse(E, "params", "n_reference=True",
       lambda: study.dataset_properties({"a": (X, Y)}, n_reference=True, **PROPS), r"int")
refuse(E, "labels", "single class",
       lambda: study.dataset_properties({"a": (X, np.zeros(40))}, **PROPS), r"single class")
refuse(E, "shape", "labels of another length",
       lambda: study.dataset_properties({"a": (X, Y[:5])}, **PROPS), r"one label per image")
refuse(E, "values", "NaN", lambda: study.dataset_properties({"a": (with_nan(X), Y)}, **PROPS),
       r"NaN")
accept(E, "size", "the common size is the smallest dataset",
       lambda: study.dataset_properties({"a": (X, Y), "b": (X[:20], Y[:20])}, **PROPS)
       .table["n_reference"].tolist(), equal_to([20, 20]))
accept(E, "values", "K_F at the full size is exact",
       lambda: study.dataset_properties({"a": (X, Y)}, **PROPS).table["K_F"].iloc[0],
       equal_to(brute_sharpness(X, Y)))

E = "study.correlate_across_datasets"
TABLE = pd.DataFrame({"K_F": [1.0, 2.0, 3.0, 4.0], "y": [0.1, 0.3, 0.2, 0.5]})
refuse(E, "params", "missing column",
       lambda: study.correlate_across_datasets(TABLE, "K_F", ["nope"]), r"nope")
accept(E, "size", "two datasets: NaN, with a warning",
       lambda: study.correlate_across_datasets(TABLE[:2], "K_F", ["y"])["r"].isna().all(),
       equal_to(True))
accept(E, "values", "a constant outcome has no r",
       lambda: study.correlate_across_datasets(TABLE.assign(y=1.0), "K_F", ["y"])["r"]
       .isna().all(), equal_to(True))
accept(E, "values", "NaN rows are left out",
       lambda: study.correlate_across_datasets(
           pd.concat([TABLE, pd.DataFrame({"K_F": [np.nan], "y": [1.0]})]), "K_F", ["y"])
       ["n_datasets"].tolist(), equal_to([4, 4]))

for fn, name in ((nets.layer_names, "layer_names"), (nets.penultimate_layer, "penultimate_layer"),
                 (nets.profile_layers, "profile_layers")):
    refuse(f"nets.{name}", "params", "not a network", lambda fn=fn: fn(3), r"module|network|net")
refuse("nets.get_layer", "params", "unknown layer", lambda: nets.get_layer(net(), "nope"),
       r"nope")
refuse("nets.get_layer", "params", "layer given as an int", lambda: nets.get_layer(net(), 3),
       r"layer|name")
refuse("nets.layer_depth", "params", "unknown layer", lambda: nets.layer_depth(net(), "nope"),
       r"nope")
refuse("nets.resolve_layers", "params", "unknown layer",
       lambda: nets.resolve_layers(net(), ["nope"]), r"nope")
refuse("nets.resolve_layers", "params", "no layer", lambda: nets.resolve_layers(net(), []),
       r"layer")
refuse("nets.capture_outputs", "params", "unknown layer",
       lambda: nets.capture_outputs(net(), ["nope"]).__enter__(), r"nope")
refuse("nets.eval_mode", "params", "not a network", lambda: nets.eval_mode(3).__enter__(),
       r"module|network|net")
E = "nets.extract_features"
LAYER = "features"
refuse(E, "params", "unknown layer", lambda: nets.extract_features(net(), IMAGES, ["nope"]),
       r"nope")
refuse(E, "values", "NaN", lambda: nets.extract_features(net(), with_nan(IMAGES), [LAYER]),
       r"NaN")
refuse(E, "dtype", "complex", lambda: nets.extract_features(net(), IMAGES + 1j, [LAYER]),
       r"complex|numeric|real")
refuse(E, "params", "batch_size=0",
       lambda: nets.extract_features(net(), IMAGES, [LAYER], batch_size=0), r"batch_size")
refuse(E, "params", "device='tpu'",
       lambda: nets.extract_features(net(), IMAGES, [LAYER], device="tpu"), r"torch device")
refuse(E, "shape", "flat rows", lambda: nets.extract_features(net(), RNG.rand(3, 5), [LAYER]),
       r"shape|input")

# =========================================================================== diffeo functions

E = "diffeo.random_diffeo"
refuse(E, "params", "cutoff=1e6", lambda: df.random_diffeo(IMAGES[:1], 1e-3, 1e6),
       r"cutoff <= 7")
refuse(E, "params", "cutoff=3000 on 12x12", lambda: df.random_diffeo(RNG.rand(1, 12, 12), 1e-3,
                                                                     3000), r"cutoff <= 11")
refuse(E, "params", "negative temperature", lambda: df.random_diffeo(IMAGES, -1, 3),
       r"temperature")
refuse(E, "params", "NaN temperature", lambda: df.random_diffeo(IMAGES, np.nan, 3),
       r"temperature")
refuse(E, "params", "cutoff=True", lambda: df.random_diffeo(IMAGES, 1e-3, True), r"cutoff")
refuse(E, "values", "NaN images", lambda: df.random_diffeo(with_nan(IMAGES), 1e-3, 3), r"NaN")
refuse(E, "dtype", "complex", lambda: df.random_diffeo(IMAGES + 1j, 1e-3, 3), r"real numbers")
refuse(E, "dtype", "text", lambda: df.random_diffeo(IMAGES.astype(str), 1e-3, 3), r"real")
refuse(E, "shape", "1-D", lambda: df.random_diffeo(IMAGES[:, 0, 0, 0], 1e-3, 3), r"shape")
refuse(E, "shape", "5-D", lambda: df.random_diffeo(IMAGES[:, None], 1e-3, 3), r"shape")
refuse(E, "shape", "not square", lambda: df.random_diffeo(RNG.rand(2, 8, 9), 1e-3, 3),
       r"square")
refuse(E, "size", "2x2 images", lambda: df.random_diffeo(RNG.rand(2, 2, 2), 1e-3, 3),
       r"at least 3x3")
accept(E, "values", "T=0 is the identity", lambda: df.random_diffeo(IMAGES, 0, 3),
       equal_to(IMAGES))
accept(E, "dtype", "uint8 as float64",
       lambda: df.random_diffeo(GRAY, 1e-3, 3, random_state=1),
       equal_to(df.random_diffeo(GRAY.astype(np.float64), 1e-3, 3, random_state=1)))

E = "diffeo.matched_noise"
refuse(E, "dtype", "complex", lambda: df.matched_noise(IMAGES + 1j, IMAGES), r"real numbers")
refuse(E, "values", "NaN", lambda: df.matched_noise(with_nan(IMAGES), IMAGES), r"NaN")
refuse(E, "shape", "different shapes", lambda: df.matched_noise(IMAGES, IMAGES[:3]),
       r"same shape")
accept(E, "values", "norms match", lambda: np.linalg.norm(
    df.matched_noise(IMAGES, IMAGES + 1, random_state=0).reshape(24, -1), axis=1),
    equal_to(np.full(24, 8.0), rtol=1e-6))

E = "diffeo.sparse_moves"
refuse(E, "dtype", "text", lambda: df.sparse_moves(GRAY.astype(str)), r"real numbers")
refuse(E, "values", "NaN", lambda: df.sparse_moves(with_nan(GRAY)), r"NaN")
refuse(E, "shape", "5-D", lambda: df.sparse_moves(GRAY[:, None, None]), r"spatial")
refuse(E, "params", "block_size=0", lambda: df.sparse_moves(RNG.rand(3, 10), block_size=0),
       r"block_size")
refuse(E, "params", "spatial_ndim=3", lambda: df.sparse_moves(RNG.rand(3, 10), spatial_ndim=3),
       r"spatial_ndim")
SPARSE = np.zeros((4, 8, 8))
SPARSE[:, 2, 3] = 1.0
SPARSE[:, 5, 5] = 2.0
accept(E, "values", "active pixels are kept",
       lambda: np.sort(df.sparse_moves(SPARSE, random_state=0).reshape(4, -1), axis=1)[:, -2:],
       equal_to(np.tile([1.0, 2.0], (4, 1))))

for name, fn, args, match in (
        ("temperature_range", df.temperature_range, (2, 3), "at least 3x3"),
        ("temperature_range", df.temperature_range, (8, 1), "cutoff"),
        ("typical_temperature", df.typical_temperature, (-1, 3, 8), "delta"),
        ("typical_temperature", df.typical_temperature, (np.nan, 3, 8), "delta"),
        ("typical_displacement", df.typical_displacement, (-1, 3, 8), "temperature"),
        ("typical_displacement", df.typical_displacement, (np.nan, 3, 8), "temperature"),
        ("typical_displacement", df.typical_displacement, (1e-3, 1, 8), "cutoff"),
        ("typical_displacement", df.typical_displacement, (1e-3, 3, -8), "at least 3x3")):
    refuse(f"diffeo.{name}", "params", repr(args), lambda fn=fn, args=args: fn(*args), match)
accept("diffeo.typical_displacement", "values", "inverse of typical_temperature",
       lambda: df.typical_displacement(df.typical_temperature(1.5, 3, 16), 3, 16),
       equal_to(1.5))

E = "diffeo.constant_filter_sensitivity"
refuse(E, "params", "n_input=1e12", lambda: df.constant_filter_sensitivity(10**12), r"memory")
refuse(E, "params", "n_input=0", lambda: df.constant_filter_sensitivity(0), r"n_input")
refuse(E, "params", "stride=0", lambda: df.constant_filter_sensitivity(stride=0), r"stride")
refuse(E, "params", "more layers than sites",
       lambda: df.constant_filter_sensitivity(8, 5, boundary="open"), r"no output|tile")
E = "diffeo.depth_scaling_exponents"
refuse(E, "params", "a list", lambda: df.depth_scaling_exponents([1, 2]),
       r"lacks the columns \['depth'\]")
refuse(E, "params", "a string", lambda: df.depth_scaling_exponents("D"), r"DataFrame")
refuse(E, "params", "an empty frame", lambda: df.depth_scaling_exponents(pd.DataFrame()),
       r"lacks the columns \['depth'\]")
refuse(E, "values", "zero D", lambda: df.depth_scaling_exponents(
    pd.DataFrame({"depth": [1, 2, 3], "D": [1.0, 0.0, 0.5]})), r"finite and > 0")
refuse(E, "params", "k_min > k_max", lambda: df.depth_scaling_exponents(
    df.constant_filter_sensitivity(), k_min=4, k_max=2), r"at least 2 depths")
refuse("diffeo.shuffle_channels", "params", "not a network", lambda: df.shuffle_channels(3),
       r"module|network|net")
refuse("diffeo.spatial_pooling_share", "params", "not a network",
       lambda: df.spatial_pooling_share("x"), r"module|network|net|architecture")
refuse("diffeo.spatial_pooling_share", "params", "unknown layer",
       lambda: df.spatial_pooling_share(net(), layers=["nope"]), r"nope")

# =========================================================================== datasets

E = "datasets.ReferencePreprocessor"
refuse(E, "params", "size=100000", lambda: ds.ReferencePreprocessor(size=100000).fit(GRAY),
       r"memory.*smaller size")
refuse(E, "params", "size=True", lambda: ds.ReferencePreprocessor(size=True).fit(GRAY), r"size")
refuse(E, "params", "size=0", lambda: ds.ReferencePreprocessor(size=0).fit(GRAY), r"size")
refuse(E, "params", "channels=5", lambda: ds.ReferencePreprocessor(channels=5).fit(GRAY),
       r"channels")
refuse(E, "values", "negative", lambda: ds.ReferencePreprocessor().fit(-X), r"Negative")
refuse(E, "values", "NaN", lambda: ds.ReferencePreprocessor().fit(with_nan(GRAY)), r"NaN")
refuse(E, "size", "empty", lambda: ds.ReferencePreprocessor().fit(GRAY[:0]), r"0 sample")
refuse(E, "shape", "5-D", lambda: ds.ReferencePreprocessor().fit(GRAY[:, None, None]),
       r"\(n, H, W\)")
refuse(E, "shape", "other image shape",
       lambda: ds.ReferencePreprocessor().fit(GRAY).transform(RNG.rand(3, 9, 9)), r"shape")
refuse(E, "not fitted", "transform", lambda: ds.ReferencePreprocessor().transform(GRAY),
       r"not fitted", (NotFittedError,))
for name, dtype in (("uint16", np.uint16), ("bool", bool), ("int8", np.int8)):
    small = (GRAY // 2).astype(dtype)
    accept(E, "dtype", name, lambda small=small: ds.ReferencePreprocessor().fit_transform(small),
           equal_to(ds.ReferencePreprocessor().fit_transform(small.astype(np.float64)),
                    rtol=1e-6))
accept(E, "pickle", "fitted round trip",
       lambda: pickled(ds.ReferencePreprocessor(size=4).fit(GRAY)).transform(GRAY),
       equal_to(ds.ReferencePreprocessor(size=4).fit_transform(GRAY)))

E = "datasets.binary_task"
refuse(E, "labels", "mixed", lambda: ds.binary_task(X, np.array([1, "a"] * 20, dtype=object)),
       r"mix types")
refuse(E, "labels", "NaN", lambda: ds.binary_task(X, np.where(Y, np.nan, 0.0)), r"NaN")
refuse(E, "labels", "single class", lambda: ds.binary_task(X, np.zeros(40)), r"single class")
refuse(E, "labels", "2-D", lambda: ds.binary_task(X, np.c_[Y, Y]), r"1-D")
refuse(E, "params", "n_per_class=0", lambda: ds.binary_task(X, Y, n_per_class=0), r"n_per_class")
refuse(E, "params", "huge n_per_class", lambda: ds.binary_task(X, Y, n_per_class=10**9),
       r"not enough samples")
refuse(E, "params", "twice one class", lambda: ds.binary_task(X, Y, classes=(0, 0)),
       r"distinct")
refuse(E, "size", "empty", lambda: ds.binary_task(np.empty((0, 3)), np.empty(0)),
       r"single class")
accept(E, "labels", "float labels", lambda: np.bincount(
    ds.binary_task(X, Y + 0.5, random_state=0)[1]), equal_to([20, 20]))

for name, fn, args in (("make_sphere", ds.make_sphere, (10, 2)),
                       ("make_hypercube", ds.make_hypercube, (10, 2)),
                       ("make_linear_manifold", ds.make_linear_manifold, (10, 2, 3))):
    E = f"datasets.{name}"
    refuse(E, "params", "n_samples=0", lambda fn=fn, a=args: fn(0, *a[1:]), r"n_samples")
    refuse(E, "params", "float n_samples", lambda fn=fn, a=args: fn(10.5, *a[1:]), r"n_samples")
    refuse(E, "params", "bool n_samples", lambda fn=fn, a=args: fn(True, *a[1:]), r"n_samples")
    refuse(E, "params", "huge n_samples", lambda fn=fn, a=args: fn(10**12, *a[1:]), r"memory")
    refuse(E, "params", "dimension=-1", lambda fn=fn, a=args: fn(a[0], -1, *a[2:]), r"dimension")
    accept(E, "size", "one sample", lambda fn=fn, a=args: fn(1, *a[1:], random_state=0).shape[0],
           equal_to(1))
refuse("datasets.make_linear_manifold", "params", "noise=NaN",
       lambda: ds.make_linear_manifold(10, 2, 3, noise=np.nan), r"noise")
refuse("datasets.make_linear_manifold", "params", "noise=-1",
       lambda: ds.make_linear_manifold(10, 2, 3, noise=-1), r"noise")
accept("datasets.make_sphere", "values", "on the unit sphere",
       lambda: np.linalg.norm(ds.make_sphere(20, 3, 6, random_state=0), axis=1),
       equal_to(np.ones(20)))
for kw, match in ((dict(n_samples=0), "n_samples"), (dict(d=10**6), "memory"),
                  (dict(xi=0), "xi"), (dict(norm="x"), "norm"), (dict(test_size=2.0), "test_size")):
    refuse("datasets.make_scale_detection", "params", repr(kw),
           lambda kw=kw: ds.make_scale_detection(**kw), match)
for kw, match in ((dict(n_samples=0), "n_samples"), (dict(length=10**10), "memory"),
                  (dict(xi=0), "xi"), (dict(task=3), "task")):
    refuse("datasets.make_scale_detection_1d", "params", repr(kw),
           lambda kw=kw: ds.make_scale_detection_1d(**kw), match)

# =========================================================================== Displays

for name, make in (("DimensionProfileDisplay", lambda v: pl.DimensionProfileDisplay(profile=v)),
                   ("SensitivityDisplay", lambda v: pl.SensitivityDisplay(tables={"a": v})),
                   ("RobustnessCurveDisplay", lambda v: pl.RobustnessCurveDisplay(curve=v)),
                   ("ScalingLawDisplay", lambda v: pl.ScalingLawDisplay(dimension=v,
                                                                       log_loss=v)),
                   ("SharpnessRobustnessDisplay",
                    lambda v: pl.SharpnessRobustnessDisplay(sharpness=v, delta_loss=v))):
    for what, value in (("a string", "abc"), ("None", None), ("an int", 3),
                        ("a 2-D array", np.zeros((3, 3))), ("a list of text", ["a", "b"])):
        refuse(f"plotting.{name}", "dtype", what, lambda make=make, v=value: make(v).plot(),
               r"DataFrame|1-d array|lacks the columns|>= 3")
refuse("plotting.SensitivityDisplay", "params", "models is a list",
       lambda: pl.SensitivityDisplay.from_models([net()], IMAGES, layers=[LAYER]), r"dict")
refuse("plotting.SensitivityDisplay", "params", "tables is a list",
       lambda: pl.SensitivityDisplay(tables=[1]).plot(), r"dict")
refuse("plotting.SensitivityDisplay", "not fitted", "from an unfitted estimator",
       lambda: pl.SensitivityDisplay.from_estimator(DiffeoSensitivity(net())), r"not a fitted")
refuse("plotting.DimensionProfileDisplay", "not fitted", "from an unfitted estimator",
       lambda: pl.DimensionProfileDisplay.from_estimator(RepresentationDimension(net())),
       r"no profile_")
for name in ("ScalingLawDisplay", "SharpnessRobustnessDisplay"):
    refuse(f"plotting.{name}", "params", "from_study of a string",
           lambda name=name: getattr(pl, name).from_study("x"), r"Bunch returned by")
refuse("plotting.ScalingLawDisplay", "params", "from_estimator of a string",
       lambda: pl.ScalingLawDisplay.from_estimator("x", LAW_X, LAW_Y), r"ScalingLawRegressor")
refuse("plotting.ScalingLawDisplay", "values", "losses <= 0",
       lambda: pl.ScalingLawDisplay.from_estimator(fitted_law()[0], LAW_X, -LAW_Y), r"> 0")
refuse("plotting.RobustnessCurveDisplay", "params", "unknown metric",
       lambda: pl.RobustnessCurveDisplay(curve=pd.DataFrame(
           {"attack": ["fgsm"], "norm": ["linf"], "epsilon": [0.1]}), metric="x").plot(),
       r"metric")
refuse("plotting.SharpnessRobustnessDisplay", "values", "NaN",
       lambda: pl.SharpnessRobustnessDisplay(sharpness=[1.0, np.nan, 3, 4],
                                             delta_loss=[1.0, 2, 3, 4]).plot(), r"NaN")
refuse("plotting.SharpnessRobustnessDisplay", "values", "constant sharpness",
       lambda: pl.SharpnessRobustnessDisplay(sharpness=[1.0, 1, 1, 1],
                                             delta_loss=[1.0, 2, 3, 4]).plot(), r"constant")
refuse("plotting.ScalingLawDisplay", "values", "NaN",
       lambda: pl.ScalingLawDisplay(dimension=[1.0, np.nan], log_loss=[1.0, 2]).plot(), r"NaN")
refuse("plotting.ScalingLawDisplay", "shape", "lengths differ",
       lambda: pl.ScalingLawDisplay(dimension=[1.0, 2, 3], log_loss=[1.0, 2]).plot(),
       r"one value per point")
accept("plotting.SharpnessRobustnessDisplay", "values", "Pearson r of a line",
       lambda: pl.SharpnessRobustnessDisplay(sharpness=[1.0, 2, 3],
                                             delta_loss=[2.0, 4, 6]).plot().r_,
       equal_to(1.0))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


# ---------------------------------------------------------------- None and ragged, everywhere
for entry, call in (
        ("IntrinsicDimension", lambda v: _id().fit(v)),
        ("LabelSharpness", lambda v: LabelSharpness().fit(v, Y)),
        ("datasets.ReferencePreprocessor", lambda v: ds.ReferencePreprocessor().fit(v)),
        ("DiffeoTransformer", lambda v: DiffeoTransformer().fit(v)),
        ("DiffeoSensitivity", lambda v: DiffeoSensitivity(net()).fit(v)),
        ("nets.ImageClassifier", lambda v: nets.ImageClassifier(max_epochs=1).fit(v, Y[:2])),
        ("diffeo.random_diffeo", lambda v: df.random_diffeo(v, 1e-3, 3)),
        ("diffeo.matched_noise", lambda v: df.matched_noise(v, v)),
        ("diffeo.sparse_moves", lambda v: df.sparse_moves(v)),
        ("nets.extract_features", lambda v: nets.extract_features(net(), v, [LAYER])),
        ("RobustnessScorer", lambda v: RobustnessScorer()(net(), v, Y[:2])),
        ("datasets.binary_task", lambda v: ds.binary_task(v, v))):
    refuse(entry, "dtype", "None", lambda call=call: call(None),
           r"2D array|real numbers|numeric|1-D|dtype object|scalar")
    refuse(entry, "shape", "ragged rows", lambda call=call: call([[1.0, 2.0], [3.0]]),
           r"ragged|inhomogeneous|same length|real numbers|numeric|dtype object|1-D")
refuse("datasets.load_image_folder", "params", "path=None", lambda: ds.load_image_folder(None),
       r"folder path")
refuse("datasets.load_mnist", "params", "data_home=3", lambda: ds.load_mnist(data_home=3),
       r"folder path")
refuse("datasets.load_medmnist", "params", "name=None", lambda: ds.load_medmnist(None),
       r"unknown MedMNIST dataset")

# =========================================================================== the table runs

@pytest.mark.parametrize("case", CASES,
                         ids=[f"{c.entry}|{c.kind}|{c.what}"[:90] for c in CASES])
def test_case(case):
    if case.refuse is not None:
        assert_refused(case.call, case.refuse, case.types)
    else:
        case.check(run_quietly(case.call))


# =========================================================================== hypothesis

_DTYPES = ("float64", "float32", "int8", "uint16", "bool", "complex128", "object", "str")


@st.composite
def hostile_arrays(draw, max_rows=14):
    """Arrays of random size, shape and dtype, sometimes holding NaN or inf."""
    n = draw(st.integers(0, max_rows))
    tail = draw(st.sampled_from([(), (3,), (4,), (1, 3), (2, 2, 1), (0,)]))
    values = draw(st.integers(0, 2**31 - 1))
    A = np.random.RandomState(values).rand(n, *tail) * 100
    if draw(st.booleans()) and A.size:
        A.flat[draw(st.integers(0, A.size - 1))] = draw(st.sampled_from([np.nan, np.inf]))
    dtype = draw(st.sampled_from(_DTYPES))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return A.astype(dtype) if dtype != "bool" else A > 50


def _as_float(A):
    """The float64 oracle input, or None when no honest float64 version exists."""
    try:
        F = np.asarray(A, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if np.iscomplexobj(A) or not np.isfinite(F).all() or F.ndim < 2 or len(F) < 2:
        return None
    return F.reshape(len(F), -1)


@covers("IntrinsicDimension", "size", "values", "dtype", "shape")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(A=hostile_arrays())
def test_intrinsic_dimension_on_hostile_arrays(A):
    est = _id(k=3)
    try:
        result = run_quietly(lambda: est.fit(A).dimension_)
    except REFUSALS:
        assert_refused(lambda: _id(k=3).fit(A), r".")  # our own error, whatever it says
        return
    F = _as_float(A)
    assert F is not None, f"accepted input without an honest float64 version: {A!r}"
    assert result == pytest.approx(run_quietly(lambda: _id(k=3).fit(F).dimension_))


@covers("LabelSharpness", "size", "values", "dtype", "shape", "labels")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(A=hostile_arrays(), labels=st.sampled_from(["int", "float", "nan", "text", "mixed",
                                                   "single", "bool"]))
def test_label_sharpness_on_hostile_arrays(A, labels):
    n = len(A)
    y = {"int": np.arange(n) % 2, "float": np.arange(n) % 2 + 0.25,
         "nan": np.where(np.arange(n) % 2, np.nan, 0.0), "text": np.array(["a", "b"] * n)[:n],
         "mixed": np.array([1, "a"] * n, dtype=object)[:n], "single": np.zeros(n),
         "bool": np.arange(n) % 2 == 1}[labels]
    try:
        result = run_quietly(lambda: LabelSharpness().fit(A, y).sharpness_)
    except REFUSALS:
        assert_refused(lambda: LabelSharpness().fit(A, y), r".")
        return
    F = _as_float(A)
    assert F is not None and labels not in ("nan", "mixed", "single"), (A, y)
    assert result == pytest.approx(brute_sharpness(F, np.asarray(y)))


@covers("datasets.ReferencePreprocessor", "size", "values", "dtype", "shape")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(A=hostile_arrays())
def test_reference_preprocessor_on_hostile_arrays(A):
    try:
        result = run_quietly(lambda: ds.ReferencePreprocessor().fit_transform(A))
    except REFUSALS:
        assert_refused(lambda: ds.ReferencePreprocessor().fit_transform(A), r".")
        return
    F = np.asarray(A, dtype=np.float64)
    assert np.isfinite(result).all()
    peak = F.reshape(len(F), -1).max(axis=1)
    expected = np.where(peak[:, None] > 0, F.reshape(len(F), -1) * 255 / np.where(
        peak > 0, peak, 1)[:, None], F.reshape(len(F), -1))
    np.testing.assert_allclose(result.reshape(len(F), -1), expected, rtol=1e-5, atol=1e-4)


_HOSTILE_NUMBERS = st.sampled_from([0, -1, -(2**63), 2**63, 10**12, True, False, 1.5, np.nan,
                                    np.inf, -np.inf, "x", None, [], (1,)])


def _params_call(target, value):
    """Build and run ``target`` with one hostile parameter; small, fast inputs."""
    calls = {
        "IntrinsicDimension.k": lambda v: _id(k=v).fit(X),
        "IntrinsicDimension.n_bootstrap": lambda v: _id(n_bootstrap=v).fit(X),
        "IntrinsicDimension.confidence_level": lambda v: _id(n_bootstrap=40,
                                                             confidence_level=v).fit(X),
        "IntrinsicDimension.n_jobs": lambda v: _id(n_jobs=v).fit(X),
        "LabelSharpness.n_jobs": lambda v: LabelSharpness(n_jobs=v).fit(X, Y),
        "LabelSharpness.n_pairs": lambda v: LabelSharpness(pairs="random", n_pairs=v)
        .fit(X, Y),
        "ReferencePreprocessor.size": lambda v: ds.ReferencePreprocessor(size=v).fit(GRAY),
        "DiffeoTransformer.delta": lambda v: DiffeoTransformer(delta=v).fit_transform(IMAGES),
        "DiffeoTransformer.cutoff": lambda v: DiffeoTransformer(cutoff=v).fit_transform(IMAGES),
        "DiffeoSensitivity.delta": lambda v: DiffeoSensitivity(net(), delta=v, n_probe=6)
        .fit(IMAGES),
        "DiffeoSensitivity.n_probe": lambda v: DiffeoSensitivity(net(), n_probe=v).fit(IMAGES),
        "random_diffeo.temperature": lambda v: df.random_diffeo(IMAGES, v, 3),
        "random_diffeo.cutoff": lambda v: df.random_diffeo(IMAGES, 1e-3, v),
        "build_model.width": lambda v: nets.build_model("small_cnn", width=v, input_size=8),
        "build_model.depth": lambda v: nets.build_model("small_cnn", depth=v, input_size=8),
        "build_model.n_classes": lambda v: nets.build_model("small_cnn", n_classes=v,
                                                            input_size=8),
        "make_sphere.n_samples": lambda v: ds.make_sphere(v, 2),
        "make_hypercube.dimension": lambda v: ds.make_hypercube(10, v),
        "binary_task.n_per_class": lambda v: ds.binary_task(X, Y, n_per_class=v),
        "stratified_subset.size": lambda v: ds.stratified_subset(Y, v),
        "temperature_range.n": lambda v: df.temperature_range(v, 3),
    }
    return lambda: calls[target](value), calls


_TARGETS = sorted(_params_call("IntrinsicDimension.k", 0)[1])


@covers("IntrinsicDimension", "params")
@covers("LabelSharpness", "params")
@covers("datasets.ReferencePreprocessor", "params")
@covers("DiffeoTransformer", "params")
@covers("DiffeoSensitivity", "params")
@covers("diffeo.random_diffeo", "params")
@covers("nets.build_model", "params")
@covers("datasets.make_sphere", "params")
@covers("datasets.make_hypercube", "params")
@covers("datasets.binary_task", "params")
@covers("datasets.stratified_subset", "params")
@covers("diffeo.temperature_range", "params")
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(target=st.sampled_from(_TARGETS), value=_HOSTILE_NUMBERS)
def test_hostile_parameter_values(target, value):
    """0, negative, bool, huge, NaN, text, None, containers: accepted or our own error."""
    call, _ = _params_call(target, value)
    try:
        run_quietly(call)
    except REFUSALS:
        assert_refused(call, r".")


# =========================================================================== files

@pytest.fixture
def idx_files(tmp_path):
    """A good IDX pair, and broken copies of the images file."""
    header = np.array([2051, 12, 8, 8], dtype=">u4").tobytes()
    good = gzip.compress(header + GRAY.tobytes())
    (tmp_path / "good-images-idx3-ubyte.gz").write_bytes(good)
    labels = gzip.compress(np.array([2049, 12], dtype=">u4").tobytes()
                           + (np.arange(12) % 2).astype(np.uint8).tobytes())
    broken = {"truncated": good[: len(good) // 2],
              "corrupt": good[:len(good) // 2] + bytes([good[len(good) // 2] ^ 0xFF])
              + good[len(good) // 2 + 1:],
              "bomb": gzip.compress(np.array([2051, 2**32 - 1, 2**16, 2**16],
                                             dtype=">u4").tobytes() + bytes(100)),
              "short": header + GRAY.tobytes()[:100]}
    for name, content in {"good": good, **broken}.items():
        (tmp_path / f"{name}-images-idx3-ubyte.gz").write_bytes(content)
        (tmp_path / f"{name}-labels-idx1-ubyte.gz").write_bytes(labels)
    return tmp_path


@covers("datasets.load_mnist", "files", "params", "size")
@pytest.mark.parametrize("name, match", [("truncated", r"truncated or corrupted"),
                                         ("corrupt", r"truncated or corrupted.*CRC"),
                                         ("bomb", r"announces .* more than its \d+ bytes"),
                                         ("short", r"more than its \d+ bytes can hold")])
def test_broken_idx_files_are_named(idx_files, name, match, monkeypatch):
    from skintrinsic.datasets import _fetch, _loaders

    path = idx_files / f"{name}-images-idx3-ubyte.gz"
    message = assert_refused(lambda: _loaders._read_idx(path, 2051, 3), match)
    assert str(path) in message
    # through the loader: the file stands in for the registered MNIST test images
    for official, local in (("mnist-t10k-images-idx3-ubyte.gz", path),
                            ("mnist-t10k-labels-idx1-ubyte.gz",
                             idx_files / f"{name}-labels-idx1-ubyte.gz")):
        home = idx_files / "home"
        home.mkdir(exist_ok=True)
        (home / official).write_bytes(local.read_bytes())
        md5 = _fetch.file_md5(home / official)
        monkeypatch.setitem(_fetch.REGISTRY, official, _fetch.REGISTRY[official].__class__(
            official, ("http://127.0.0.1:9/",), (md5,), 10**9))
    assert_refused(lambda: ds.load_mnist(data_home=idx_files / "home",
                                         download_if_missing=False), match)


def test_a_highly_compressed_idx_file_is_read_without_a_second_copy(tmp_path):
    """A gz that inflates 1000-fold is read into the array in chunks, not via a full copy."""
    import tracemalloc

    from skintrinsic.datasets import _loaders

    n_images = 80_000  # 62.7 MB of zeros from a 61 kB file
    with gzip.open(tmp_path / "z-images-idx3-ubyte.gz", "wb") as f:
        f.write(np.array([2051, n_images, 28, 28], dtype=">u4").tobytes())
        for _ in range(n_images // 1000):
            f.write(bytes(784 * 1000))
    tracemalloc.start()
    try:
        images = _loaders._read_idx(tmp_path / "z-images-idx3-ubyte.gz", 2051, 3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert images.shape == (n_images, 28, 28) and not images.any()
    assert peak < 1.2 * images.nbytes  # was 2x: gzip's readinto built a full copy first


def test_load_mnist_options(tmp_path):
    assert_refused(lambda: ds.load_mnist("validation", data_home=tmp_path), r"subset")
    (tmp_path / "afile").write_text("x")
    assert_refused(lambda: ds.load_mnist(data_home=tmp_path / "afile"), r"not a folder",
                   (OSError,))
    assert_refused(lambda: ds.load_mnist(data_home=tmp_path / "new", download_if_missing=False),
                   r"was not found", (OSError,))
    assert not (tmp_path / "new").exists()  # a failed load leaves no folder behind


@covers("datasets.get_data_home", "params", "files")
def test_get_data_home_hostile(tmp_path):
    (tmp_path / "afile").write_text("x")
    assert_refused(lambda: ds.get_data_home(tmp_path / "afile"), r"not a folder", (OSError,))
    assert_refused(lambda: ds.get_data_home(tmp_path / "afile" / "below"),
                   r"cannot create the data folder", (OSError,))
    assert_refused(lambda: ds.get_data_home(3), r"str|path|int", (TypeError,))


@covers("datasets.load_medmnist", "files", "labels", "params", "shape")
def test_load_medmnist_hostile_files(tmp_path):
    images = (RNG.rand(4, 8, 8) * 255).astype(np.uint8)

    def save(name, labels, **extra):
        arrays = {f"{s}_images": images for s in ("train", "val", "test")}
        arrays.update({f"{s}_labels": labels for s in ("train", "val", "test")}, **extra)
        np.savez(tmp_path / name, **arrays)
        return tmp_path / name

    good = save("good.npz", np.array([[0], [1], [0], [1]]))
    np.testing.assert_array_equal(ds.load_medmnist(good).target, [0, 1, 0, 1])
    assert_refused(lambda: ds.load_medmnist(save("f.npz", np.array([0.7, 1.9, -3.2, 1.0]))),
                   r"integer class indices.*0.7")
    assert_refused(lambda: ds.load_medmnist(save("n.npz", np.array([0, np.nan, 1, 0]))),
                   r"integer class indices.*nan")
    assert_refused(lambda: ds.load_medmnist(save("s.npz", np.array(["a", "b", "a", "b"]))),
                   r"integer class indices.*dtype")
    np.testing.assert_array_equal(  # integral floats are class indices
        ds.load_medmnist(save("i.npz", np.array([0.0, 1.0, 1.0, 0.0]))).target, [0, 1, 1, 0])
    (tmp_path / "trunc.npz").write_bytes(good.read_bytes()[:200])
    assert_refused(lambda: ds.load_medmnist(tmp_path / "trunc.npz"), r"truncated or corrupted")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04" + bytes(60))
    assert_refused(lambda: ds.load_medmnist(tmp_path / "junk.npz"), r"not a readable \.npz")
    np.savez(tmp_path / "pickled.npz", train_images=np.array([{"a": 1}] * 4, dtype=object),
             train_labels=np.zeros(4))
    assert_refused(lambda: ds.load_medmnist(tmp_path / "pickled.npz"), r"pickled")
    np.savez(tmp_path / "flat.npz", train_images=np.zeros(4), train_labels=np.zeros(4))
    assert_refused(lambda: ds.load_medmnist(tmp_path / "flat.npz"), r"shape")
    assert_refused(lambda: ds.load_medmnist("cifar10"), r"unknown MedMNIST dataset")
    assert_refused(lambda: ds.load_medmnist(good, split="validation"), r"split")
    assert_refused(lambda: ds.load_medmnist(good, size=True), r"size")


@covers("datasets.load_image_folder", "files", "params", "dtype", "size")
def test_load_image_folder_hostile(tmp_path):
    from PIL import Image

    def folder(name, images):
        for label, arrays in images.items():
            (tmp_path / name / label).mkdir(parents=True)
            for i, a in enumerate(arrays):
                Image.fromarray(a).save(tmp_path / name / label / f"{i}.png")
        return tmp_path / name

    gray8 = [GRAY[i] for i in range(3)]
    gray16 = [(GRAY[i].astype(np.uint16) * 257) for i in range(3)]
    mixed = folder("depth", {"a": gray8, "b": gray16})
    assert_refused(lambda: ds.load_image_folder(mixed), r"mix pixel types.*uint8.*uint16")
    sizes = folder("sizes", {"a": gray8, "b": [RNG.randint(0, 255, (9, 9), dtype=np.uint8)]})
    assert_refused(lambda: ds.load_image_folder(sizes), r"do not share one size.*size=")
    assert ds.load_image_folder(sizes, size=8).data.shape == (4, 8, 8)
    good = folder("good", {"a": gray8, "b": gray8})
    for size in (True, 0, -1, (8,), "8", 1.5):
        assert_refused(lambda size=size: ds.load_image_folder(good, size=size), r"size")
    assert_refused(lambda: ds.load_image_folder(good, size=10**6), r"memory")
    assert_refused(lambda: ds.load_image_folder(good, color_mode="cmyk"), r"color_mode")
    (good / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))
    assert_refused(lambda: ds.load_image_folder(good), r"cannot read the image .*broken\.png")
    assert_refused(lambda: ds.load_image_folder(tmp_path / "nope"), r"not a folder", (OSError,))
    (tmp_path / "empty").mkdir()
    assert_refused(lambda: ds.load_image_folder(tmp_path / "empty"), r"no class sub-folders")
    np.testing.assert_array_equal(ds.load_image_folder(folder("ok", {"a": gray8, "b": gray8}))
                                  .data, np.stack(gray8 + gray8))


# =========================================================================== command line

def cli(*args):
    """Run the command in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            status = cli_main([str(a) for a in args])
        except SystemExit as exc:  # argparse's usage errors
            status = exc.code
    return status, out.getvalue(), err.getvalue()


def assert_cli_refuses(args, match, *, usage=False):
    status, _, err = cli(*args)
    assert status == (2 if usage else 1), err
    assert "Traceback" not in err and "unexpected" not in err, err
    assert re.search(match, err, re.IGNORECASE | re.DOTALL), err
    return err


QUICK = ("--n-samples", 60, "--n-bootstrap", 0, "--quiet")


@covers("skintrinsic (command line)", "params")
@pytest.mark.parametrize("args, match", [
    (("--n-bootstrap", 1), r"--n-bootstrap: must be 0 \(no intervals\) or at least 10"),
    (("--n-bootstrap", 2), r"--n-bootstrap: must be 0"),
    (("--k", 2), r"--k: must be at least 3"),
    (("--size", 0), r"--size: must be a positive integer"),
    (("--n-samples", -5), r"--n-samples: must be a positive integer"),
    (("--n-draws", 0), r"--n-draws: must be a positive integer"),
    (("--n-samples", "1.5"), r"--n-samples"),
    (("--epochs", 0), r"--epochs"),
    (("--task", "three"), r"--task"),
    (("--seed", -1), r"--seed: must be between 0 and 2\*\*32 - 1"),
])
def test_cli_refuses_bad_arguments_before_any_work(args, match):
    assert_cli_refuses(("profile", "digits", *args), match, usage=True)


@pytest.fixture(scope="module")
def data_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    images = (np.random.RandomState(1).rand(60, 8, 8) * 255).astype(np.uint8)
    labels = np.arange(60) % 2
    arrays = {"ok": (images, labels), "nan": (with_nan(images), labels),
              "complex": (images + 1j, labels), "flat": (images[:, 0, 0], labels),
              "nanlabels": (images, np.where(labels, np.nan, 0.0)),
              "mixedlabels": (images, np.array([1, "a"] * 30)),
              "single": (images, np.zeros(60)), "empty": (images[:0], labels[:0])}
    for name, (A, y) in arrays.items():
        np.savez(root / f"{name}.npz", X=A, y=y)
    (root / "trunc.npz").write_bytes((root / "ok.npz").read_bytes()[:300])
    np.save(root / "objects.npy", np.array([1, "a"] * 30, dtype=object), allow_pickle=True)
    (root / "short.txt").write_text("1\n2\n")
    return root


@covers("skintrinsic (command line)", "files", "values", "dtype", "shape", "labels", "size")
@pytest.mark.parametrize("data, extra, match", [
    ("nope.npz", (), r"no such file or folder"),
    ("trunc.npz", (), r"trunc\.npz: cannot read it as an \.npz"),
    ("nan.npz", (), r"NaN"),
    ("complex.npz", (), r"complex"),
    ("flat.npz", (), r"one value each"),
    ("nanlabels.npz", (), r"labels contain NaN"),
    ("single.npz", (), r"a single class"),
    ("empty.npz", (), r"single class \(none\)"),
    ("ok.npz", ("--labels", "objects.npy"), r"--labels .*objects\.npy: cannot read"),
    ("ok.npz", ("--labels", "short.txt"), r"holds 2 labels for 60 images"),
    ("ok.npz", ("--device", "tpu"), r"not a torch device"),
    ("ok.npz", ("--size", 100000), r"memory"),
])
def test_cli_refuses_hostile_data_in_one_line(data_files, tmp_path, data, extra, match):
    extra = tuple(data_files / e if str(e).endswith((".npy", ".txt")) else e for e in extra)
    err = assert_cli_refuses(("profile", data_files / data, *extra, *QUICK, "--out",
                              tmp_path / "rep"), match)
    assert err.count("\n") == 1  # one line
    assert not (tmp_path / "rep").exists()  # nothing half-written
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@covers("skintrinsic (command line)", "files")
def test_cli_report_folder_is_replaced_only_whole_and_on_request(data_files, tmp_path):
    out = tmp_path / "rep"
    status, stdout, err = cli("profile", data_files / "ok.npz", *QUICK, "--out", out)
    assert status == 0, err
    first = sorted(p.name for p in out.iterdir())
    assert {"report.html", "report.json", "report.csv"} <= set(first)
    (out / "robustness.csv").write_text("stale")  # as an earlier --train run leaves
    assert_cli_refuses(("profile", "digits", *QUICK, "--out", out), r"already holds a report.*"
                       r"--overwrite")
    assert (out / "robustness.csv").read_text() == "stale"  # untouched
    status, stdout, err = cli("profile", "digits", *QUICK, "--out", out, "--overwrite")
    assert status == 0, err
    assert "replaced the earlier report" in stdout
    assert sorted(p.name for p in out.iterdir()) == first  # the stale file went with the old one
    assert '"digits"' in (out / "report.json").read_text()
    # a folder with anything else is never replaced, --overwrite or not
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    assert_cli_refuses(("profile", "digits", *QUICK, "--out", tmp_path / "mine",
                        "--overwrite"), r"not part of a report \(thesis\.tex\)")
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "x"
    # a failed run leaves the earlier report exactly as it was
    before = (out / "report.json").read_bytes()
    assert_cli_refuses(("profile", data_files / "nan.npz", *QUICK, "--out", out,
                        "--overwrite"), r"NaN")
    assert (out / "report.json").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@covers("skintrinsic (command line)", "values")
def test_cli_small_bootstrap_plots_and_interval_holds_estimate(data_files, tmp_path):
    """--n-bootstrap 10 (the minimum) draws its plots; each estimate lies in its interval."""
    import json

    status, _, err = cli("profile", "digits", "--n-samples", 80, "--n-bootstrap", 10, "--quiet",
                         "--out", tmp_path / "rep")
    assert status == 0, err
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    rows = [m for m in report["measures"] if m["quantity"] == "d_data"]
    assert len(rows) == 2
    for m in rows:
        assert m["ci_low"] <= m["value"] <= m["ci_high"]
    assert (tmp_path / "rep" / "dimensions.png").stat().st_size > 0


# =========================================================================== coverage

def public_names():
    """Every public callable: the package's and each subpackage's ``__all__``, and the command."""
    names = {n for n in skintrinsic.__all__ if n not in skintrinsic._SUBMODULES}
    for sub in ("datasets", "diffeo", "nets", "plotting", "study"):
        module = getattr(skintrinsic, sub)
        for n in module.__all__:
            if n in names or not callable(getattr(module, n)):
                continue  # a re-export is covered once; ARCHITECTURES is a tuple
            names.add(f"{sub}.{n}")
    return names | {"skintrinsic (command line)"}


def coverage_table():
    width = max(map(len, COVERAGE)) + 2
    lines = ["entry point".ljust(width) + " ".join(k[:6].ljust(6) for k in KINDS),
             "-" * (width + 7 * len(KINDS))]
    for entry in sorted(COVERAGE):
        lines.append(entry.ljust(width) + " ".join(
            ("x" if k in COVERAGE[entry] else ".").ljust(6) for k in KINDS))
    counts = defaultdict(int)
    for c in CASES:
        counts[c.entry] += 1
    lines.append(f"{len(CASES)} table cases, {len(COVERAGE)} entry points")
    return "\n".join(lines)


def test_every_public_name_is_covered():
    missing = sorted(public_names() - set(COVERAGE))
    assert missing == [], f"public entry points without hostile-input cases: {missing}"
    unknown = sorted(set(COVERAGE) - public_names())
    assert unknown == [], f"cases for names that are not public: {unknown}"
    # the estimators get every class that applies to them
    for entry in ("IntrinsicDimension", "LabelSharpness", "nets.ImageClassifier"):
        assert {"size", "values", "dtype", "shape", "params", "not fitted"} <= COVERAGE[entry]
    assert {"size", "values", "dtype", "shape", "labels"} <= COVERAGE["LabelSharpness"]


def test_coverage_table(capsys):
    table = coverage_table()
    with capsys.disabled():
        print("\n" + table)
    assert table.count("\n") >= len(public_names())


if __name__ == "__main__":  # pragma: no cover
    print(coverage_table())
    sys.exit(0)
