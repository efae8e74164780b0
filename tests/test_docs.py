"""The documentation builds offline with warnings as errors, running every gallery example,
in a temporary folder (never into the checkout), and its pages render math with no network."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import _chromium, chromium

REPO = Path(__file__).resolve().parents[1]
GENERATED = ("auto_examples", "gen_modules", "_build", "sg_execution_times.rst")


def _tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture(scope="module")
def built_docs(tmp_path_factory, data_home):
    """Build a copy of doc/ in a temporary folder; the checkout's doc/ is left as it was."""
    tmp = tmp_path_factory.mktemp("docs")
    source = tmp / "doc"
    shutil.copytree(REPO / "doc", source, ignore=shutil.ignore_patterns(*GENERATED))
    before = _tree(REPO / "doc")
    env = {**os.environ, "SKINTRINSIC_DATA_HOME": str(data_home), "MPLBACKEND": "Agg",
           "SKINTRINSIC_REPO": str(REPO), "SKINTRINSIC_DOCS_RERUN": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    html = tmp / "html"
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
           "-d", str(tmp / "doctrees"), str(source), str(html)]
    proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, (proc.stdout[-3000:] + "\n" + proc.stderr[-6000:])
    assert _tree(REPO / "doc") == before  # nothing generated into the checkout
    return html


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_docs_build_and_every_example_runs(built_docs):
    html = built_docs
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
    # nothing is taken from the network, MathJax included
    external = re.compile(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)=["'](https?://[^"']+)""")
    for page in html.rglob("*.html"):
        assert external.findall(page.read_text()) == [], page
    for page in ["user_guide/intrinsic_dimension.html", "api.html", "command_line.html",
                 "gen_modules/skintrinsic.IntrinsicDimension.html"]:
        assert (html / page).exists(), page
    print("example running times (s):", {k: round(v, 1) for k, v in times.items()})


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_math_renders_offline_in_chromium(built_docs, tmp_path):
    exe = chromium()
    page = built_docs / "user_guide" / "label_sharpness.html"
    source = page.read_text()
    assert source.count(r"\(") >= 3  # the page does hold TeX for MathJax to typeset
    assert re.search(r'<script[^>]+src="\.\./_static/tex-svg-full\.js', source)
    # no network at all: a page that needed it would show raw TeX
    offline = ("--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=15000")
    proc = _chromium(exe, tmp_path, *offline, "--dump-dom", page.as_uri())
    dom = proc.stdout
    assert "<mjx-container" in dom, proc.stderr[-2000:]
    assert dom.count("<mjx-container") >= source.count(r"\(")
    text = re.sub(r"<script.*?</script>|<style.*?</style>|<[^>]+>", " ", dom, flags=re.S)
    assert r"\(" not in text and r"\[" not in text
    shot = tmp_path / "math.png"
    _chromium(exe, tmp_path, *offline, f"--screenshot={shot}", "--window-size=1200,1600",
              page.as_uri())
    from PIL import Image

    with Image.open(shot) as image:
        assert image.convert("L").getextrema()[0] < 100  # dark glyphs were drawn
