"""Loaders on the real files in ../shared/data, image folders, binary_task, ReferencePreprocessor.

Oracles: the files parsed independently here (struct/np.frombuffer, np.load), the counts the data
README states, images written by Pillow in the test, and resizes computed by hand.
"""

import dataclasses
import gzip
import hashlib
import pickle
import struct

import numpy as np
import pytest
from PIL import Image
from sklearn.utils.estimator_checks import parametrize_with_checks

from skintrinsic.datasets import (ReferencePreprocessor, _fetch, binary_task, load_image_folder,
                                  load_medmnist, load_mnist)

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def parse_idx(path):
    """Independent IDX reader: magic says the number of dimensions in its last byte."""
    raw = gzip.decompress(path.read_bytes())
    n_dims = raw[3]
    shape = struct.unpack(f">{n_dims}I", raw[4:4 + 4 * n_dims])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * n_dims).reshape(shape)


def write_idx(path, array, magic):
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


# ------------------------------------------------------------------------------------ MNIST

def test_mnist_test_set(data_home):
    data = load_mnist(data_home=data_home, download_if_missing=False)
    assert data.data.shape == (10000, 28, 28) and data.data.dtype == np.uint8
    assert data.target.shape == (10000,) and data.target.dtype == np.int64
    images = parse_idx(data_home / "mnist-t10k-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(data.data, images)
    labels = parse_idx(data_home / "mnist-t10k-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(data.target, labels)
    assert np.bincount(data.target).tolist() == MNIST_TEST_COUNTS
    assert data.target_names.tolist() == list(range(10))
    assert set(data.subset) == {"test"}
    assert data.data.flags.writeable  # a plain array the caller owns
    X, y = load_mnist(data_home=data_home, return_X_y=True, download_if_missing=False)
    np.testing.assert_array_equal(X, data.data)
    np.testing.assert_array_equal(y, data.target)


def test_mnist_train_files_missing(data_home):
    with pytest.raises(FileNotFoundError, match="mnist-train-images-idx3-ubyte.gz"):
        load_mnist("train", data_home=data_home, download_if_missing=False)
    with pytest.raises(ValueError, match="subset must be one of"):
        load_mnist("validation", data_home=data_home)


def test_mnist_all_with_train_files(tmp_path, data_home, monkeypatch, rng):
    """subset="all": train first, then test.  Stand-in train files, registered by their md5."""
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9, 2], dtype=np.uint8)
    write_idx(tmp_path / "mnist-train-images-idx3-ubyte.gz", images, 2051)
    write_idx(tmp_path / "mnist-train-labels-idx1-ubyte.gz", labels, 2049)
    for name in ("mnist-train-images-idx3-ubyte.gz", "mnist-train-labels-idx1-ubyte.gz"):
        md5 = hashlib.md5((tmp_path / name).read_bytes()).hexdigest()
        monkeypatch.setitem(_fetch.REGISTRY, name,
                            dataclasses.replace(_fetch.REGISTRY[name], md5=(md5,)))
    for name in ("mnist-t10k-images-idx3-ubyte.gz", "mnist-t10k-labels-idx1-ubyte.gz"):
        (tmp_path / name).write_bytes((data_home / name).read_bytes())
    data = load_mnist("all", data_home=tmp_path, download_if_missing=False)
    assert data.data.shape == (10007, 28, 28)
    np.testing.assert_array_equal(data.data[:7], images)
    np.testing.assert_array_equal(data.target[:7], labels)
    assert np.bincount(data.target[7:]).tolist() == MNIST_TEST_COUNTS
    assert data.subset[:7].tolist() == ["train"] * 7 and set(data.subset[7:]) == {"test"}
    train = load_mnist("train", data_home=tmp_path, download_if_missing=False)
    np.testing.assert_array_equal(train.data, images)


def test_mnist_inconsistent_files(tmp_path, monkeypatch, rng):
    def register(name):
        md5 = hashlib.md5((tmp_path / name).read_bytes()).hexdigest()
        monkeypatch.setitem(_fetch.REGISTRY, name,
                            dataclasses.replace(_fetch.REGISTRY[name], md5=(md5,)))

    images = rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "mnist-train-images-idx3-ubyte.gz", images, 2051)
    write_idx(tmp_path / "mnist-train-labels-idx1-ubyte.gz", np.zeros(3), 2049)
    register("mnist-train-images-idx3-ubyte.gz")
    register("mnist-train-labels-idx1-ubyte.gz")
    with pytest.raises(ValueError, match="holds 4 images but .* holds 3 labels"):
        load_mnist("train", data_home=tmp_path, download_if_missing=False)
    write_idx(tmp_path / "mnist-train-labels-idx1-ubyte.gz", np.zeros(4), 2051)  # wrong magic
    register("mnist-train-labels-idx1-ubyte.gz")
    with pytest.raises(ValueError, match="magic number 2051, expected 2049"):
        load_mnist("train", data_home=tmp_path, download_if_missing=False)


# --------------------------------------------------------------------------------- MedMNIST

def test_pneumoniamnist_by_path_without_checksum(data_home):
    """The test copy read as a user-pointed file: no checksum, same arrays as by name."""
    path = data_home / "pneumoniamnist.npz"
    with np.load(path) as npz:
        raw = {k: npz[k] for k in npz.files}
    for split in ("train", "val", "test"):
        data = load_medmnist(path, split=split)
        np.testing.assert_array_equal(data.data, raw[f"{split}_images"])
        np.testing.assert_array_equal(data.target, raw[f"{split}_labels"][:, 0])
        assert data.md5 is None and data.variant == "unverified local file"
    X, y = load_medmnist(str(path), split="all", return_X_y=True)
    assert X.shape[1:] == (28, 28) and y.dtype == np.int64


def test_pneumoniamnist_splits(data_home, shared_copy_registered):
    counts = {"train": [388, 3494], "val": [135, 389], "test": [234, 390]}
    with np.load(data_home / "pneumoniamnist.npz") as npz:
        raw = {k: npz[k] for k in npz.files}
    for split, expected in counts.items():
        data = load_medmnist("pneumoniamnist", split=split, data_home=data_home,
                             download_if_missing=False)
        assert data.data.dtype == np.uint8 and data.data.shape[1:] == (28, 28)
        assert data.target.dtype == np.int64 and data.target.ndim == 1
        assert np.bincount(data.target).tolist() == expected
        np.testing.assert_array_equal(data.data, raw[f"{split}_images"])
        np.testing.assert_array_equal(data.target, raw[f"{split}_labels"][:, 0])
        assert data.target_names.tolist() == ["normal", "pneumonia"]
    assert [len(load_medmnist(split=s, data_home=data_home).target)
            for s in ("train", "val", "test")] == [3882, 524, 624]


def test_pneumoniamnist_all_and_provenance(data_home, shared_copy_registered):
    data = load_medmnist("PneumoniaMNIST", split="all", data_home=data_home,
                         download_if_missing=False)
    assert data.data.shape == (5030, 28, 28)
    assert (data.split == "train").sum() == 3882 and data.split[-624:].tolist() == ["test"] * 624
    val = load_medmnist(split="val", data_home=data_home, return_X_y=True)
    np.testing.assert_array_equal(data.data[3882:3882 + 524], val[0])
    np.testing.assert_array_equal(data.target[3882:3882 + 524], val[1])
    assert data.md5 == shared_copy_registered
    assert data.md5 == hashlib.md5((data_home / "pneumoniamnist.npz").read_bytes()).hexdigest()
    assert data.variant == "official" and data.md5 in data.DESCR
    assert data.task == "binary-class"


def test_medmnist_file_path_channels_first(tmp_path, rng):
    """A MedMNIST-layout file given by path: RGB is stored (n, H, W, 3) and read channels first."""
    images = {s: rng.integers(0, 256, size=(n, 5, 6, 3), dtype=np.uint8)
              for s, n in (("train", 4), ("val", 2), ("test", 3))}
    labels = {s: rng.integers(0, 2, size=(len(images[s]), 14)) for s in images}  # multi-label
    np.savez(tmp_path / "toy.npz", **{f"{s}_images": images[s] for s in images},
             **{f"{s}_labels": labels[s] for s in labels})
    data = load_medmnist(tmp_path / "toy.npz", split="test")
    assert data.data.shape == (3, 3, 5, 6) and data.target.shape == (3, 14)
    for c in range(3):
        np.testing.assert_array_equal(data.data[:, c], images["test"][..., c])
    np.testing.assert_array_equal(data.target, labels["test"])
    assert data.md5 is None and data.variant == "unverified local file"
    np.savez(tmp_path / "bad.npz", train_images=images["train"])
    with pytest.raises(ValueError, match="lacks train_labels"):
        load_medmnist(str(tmp_path / "bad.npz"))


def test_medmnist_bad_arguments(data_home, tmp_path):
    with pytest.raises(ValueError, match="unknown MedMNIST dataset 'cifar10'.*pneumoniamnist"):
        load_medmnist("cifar10", data_home=data_home)
    with pytest.raises(ValueError, match="split must be one of"):
        load_medmnist(split="validation", data_home=data_home)
    with pytest.raises(ValueError, match="size must be one of"):
        load_medmnist(size=32, data_home=data_home)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_medmnist(tmp_path / "nothing.npz")
    with pytest.raises(FileNotFoundError, match="breastmnist.npz was not found"):
        load_medmnist("breastmnist", data_home=data_home, download_if_missing=False)
    with pytest.raises(FileNotFoundError, match="pneumoniamnist_224.npz was not found"):
        load_medmnist(size=224, data_home=data_home, download_if_missing=False)


# ----------------------------------------------------------------------------- image folder

def save(path, array, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)


def test_image_folder_grayscale(tmp_path, rng):
    pixels = {("b", "1.png"): rng.integers(0, 256, (6, 5), dtype=np.uint8),
              ("b", "0.PNG"): rng.integers(0, 256, (6, 5), dtype=np.uint8),
              ("a", "x.png"): rng.integers(0, 256, (6, 5), dtype=np.uint8)}
    for (label, name), array in pixels.items():
        save(tmp_path / label / name, array)
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    (tmp_path / "a" / ".hidden.png").write_bytes(b"junk")
    (tmp_path / ".cache").mkdir()
    data = load_image_folder(tmp_path)
    assert data.data.shape == (3, 6, 5) and data.data.dtype == np.uint8
    assert data.target.tolist() == [0, 1, 1] and data.target_names.tolist() == ["a", "b"]
    # classes sorted by name, files sorted within a class
    order = [("a", "x.png"), ("b", "0.PNG"), ("b", "1.png")]
    assert [tuple(f.split("/")[-2:]) for f in data.filenames] == order
    for got, key in zip(data.data, order):
        np.testing.assert_array_equal(got, pixels[key])
    X, y = load_image_folder(tmp_path, return_X_y=True)
    np.testing.assert_array_equal(X, data.data)


def test_image_folder_rgb_jpeg_and_resize(tmp_path):
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 30
    save(tmp_path / "colour" / "a.png", rgb)
    save(tmp_path / "grey" / "b.jpg", np.full((4, 4), 90, dtype=np.uint8), quality=95)
    data = load_image_folder(tmp_path)  # one RGB image makes the whole set RGB
    assert data.data.shape == (2, 3, 4, 4)
    np.testing.assert_array_equal(data.data[0, :, 0, 0], [200, 100, 30])
    assert np.abs(data.data[1].astype(int) - 90).max() <= 1  # JPEG of a constant grey
    grey = load_image_folder(tmp_path, color_mode="grayscale", size=(3, 7))
    assert grey.data.shape == (2, 3, 7)
    luma = 0.299 * 200 + 0.587 * 100 + 0.114 * 30
    assert np.abs(grey.data[0].astype(float) - luma).max() <= 1
    assert load_image_folder(tmp_path, color_mode="rgb", size=2).data.shape == (2, 3, 2, 2)


def test_image_folder_sixteen_bit(tmp_path):
    deep = np.array([[0, 1000], [40000, 65535]], dtype=np.uint16)
    for label in ("a", "b"):
        save(tmp_path / label / "img.png", deep)
    data = load_image_folder(tmp_path)
    assert data.data.dtype.itemsize >= 2
    np.testing.assert_array_equal(data.data[0], deep)


def test_image_folder_errors(tmp_path, rng):
    with pytest.raises(NotADirectoryError, match="one sub-folder of images per class"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="no class sub-folders"):
        load_image_folder(tmp_path)
    save(tmp_path / "a" / "1.png", rng.integers(0, 256, (4, 4), dtype=np.uint8))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty holds no PNG or JPEG"):
        load_image_folder(tmp_path)
    save(tmp_path / "empty" / "2.png", rng.integers(0, 256, (5, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"do not share one size .* pass size="):
        load_image_folder(tmp_path)
    assert load_image_folder(tmp_path, size=4).data.shape == (2, 4, 4)
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match="cannot read the image .*broken.png"):
        load_image_folder(tmp_path, size=4)
    with pytest.raises(ValueError, match="color_mode must be one of"):
        load_image_folder(tmp_path, color_mode="cmyk")
    with pytest.raises(ValueError, match="size must be a positive int"):
        load_image_folder(tmp_path, size=(0, 3))


# ------------------------------------------------------------------------------ binary_task

def toy_labels():
    y = np.repeat(np.array([0, 1, 2, 3]), [10, 6, 8, 3])
    X = np.arange(len(y) * 4, dtype=float).reshape(len(y), 2, 2)
    return X, y


def test_binary_task_balanced_and_traceable():
    X, y = toy_labels()
    X_before = X.copy()
    Xb, yb, idx = binary_task(X, y, classes=(2, 0), n_per_class=5, random_state=0,
                              return_indices=True)
    assert Xb.shape == (10, 2, 2) and set(yb.tolist()) == {0, 1}
    assert np.bincount(yb).tolist() == [5, 5]
    np.testing.assert_array_equal(Xb, X[idx])
    np.testing.assert_array_equal(np.where(yb == 0, 2, 0), y[idx])  # classes[0] -> 0
    assert len(set(idx.tolist())) == 10  # without replacement
    assert not np.array_equal(yb, np.sort(yb))  # shuffled, not sorted by class
    Xb[:] = -1
    np.testing.assert_array_equal(X, X_before)


def test_binary_task_seeded():
    X, y = toy_labels()
    a = binary_task(X, y, classes=(0, 1), n_per_class=4, random_state=3, return_indices=True)
    b = binary_task(X, y, classes=(0, 1), n_per_class=4, random_state=3, return_indices=True)
    c = binary_task(X, y, classes=(0, 1), n_per_class=4, random_state=4, return_indices=True)
    np.testing.assert_array_equal(a[2], b[2])
    assert not np.array_equal(a[2], c[2])


def test_binary_task_random_classes():
    X, y = toy_labels()
    pairs = set()
    for seed in range(40):
        Xb, yb, idx = binary_task(X, y, n_per_class=3, random_state=seed, return_indices=True)
        picked = np.unique(y[idx])
        assert len(picked) == 2 and np.bincount(yb).tolist() == [3, 3]
        np.testing.assert_array_equal(yb, (y[idx] == picked[1]).astype(int))  # sorted order
        pairs.add(tuple(picked.tolist()))
    assert len(pairs) == 6  # every pair of the four classes is drawn


def test_binary_task_default_size():
    X, y = toy_labels()
    _, yb = binary_task(X, y, classes=(1, 3), random_state=0)
    assert np.bincount(yb).tolist() == [3, 3]  # the smaller class sets the size


def test_binary_task_errors():
    X, y = toy_labels()
    with pytest.raises(ValueError, match=r"class\(es\) \[7\] not found in y.*\[0, 1, 2, 3\]"):
        binary_task(X, y, classes=(0, 7))
    with pytest.raises(ValueError, match="class 3 has 3.*n_per_class <= 3"):
        binary_task(X, y, classes=(0, 3), n_per_class=4)
    with pytest.raises(ValueError, match="two distinct labels"):
        binary_task(X, y, classes=(1, 1))
    with pytest.raises(ValueError, match="single class"):
        binary_task(X[:5], y[:5])
    with pytest.raises(ValueError, match="1-D"):
        binary_task(X, np.c_[y, y])
    with pytest.raises(ValueError, match="one row per sample"):
        binary_task(X[:-1], y)
    with pytest.raises(ValueError, match="positive integer"):
        binary_task(X, y, classes=(0, 1), n_per_class=0)


def test_binary_task_on_real_data(data_home, shared_copy):
    X, y = load_mnist(data_home=data_home, return_X_y=True, download_if_missing=False)
    Xb, yb, idx = binary_task(X, y, classes=(3, 8), n_per_class=500, random_state=1337,
                              return_indices=True)
    assert Xb.shape == (1000, 28, 28) and np.bincount(yb).tolist() == [500, 500]
    assert set(y[idx[yb == 0]]) == {3} and set(y[idx[yb == 1]]) == {8}
    Xp, yp = load_medmnist(data_home / "pneumoniamnist.npz", split="train", return_X_y=True)
    _, yb = binary_task(Xp, yp, classes=(0, 1), random_state=0)
    assert np.bincount(yb).tolist() == [388, 388]  # balanced on the 388 normal images
    with pytest.raises(ValueError, match="class 0 has 388"):
        binary_task(Xp, yp, classes=(0, 1), n_per_class=500)


# -------------------------------------------------------------------- ReferencePreprocessor

def bilinear_2_to_4(image):
    """Hand bilinear upsampling 2 -> 4 per axis (align_corners=False): source coordinates
    (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1]."""
    weights = np.array([[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]])
    return weights @ image @ weights.T


def test_preprocessor_hand_computation():
    X = np.array([[[0, 10], [20, 50]], [[4, 4], [4, 2]]], dtype=np.uint8)
    Xt = ReferencePreprocessor(size=4).fit_transform(X)
    assert Xt.shape == (2, 4, 4) and Xt.dtype == np.float32
    for got, image in zip(Xt, X.astype(float)):
        up = bilinear_2_to_4(image)
        np.testing.assert_allclose(got, up / up.max() * 255, rtol=1e-6)
        assert got.max() == 255.0  # exactly


def test_preprocessor_downsampling_and_scaling_only():
    X = np.arange(32, dtype=np.float64).reshape(2, 4, 4)
    blocks = X.reshape(2, 2, 2, 2, 2).mean(axis=(2, 4))
    for kwargs in ({"interpolation": "area"}, {"interpolation": "bilinear", "antialias": False}):
        Xt = ReferencePreprocessor(size=2, **kwargs).fit_transform(X)
        expected = blocks / blocks.max(axis=(1, 2), keepdims=True) * 255
        np.testing.assert_allclose(Xt, expected, rtol=1e-12)
    # no resize: only the per-image scaling; flat input is fine then
    Xt = ReferencePreprocessor().fit_transform(X.reshape(2, -1))
    np.testing.assert_allclose(Xt, X.reshape(2, -1) / X.reshape(2, -1).max(1)[:, None] * 255)
    assert Xt.dtype == np.float64


def test_preprocessor_channels():
    rgb = np.zeros((1, 3, 2, 2))
    rgb[0, 0], rgb[0, 1], rgb[0, 2] = [[10, 0], [0, 0]], [[0, 10], [0, 0]], [[0, 0], [10, 5]]
    grey = ReferencePreprocessor(channels=1).fit_transform(rgb)
    luma = 0.299 * rgb[0, 0] + 0.587 * rgb[0, 1] + 0.114 * rgb[0, 2]
    assert grey.shape == (1, 1, 2, 2)
    np.testing.assert_allclose(grey[0, 0], luma / luma.max() * 255)
    one = np.arange(8, dtype=np.uint8).reshape(2, 2, 2)
    three = ReferencePreprocessor(channels=3, size=3).fit_transform(one)
    assert three.shape == (2, 3, 3, 3)
    np.testing.assert_array_equal(three[:, 0], three[:, 2])
    single = ReferencePreprocessor(size=3).fit_transform(one)
    np.testing.assert_allclose(three[:, 1], single, rtol=1e-6)
    with pytest.raises(ValueError, match="cannot convert images with 4 channels to 1"):
        ReferencePreprocessor(channels=1).fit(np.ones((2, 4, 3, 3)))


def test_preprocessor_real_images_to_224(data_home):
    X, _ = load_medmnist(data_home / "pneumoniamnist.npz", split="test", return_X_y=True)
    Xt = ReferencePreprocessor(size=224, channels=1).fit_transform(X[:16])
    assert Xt.shape == (16, 1, 224, 224)
    assert (Xt.reshape(16, -1).max(axis=1) == 255).all()
    assert Xt.min() >= 0


def test_preprocessor_zero_image_and_input_untouched():
    X = np.zeros((3, 5, 5))
    X[1, 2, 3] = 0.5
    X_before = X.copy()
    pre = ReferencePreprocessor(size=(6, 4))
    Xt = pre.fit_transform(X)
    assert Xt.shape == (3, 6, 4) and pre.output_shape_ == (6, 4)
    assert (Xt[0] == 0).all() and (Xt[2] == 0).all()  # all-zero images are left at zero
    assert Xt[1].max() == 255 and np.isfinite(Xt).all()
    np.testing.assert_array_equal(X, X_before)
    flat = X.reshape(3, -1)
    ReferencePreprocessor().fit_transform(flat)
    np.testing.assert_array_equal(flat, X_before.reshape(3, -1))


def test_preprocessor_errors():
    with pytest.raises(ValueError, match="nonnegative"):
        ReferencePreprocessor().fit(-np.ones((2, 3, 3)))
    with pytest.raises(ValueError, match="flat .* cannot|can be scaled but not resized"):
        ReferencePreprocessor(size=4).fit(np.ones((2, 9)))
    with pytest.raises(ValueError, match="size must be a positive int"):
        ReferencePreprocessor(size=(4, 0)).fit(np.ones((2, 3, 3)))
    pre = ReferencePreprocessor(size=4).fit(np.ones((2, 3, 3)))
    with pytest.raises(ValueError, match="shape"):
        pre.transform(np.ones((2, 4, 4)))
    with pytest.raises(ValueError, match="channels"):
        ReferencePreprocessor(channels=2).fit(np.ones((2, 3, 3)))


def test_preprocessor_pickle_and_determinism(rng):
    X = rng.integers(0, 256, (5, 7, 7)).astype(np.uint8)
    pre = ReferencePreprocessor(size=10, channels=3).fit(X)
    again = pickle.loads(pickle.dumps(pre))
    np.testing.assert_array_equal(again.transform(X), pre.transform(X))
    np.testing.assert_array_equal(ReferencePreprocessor(size=10, channels=3).fit_transform(X),
                                  pre.transform(X))


@parametrize_with_checks([ReferencePreprocessor()])
def test_sklearn_compatible(estimator, check):
    check(estimator)
