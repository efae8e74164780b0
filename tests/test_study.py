"""scaling_study end to end on sklearn's digits: columns, falling test loss, properties of exactly
the training subsets, joblib and dask backends, and the study's Displays."""

import numpy as np
import pandas as pd
import pytest
import torch
from joblib import parallel_config
from scipy import stats
from sklearn.datasets import load_digits

from skintrinsic import IntrinsicDimension, LabelSharpness, ScalingLawRegressor, scaling_study
from skintrinsic.nets import ImageClassifier

SIZES = [40, 120, 360]


@pytest.fixture(scope="module")
def digits():
    """All ten digits as (n, 1, 8, 8) float32 images in [0, 16], with a fixed held-out set."""
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 1, 8, 8).astype(np.float32)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    test, train = order[:400], order[400:]
    return X[train], y[train], X[test], y[test]


def small_classifier(**kw):
    params = dict(arch="small_cnn", max_epochs=15, lr=3e-3, batch_size=32)
    params.update(kw)
    return ImageClassifier(**params)


@pytest.fixture(scope="module")
def study(digits):
    X, y, X_test, y_test = digits
    return scaling_study(
        X, y, SIZES, X_test=X_test, y_test=y_test, n_repeats=2, classifier=small_classifier(),
        dimension=IntrinsicDimension(k=10, n_bootstrap=20), domain="natural", random_state=0,
    )


COLUMNS = ["domain", "N", "repeat", "seed", "d_data", "K_F", "d_repr", "test_loss",
           "test_accuracy", "delta_loss_fgsm", "delta_accuracy_fgsm", "robust_accuracy_fgsm",
           "delta_loss_pgd", "delta_accuracy_pgd", "robust_accuracy_pgd"]


def test_frame_has_one_row_per_size_and_repeat(study):
    frame = study.results
    assert list(frame.columns) == COLUMNS
    assert len(frame) == len(SIZES) * 2
    assert sorted(frame.groupby("N").size().to_dict().items()) == [(s, 2) for s in SIZES]
    assert frame["seed"].nunique() == len(frame)
    assert (frame["domain"] == "natural").all()
    assert np.isfinite(frame.drop(columns="domain").to_numpy(dtype=float)).all()
    for idx, n in zip(study.train_indices, frame["N"]):
        assert idx.size == n and np.unique(idx).size == n


def test_test_loss_falls_with_n(study):
    mean_loss = study.results.groupby("N")["test_loss"].mean()
    assert np.all(np.diff(mean_loss.to_numpy()) < 0), mean_loss
    mean_acc = study.results.groupby("N")["test_accuracy"].mean()
    assert mean_acc.iloc[-1] > mean_acc.iloc[0]


def test_properties_are_those_of_exactly_the_training_subsets(study, digits):
    X, y, _, _ = digits
    for idx, row in zip(study.train_indices, study.results.itertuples()):
        d = IntrinsicDimension(k=10, n_bootstrap=20, random_state=row.seed).fit(X[idx])
        k = LabelSharpness(random_state=row.seed).fit(X[idx], y[idx])
        assert row.d_data == pytest.approx(d.dimension_, rel=1e-12)
        assert row.K_F == pytest.approx(k.sharpness_, rel=1e-12)
    # and the subsets differ, so the check above is not one subset seen six times
    assert len({tuple(i) for i in study.train_indices}) == len(study.train_indices)


def test_attacks_hurt_and_pgd_is_not_weaker(study):
    frame = study.results
    assert (frame["delta_loss_fgsm"] > 0).all()
    assert (frame["delta_loss_pgd"] >= frame["delta_loss_fgsm"] - 1e-6).all()
    assert (frame["robust_accuracy_pgd"] <= frame["robust_accuracy_fgsm"]).all()


def test_law_and_correlation_are_fitted_on_the_frame(study):
    frame = study.results
    law = ScalingLawRegressor(law="data", columns=("N", "d_data", "K_F")).fit(
        frame, frame["test_loss"])
    assert isinstance(study.law, ScalingLawRegressor)
    assert study.law.intercept_ == pytest.approx(law.intercept_)
    np.testing.assert_allclose(study.law.intercept_ci_, law.intercept_ci_)
    res = stats.pearsonr(frame["K_F"], frame["delta_loss_fgsm"])
    assert study.correlation.r == pytest.approx(res.statistic)
    assert study.correlation.pvalue == pytest.approx(res.pvalue)
    assert study.correlation.n == len(frame)


def test_study_displays(study):
    import matplotlib

    matplotlib.use("Agg")
    from skintrinsic.plotting import ScalingLawDisplay, SharpnessRobustnessDisplay

    disp = SharpnessRobustnessDisplay.from_study(study)
    assert disp.r_ == pytest.approx(study.correlation.r)
    law = ScalingLawDisplay.from_study(study)
    np.testing.assert_allclose(law.ax_.collections[0].get_offsets()[:, 1],
                               np.log(study.results["test_loss"]))
    matplotlib.pyplot.close("all")


def tiny_study(digits, **kw):
    X, y, X_test, y_test = digits
    return scaling_study(
        X, y, [30, 60], X_test=X_test[:100], y_test=y_test[:100], attacks=["fgsm"],
        classifier=small_classifier(max_epochs=2),
        dimension=IntrinsicDimension(k=10, n_bootstrap=10), random_state=1, **kw,
    )


def test_same_results_on_a_dask_cluster(digits):
    distributed = pytest.importorskip("distributed")
    serial = tiny_study(digits).results
    # tcp on loopback: tasks and data are serialized even with in-process workers
    # two workers: with a single one-thread worker joblib would run the batches in-process
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client, parallel_config(backend="dask"), \
            distributed.get_task_stream(client) as stream:
        on_dask = tiny_study(digits).results
        assert client.scheduler_info()["address"].startswith("tcp://127.0.0.1")
    ran = [str(task["key"]) for task in stream.data]
    assert sum("_study_run" in key for key in ran) == 2, ran  # both runs went through dask
    pd.testing.assert_frame_equal(on_dask, serial, rtol=1e-5)  # same process, same threads


def test_same_results_in_worker_processes(digits):
    # n_jobs=2 runs on joblib's default (loky) process pool: everything is pickled to the workers.
    # (rtol: workers may run torch with another thread count, which reorders float sums)
    pd.testing.assert_frame_equal(tiny_study(digits, n_jobs=2).results, tiny_study(digits).results,
                                  rtol=1e-4)


def test_representation_law_and_too_few_points_for_r(digits):
    study = tiny_study(digits, law="representation")
    assert study.law.terms_ == ["log_n_over_d"]
    assert list(study.law.feature_names_in_) == ["N", "d_repr"]
    frame = study.results
    z = np.log(frame["test_loss"]) + np.log(frame["N"]) / frame["d_repr"]
    assert study.law.intercept_ == pytest.approx(z.mean())
    # Pearson's r needs 3 points: with 2 runs it is reported as NaN, not as a spurious +-1
    assert np.isnan(study.correlation.r) and study.correlation.n == 2


def test_bad_arguments(digits):
    X, y, X_test, y_test = digits
    with pytest.raises(ValueError, match="train_sizes must lie"):
        scaling_study(X, y, [10, 10_000], X_test=X_test, y_test=y_test)
    with pytest.raises(ValueError, match="at least 2 runs"):
        scaling_study(X, y, [50], X_test=X_test, y_test=y_test)
    with pytest.raises(ValueError, match="one label per image"):
        scaling_study(X, y[:-1], [30, 60])
    with pytest.raises(ValueError, match="attacks"):
        scaling_study(X, y, [30, 60], attacks=["cw"])
    with pytest.raises(ValueError, match="together"):
        scaling_study(X, y, [30, 60], y_test=y_test)
