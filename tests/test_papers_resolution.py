"""The engine at the papers' resolution: real images at 224x224 RGB (D = 150,528), outlier rows.

Oracles: a float64 brute force from differences (torch.cdist without the GEMM shortcut), the
closed forms of the MLE and of categorical K_F on those distances, and the engine's own count
of rows that needed the float64 re-search.
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from skintrinsic import IntrinsicDimension, LabelSharpness
from skintrinsic._neighbors import kneighbors, nearest_other_label
from skintrinsic.datasets import load_medmnist, load_mnist
from skintrinsic.dimension import mle_dimension, mle_inverse_estimates

K = 20


def upsampled_rgb(images, size=224, seed=0):
    """28x28 images as ``size``x``size`` RGB float32 in [0, 255], with a little noise so that
    no two rows are equal (as the benchmark sets are built)."""
    t = torch.nn.functional.interpolate(torch.from_numpy(images.astype(np.float32))[:, None],
                                        size=size, mode="bilinear", align_corners=False)
    X = t.repeat(1, 3, 1, 1).reshape(len(images), -1).numpy()
    X += np.random.default_rng(seed).normal(0, 1.0, X.shape).astype(np.float32)
    return np.clip(X, 0, 255, out=X)


@pytest.fixture(scope="module")
def xrays_224(data_home):
    # the test copy is not the official file: read by path, without a checksum
    images, labels = load_medmnist(data_home / "pneumoniamnist.npz", return_X_y=True)
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.choice(np.flatnonzero(labels == c), 150, replace=False)
                           for c in (0, 1)])
    return upsampled_rgb(images[rows]), labels[rows]


def brute_sq_distances(X):
    Xt = torch.from_numpy(X).double()
    return torch.cdist(Xt, Xt, compute_mode="donot_use_mm_for_euclid_dist").numpy() ** 2


def test_224_rgb_real_images_give_the_brute_force_neighbours(xrays_224):
    X, y = xrays_224
    assert X.shape == (300, 150_528) and X.dtype == np.float32
    d2 = brute_sq_distances(X)
    np.fill_diagonal(d2, np.inf)
    idx = np.lexsort((np.broadcast_to(np.arange(300), d2.shape), d2), axis=1)[:, :K]
    dist = np.sqrt(np.take_along_axis(d2, idx, 1))
    stats = {}
    got = kneighbors(X, K, stats=stats)
    np.testing.assert_array_equal(got.indices, idx)
    np.testing.assert_allclose(got.distances, dist, rtol=1e-11)
    assert stats["float64"] <= 3  # almost every row is certified by the float32 pass
    est = IntrinsicDimension(n_bootstrap=0).fit(X)
    assert est.dimension_ == pytest.approx(mle_dimension(mle_inverse_estimates(dist)), rel=1e-10)

    # categorical K_F: one over the closest differently labelled pair
    d2[y[:, None] == y[None, :]] = np.inf
    stats = {}
    nn = nearest_other_label(X, y, stats=stats)
    np.testing.assert_array_equal(nn.indices[:, 0], d2.argmin(1))
    assert stats["float64"] <= 3
    ks = LabelSharpness().fit(X, y)
    np.testing.assert_allclose(ks.local_sharpness_, 1 / np.sqrt(d2.min(1)), rtol=1e-11)
    j, k = np.unravel_index(np.argmin(d2), d2.shape)
    assert ks.pair_ == tuple(sorted((int(j), int(k))))


def test_an_outlier_row_does_not_make_the_others_fall_back(data_home):
    images, labels = load_mnist(data_home=data_home, return_X_y=True,
                                download_if_missing=False)
    X = images[:3000].reshape(3000, -1).astype(np.float64)
    X = np.vstack([X, np.full((1, 784), 1e4)])
    y = np.r_[labels[:3000], 3]
    for search in (lambda s: kneighbors(X, K, stats=s),
                   lambda s: nearest_other_label(X, y, stats=s)):
        stats = {}
        search(stats)
        assert stats["rows"] == 3001 and stats["float64"] <= 2


MEMORY_SCRIPT = textwrap.dedent("""
    import json, sys, tracemalloc
    import numpy as np, torch
    torch.set_num_threads(1)
    from skintrinsic import IntrinsicDimension, LabelSharpness
    X, y = np.load(sys.argv[1]), np.load(sys.argv[2])
    make = {"dimension": lambda: IntrinsicDimension(n_bootstrap=0),
            "sharpness": lambda: LabelSharpness()}[sys.argv[3]]
    # compile the kernels and load torch's code outside the measured fit
    make().fit(X[::5, :100], y[::5])
    def status(field):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak resident size (compiling the kernels raised it)
    before = status("VmRSS")
    tracemalloc.start()
    make().fit(X, y)
    _, peak = tracemalloc.get_traced_memory()
    rss_peak = status("VmHWM") - before
    print(json.dumps({"nbytes": X.nbytes, "numpy_peak": peak, "rss_peak": rss_peak}))
""")


@pytest.mark.parametrize("estimator", ["dimension", "sharpness"])
def test_fits_on_float32_images_hold_less_than_half_of_x_extra(xrays_224, tmp_path, estimator):
    X, y = xrays_224
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    # a fresh process, so that the peak resident size is this fit's alone
    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(tmp_path / "X.npy"),
                          str(tmp_path / "y.npy"), estimator],
                         capture_output=True, text=True, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    # numpy's allocations (tracemalloc sees them): no float64 copy, not even a float32 one
    assert report["numpy_peak"] < 0.25 * report["nbytes"], report
    # everything, torch's buffers included
    assert report["rss_peak"] < 0.5 * report["nbytes"], report


@pytest.mark.slow
def test_approximate_search_at_224_projects_then_reranks_exactly(xrays_224):
    # above 4096 features the graph is built on 64 principal components, then re-ranked in full D
    X, _ = xrays_224
    exact = kneighbors(X, K)
    approx = kneighbors(X, K, method="approximate", random_state=0)
    recall = np.mean([np.intersect1d(a, e).size / K
                      for a, e in zip(approx.indices, exact.indices)])
    assert recall > 0.99
    d_exact = mle_dimension(mle_inverse_estimates(exact.distances))
    d_approx = mle_dimension(mle_inverse_estimates(approx.distances))
    assert abs(d_approx / d_exact - 1) < 0.005
    same = np.all(approx.indices == exact.indices, axis=1)
    np.testing.assert_allclose(approx.distances[same], exact.distances[same], rtol=1e-12)
