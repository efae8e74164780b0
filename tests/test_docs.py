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


def _printed(page):
    """The text an example printed, as sphinx-gallery shows it."""
    import html as html_lib

    blocks = re.findall(r'sphx-glr-script-out.*?<pre>(.*?)</pre>', page, flags=re.S)
    return "\n".join(html_lib.unescape(re.sub(r"<[^>]+>", "", b)) for b in blocks)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_representation_profile_claims(built_docs):
    """Every "What to look for" claim of the gallery's d_repr example, on its printed numbers."""
    page = (built_docs / "auto_examples" / "plot_representation_profile.html").read_text()
    text = _printed(page)
    tasks = re.findall(r"^(.+): d_data = ([\d.]+)\n\s*layer\s+dimension\s+at_initialization\n"
                       r"((?:\s*\S+\s+[\d.]+\s+[\d.]+\n?)+)", text, flags=re.M)
    assert [t[0] for t in tasks] == ["MNIST 3 vs 5", "PneumoniaMNIST"], text
    for name, d_data, rows in tasks:
        layers, trained, initial = zip(*(line.split() for line in rows.strip().splitlines()))
        trained, initial = [float(v) for v in trained], [float(v) for v in initial]
        peak = layers[trained.index(max(trained))]
        assert peak.startswith("features"), (name, peak)  # largest at a convolutional stage
        assert trained[-1] < max(trained) and abs(trained[-1] - 2) < 0.3, name
        assert all(abs(i - t) <= 0.2 * t for i, t in zip(initial, trained)), name
        assert abs(initial[-1] - 2) < 0.3, name
        assert trained[-2] < float(d_data), name  # d_repr (penultimate) below d_data
