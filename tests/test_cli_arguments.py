"""The command line as a newcomer meets it: fast argument errors, class aliases in the order
given, the thread setting, `fetch`, and progress (with the time left) inside each long step."""

import functools
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from skintrinsic import _compute, _report, cli
from skintrinsic.datasets._sources import Dataset
from skintrinsic.study import _profile as _profile_module


def _main_in_fresh_python(args):
    """Exit code of ``cli.main(args)`` and the heavy modules loaded by then, in a new process."""
    code = ("import sys; from skintrinsic import cli\n"
            "try:\n    rc = cli.main(sys.argv[1:])\nexcept SystemExit as exc:\n    rc = exc.code\n"
            "heavy = [m for m in ('torch', 'pandas', 'matplotlib', 'sklearn') if m in sys.modules]\n"
            "print(rc, ','.join(heavy))")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=120)
    rc, _, heavy = proc.stdout.strip().partition(" ")
    return int(rc), heavy, proc.stderr


@pytest.mark.parametrize("args, words", [
    (["profile", "missing.npz"], "no such file or folder"),
    (["compare", "mnist", "nothere/"], "nothere/"),
    (["--task", "all", "--classes", "a", "b"], "--classes picks"),
    (["digits", "--labels", "nolabels.txt"], "--labels"),
    (["--k", "0"], "must be at least 3"),
    (["--threads", "0"], "must be a positive integer"),
    (["digits", "--n-draws", "0"], "must be a positive integer"),
    (["fetch"], "the following arguments are required"),
])
def test_argument_errors_come_before_any_heavy_import(args, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, heavy, err = _main_in_fresh_python(args)
    assert rc in (1, 2) and words in err, err
    assert heavy == ""  # neither torch nor pandas nor matplotlib was loaded to say so
    assert err.strip().splitlines()[-1].startswith(("skintrinsic: error:",
                                                     "skintrinsic profile: error:",
                                                     "skintrinsic fetch: error:")), err


def _profile(args, data_home, tmp_path, capsys):
    code = cli.main(["profile", *args, "--n-bootstrap", "0", "--data-home", str(data_home),
                     "--out", str(tmp_path / "out"), "--overwrite", "-q"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out, json.loads((tmp_path / "out" / "report.json").read_text())


def test_numeric_class_aliases_and_the_order_given(data_home, shared_copy_registered, tmp_path,
                                                   capsys):
    common = ["pneumoniamnist", "--n-samples", "200"]
    out, report = _profile([*common, "--classes", "1", "0"], data_home, tmp_path, capsys)
    # 1 is "pneumonia", 0 "normal" (the dataset's label names), listed in the order given
    assert report["datasets"][0]["classes"] == "pneumonia (100), normal (100)"
    assert "classes pneumonia (100), normal (100)" in out
    by_name = _profile([*common, "--classes", "pneumonia", "normal"], data_home, tmp_path,
                       capsys)[1]
    assert by_name["measures"] == report["measures"]  # the same task by name or by number
    reversed_order = _profile([*common, "--classes", "0", "1"], data_home, tmp_path, capsys)[1]
    assert reversed_order["datasets"][0]["classes"] == "normal (100), pneumonia (100)"


@pytest.mark.parametrize("classes, words", [
    (["1", "pneumonia"], "twice"),
    (["0", "7"], "0 = normal, 1 = pneumonia"),
])
def test_bad_class_aliases(classes, words, data_home, shared_copy_registered, tmp_path, capsys):
    code = cli.main(["pneumoniamnist", "--classes", *classes, "--data-home", str(data_home),
                     "--out", str(tmp_path), "-q"])
    assert code == 1 and words in capsys.readouterr().err


def test_threads_are_set_for_the_run_and_restored(tmp_path, capsys, monkeypatch):
    seen = []
    build = _profile_module.build_report

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return build(*args, **kwargs)

    monkeypatch.setattr(_profile_module, "build_report", spy)
    before = torch.get_num_threads()
    assert cli.main(["digits", "--threads", "2", "--n-bootstrap", "0", "--out",
                     str(tmp_path), "-q"]) == 0
    assert seen == [2] and torch.get_num_threads() == before
    assert cli.default_threads() == max(1, (__import__("os").cpu_count() or 1) // 2)


def test_progress_with_time_left_in_every_long_step(capsys, monkeypatch):
    from sklearn.datasets import load_digits

    # every update drawn (tqdm otherwise redraws at most every 0.1 s)
    monkeypatch.setattr(_compute, "tqdm", functools.partial(_compute.tqdm, mininterval=0))
    X, y = load_digits(return_X_y=True)
    keep = np.isin(y, (3, 5))
    data = Dataset(name="digits", X=X[keep][:200].reshape(-1, 8, 8) * (255 / 16),
                   y=y[keep][:200], source="digits")
    settings = _report.Settings(n_bootstrap=10, train=True, epochs=1, verbose=1)
    steps = []
    _profile_module.build_report([data], settings, stage=steps.append)
    err = capsys.readouterr().err
    assert steps == ["d_data and K_F at N=200", "digits: training and probing"]
    assert _profile_module.n_stages(1, settings) == 1 + len(steps) + 1  # loading, writing
    # the bootstrap of each d_data, the training batches and the attack, each with an ETA
    assert "bootstrap" in err and "fgsm attack" in err
    n_test = 60  # 30% of 200 images, attacked at each of the 5 epsilons
    assert f"{5 * n_test}/{5 * n_test}" in err and "img" in err
    assert err.count("<") >= 3
