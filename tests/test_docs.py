"""The documentation builds offline with warnings as errors, running every gallery example."""

import os
import re
import shutil
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
    # generated sources of earlier builds (a renamed function, a removed example) would be
    # orphan pages; they are rebuilt from scratch anyway, since every example reruns
    for generated in ("gen_modules", "auto_examples"):
        shutil.rmtree(REPO / "doc" / generated, ignore_errors=True)
    html = tmp_path / "html"
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
           "-d", str(tmp_path / "doctrees"), "doc", str(html)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, (proc.stdout[-3000:] + "\n" + proc.stderr[-6000:])

    examples = sorted(p.stem for p in (REPO / "examples").glob("plot_*.py"))
    assert len(examples) >= 7
    times = {}
    for stem in examples:
        page = (html / "auto_examples" / f"{stem}.html").read_text()
        # each example ran (sphinx-gallery states its time) and drew at least one figure
        found = re.search(r"Total running time of the script:(?:</strong>)?\s*"
                          r"\((\d+) minutes\s*([\d.]+) seconds\)", page)
        assert found, stem
        times[stem] = 60 * int(found.group(1)) + float(found.group(2))
        assert f"sphx_glr_{stem}_001.png" in page, stem
        assert (html / "_images" / f"sphx_glr_{stem}_001.png").exists(), stem
    # nothing is taken from the network but MathJax, which the browser loads to typeset math
    external = re.compile(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)=["'](https?://[^"']+)""")
    for page in html.rglob("*.html"):
        urls = [u for u in external.findall(page.read_text()) if "/mathjax@" not in u]
        assert urls == [], (page, urls)
    for page in ["user_guide/intrinsic_dimension.html", "api.html", "command_line.html",
                 "gen_modules/skintrinsic.IntrinsicDimension.html"]:
        assert (html / page).exists(), page
    print("example running times (s):", {k: round(v, 1) for k, v in times.items()})
