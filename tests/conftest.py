"""Test-wide settings: one torch thread (2 busy cores make the default 10x slower), real-data paths."""

import os
from pathlib import Path

# sklearn's check_array_api_input only runs with this set, and scipy reads it at import
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir():
    """``$SKINTRINSIC_DATA_HOME``, else ``../shared/data`` beside the checkout."""
    env = os.environ.get("SKINTRINSIC_DATA_HOME")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_home():
    path = shared_data_dir()
    if not (path / "pneumoniamnist.npz").exists():
        pytest.fail(
            f"real test data not found in {path}; set SKINTRINSIC_DATA_HOME to the folder holding "
            "mnist-t10k-*.gz and pneumoniamnist.npz"
        )
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(0)
