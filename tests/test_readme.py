"""The README's Python example runs as printed, and its claim (loss falls with N) holds."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md has no python example"
    code = "import torch; torch.set_num_threads(1)\n" + blocks[0]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    losses = [float(v) for v in re.findall(r"[0-9.]+(?:e-?\d+)?", out.stdout.splitlines()[-1])]
    assert len(losses) == 3 and losses[0] > losses[1] > losses[2], out.stdout


def readme_block(marker):
    """The first fenced block after ``<!-- ci: marker -->``, as .ci/run extracts it."""
    text = README.read_text()
    after = text[text.index(f"<!-- ci: {marker} -->"):]
    return re.search(r"```\w*\n(.*?)```", after, flags=re.S).group(1)


def test_readme_blocks_create_and_activate_a_venv_and_name_cpu_and_cuda():
    install, tests = readme_block("install"), readme_block("test")
    lines = [line.strip() for line in install.splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    # the venv comes first, and everything after runs inside it
    assert re.fullmatch(r"python3 -m venv (\S+) && \. \1/bin/activate", lines[0]), lines[0]
    venv = lines[0].split()[3]
    # the test block runs in a fresh shell: it activates the same venv before anything else
    assert tests.strip().startswith(f". {venv}/bin/activate &&"), tests
    # the CPU wheel comes from PyTorch's CPU index, pinned, before the package is installed
    torch_line = next(i for i, line in enumerate(lines) if line.startswith("pip install torch"))
    assert "torch==2.13.0" in lines[torch_line]
    assert "--index-url https://download.pytorch.org/whl/cpu" in lines[torch_line]
    assert torch_line < next(i for i, line in enumerate(lines) if "pip install -e ." in line)
    # the CUDA route is named in the block itself, and spelled out below it
    assert "CUDA" in install and "whl/cu126" in install
    assert "--index-url https://download.pytorch.org/whl/cu126" in README.read_text()
    # the tests get their data through the fetch command the skips name
    assert "skintrinsic fetch mnist pneumoniamnist" in tests
