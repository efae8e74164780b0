"""scaling_study across datasets on sklearn's digits: properties measured once per dataset at
one common size, the correlation across datasets, clustered intervals, the shared vocabulary,
and the joblib and dask backends."""

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from joblib import parallel_config
from scipy import stats
from sklearn.datasets import load_digits

from skintrinsic import IntrinsicDimension, LabelSharpness, ScalingLawRegressor, scaling_study
from skintrinsic.nets import ImageClassifier
from skintrinsic.study import correlate_across_datasets, dataset_properties

SIZES = [30, 90]
PAIRS = {"0v1": (0, 1), "3v8": (3, 8), "4v9": (4, 9), "5v6": (5, 6)}


@pytest.fixture(scope="module")
def digit_pairs():
    """Four binary digit tasks as (n, 1, 8, 8) float32 images; the first is the smallest."""
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 1, 8, 8).astype(np.float32)
    out = {}
    for i, (name, (a, b)) in enumerate(PAIRS.items()):
        keep = np.flatnonzero((y == a) | (y == b))
        if i == 0:
            keep = keep[:240]  # a smaller dataset: the common size is its pool
        out[name] = (X[keep], (y[keep] == b).astype(int))
    return out


def small_classifier(**kw):
    params = dict(arch="small_cnn", max_epochs=6, lr=3e-3, batch_size=32)
    params.update(kw)
    return ImageClassifier(**params)


DIMENSION = IntrinsicDimension(k=10, n_bootstrap=40)


@pytest.fixture(scope="module")
def study(digit_pairs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the MLE bias note at small N
        return scaling_study(digit_pairs, train_sizes=SIZES, n_repeats=2, attacks=["fgsm"],
                             classifier=small_classifier(), dimension=DIMENSION, n_draws=5,
                             random_state=0)


def test_results_have_one_row_per_dataset_size_and_repeat(study):
    frame = study.results
    assert list(frame.columns[:7]) == ["dataset", "domain", "N", "repeat", "seed", "d_data",
                                       "K_F"]
    for column in ("d_repr", "test_loss", "test_accuracy", "delta_loss_fgsm",
                   "relative_delta_loss_fgsm", "delta_accuracy_fgsm", "robust_accuracy_fgsm"):
        assert np.isfinite(frame[column]).all(), column
    counts = frame.groupby(["dataset", "N"]).size()
    assert (counts == 2).all() and len(counts) == len(PAIRS) * len(SIZES)
    assert frame["seed"].nunique() == len(frame)
    np.testing.assert_allclose(frame["relative_delta_loss_fgsm"],
                               frame["delta_loss_fgsm"] / frame["test_loss"])
    for name, indices in study.train_indices.items():
        sizes = [idx.size for idx in indices]
        assert sizes == frame.loc[frame["dataset"] == name, "N"].tolist()
        assert len({tuple(i) for i in indices}) == len(indices)


def test_properties_are_the_datasets_not_the_subsets(study, digit_pairs):
    frame, table = study.results, study.datasets
    # one value per dataset, identical across every N and repeat
    per_dataset = frame.groupby("dataset")[["d_data", "K_F"]].nunique()
    assert (per_dataset == 1).all().all()
    # measured at one size for every dataset: the smallest training pool
    smallest_pool = int(round(len(digit_pairs["0v1"][1]) * 0.75))
    assert (table["n_reference"] == smallest_pool).all() and study.n_reference == smallest_pool
    assert (table["n_available"] > smallest_pool).sum() == len(PAIRS) - 1
    for name, (X, y) in digit_pairs.items():
        ref = study.reference_indices[name]
        assert ref.size == study.n_reference
        # oracle: the estimator fitted directly on that reference sample
        d = IntrinsicDimension(k=10, n_bootstrap=0).fit(X[ref]).dimension_
        row = table.set_index("dataset").loc[name]
        assert row["d_data"] == pytest.approx(d, rel=1e-12)
        assert frame.loc[frame["dataset"] == name, "d_data"].iloc[0] == row["d_data"]
        # K_F at that size never exceeds the exact K_F of the whole dataset
        assert row["K_F"] <= LabelSharpness().fit(X, y).sharpness_ * (1 + 1e-12)
        # the smallest dataset is measured on its whole pool: one exact draw
        if name == "0v1":
            assert row["n_draws"] == 1 and row["K_F_std"] == 0
        else:
            assert row["n_draws"] == 5 and row["K_F_q05"] <= row["K_F"] <= row["K_F_q95"]


def test_correlation_has_one_point_per_dataset(study):
    table = study.datasets
    assert len(table) == len(PAIRS)
    means = study.results.groupby("dataset")["delta_loss_fgsm"].mean()
    np.testing.assert_allclose(table.set_index("dataset")["delta_loss_fgsm"], means[table.dataset])
    c = study.correlation.set_index(["y", "method"])
    assert set(c["n_datasets"]) == {len(PAIRS)}
    pearson = c.loc[("delta_loss_fgsm", "pearson")]
    assert pearson["r"] == pytest.approx(stats.pearsonr(table["K_F"], table["delta_loss_fgsm"])[0])
    spearman = c.loc[("relative_delta_loss_fgsm", "spearman")]
    rho = stats.spearmanr(table["K_F"], table["relative_delta_loss_fgsm"])[0]
    assert spearman["r"] == pytest.approx(rho)
    assert c["ci_low"].le(c["r"]).all() or c["ci_low"].isna().any()


def test_law_is_clustered_by_dataset_and_speaks_the_study_vocabulary(study):
    frame = study.results
    law = ScalingLawRegressor().fit(frame, frame["test_loss"])  # no columns=
    assert list(law.feature_names_in_) == ["N", "d_data", "K_F"]
    assert study.law.intercept_ == pytest.approx(law.intercept_)
    assert study.law.n_groups_ == len(PAIRS) and law.n_groups_ is None
    clustered = ScalingLawRegressor().fit(frame, frame["test_loss"], groups=frame["dataset"])
    np.testing.assert_allclose(study.law.intercept_ci_, clustered.intercept_ci_)
    # law="data" fits only the intercept: CR2 on it is the t interval of the dataset means
    # of the residual log-loss, with G - 1 degrees of freedom when the datasets are balanced
    z = (np.log(frame["test_loss"]) + np.log(frame["N"]) / frame["d_data"]
         - np.log(frame["K_F"]))
    means = z.groupby(frame["dataset"]).mean()
    half = stats.t.ppf(0.975, len(means) - 1) * means.std(ddof=1) / np.sqrt(len(means))
    np.testing.assert_allclose(clustered.intercept_ci_, [means.mean() - half,
                                                         means.mean() + half], rtol=1e-8)
    rep = ScalingLawRegressor(law="representation").fit(frame, frame["test_loss"])
    assert list(rep.feature_names_in_) == ["N", "d_repr"]


def test_study_displays(study):
    import matplotlib

    matplotlib.use("Agg")
    from skintrinsic.plotting import ScalingLawDisplay, SharpnessRobustnessDisplay

    disp = SharpnessRobustnessDisplay.from_study(study)
    pearson = study.correlation.set_index(["y", "method"]).loc[("delta_loss_fgsm", "pearson")]
    assert disp.r_ == pytest.approx(pearson["r"])
    assert len(disp.ax_.collections) == len(PAIRS)  # one point (and colour) per dataset
    law = ScalingLawDisplay.from_study(study)
    assert len(law.ax_.collections) == len(PAIRS)
    drawn = np.concatenate([c.get_offsets()[:, 1] for c in law.ax_.collections])
    np.testing.assert_allclose(np.sort(drawn), np.sort(np.log(study.results["test_loss"])))
    matplotlib.pyplot.close("all")


def test_fewer_than_three_datasets_give_no_correlation(digit_pairs):
    two = {k: digit_pairs[k] for k in ("3v8", "4v9")}
    with pytest.warns(UserWarning, match="at least 3 datasets"):
        study = scaling_study(two, train_sizes=[30], n_repeats=2, attacks=["fgsm"],
                              classifier=small_classifier(max_epochs=1), dimension=DIMENSION,
                              n_draws=2, n_reference=200, random_state=0)
    assert study.correlation["r"].isna().all()
    assert (study.correlation["n_datasets"] == 2).all()


def test_the_mle_bias_is_named(digit_pairs):
    with pytest.warns(UserWarning, match=r"MLE with k=20 on 100 points is biased"):
        dataset_properties({"a": digit_pairs["3v8"]}, n_reference=100, n_draws=2,
                           dimension=IntrinsicDimension(n_bootstrap=0), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset_properties({"a": digit_pairs["3v8"]}, n_reference=200, n_draws=2,
                           dimension=IntrinsicDimension(n_bootstrap=0), random_state=0)


def test_one_graph_serves_mle_and_twonn(digit_pairs):
    X, y = digit_pairs["4v9"]
    props = dataset_properties(
        {"a": (X, y)}, n_reference=200, n_draws=2, random_state=0,
        dimension={"MLE": IntrinsicDimension(k=10, n_bootstrap=0),
                   "TwoNN": IntrinsicDimension("twonn", n_bootstrap=0)})
    ref = props.reference_indices["a"]
    m = props.measures.set_index("method")["value"]
    assert m["MLE"] == pytest.approx(IntrinsicDimension(k=10, n_bootstrap=0).fit(X[ref])
                                     .dimension_, rel=1e-12)
    assert m["TwoNN"] == pytest.approx(IntrinsicDimension("twonn", n_bootstrap=0).fit(X[ref])
                                       .dimension_, rel=1e-12)


def test_permutation_pvalue_is_exact_for_few_datasets():
    table = pd.DataFrame({"K_F": [1.0, 2.0, 3.0, 4.0, 5.0], "loss": [0.1, 0.4, 0.2, 0.5, 0.6]})
    c = correlate_across_datasets(table, "K_F", ["loss"], random_state=0).set_index("method")
    x, y = table["K_F"].to_numpy(), table["loss"].to_numpy()
    r = stats.pearsonr(x, y)[0]
    every = [stats.pearsonr(x, y[list(p)])[0] for p in itertools.permutations(range(5))]
    assert c.loc["pearson", "pvalue"] == pytest.approx(np.mean(np.abs(every) >= abs(r) - 1e-12))
    assert c.loc["pearson", "r"] == pytest.approx(r)
    assert c.loc["pearson", "ci_low"] <= r <= c.loc["pearson", "ci_high"]


def tiny_study(digit_pairs, **kw):
    X, y = digit_pairs["3v8"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # single dataset, MLE at small N
        return scaling_study(X, y, [30, 60], attacks=["fgsm"],
                             classifier=small_classifier(max_epochs=2), dimension=DIMENSION,
                             n_draws=2, random_state=1, **kw)


def test_single_dataset_form_keeps_working_and_says_what_it_cannot_tell(digit_pairs):
    X, y = digit_pairs["3v8"]
    with pytest.warns(UserWarning, match="single dataset"):
        study = scaling_study(X, y, [30, 60], attacks=["fgsm", "pgd"], n_draws=2,
                              classifier=small_classifier(max_epochs=2), dimension=DIMENSION,
                              n_reference=200, random_state=1)
    frame = study.results
    assert (frame["dataset"] == "data").all() and study.law.n_groups_ is None
    assert (frame["delta_loss_pgd"] >= frame["delta_loss_fgsm"] - 1e-6).all()


def test_same_results_on_a_dask_cluster(digit_pairs):
    distributed = pytest.importorskip("distributed")
    serial = tiny_study(digit_pairs).results
    # tcp on loopback: tasks and data are serialized even with in-process workers
    # two workers: with a single one-thread worker joblib would run the batches in-process
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client, parallel_config(backend="dask"), \
            distributed.get_task_stream(client) as stream:
        on_dask = tiny_study(digit_pairs).results
        assert client.scheduler_info()["address"].startswith("tcp://127.0.0.1")
    ran = [str(task["key"]) for task in stream.data]
    assert sum("_run" in key for key in ran) == 2, ran  # both runs went through dask
    pd.testing.assert_frame_equal(on_dask, serial, rtol=1e-5)  # same process, same threads


def test_same_results_in_worker_processes(digit_pairs):
    # n_jobs=2 runs on joblib's default (loky) process pool: everything is pickled to the workers
    # (rtol: workers may run torch with another thread count, which reorders float sums)
    pd.testing.assert_frame_equal(tiny_study(digit_pairs, n_jobs=2).results,
                                  tiny_study(digit_pairs).results, rtol=1e-4)


def test_bad_arguments(digit_pairs):
    X, y = digit_pairs["3v8"]
    with pytest.raises(ValueError, match="train_sizes must lie"):
        scaling_study(X, y, [10, 10_000])
    with pytest.raises(ValueError, match="train_sizes must lie"):
        scaling_study(digit_pairs, train_sizes=[30, 200])  # above the smallest pool (180)
    with pytest.raises(ValueError, match="at least 2 runs"):
        scaling_study(X, y, [50])
    with pytest.raises(ValueError, match="one label per image"):
        scaling_study(X, y[:-1], [30, 60])
    with pytest.raises(ValueError, match="attacks"):
        scaling_study(X, y, [30, 60], attacks=["cw"])
    with pytest.raises(ValueError, match="together"):
        scaling_study(X, y, [30, 60], y_test=y)
    with pytest.raises(ValueError, match="single dataset"):
        scaling_study(digit_pairs, train_sizes=[30], X_test=X, y_test=y)
    with pytest.raises(TypeError, match="mapping"):
        scaling_study([(X, y)], train_sizes=[30, 60])
    with pytest.raises(ValueError, match="n_reference=500"):
        dataset_properties(digit_pairs, n_reference=500)
