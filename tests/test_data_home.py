"""The tests, the command line and the loaders share one data folder; without the data the
real-data tests skip and say how to get it."""

import os
import subprocess
import sys
from pathlib import Path

from conftest import FETCH_COMMAND, MISSING_DATA, REAL_DATA, shared_data_dir

from skintrinsic.datasets import get_data_home

REPO = Path(__file__).resolve().parents[1]


def test_tests_read_the_folder_the_library_uses(tmp_path, monkeypatch):
    monkeypatch.setenv("SKINTRINSIC_DATA_HOME", str(tmp_path))
    assert shared_data_dir() == get_data_home() == tmp_path


def test_real_data_tests_skip_naming_the_fetch_command(tmp_path):
    # a fresh pytest over one real-data test, with an empty data folder
    env = {**os.environ, "SKINTRINSIC_DATA_HOME": str(tmp_path / "empty"),
           "PYTEST_ADDOPTS": ""}  # not .ci/run's result file
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         "tests/test_datasets.py::test_mnist_test_set"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "1 skipped" in proc.stdout
    assert MISSING_DATA in proc.stdout and f"`{FETCH_COMMAND}`" in proc.stdout
    assert all(name in proc.stdout for name in REAL_DATA)
