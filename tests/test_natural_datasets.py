"""CIFAR-10 and SVHN loaders and `skintrinsic fetch`, on small files generated in the real
formats and served from loopback (the real files are 162 MB and 246 MB; no test downloads them).

CIFAR-10 binary version: a .tar.gz holding cifar-10-batches-bin/data_batch_1..5.bin and
test_batch.bin, each a run of 3073-byte records (1 label byte, then the red, green and blue
32x32 planes row by row), and batches.meta.txt.  SVHN: MATLAB v5 files with X of shape
(32, 32, 3, n) and y of shape (n, 1), where 10 stands for the digit 0.
"""

import dataclasses
import hashlib
import io
import tarfile

import numpy as np
import pytest
import scipy.io
from conftest import serve
from test_fetchers import _Handler

from skintrinsic import cli
from skintrinsic.datasets import _fetch, fetch_datasets, load_cifar10, load_svhn

CIFAR = "cifar-10-binary.tar.gz"
SVHN_TRAIN, SVHN_TEST = "svhn-train_32x32.mat", "svhn-test_32x32.mat"
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck"]


def _photos(rng, n):
    """n random 32x32 RGB images, channels last as a photo is stored."""
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def _cifar_records(images, labels):
    planes = [np.concatenate([[label], img[:, :, 0].ravel(), img[:, :, 1].ravel(),
                              img[:, :, 2].ravel()]).astype(np.uint8)
              for img, label in zip(images, labels)]
    return np.stack(planes).tobytes()


def _add(tar, name, payload):
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Generated CIFAR-10 and SVHN files in their real formats, and what they hold."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("served")
    truth = {"cifar_train": [], "cifar_test": None}
    with tarfile.open(root / CIFAR, "w:gz") as tar:
        for i in range(1, 6):
            images, labels = _photos(rng, 3), np.array([0, 3, i + 4])
            truth["cifar_train"].append((images, labels))
            _add(tar, f"cifar-10-batches-bin/data_batch_{i}.bin", _cifar_records(images, labels))
        images, labels = _photos(rng, 4), np.array([9, 0, 3, 9])
        truth["cifar_test"] = (images, labels)
        _add(tar, "cifar-10-batches-bin/test_batch.bin", _cifar_records(images, labels))
        _add(tar, "cifar-10-batches-bin/batches.meta.txt", ("\n".join(CLASSES) + "\n\n").encode())
    for name, n in ((SVHN_TRAIN, 5), (SVHN_TEST, 3)):
        images = _photos(rng, n)
        labels = np.arange(n) % 3 + 8  # 8, 9, 10 (= digit 0), ...
        scipy.io.savemat(root / name, {"X": np.ascontiguousarray(images.transpose(1, 2, 3, 0)),
                                       "y": labels[:, None].astype(np.uint8)})
        truth[name] = (images, labels)
    return root, truth


@pytest.fixture(scope="module")
def server(files):
    with serve(files[0], _Handler) as httpd:
        yield httpd


@pytest.fixture
def served(server, files, monkeypatch):
    """The registry points at the loopback copies, with their checksums."""
    for name in (CIFAR, SVHN_TRAIN, SVHN_TEST):
        md5 = hashlib.md5((files[0] / name).read_bytes()).hexdigest()
        entry = dataclasses.replace(_fetch.REGISTRY[name], urls=(f"{server.base}/data/{name}",),
                                    md5=(md5,))
        monkeypatch.setitem(_fetch.REGISTRY, name, entry)
    server.requests.clear()
    return server


def test_registry_has_the_official_files():
    registry = _fetch._build_registry()
    assert registry[CIFAR].urls == ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",)
    assert registry[CIFAR].md5 == ("c32a1d4ab5d03f1284b67883e8d87530",)
    assert registry[SVHN_TRAIN].urls == ("http://ufldl.stanford.edu/housenumbers/train_32x32.mat",)
    assert registry[SVHN_TRAIN].md5 == ("e26dedcc434d2e4c54c9b2d4a06d8373",)
    assert registry[SVHN_TEST].md5 == ("eb5a983be6a315427106f1b164d9cef3",)


def test_cifar10_downloaded_and_read(served, files, tmp_path):
    truth = files[1]
    data = load_cifar10(data_home=tmp_path)
    images, labels = truth["cifar_test"]
    assert data.data.shape == (4, 3, 32, 32) and data.data.dtype == np.uint8
    # channels first: the red plane of the record is channel 0
    np.testing.assert_array_equal(data.data, images.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(data.target, labels)
    assert list(data.target_names) == CLASSES and data.target.dtype == np.int64
    assert served.requests == [f"/data/{CIFAR}"]

    X, y = load_cifar10("all", data_home=tmp_path, return_X_y=True)  # cached: no new request
    assert len(served.requests) == 1
    train_images = np.concatenate([b[0] for b in truth["cifar_train"]])
    np.testing.assert_array_equal(X[:15], train_images.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(y, np.concatenate([b[1] for b in truth["cifar_train"]]
                                                    + [labels]))
    assert sorted(p.name for p in tmp_path.iterdir()) == [CIFAR]  # nothing extracted


def test_svhn_downloaded_and_read(served, files, tmp_path):
    data = load_svhn("all", data_home=tmp_path)
    train_images, train_labels = files[1][SVHN_TRAIN]
    test_images, test_labels = files[1][SVHN_TEST]
    assert data.data.shape == (8, 3, 32, 32) and data.data.dtype == np.uint8
    np.testing.assert_array_equal(data.data[:5], train_images.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(data.data[5:], test_images.transpose(0, 3, 1, 2))
    assert data.target.tolist() == [8, 9, 0, 8, 9, 8, 9, 0]  # 10 means the digit 0
    assert list(data.subset) == ["train"] * 5 + ["test"] * 3
    np.testing.assert_array_equal(data.target, np.concatenate([train_labels, test_labels]) % 10)


def test_cifar10_python_version_is_refused(tmp_path, monkeypatch):
    # the pickled Python version has other members; it must never be unpickled
    with tarfile.open(tmp_path / CIFAR, "w:gz") as tar:
        _add(tar, "cifar-10-batches-py/data_batch_1", b"\x80\x04not read")
    md5 = hashlib.md5((tmp_path / CIFAR).read_bytes()).hexdigest()
    monkeypatch.setitem(_fetch.REGISTRY, CIFAR,
                        dataclasses.replace(_fetch.REGISTRY[CIFAR], md5=(md5,)))
    with pytest.raises(ValueError, match="not the CIFAR-10 binary version"):
        load_cifar10(data_home=tmp_path, download_if_missing=False)


def test_wrong_download_leaves_nothing(served, files, tmp_path, monkeypatch):
    entry = _fetch.REGISTRY[SVHN_TEST]
    wrong = dataclasses.replace(entry, urls=(f"{served.base}/data/{SVHN_TRAIN}",))
    monkeypatch.setitem(_fetch.REGISTRY, SVHN_TEST, wrong)
    with pytest.raises(OSError, match="checksum mismatch"):
        load_svhn(data_home=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_missing_file_names_the_fetch(tmp_path):
    with pytest.raises(FileNotFoundError, match="svhn-test_32x32.mat"):
        load_svhn(data_home=tmp_path, download_if_missing=False)
    with pytest.raises(ValueError, match="subset must be one of"):
        load_cifar10("val", data_home=tmp_path)


def test_fetch_command(served, tmp_path, capsys):
    assert cli.main(["fetch", "cifar10", "svhn", "--data-home", str(tmp_path), "-q"]) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == [CIFAR, SVHN_TEST, SVHN_TRAIN]
    assert f"Data folder: {tmp_path}" in out and "svhn: svhn-train_32x32.mat" in out
    assert len(served.requests) == 3
    # intact files are kept: a second fetch downloads nothing
    assert cli.main(["fetch", "cifar10", "--data-home", str(tmp_path), "-q"]) == 0
    assert len(served.requests) == 3


def test_fetch_checks_every_name_before_downloading(served, tmp_path, capsys):
    assert cli.main(["fetch", "cifar10", "imagenet", "--data-home", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "unknown dataset 'imagenet'" in err and "pneumoniamnist" in err
    assert served.requests == [] and list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="unknown dataset"):
        fetch_datasets(["mnist", "nope"], data_home=tmp_path)


def test_profile_cifar10_by_name_with_numeric_class_aliases(served, tmp_path, capsys):
    home = tmp_path / "home"
    fetch_datasets("cifar10", data_home=home)
    out = tmp_path / "report"
    code = cli.main(["profile", "cifar10", "--split", "train", "--classes", "3", "0",
                     "--n-bootstrap", "0", "--k", "3", "--data-home", str(home), "--out",
                     str(out), "-q"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    # classes 3 and 0 are cat and airplane, listed in the order given
    assert "classes cat (" in captured.out and captured.out.index("cat (") < \
        captured.out.index("airplane (")
    assert "image" in captured.out and "3x32x32" in captured.out
