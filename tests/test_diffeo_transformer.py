"""DiffeoTransformer: scikit-learn conventions, image shapes, reproducibility, pipelines."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from skintrinsic import DiffeoTransformer
from skintrinsic.diffeo import random_diffeo, typical_temperature

_TABULAR = ("the checks feed tabular X with 1-10 features, which are not square images of side "
            ">= 3; the API it checks is tested on images below (pickle, clone, pipeline, dtypes, "
            "input untouched, idempotence, NaN, n_features_in_, not fitted)")
# every one fails for the same reason: fit raises on non-square tabular data
EXPECTED_FAILED = {name: _TABULAR for name in [
    "check_array_api_input",
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_preserve_dtypes",
]}


def _expected_failed(estimator):
    return EXPECTED_FAILED


@parametrize_with_checks([DiffeoTransformer(random_state=0)],
                         expected_failed_checks=_expected_failed)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture
def images():
    return np.random.default_rng(0).random((6, 2, 10, 10))


def test_transform_is_random_diffeo_at_the_typical_temperature(images):
    tr = DiffeoTransformer(delta=1.5, cutoff=5, random_state=3).fit(images)
    assert tr.temperature_ == pytest.approx(typical_temperature(1.5, 5, 10))
    expected = random_diffeo(images, tr.temperature_, 5, random_state=3)
    np.testing.assert_allclose(tr.transform(images), expected)
    assert tr.image_shape_ == (2, 10, 10) and tr.n_features_in_ == 200


def test_flat_rows_square_or_folded_by_image_shape(images):
    flat = images[:, 0].reshape(6, -1)
    tr = DiffeoTransformer(random_state=0).fit(flat)
    out = tr.transform(flat)
    assert out.shape == (6, 100)
    np.testing.assert_allclose(out.reshape(6, 10, 10),
                               random_diffeo(images[:, 0], tr.temperature_, 3, random_state=0))
    two = images.reshape(6, -1)
    with pytest.raises(ValueError, match="image_shape"):
        DiffeoTransformer().fit(two)
    tr = DiffeoTransformer(image_shape=(2, 10, 10), temperature=1e-3, random_state=0).fit(two)
    np.testing.assert_allclose(tr.transform(two).reshape(images.shape),
                               random_diffeo(images, 1e-3, 3, random_state=0))
    with pytest.raises(ValueError, match="image_shape"):
        DiffeoTransformer(image_shape=(3, 3)).fit(two)


def test_int_seed_repeats_and_random_state_instance_renews(images):
    tr = DiffeoTransformer(random_state=1).fit(images)
    assert np.array_equal(tr.transform(images), tr.transform(images))
    aug = DiffeoTransformer(random_state=np.random.RandomState(1)).fit(images)
    assert not np.allclose(aug.transform(images), aug.transform(images))


def test_dtype_kept_input_untouched_zero_temperature_identity(images):
    x32 = images.astype(np.float32)
    before = x32.copy()
    out = DiffeoTransformer(random_state=0).fit_transform(x32)
    assert out.dtype == np.float32 and np.array_equal(x32, before)
    same = DiffeoTransformer(temperature=0.0).fit_transform(images)
    assert np.array_equal(same, images)


def test_pickle_clone_and_pipeline(images):
    tr = DiffeoTransformer(random_state=2).fit(images)
    back = pickle.loads(pickle.dumps(tr))
    np.testing.assert_array_equal(back.transform(images), tr.transform(images))
    assert clone(tr).get_params() == tr.get_params()
    pipe = make_pipeline(DiffeoTransformer(random_state=2), FunctionTransformer(np.abs))
    np.testing.assert_allclose(pipe.fit_transform(images), np.abs(tr.transform(images)))


@pytest.mark.parametrize("params, X, match", [
    (dict(cutoff=1), np.zeros((3, 8, 8)), "cutoff"),
    (dict(temperature=-1.0), np.zeros((3, 8, 8)), "temperature"),
    (dict(), np.zeros((3, 8, 9)), "square"),
    (dict(), np.zeros((3, 2, 2)), "at least 3x3"),
])
def test_clear_errors(params, X, match):
    with pytest.raises(ValueError, match=match):
        DiffeoTransformer(**params).fit(X)


def test_transform_rejects_other_image_shape(images):
    tr = DiffeoTransformer().fit(images)
    with pytest.raises(ValueError, match="shape"):
        tr.transform(images[:, :1])


def test_api_on_images_fit_idempotent_nan_not_fitted(images):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        DiffeoTransformer().transform(images)
    tr = DiffeoTransformer(random_state=0)
    first = tr.fit(images).transform(images)
    assert tr.fit(images) is tr
    np.testing.assert_array_equal(tr.transform(images), first)
    bad = images.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DiffeoTransformer().fit(bad)
    # a subset of samples is deformed like the full batch would deform its first rows
    np.testing.assert_allclose(tr.transform(images[:3]), first[:3])
