"""skintrinsic compare: every dataset at one N, a page that renders, small modules, no cycles.

- ``compare`` measures every dataset on the same number of images (the smallest task),
  states it in report.json and on the page, and its K_F is LabelSharpness at that size;
- the page renders in headless Chromium with every figure decoded and the dataset table
  showing n_reference, without console errors;
- the Displays draw the data they are given;
- the command's modules stay small and their imports keep no cycles.
"""

import ast
import html
import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from skintrinsic import LabelSharpness, cli
from skintrinsic._report import Settings
from skintrinsic.datasets._sources import load_dataset

from test_cli import _chromium, chromium, oracle_mle, reference_scaled

PACKAGE = Path(__file__).resolve().parents[1] / "skintrinsic"
N_SMALL, N_LARGE, N_DRAWS, SEED = 120, 400, 5, 3


def _oracle_sharpness(X, y):
    """max 1[y_j != y_k] / ||x_j - x_k|| over all pairs, by brute force."""
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    D = cdist(X, X)
    return 1.0 / D[np.asarray(y)[:, None] != np.asarray(y)[None, :]].min()


@pytest.fixture(scope="module")
def two_sources(tmp_path_factory, data_home):
    """A small medical task and a larger natural one, as plain X/y .npz files."""
    import gzip

    root = tmp_path_factory.mktemp("sources")
    with np.load(data_home / "pneumoniamnist.npz") as npz:
        X, y = npz["test_images"], npz["test_labels"][:, 0]
    rng = np.random.default_rng(0)
    keep = np.concatenate([rng.choice(np.flatnonzero(y == c), N_SMALL // 2, replace=False)
                           for c in (0, 1)])
    np.savez(root / "xray.npz", X=X[keep], y=y[keep])
    images = np.frombuffer(gzip.decompress(
        (data_home / "mnist-t10k-images-idx3-ubyte.gz").read_bytes()), np.uint8, offset=16)
    labels = np.frombuffer(gzip.decompress(
        (data_home / "mnist-t10k-labels-idx1-ubyte.gz").read_bytes()), np.uint8, offset=8)
    images = images.reshape(-1, 28, 28)
    keep = np.concatenate([np.flatnonzero(labels == c)[:N_LARGE // 2] for c in (3, 5)])
    np.savez(root / "digits35.npz", X=images[keep], y=labels[keep])
    return root


@pytest.fixture(scope="module")
def compared(two_sources, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "cmp"
    code = cli.main(["compare", str(two_sources / "xray.npz"), str(two_sources / "digits35.npz"),
                     "--n-bootstrap", "20", "--n-draws", str(N_DRAWS), "--seed", str(SEED),
                     "--train", "--epochs", "1", "--out", str(out), "-q"])
    assert code == 0
    return out, json.loads((out / "report.json").read_text())


def test_compare_measures_every_dataset_at_the_smallest_size(compared, two_sources):
    out, report = compared
    datasets = {d["dataset"]: d for d in report["datasets"]}
    assert [datasets[n]["n_available"] for n in ("xray", "digits35")] == [N_SMALL, N_LARGE]
    # one N for all: the smallest task, stated once and on every dataset
    assert report["n_reference"] == N_SMALL
    assert {d["n_reference"] for d in report["datasets"]} == {N_SMALL}
    assert {p["n_reference"] for p in report["properties"]} == {N_SMALL}
    # the smaller dataset is measured whole (K_F exact), the larger over N_DRAWS subsets
    props = {p["dataset"]: p for p in report["properties"]}
    assert props["xray"]["n_draws"] == 1 and props["digits35"]["n_draws"] == N_DRAWS
    # the training runs use the same N: 70 % of it to train
    tests = [m for m in report["measures"] if m["quantity"] == "test_loss"]
    assert {m["method"] for m in tests} == {f"small_cnn, N={round(0.7 * N_SMALL)}"}


def test_compare_sharpness_is_label_sharpness_at_the_reference_size(compared, two_sources):
    _, report = compared
    kf = {m["dataset"]: m for m in report["measures"] if m["quantity"] == "K_F"}
    settings = Settings(random_state=SEED)
    xray = load_dataset(str(two_sources / "xray.npz"), settings)
    digits = load_dataset(str(two_sources / "digits35.npz"), settings)
    # the whole smaller dataset: the brute-force maximum over all pairs
    np.testing.assert_allclose(kf["xray"]["value"], _oracle_sharpness(xray.X, xray.y),
                               rtol=1e-6)
    # the larger one: K_F's law at N_SMALL images, same data and seed as the study draws it
    seeds = np.random.RandomState(SEED).randint(2**31 - 1, size=2)
    fixed = LabelSharpness(subsample_size=N_SMALL, n_subsamples=N_DRAWS,
                           random_state=int(seeds[1])).fit(digits.X, digits.y)
    np.testing.assert_allclose(kf["digits35"]["value"], fixed.sharpness_, rtol=1e-12)
    np.testing.assert_allclose([kf["digits35"]["ci_low"], kf["digits35"]["ci_high"]],
                               fixed.sharpness_quantiles_.loc[[0.05, 0.95]], rtol=1e-12)
    # each draw is the exact K_F of its subset, so below the whole dataset's
    for idx, value in zip(fixed.subsample_indices_[:2], fixed.sharpness_draws_[:2]):
        np.testing.assert_allclose(value, _oracle_sharpness(digits.X[idx], digits.y[idx]),
                                   rtol=1e-6)
    assert fixed.sharpness_draws_.max() <= _oracle_sharpness(digits.X, digits.y) * (1 + 1e-9)
    # d_data of the whole smaller dataset is the brute-force MLE of its distinct images
    mle = next(m for m in report["measures"]
               if m["dataset"] == "xray" and m["method"].startswith("MLE"))
    distinct = np.unique(reference_scaled(xray.X), axis=0)
    np.testing.assert_allclose(mle["value"], oracle_mle(distinct), rtol=1e-5)


_PROBE = """<script>
window.__errs = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  __errs.push(t && t !== window && t.src ? 'failed to load image' : 'error: ' + e.message);
}, true);
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var heads = Array.prototype.slice.call(document.querySelectorAll('table.datasets th'));
  var cells = Array.prototype.slice.call(document.querySelectorAll('table.datasets tr'))
    .slice(1).map(function (r) {
      return Array.prototype.slice.call(r.cells).map(function (c) { return c.textContent; });
    });
  var out = document.createElement('pre');
  out.id = '__report_check__';
  out.textContent = JSON.stringify({
    errors: __errs,
    images: imgs.map(function (i) { return [i.alt, i.complete, i.naturalWidth,
                                            i.getBoundingClientRect().width]; }),
    headers: heads.map(function (h) { return h.textContent; }), rows: cells,
    equal_n: (document.getElementById('equal-n') || {}).textContent || ''});
  document.body.appendChild(out);
});
</script>"""


def test_report_page_renders_in_headless_chromium(compared, tmp_path):
    exe = chromium()
    out, report = compared
    page = (out / "report.html").read_text()
    # the page as it is: no console message at all
    proc = _chromium(exe, tmp_path, "--virtual-time-budget=5000", "--dump-dom",
                     (out / "report.html").as_uri())
    assert "<h1>" in proc.stdout, proc.stderr[-2000:]
    assert [line for line in proc.stderr.splitlines() if ":CONSOLE" in line] == []
    # what a reader sees: every figure decoded and laid out, the table with n_reference
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("<head>", "<head>" + _PROBE, 1))
    proc = _chromium(exe, tmp_path, "--virtual-time-budget=5000", "--dump-dom",
                     "--window-size=1200,900", probed.as_uri())
    match = re.search(r'<pre id="__report_check__">(.*?)</pre>', proc.stdout, re.DOTALL)
    assert match, proc.stderr[-2000:]
    check = json.loads(html.unescape(match.group(1)))
    assert check["errors"] == []
    figures = [name for name in ("dimensions", "sharpness", "local_dimensions", "samples",
                                 "robustness")]
    assert [alt for alt, *_ in check["images"]] == figures
    for alt, complete, width, shown in check["images"]:
        assert complete and width > 0 and shown > 0, alt
        # the embedded picture is the PNG written beside the page
        assert width == _png_width(out / f"{alt}.png")
    headers = check["headers"]
    assert "n_reference" in headers and "n_available" in headers
    column = headers.index("n_reference")
    assert [row[column] for row in check["rows"]] == [str(report["n_reference"])] * 2
    assert f"N = {report['n_reference']}" in check["equal_n"]


def _png_width(path):
    return int.from_bytes(path.read_bytes()[16:20], "big")


def test_sharpness_display_draws_value_and_spread():
    import matplotlib

    matplotlib.use("Agg")
    from skintrinsic.plotting._datasets import SharpnessComparisonDisplay

    disp = SharpnessComparisonDisplay(datasets=["a", "b", "c"], sharpness=[2.0, 3.0, np.inf],
                                      low=[np.nan, 2.5, np.nan], high=[np.nan, 4.0, np.nan],
                                      colors={"a": "red", "b": "blue", "c": "green"},
                                      n_reference=120).plot()
    assert disp.ax_.get_title() == "Label sharpness at N = 120 images"
    points = {tuple(line.get_xydata()[0]) for line in disp.ax_.lines if line.get_marker() == "o"}
    # a on top, c (infinite, drawn at 0 and printed) at the bottom
    assert points == {(2.0, 2.0), (3.0, 1.0), (0.0, 0.0)}
    bars = [c for c in disp.ax_.collections if len(c.get_segments())]
    spans = sorted(tuple(seg[:, 0]) for c in bars for seg in c.get_segments())
    assert (2.5, 4.0) in spans
    assert "inf" in [t.get_text() for t in disp.ax_.texts]


# --------------------------------------------------------------------------- layout

# the top layer (style.md's map): the command, the report, the study and the law
TOP_LAYER = ("_report.py", "cli.py", "datasets/_sources.py", "scaling.py",
             *sorted(str(p.relative_to(PACKAGE)) for p in (PACKAGE / "study").glob("*.py")))


@pytest.mark.parametrize("path", TOP_LAYER)
def test_top_layer_modules_stay_small(path):
    # "about 400 lines": the regressor's module holds its long numpydoc and stays under 420
    assert len((PACKAGE / path).read_text().splitlines()) <= 420


def _imports():
    """module -> the skintrinsic modules it imports, at the top or inside functions."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["skintrinsic", *path.relative_to(PACKAGE).with_suffix("").parts]
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + [node.module]) if node.level and node.module else \
                    ".".join(base) if node.level else node.module
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    found.add(sub if sub in modules else target)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_imports_keep_no_cycles_and_the_report_only_renders():
    graph = _imports()
    assert len(graph) > 40 and "skintrinsic.study._profile" in graph
    state, cycles = {}, []

    def visit(module, path):
        state[module] = "open"
        for dep in sorted(graph[module]):
            if state.get(dep) == "open":
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []
    # the renderer knows the Report and the plotting Displays, nothing of the measuring
    assert graph["skintrinsic._report"] <= {"skintrinsic", "skintrinsic.plotting",
                                            "skintrinsic.plotting._datasets",
                                            "skintrinsic.plotting._style"}
    assert "skintrinsic._report" in graph["skintrinsic.study._profile"]
    assert "skintrinsic.study._runs" in graph["skintrinsic.study._profile"]


def test_the_template_is_package_data():
    # pyproject's package-data names the template (read as text: tomllib is Python >= 3.11)
    text = (PACKAGE.parent / "pyproject.toml").read_text()
    section = text.split("[tool.setuptools.package-data]", 1)[1].split("\n[", 1)[0]
    patterns = re.findall(r'"([^"]+)"', section)
    assert PACKAGE / "templates" / "report.html.j2" in {f for p in patterns
                                                         for f in PACKAGE.glob(p)}
    assert re.search(r'^\s*"jinja2>=', text, re.MULTILINE)


def test_compare_refuses_a_dataset_too_small_for_the_mle(two_sources, tmp_path, capsys):
    with np.load(two_sources / "xray.npz") as npz:
        np.savez(tmp_path / "tiny.npz", X=npz["X"][:16], y=np.arange(16) % 2)
    code = cli.main(["compare", str(two_sources / "digits35.npz"), str(tmp_path / "tiny.npz"),
                     "--n-bootstrap", "0", "--out", str(tmp_path / "rep"), "-q"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "tiny: 16 distinct images, but d_data with k=20 needs at least 21" in err
    assert not (tmp_path / "rep").exists()
