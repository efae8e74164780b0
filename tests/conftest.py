"""Test-wide settings: one torch thread (2 busy cores make the default 10x slower), real-data paths."""

import contextlib
import http.server
import os
import threading
from pathlib import Path

# sklearn's check_array_api_input only runs with this set, and scipy reads it at import
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _calibration_cache(tmp_path_factory):
    """The ID calibration tables of a test run go to a fresh folder, not the user's cache:
    a run never depends on tables left by an earlier one (set SKINTRINSIC_CACHE to reuse)."""
    if "SKINTRINSIC_CACHE" in os.environ:
        yield
        return
    os.environ["SKINTRINSIC_CACHE"] = str(tmp_path_factory.mktemp("calibration"))
    try:
        yield
    finally:
        del os.environ["SKINTRINSIC_CACHE"]


#: the files the real-data tests read, and the command that puts them in the data home
REAL_DATA = ("mnist-t10k-images-idx3-ubyte.gz", "mnist-t10k-labels-idx1-ubyte.gz",
             "pneumoniamnist.npz")
FETCH_COMMAND = "skintrinsic fetch mnist pneumoniamnist"
#: every skip for missing data says this; .ci/run fails when it finds it among the skips
MISSING_DATA = "real data missing"


def shared_data_dir():
    """The folder the real-data tests read: the library's data home, as the CLI uses it.

    That is ``$SKINTRINSIC_DATA_HOME`` when set.  Otherwise the project's own copy in
    ``../shared/data`` beside the checkout when it holds the data (the library knows
    nothing of it), else the library's default ``~/skintrinsic_data``, where
    ``skintrinsic fetch`` puts the files.
    """
    from skintrinsic.datasets._fetch import ENV_DATA_HOME, default_data_home

    if os.environ.get(ENV_DATA_HOME):
        return default_data_home()
    shared = REPO.parent / "shared" / "data"
    if all((shared / name).is_file() for name in REAL_DATA):
        return shared
    return default_data_home()


@pytest.fixture(scope="session")
def data_home():
    path = shared_data_dir()
    missing = [name for name in REAL_DATA if not (path / name).is_file()]
    if missing:
        pytest.skip(f"{MISSING_DATA}: {', '.join(missing)} not in {path}; run "
                    f"`{FETCH_COMMAND}` to download them there (or set "
                    "SKINTRINSIC_DATA_HOME to a folder that holds them)")
    return path


#: md5 of the project's own PneumoniaMNIST copy in ../shared/data (its train split differs
#: from the official file that `skintrinsic fetch pneumoniamnist` downloads)
SHARED_PNEUMONIAMNIST_MD5 = "f5b994ec7c2fe8bc81ae15cbab7c3df8"


@pytest.fixture(scope="session")
def shared_copy(data_home):
    """For tests of the project's own data copy: skip when the data home holds other files."""
    import hashlib

    md5 = hashlib.md5((data_home / "pneumoniamnist.npz").read_bytes()).hexdigest()
    if md5 != SHARED_PNEUMONIAMNIST_MD5 or not (data_home / "README.md").is_file():
        pytest.skip(f"checks the project's own copy of the data (../shared/data, "
                    f"pneumoniamnist.npz md5 {SHARED_PNEUMONIAMNIST_MD5}, with its README); "
                    f"{data_home} holds another copy")
    return data_home


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@contextlib.contextmanager
def serve(root, handler):
    """A threaded HTTP server on 127.0.0.1 serving ``root`` with ``handler`` (URL: ``.base``)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.root, httpd.requests = Path(root), []
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def shared_copy_registered(shared_copy, monkeypatch):
    """Let the registry accept the test copy of PneumoniaMNIST, which is not the official file.

    The library knows only the official checksum; loading the copy by name needs it
    registered.  (``shared_copy`` skips when the data home holds another file.)
    """
    import dataclasses
    import hashlib

    from skintrinsic.datasets import _fetch

    name = "pneumoniamnist.npz"
    md5 = hashlib.md5((shared_copy / name).read_bytes()).hexdigest()
    monkeypatch.setitem(_fetch.REGISTRY, name, dataclasses.replace(_fetch.REGISTRY[name],
                                                                   md5=(md5,)))
    return md5
