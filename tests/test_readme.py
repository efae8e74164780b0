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
