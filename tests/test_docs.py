"""The documentation builds offline with warnings as errors, running every gallery example."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_docs_build_and_every_example_runs(tmp_path, data_home):
    env = {**os.environ, "SKINTRINSIC_DATA_HOME": str(data_home), "MPLBACKEND": "Agg",
           "SKINTRINSIC_DOCS_RERUN": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    html = tmp_path / "html"
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
           "-d", str(tmp_path / "doctrees"), "doc", str(html)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, (proc.stdout[-3000:] + "\n" + proc.stderr[-6000:])

    examples = sorted(p.stem for p in (REPO / "examples").glob("plot_*.py"))
    assert len(examples) >= 7
    times = (REPO / "doc" / "auto_examples" / "sg_execution_times.rst").read_text()
    for stem in examples:
        page = (html / "auto_examples" / f"{stem}.html").read_text()
        # each example ran (sphinx-gallery reports its time) and drew at least one figure
        assert re.search(r"Total running time of the script:", page), stem
        assert f"sphx_glr_{stem}_001.png" in page, stem
        assert (html / "_images" / f"sphx_glr_{stem}_001.png").exists(), stem
        assert stem in times, stem
    # the user guide and the API reference are there, and nothing is loaded from the network
    for page in ["user_guide/intrinsic_dimension.html", "api.html", "command_line.html",
                 "gen_modules/skintrinsic.IntrinsicDimension.html"]:
        text = (html / page).read_text()
        assert not re.search(r"""<(?:script|link|img)[^>]+(?:src|href)=["']https?://""", text), page
    print(times)
