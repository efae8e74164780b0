"""The public namespace: every listed name resolves, and importing the package stays light."""

import subprocess
import sys

import pytest

import skintrinsic
import skintrinsic.datasets
import skintrinsic.plotting


@pytest.mark.parametrize("module", [skintrinsic, skintrinsic.datasets, skintrinsic.plotting])
def test_every_public_name_resolves(module):
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    assert sorted(dir(module)) == sorted(module.__all__)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        getattr(module, "nope")


def test_import_does_not_load_torch_or_matplotlib():
    code = "import sys, skintrinsic; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
