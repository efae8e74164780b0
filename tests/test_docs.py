"""The documentation builds offline with warnings as errors, running every gallery example,
in a temporary folder (never into the checkout), and its pages render math with no network."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_cli import _chromium, chromium

REPO = Path(__file__).resolve().parents[1]
GENERATED = ("auto_examples", "gen_modules", "_build", "sg_execution_times.rst")
# every test here uses the one docs build, which runs every gallery example
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


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


def _example_output(built_docs, stem):
    return _printed((built_docs / "auto_examples" / f"{stem}.html").read_text())


def _numbers(text):
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text)]


def test_mnist_vs_pneumonia_claims(built_docs):
    text = _example_output(built_docs, "plot_mnist_vs_pneumonia")
    # "at equal N the medical task is markedly sharper ... the dimensions of the same order"
    ratios = re.search(r"K_F medical / natural: \{(.*?)\}", text).group(1)
    assert all(r > 1.8 for r in _numbers(ratios)[1::2]), ratios
    rows = re.findall(r"^(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.e-]+)\s+([\d.e-]+)$", text, re.M)
    table = np.array([[float(v) for v in row] for row in rows])
    assert table.shape == (4, 5), text
    assert np.all(np.abs(np.log(table[:, 2] / table[:, 1])) < np.log(2))
    # "K_F never falls as N grows", and it does grow from the smallest N to the largest
    for column in (3, 4):
        assert np.all(np.diff(table[:, column]) >= 0) and table[-1, column] > table[0, column]


def test_robustness_claims(built_docs):
    text = _example_output(built_docs, "plot_robustness")
    tasks = re.findall(r"^\s*\d+\s+(MNIST \d vs \d|PneumoniaMNIST #\d)\s+([\d.e-]+)\s+"
                       r"[\d.e-]+\s+[\d.e-]+\s+([\d.e-]+)", text, re.M)
    natural = [(float(k), float(d)) for name, k, d in tasks if name.startswith("MNIST")]
    medical = [(float(k), float(d)) for name, k, d in tasks if name.startswith("Pneumonia")]
    assert len(natural) == 5 and len(medical) == 2, text
    # medical K_F "about 2.5 times" that of the digit pairs, on average
    ratio = np.mean([k for k, _ in medical]) / np.mean([k for k, _ in natural])
    assert 1.8 < ratio < 3.5, ratio
    # "among the digit pairs alone r is lower"
    r_all = float(re.search(r"Pearson r = (-?[\d.]+)", text).group(1))
    r_natural = float(re.search(r"digit pairs alone = (-?[\d.]+)", text).group(1))
    assert r_natural < r_all
    # "PGD raises the loss at least as much as FGSM at every size"
    pairs = re.findall(r"\d+/255\s+([\d.]+)\s+([\d.]+)", text)
    assert len(pairs) == 8, text
    assert all(float(pgd) >= float(fgsm) - 1e-4 for fgsm, pgd in pairs)


def test_diffeo_stability_claims(built_docs):
    text = _example_output(built_docs, "plot_diffeo_stability")
    # RMS displacement about 1.26 delta at the centre and 0.81 delta over the image
    for delta, centre, overall in re.findall(
            r"delta=([\d.]+): RMS displacement ([\d.]+) px at the centre, ([\d.]+) px", text):
        assert abs(float(centre) / float(delta) - 1.26) < 0.05
        assert abs(float(overall) / float(delta) - 0.81) < 0.05
    outputs = {}
    for state in ("initialization", "trained"):
        block = re.search(state + r" output:\n\s*delta\s+D\s+G\s+R\n((?:\s*[\d.]+\s+[\d.]+\s+"
                          r"[\d.]+\s+[\d.]+\n?)+)", text).group(1)
        outputs[state] = np.array([_numbers(line) for line in block.strip().splitlines()])
    for state, table in outputs.items():
        delta, D, G, R = table.T
        assert np.all(np.diff(D) > 0) and np.all(np.diff(G) > 0), state  # grow with delta
        assert delta.max() / delta.min() == 4
    r_init = outputs["initialization"][:, 3]
    r_trained = outputs["trained"][:, 3]
    assert r_init.max() / r_init.min() < 2  # at initialization R within a factor of 2
    assert np.all((r_init > 0.2) & (r_init < 5))  # R_f of order 1 at initialization
    assert np.all(np.abs(np.log(r_trained / r_init)) < np.log(3))  # less than a factor 3
    # "the median R is below the mean R at every layer"
    rows = re.findall(r"^\s*(\S+)\s+([\d.]+)\s+([\d.]+)$", text.split("R_median")[1], re.M)
    assert len(rows) == 5, text
    assert all(float(median) < float(mean) for _, mean, median in rows)
    # the constant-filter model's exponents
    stride2 = re.search(r"stride 2, .*?\{'D': (-?[\d.]+), 'G': (-?[\d.]+)", text).groups()
    stride1 = re.search(r"stride 1, .*?\{'D': (-?[\d.]+), 'G': (-?[\d.]+)", text).groups()
    assert abs(float(stride2[0]) + 1) < 0.1 and abs(float(stride2[1]) - 1) < 0.1
    assert abs(float(stride1[0]) + 1) < 0.1 and abs(float(stride1[1]) - 0.5) < 0.1


def test_scale_detection_claims(built_docs):
    text = _example_output(built_docs, "plot_scale_detection")
    r_f = dict(re.findall(r"(initialization|trained): perturbation='sparse', R_f at the output "
                          r"= ([\d.]+)", text))
    assert float(r_f["initialization"]) / float(r_f["trained"]) > 10  # more than a decade
    rows = re.findall(r"^\s*\d+\s+(\S+)\s+\d+\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", text, re.M)
    D = [float(d) for _, d, _, _ in rows]
    G = [float(g) for _, _, g, _ in rows]
    assert len(rows) == 5 and rows[-1][0] == "output"
    assert np.all(np.diff(D) < 0)  # the sensitivity to moves falls at every layer
    assert G[-1] > 3 * G[0]  # noise: several times higher at the output than at the start
    shares = re.search(r"initialization: spatial-pooling share per conv layer \[(.*?)\]", text)
    assert all(abs(s - 1 / 9) < 0.05 for s in _numbers(shares.group(1)))  # random: about 1/9


def test_scaling_law_claims(built_docs):
    text = _example_output(built_docs, "plot_scaling_law")
    # the dataset table: four datasets, all measured at the same n_reference
    rows = re.findall(r"^\d\s+(PneumoniaMNIST|MNIST \d vs \d)\s+(medical|natural)\s+(\d+)\s+"
                      r"([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.e-]+)\s+([\d.e-]+)\s+([\d.e-]+)",
                      text, re.M)
    assert len(rows) == 4 and {r[2] for r in rows} == {"500"}, text
    for row in rows:
        d, low, high, k, k05, k95 = map(float, row[3:9])
        assert low <= d <= high and k05 <= k <= k95
    k_f = {row[0]: float(row[6]) for row in rows}
    assert k_f["PneumoniaMNIST"] > max(v for n, v in k_f.items() if n.startswith("MNIST"))
    # "the test loss falls with N on every dataset"
    losses = re.findall(r"^(50|100|200)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", text,
                        re.M)
    table = np.array([[float(v) for v in row[1:]] for row in losses])
    assert table.shape == (3, 4) and np.all(np.diff(table, axis=0) < 0), text
    # one point per dataset in the correlation; 24 orderings: no p below 1/12
    corr = re.findall(r"^\d\s+K_F\s+(\S+)\s+(pearson|spearman)\s+(-?[\d.]+)\s+(-?[\d.]+)\s+"
                      r"(-?[\d.]+)\s+([\d.]+)\s+(\d+)$", text, re.M)
    assert len(corr) == 4 and {c[6] for c in corr} == {"4"}, text
    assert all(float(c[5]) >= 1 / 12 - 1e-9 for c in corr)
    # "the clustered interval of the log K_F coefficient is several times wider"
    widths = [float(high) - float(low) for low, high in re.findall(
        r"^log_sharpness\s+[-\d.e]+\s+[\d.e-]+\s+(-?[\d.e-]+)\s+(-?[\d.e-]+)\s+True$", text,
        re.M)]
    assert len(widths) == 2 and widths[0] > 3 * widths[1], widths

