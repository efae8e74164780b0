"""Data home, registry and downloads, against a real HTTP server on loopback serving ../shared/data.

Every failure mode (wrong file, truncated transfer, no server, HTTP error, corrupted cache) must
end in an error that names the file and the fix, and must leave nothing half-written behind.
"""

import dataclasses
import hashlib
import http.server
import os
import re
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import skintrinsic
from conftest import serve
from skintrinsic.datasets import _fetch, get_data_home, load_medmnist, load_mnist

T10K_IMAGES = "mnist-t10k-images-idx3-ubyte.gz"
T10K_LABELS = "mnist-t10k-labels-idx1-ubyte.gz"


def md5_of(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """/data/F serves file F; /truncated/F announces F's length but sends half of it;
    /nolength/F sends half of F with no length header; /endless/F streams zeros without a
    length; /huge/F announces 1 TB; /drip/F sends F one byte every 20 ms; anything else is
    a 404."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        kind, _, name = self.path.lstrip("/").partition("/")
        path = self.server.root / name
        if kind not in ("data", "truncated", "nolength", *_HOSTILE) or not path.is_file():
            self.send_error(404)
            return
        if kind in _HOSTILE:
            _HOSTILE[kind](self, path.read_bytes())
            return
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if kind != "nolength":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if kind == "data" else body[: len(body) // 2])
        self.close_connection = True


def _endless(handler, body):
    handler.send_response(200)
    handler.end_headers()
    try:
        for _ in range(2000):  # 128 MiB at most, should the client never stop
            handler.wfile.write(bytes(1 << 16))
    except OSError:  # the client hung up, as it should
        pass
    handler.close_connection = True


def _huge(handler, body):
    handler.send_response(200)
    handler.send_header("Content-Length", str(10**12))
    handler.end_headers()
    try:
        handler.wfile.write(body)
    except OSError:
        pass
    handler.close_connection = True


def _drip(handler, body):
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    try:
        for byte in body:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.02)
    except OSError:
        pass
    handler.close_connection = True


_HOSTILE = {"endless": _endless, "huge": _huge, "drip": _drip}


@pytest.fixture(scope="module")
def _running_server(data_home):
    with serve(data_home, _Handler) as httpd:
        yield httpd


@pytest.fixture
def server(_running_server):
    _running_server.requests = []
    return _running_server


@pytest.fixture
def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return port  # nothing listens there any more: connections are refused


@pytest.fixture(autouse=True)
def offline_registry(monkeypatch, closed_port):
    """No test may reach the real servers: every URL leads to a closed loopback port."""
    for name, entry in list(_fetch.REGISTRY.items()):
        dead = (f"http://127.0.0.1:{closed_port}/{name}",)
        monkeypatch.setitem(_fetch.REGISTRY, name, dataclasses.replace(entry, urls=dead))


def point(monkeypatch, filename, *urls):
    """Make the registry download ``filename`` from ``urls`` (the checksums stay official)."""
    assert all(u.startswith("http://127.0.0.1:") for u in urls)
    entry = _fetch.REGISTRY[filename]
    monkeypatch.setitem(_fetch.REGISTRY, filename, dataclasses.replace(entry, urls=urls))


def assert_clean(folder, *allowed):
    """Nothing but ``allowed`` in ``folder``: no partial download, no temporary file."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(allowed)


# ------------------------------------------------------------------------------ data home

def test_get_data_home_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SKINTRINSIC_DATA_HOME", raising=False)
    default = get_data_home()
    assert default == tmp_path / "home" / "skintrinsic_data" and default.is_dir()

    monkeypatch.setenv("SKINTRINSIC_DATA_HOME", str(tmp_path / "from_env"))
    assert get_data_home() == tmp_path / "from_env" and (tmp_path / "from_env").is_dir()

    explicit = get_data_home(tmp_path / "explicit" / "nested")
    assert explicit == tmp_path / "explicit" / "nested" and explicit.is_dir()
    assert get_data_home("~/tilde") == tmp_path / "home" / "tilde"


def test_get_data_home_not_a_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        get_data_home(tmp_path / "file")
    with pytest.raises(OSError, match="cannot create the data folder"):
        get_data_home(tmp_path / "file" / "below")


def test_env_variable_reaches_the_loaders(data_home, monkeypatch):
    monkeypatch.setenv("SKINTRINSIC_DATA_HOME", str(data_home))
    X, y = load_mnist(return_X_y=True, download_if_missing=False)
    assert X.shape == (10000, 28, 28) and y.shape == (10000,)


# ------------------------------------------------------------------------------- registry

def test_registry_checksums_match_the_shared_files_and_readme(data_home, shared_copy):
    readme = (data_home / "README.md").read_text()
    for name in (T10K_IMAGES, T10K_LABELS):
        official = _fetch.REGISTRY[name].md5
        assert len(official) == 1
        assert official[0] in readme  # the README lists the official MNIST checksums
        assert md5_of(data_home / name) == official[0]
    pneumonia = _fetch.REGISTRY["pneumoniamnist.npz"]
    # the official checksum (medmnist INFO) and nothing else: the library knows no other copy
    assert pneumonia.md5 == ("28209eda62fecd6e6a2d98b1501bb15f",)


def test_library_knows_nothing_of_the_test_data(data_home):
    """No file of the package names the test data's folder or the checksum of its copies."""
    package = Path(skintrinsic.__file__).parent
    shared_md5 = md5_of(data_home / "pneumoniamnist.npz")
    for path in package.rglob("*.py"):
        text = path.read_text()
        assert shared_md5 not in text, path
        assert "shared/data" not in text and "shared data" not in text, path
        assert str(data_home) not in text, path


def test_registry_entries_are_well_formed():
    registry = _fetch._build_registry()  # the real URLs, not the test's loopback ones
    assert len(registry) == 4 + 12 * 4 + 3  # MNIST, MedMNIST, CIFAR-10 and SVHN
    for name, entry in registry.items():
        assert entry.filename == name
        assert entry.urls and all(re.match(r"https?://", u) for u in entry.urls)
        assert all(re.fullmatch(r"[0-9a-f]{32}", m) for m in entry.md5)
        official = name.removeprefix("mnist-").removeprefix("svhn-")
        assert all(u.split("?")[0].endswith(official) for u in entry.urls)
    assert len({e.md5[0] for e in registry.values()}) == len(registry)
    assert registry[T10K_IMAGES].urls[0].startswith("http://yann.lecun.com/exdb/mnist/")
    assert registry["pneumoniamnist_224.npz"].urls == (
        "https://zenodo.org/records/10519652/files/pneumoniamnist_224.npz?download=1",)


def test_package_ships_no_data():
    """No dataset file inside the package: data is fetched into the data home, never shipped."""
    package = Path(skintrinsic.__file__).parent
    data_suffixes = {".gz", ".npz", ".npy", ".ubyte", ".png", ".jpg", ".jpeg", ".zip", ".tar",
                     ".pt", ".pth", ".h5", ".csv", ".pkl"}
    files = [p for p in package.rglob("*") if p.is_file()]
    assert any(p.name == "_fetch.py" for p in files)
    assert [p for p in files if p.suffix.lower() in data_suffixes] == []


# ------------------------------------------------------------------------------- downloads

def test_download_then_cached(server, tmp_path, monkeypatch, data_home):
    for name in (T10K_IMAGES, T10K_LABELS):
        point(monkeypatch, name, f"{server.base}/data/{name}")
    X, y = load_mnist(data_home=tmp_path, return_X_y=True)
    assert_clean(tmp_path, T10K_IMAGES, T10K_LABELS)
    for name in (T10K_IMAGES, T10K_LABELS):
        assert (tmp_path / name).read_bytes() == (data_home / name).read_bytes()
    X_ref, y_ref = load_mnist(data_home=data_home, return_X_y=True)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)
    assert len(server.requests) == 2
    load_mnist(data_home=tmp_path, download_if_missing=False)  # served from the cache
    assert len(server.requests) == 2


def test_download_medmnist(server, tmp_path, monkeypatch, data_home):
    # the served copy stands for the official file: the registry is told its checksum
    served = md5_of(data_home / "pneumoniamnist.npz")
    point(monkeypatch, "pneumoniamnist.npz", f"{server.base}/data/pneumoniamnist.npz")
    entry = _fetch.REGISTRY["pneumoniamnist.npz"]
    monkeypatch.setitem(_fetch.REGISTRY, "pneumoniamnist.npz",
                        dataclasses.replace(entry, md5=(served,)))
    data = load_medmnist("pneumoniamnist", split="val", data_home=tmp_path, verbose=1)
    assert data.data.shape == (524, 28, 28)
    assert data.md5 == served and data.variant == "official"
    assert_clean(tmp_path, "pneumoniamnist.npz")


def test_unofficial_copy_by_name_says_how_to_read_it_by_path(data_home):
    """A named dataset whose file is not the official one is refused, with the path to use."""
    with pytest.raises(_fetch.ChecksumError) as info:
        load_medmnist("pneumoniamnist", data_home=data_home, download_if_missing=False)
    message = str(info.value)
    path = str(data_home / "pneumoniamnist.npz")
    assert "28209eda62fecd6e6a2d98b1501bb15f" in message  # the official checksum
    assert md5_of(data_home / "pneumoniamnist.npz") in message  # and the one found
    assert f"load_medmnist({path!r})" in message
    data = load_medmnist(path, split="test")  # the advice works: read as it is, unverified
    assert data.data.shape == (624, 28, 28) and data.md5 is None
    assert data.variant == "unverified local file"


def test_size_cap_stops_an_endless_or_oversized_download(server, tmp_path, monkeypatch):
    cap = _fetch.REGISTRY[T10K_LABELS].max_bytes
    assert 4542 < cap < 2 * 1024 * 1024  # the registry size with a margin, not unbounded
    for route, symptom in (("endless", f"more than the {cap} bytes"),
                           ("huge", "announces 1000000000000 bytes")):
        point(monkeypatch, T10K_LABELS, f"{server.base}/{route}/{T10K_LABELS}")
        with pytest.raises(OSError, match=symptom):
            _fetch.fetch(T10K_LABELS, tmp_path)
        assert_clean(tmp_path)


def test_overall_deadline_stops_a_dripping_server(server, tmp_path, monkeypatch):
    # each byte arrives well within the per-read timeout; only the overall deadline can stop it
    monkeypatch.setattr(_fetch, "_MIN_RATE", 10**9)
    point(monkeypatch, T10K_LABELS, f"{server.base}/drip/{T10K_LABELS}")
    started = time.monotonic()
    with pytest.raises(OSError, match="overall deadline passed"):
        _fetch.download(_fetch.REGISTRY[T10K_LABELS], tmp_path / T10K_LABELS, timeout=0.5)
    assert time.monotonic() - started < 30  # the whole drip would take 90 s
    assert_clean(tmp_path)


def test_a_failed_load_creates_no_data_folder(tmp_path):
    home = tmp_path / "not" / "yet"
    with pytest.raises(FileNotFoundError):
        load_mnist(data_home=home, download_if_missing=False)
    assert not (tmp_path / "not").exists()


def test_checksum_mismatch(server, tmp_path, monkeypatch):
    # the server answers with another file than the one asked for
    point(monkeypatch, T10K_IMAGES, f"{server.base}/data/{T10K_LABELS}")
    with pytest.raises(OSError) as info:
        _fetch.fetch(T10K_IMAGES, tmp_path)
    message = str(info.value)
    assert "checksum mismatch" in message and T10K_IMAGES in message
    assert "ec29112dd5afa0611ce80d1b7f02629c" in message  # what was received
    assert "9fb629c4189551a2d022fa330f9573f3" in message  # what was expected
    assert_clean(tmp_path)


@pytest.mark.parametrize("route, symptom", [("truncated", "truncated download: received"),
                                            ("nolength", "checksum mismatch")])
def test_truncated_transfer(server, tmp_path, monkeypatch, route, symptom):
    point(monkeypatch, T10K_LABELS, f"{server.base}/{route}/{T10K_LABELS}")
    with pytest.raises(OSError, match=symptom) as info:
        _fetch.fetch(T10K_LABELS, tmp_path)
    if route == "truncated":
        assert "2271 of 4542 bytes" in str(info.value)
    assert_clean(tmp_path)


def test_no_network(tmp_path, closed_port):
    # offline_registry already sends every URL to the closed port
    url = f"http://127.0.0.1:{closed_port}/{T10K_IMAGES}"
    with pytest.raises(OSError) as info:
        load_mnist(data_home=tmp_path)
    message = str(info.value)
    assert "could not download" in message and "no connection" in message and url in message
    assert "Check the network connection" in message
    assert_clean(tmp_path)


def test_http_error_then_mirror(server, tmp_path, monkeypatch):
    missing = f"{server.base}/data/no-such-file.gz"
    point(monkeypatch, T10K_LABELS, missing)
    with pytest.raises(OSError, match="HTTP error 404"):
        _fetch.fetch(T10K_LABELS, tmp_path)
    assert_clean(tmp_path)
    # the next URL is tried when one fails
    point(monkeypatch, T10K_LABELS, missing, f"{server.base}/data/{T10K_LABELS}")
    path, md5 = _fetch.fetch(T10K_LABELS, tmp_path)
    assert md5 == "ec29112dd5afa0611ce80d1b7f02629c" == md5_of(path)
    assert_clean(tmp_path, T10K_LABELS)


def test_every_failure_is_listed(server, tmp_path, monkeypatch, closed_port):
    urls = (f"http://127.0.0.1:{closed_port}/{T10K_LABELS}",
            f"{server.base}/truncated/{T10K_LABELS}", f"{server.base}/data/{T10K_IMAGES}",
            f"{server.base}/endless/{T10K_LABELS}")
    point(monkeypatch, T10K_LABELS, *urls)
    with pytest.raises(OSError) as info:
        _fetch.fetch(T10K_LABELS, tmp_path)
    lines = str(info.value).splitlines()
    for url, symptom in zip(urls, ("no connection", "truncated", "announces 1648877 bytes",
                                   "more than the")):
        assert any(url in line and symptom in line for line in lines)
    assert_clean(tmp_path)


# ------------------------------------------------------------------------- the cache itself

def corrupt(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_missing_file_without_download(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(data_home=tmp_path, download_if_missing=False)
    message = str(info.value)
    assert T10K_IMAGES in message and "SKINTRINSIC_DATA_HOME" in message
    assert "download_if_missing=True" in message
    assert_clean(tmp_path)


def test_corrupted_cache_is_refetched(server, tmp_path, monkeypatch, data_home):
    good = (data_home / T10K_LABELS).read_bytes()
    (tmp_path / T10K_LABELS).write_bytes(good)
    corrupt(tmp_path / T10K_LABELS)
    point(monkeypatch, T10K_LABELS, f"{server.base}/data/{T10K_LABELS}")
    with pytest.warns(UserWarning, match="corrupted"):
        path, _ = _fetch.fetch(T10K_LABELS, tmp_path)
    assert path.read_bytes() == good
    assert_clean(tmp_path, T10K_LABELS)


def test_corrupted_cache_is_reported(tmp_path, data_home):
    (tmp_path / T10K_IMAGES).write_bytes((data_home / T10K_IMAGES).read_bytes())
    (tmp_path / T10K_LABELS).write_bytes((data_home / T10K_LABELS).read_bytes()[:-10])
    with pytest.raises(OSError) as info:
        load_mnist(data_home=tmp_path, download_if_missing=False)
    message = str(info.value)
    assert str(tmp_path / T10K_LABELS) in message and "corrupted" in message
    assert "Delete it" in message and "download_if_missing=True" in message


def test_corrupted_cache_kept_when_refetch_fails(tmp_path, monkeypatch, closed_port, data_home):
    corrupted = (data_home / T10K_LABELS).read_bytes()[:100]
    (tmp_path / T10K_LABELS).write_bytes(corrupted)
    point(monkeypatch, T10K_LABELS, f"http://127.0.0.1:{closed_port}/{T10K_LABELS}")
    with pytest.warns(UserWarning, match="corrupted"), \
            pytest.raises(OSError, match="left as it was") as info:
        _fetch.fetch(T10K_LABELS, tmp_path)
    assert "no connection" in str(info.value)
    assert (tmp_path / T10K_LABELS).read_bytes() == corrupted
    assert_clean(tmp_path, T10K_LABELS)


def test_change_after_verification_is_detected(tmp_path, data_home):
    """The per-process memo of verified files must not hide a file changed on disk."""
    path = tmp_path / T10K_LABELS
    path.write_bytes((data_home / T10K_LABELS).read_bytes())
    _fetch.fetch(T10K_LABELS, tmp_path, download_if_missing=False)
    before = path.stat().st_mtime_ns
    corrupt(path)  # same size, same inode
    os.utime(path, ns=(before, before))  # and even the same modification time
    with pytest.raises(OSError, match="corrupted"):
        _fetch.fetch(T10K_LABELS, tmp_path, download_if_missing=False)


def test_fetch_keeps_a_copy_that_is_not_the_official_file_unless_asked(server, tmp_path,
                                                                        monkeypatch, data_home):
    from skintrinsic.datasets import fetch_datasets

    name = "pneumoniamnist.npz"
    copy = tmp_path / name
    copy.write_bytes((data_home / name).read_bytes())
    served = md5_of(data_home / name)
    official = _fetch.REGISTRY[name].md5[0]
    if served == official:
        pytest.skip("the data home holds the official file; this test needs another copy")
    with pytest.warns(UserWarning, match=f"not the official file: its md5 is {served}, "
                                         f"expected {official}.*--replace") as record:
        paths = fetch_datasets(["pneumoniamnist"], data_home=tmp_path)
    assert record[0].filename == __file__  # the warning points at the caller's line
    assert paths == {"pneumoniamnist": [copy]} and md5_of(copy) == served
    assert server.requests == []  # nothing was downloaded
    # asked to replace it, the official file is downloaded over it (here: the loopback copy
    # stands for it, the registry told its checksum)
    point(monkeypatch, name, f"{server.base}/data/{name}")
    monkeypatch.setitem(_fetch.REGISTRY, name,
                        dataclasses.replace(_fetch.REGISTRY[name], md5=(official,)))
    with pytest.raises(_fetch.ChecksumError, match="Downloading a replacement failed too"):
        fetch_datasets(["pneumoniamnist"], data_home=tmp_path, replace=True)
    assert server.requests == [f"/data/{name}"] and md5_of(copy) == served
