"""The ``skintrinsic`` console script: the installed command, run in a subprocess as a user would.

The numbers it reports are checked against brute-force oracles computed here (scipy's
cdist and the published formulas), the files it writes are parsed, its HTML report is
opened in headless Chromium, and bad input must give a one-line error, never a traceback.
"""

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import cdist

BIN = Path(sys.executable).parent
EXE = BIN / "skintrinsic"


def run(*args, cwd, env=None, check=True, stderr=subprocess.PIPE):
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "OPENBLAS_NUM_THREADS": "1", **(env or {})}
    proc = subprocess.run([str(EXE), *map(str, args)], cwd=cwd, env=full_env, text=True,
                          stdout=subprocess.PIPE, stderr=stderr, timeout=300)
    if check:
        assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        assert "Traceback" not in (proc.stderr or "")
    return proc


def assert_one_line_error(proc, *words):
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert len(err.splitlines()) == 1, err
    assert err.startswith("skintrinsic: error: "), err
    for word in words:
        assert word.lower() in err.lower(), err
    return err


def reference_scaled(X):
    """The paper's preprocessing, by hand: each image scaled to a maximum of 255."""
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    return X * (255.0 / X.max(axis=1, keepdims=True))


def oracle_mle(X, k=20):
    """Levina-Bickel with k-2 normalization and MacKay-Ghahramani averaging, from all pairs."""
    D = cdist(X, X)
    np.fill_diagonal(D, np.inf)
    T = np.sort(D, axis=1)[:, :k]
    u = np.log(T[:, k - 1:k] / T[:, :k - 1]).sum(axis=1) / (k - 2)
    return 1.0 / u.mean()


def oracle_twonn(X):
    """TwoNN, Pope variant: drop the largest ratio, slope through the origin."""
    D = cdist(X, X)
    np.fill_diagonal(D, np.inf)
    T = np.sort(D, axis=1)[:, :2]
    mu = np.sort(T[:, 1] / T[:, 0])
    n = len(mu)
    x = np.log(mu[:-1])
    y = -np.log(1 - np.arange(1, n) / n)
    return float(x @ y / (x @ x))


def oracle_sharpness(X, y):
    """max 1[y_j != y_k] / ||x_j - x_k|| over all pairs."""
    D = cdist(X, X)
    return 1.0 / D[y[:, None] != y[None, :]].min()


def measures(out):
    report = json.loads((out / "report.json").read_text())
    return report, {(m["dataset"], m["quantity"], m["method"].split(" ")[0]): m
                    for m in report["measures"]}


def check_files(out):
    for name in ("report.html", "report.json", "report.csv", "dimensions.png", "sharpness.png",
                 "local_dimensions.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "dimensions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def pneumonia_npz(tmp_path_factory, data_home):
    """A balanced two-class subset of the real PneumoniaMNIST test split, as a plain X/y npz."""
    with np.load(data_home / "pneumoniamnist.npz") as npz:
        X, y = npz["test_images"], npz["test_labels"][:, 0]
    rng = np.random.default_rng(0)
    keep = np.concatenate([rng.choice(np.flatnonzero(y == c), 150, replace=False) for c in (0, 1)])
    path = tmp_path_factory.mktemp("npz") / "pneumonia_subset.npz"
    np.savez(path, X=X[keep], y=y[keep])
    return path, X[keep], y[keep]


def test_bare_command_profiles_digits(tmp_path):
    # the README's first command: no argument at all
    proc = run(cwd=tmp_path)
    out = tmp_path / "skintrinsic-report"
    check_files(out)
    text = proc.stdout
    assert "d_data MLE (k=20)" in text and "d_data TwoNN" in text and "K_F" in text
    assert text.count("95% CI") == 2
    assert f"Report written to {out / 'report.html'}" in text
    report, m = measures(out)
    assert report["datasets"][0]["dataset"] == "digits"
    assert report["datasets"][0]["n_available"] > 300  # a balanced pair of digit classes
    # one dataset is measured on all its images
    assert report["n_reference"] == report["datasets"][0]["n_reference"] == \
        report["datasets"][0]["n_available"]
    mle = m[("digits", "d_data", "MLE")]
    assert mle["ci_low"] < mle["value"] < mle["ci_high"]
    # the printed value is the stored one
    assert f"{mle['value']:.2f}" in text


def test_npz_profile_matches_brute_force(tmp_path, pneumonia_npz):
    path, X, y = pneumonia_npz
    out = tmp_path / "rep"
    run("profile", path, "--out", out, "--n-bootstrap", 50, cwd=tmp_path)
    report, m = measures(out)
    # a balanced task with every image kept: the measures are those of the whole file
    assert report["datasets"][0]["n_available"] == len(y)
    Xs = reference_scaled(X)
    # the estimators drop exact duplicates (and say so in a note); the oracles too
    distinct = np.unique(Xs, axis=0)
    n_dup = len(Xs) - len(distinct)
    assert (n_dup > 0) == any("duplicate" in note for note in report["notes"])
    name = "pneumonia_subset"
    np.testing.assert_allclose(m[(name, "d_data", "MLE")]["value"], oracle_mle(distinct),
                               rtol=1e-5)
    np.testing.assert_allclose(m[(name, "d_data", "TwoNN")]["value"], oracle_twonn(distinct),
                               rtol=1e-5)
    np.testing.assert_allclose(m[(name, "K_F", "exact,")]["value"], oracle_sharpness(Xs, y),
                               rtol=1e-5)
    csv = (out / "report.csv").read_text().splitlines()
    assert csv[0] == "dataset,quantity,method,value,ci_low,ci_high"
    assert len(csv) == 1 + 3


def test_idx_pair_with_and_without_labels_flag(tmp_path, data_home):
    images = data_home / "mnist-t10k-images-idx3-ubyte.gz"
    labels = data_home / "mnist-t10k-labels-idx1-ubyte.gz"
    # the labels file is found beside the images by its official name
    run(images, "--classes", 3, 5, "--n-samples", 300, "--n-bootstrap", 0, "--out", "a",
        cwd=tmp_path)
    # an uncompressed copy, with the labels given explicitly under an unrelated name
    plain = tmp_path / "digits-images.idx"
    plain.write_bytes(gzip.decompress(images.read_bytes()))
    shutil.copy(labels, tmp_path / "y.bin.gz")
    run("profile", plain, "--labels", tmp_path / "y.bin.gz", "--classes", 3, 5,
        "--n-samples", 300, "--n-bootstrap", 0, "--out", "b", cwd=tmp_path)
    a, ma = measures(tmp_path / "a")
    b, mb = measures(tmp_path / "b")
    assert a["datasets"][0]["classes"] == b["datasets"][0]["classes"] == "3 (150), 5 (150)"
    # same seed, same images: the same measures from both layouts
    assert [r["value"] for r in a["measures"]] == [r["value"] for r in b["measures"]]


def test_image_folder_with_training(tmp_path, data_home):
    from PIL import Image

    with np.load(data_home / "pneumoniamnist.npz") as npz:
        X, y = npz["val_images"], npz["val_labels"][:, 0]
    root = tmp_path / "xrays"
    for label, folder in [(0, "normal"), (1, "pneumonia")]:
        (root / folder).mkdir(parents=True)
        for i in np.flatnonzero(y == label)[:40]:
            Image.fromarray(X[i]).save(root / folder / f"{i}.png")
    proc = run("profile", root, "--train", "--epochs", 1, "--out", "rep", "--n-bootstrap", 20,
               cwd=tmp_path)
    out = tmp_path / "rep"
    report, m = measures(out)
    assert report["datasets"][0]["classes"] == "normal (40), pneumonia (40)"
    assert "xrays" in proc.stdout and "d_repr" in proc.stdout
    assert (out / "robustness.png").stat().st_size > 0
    curve = np.genfromtxt(out / "robustness.csv", delimiter=",", names=True, dtype=None,
                          encoding=None)
    # two independent computations of the clean test set agree: the report's test loss and
    # accuracy, and the robustness curve's clean values
    np.testing.assert_allclose(curve["clean_loss"],
                               m[("xrays", "test_loss", "small_cnn,")]["value"], rtol=1e-5)
    np.testing.assert_allclose(curve["clean_accuracy"],
                               m[("xrays", "test_accuracy", "small_cnn,")]["value"])
    assert curve["epsilon"][0] == 0 and curve["delta_loss"][0] == 0
    assert curve["delta_loss"][-1] > 0  # an attack of 8/255 raises the loss
    d_repr = m[("xrays", "d_repr", "TwoNN")]
    assert 0 < d_repr["value"] and d_repr["ci_low"] <= d_repr["value"] <= d_repr["ci_high"]
    assert m[("xrays", "delta_loss", "FGSM,")]["value"] == curve["delta_loss"][2]


def test_compare_builtin_names_and_html_in_chromium(tmp_path, data_home):
    out = tmp_path / "cmp"
    # MNIST by name (the data folder holds the official files); the test copy of PneumoniaMNIST
    # is not the official file, so it is given by path and read without a checksum
    proc = run("compare", "mnist", data_home / "pneumoniamnist.npz", "--n-samples", 600,
               "--n-bootstrap", 50, "--out", out, cwd=tmp_path,
               env={"SKINTRINSIC_DATA_HOME": str(data_home)})
    report, m = measures(out)
    assert [d["dataset"] for d in report["datasets"]] == ["mnist", "pneumoniamnist"]
    assert report["datasets"][1]["classes"] == "0 (300), 1 (300)"
    # both tasks hold 600 images: both are measured on all of them, K_F exactly
    assert report["n_reference"] == 600
    assert [d["n_reference"] for d in report["datasets"]] == [600, 600]
    assert "N = 600" in (out / "report.html").read_text()
    # the paper's finding at equal resolution: the medical task is sharper
    assert m[("pneumoniamnist", "K_F", "exact,")]["value"] > m[("mnist", "K_F", "exact,")]["value"]
    assert proc.stdout.count("d_data MLE") == 2
    check_files(out)
    check_html_in_chromium(out / "report.html", tmp_path)


# --------------------------------------------------------------------------- the HTML report

_PROBE = """<script>
window.__errs = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  if (t && t !== window && (t.src || t.href)) {
    __errs.push('failed to load ' + String(t.src || t.href).slice(0, 100));
  } else { __errs.push('error: ' + e.message); }
}, true);
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; });
  var fetched = performance.getEntriesByType('resource').map(function (e) { return e.name; })
    .filter(function (n) { return n.indexOf('data:') !== 0; });
  var out = document.createElement('pre');
  out.id = '__report_check__';
  out.textContent = JSON.stringify({errors: __errs, images: imgs.length,
                                    broken: broken.length, fetched: fetched});
  document.body.appendChild(out);
});
</script>"""


def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; CI must install it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium); CI runs this check")
    return exe


def _chromium(exe, tmp_path, *args):
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chrome'}",
           "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(cmd, text=True, capture_output=True, timeout=120)


def check_html_in_chromium(html_path, tmp_path):
    from html.parser import HTMLParser

    from PIL import Image

    exe = chromium()
    page = html_path.read_text()

    # self-contained: every resource the page names is embedded
    class Refs(HTMLParser):
        def __init__(self):
            super().__init__()
            self.refs = []

        def handle_starttag(self, tag, attrs):
            for key, value in attrs:
                if key in ("src", "href") or (tag == "link" and key == "href"):
                    self.refs.append(value)

    parser = Refs()
    parser.feed(page)
    assert parser.refs, "the report embeds no image"
    assert all(r.startswith("data:image/png;base64,") or r.startswith("#") for r in parser.refs)

    # 1. console errors of the page as it is
    proc = _chromium(exe, tmp_path, "--virtual-time-budget=5000", "--dump-dom",
                     html_path.as_uri())
    assert "<h1>" in proc.stdout, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []

    # 2. errors a page cannot print to the console (failed loads, broken images)
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("<head>", "<head>" + _PROBE, 1))
    proc = _chromium(exe, tmp_path, "--virtual-time-budget=5000", "--dump-dom",
                     probed.as_uri())
    start = proc.stdout.index('<pre id="__report_check__">') + len('<pre id="__report_check__">')
    import html as html_lib

    check = json.loads(html_lib.unescape(proc.stdout[start:proc.stdout.index("</pre>", start)]))
    assert check["errors"] == [] and check["broken"] == 0 and check["fetched"] == []
    assert check["images"] >= 4

    # 3. it renders something: a screenshot that is not blank
    shot = tmp_path / "shot.png"
    proc = _chromium(exe, tmp_path, f"--screenshot={shot}", "--window-size=1200,900",
                     html_path.as_uri())
    assert shot.exists(), proc.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.shape == (900, 1200)
    dark = (pixels < 128).mean()
    assert 0.005 < dark < 0.9, dark  # text and plots, not an empty or black page
    assert pixels.std() > 10


# --------------------------------------------------------------------------- progress bar

def test_progress_bar_on_a_terminal_and_quiet(tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    def stderr_on_terminal(*args, check=True):
        master, slave = pty.openpty()
        # a fresh pty is 0 columns wide, where tqdm draws nothing: make it a normal terminal
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
        chunks = []

        def read():
            while True:
                try:
                    data = os.read(master, 4096)
                except OSError:
                    return
                if not data:
                    return
                chunks.append(data)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        proc = run(*args, cwd=tmp_path, stderr=slave, check=check)
        os.close(slave)
        reader.join(timeout=10)
        os.close(master)
        return proc, b"".join(chunks).decode(errors="replace")

    _, shown = stderr_on_terminal("digits", "--n-bootstrap", 0, "--out", "a")
    assert "d_data and K_F" in shown and "%|" in shown
    # --quiet on a terminal: nothing but the error line (without it, the bar starts first)
    proc, quiet = stderr_on_terminal("missing.npz", "--quiet", check=False)
    assert proc.returncode == 1
    assert quiet.strip().startswith("skintrinsic: error:") and "%|" not in quiet
    assert len(quiet.strip().splitlines()) == 1


# --------------------------------------------------------------------------- bad input

def test_missing_file(tmp_path):
    proc = run("profile", tmp_path / "nope.npz", cwd=tmp_path, check=False)
    assert_one_line_error(proc, "nope.npz", "no such file")


def test_wrong_format(tmp_path):
    (tmp_path / "notes.txt").write_text("not images\n")
    assert_one_line_error(run("notes.txt", cwd=tmp_path, check=False), "unrecognized format")
    # an .npz that is not a zip archive, and one without images
    (tmp_path / "fake.npz").write_text("hello")
    assert_one_line_error(run("fake.npz", cwd=tmp_path, check=False), "fake.npz")
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    assert_one_line_error(run("other.npz", cwd=tmp_path, check=False), "weights", "X and y")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run("profile", "empty", cwd=tmp_path, check=False), "empty folder")


def test_single_class(tmp_path, pneumonia_npz):
    _, X, y = pneumonia_npz
    np.savez(tmp_path / "one.npz", X=X[y == 1], y=y[y == 1])
    assert_one_line_error(run("one.npz", cwd=tmp_path, check=False), "single class")


def test_identical_images_with_different_labels(tmp_path, pneumonia_npz):
    # not an error: K_F is reported as infinite, and the two images are named by their rows
    _, X, y = pneumonia_npz
    np.savez(tmp_path / "clash.npz", X=np.concatenate([X, X[:1]]), y=np.r_[y, 1 - y[0]])
    proc = run("clash.npz", "--task", "all", "--n-bootstrap", 0, "--out", "rep", cwd=tmp_path)
    assert re.search(r"K_F exact, all \d+ images +inf", proc.stdout)
    report, m = measures(tmp_path / "rep")
    assert m[("clash", "K_F", "exact,")]["value"] is None  # JSON has no infinity
    assert any(f"rows 0 and {len(y)} of clash.npz are identical" in n for n in report["notes"])


def test_bad_options(tmp_path, data_home):
    images = data_home / "mnist-t10k-images-idx3-ubyte.gz"
    proc = run(images, "--classes", 3, 42, cwd=tmp_path, check=False)
    assert_one_line_error(proc, "no class '42'")
    proc = run("mnist", "--data-home", tmp_path, cwd=tmp_path, check=False)
    assert_one_line_error(proc, "--data-home")
    # argparse's own usage errors also exit non-zero without a traceback
    proc = run("profile", "--k", "zero", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
