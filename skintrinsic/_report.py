"""The report of the ``skintrinsic`` command: a :class:`Report` in, a folder of files out.

This module only renders.  The measuring is in :mod:`skintrinsic.study._profile`, the
reading of sources in :mod:`skintrinsic.datasets._sources`, the figures are plotting
Displays (:mod:`skintrinsic.plotting._datasets`) and the page is a jinja2 template
(``skintrinsic/templates/report.html.j2``).  A report folder holds report.json,
report.csv, robustness.csv (with ``--train``), one PNG per figure and report.html.
"""

import base64
import dataclasses
import datetime
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__

DEFAULT_EPSILONS = (0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255)


class ReportError(ValueError):
    """A problem with the output folder, reported in one line without a traceback."""


@dataclasses.dataclass
class Settings:
    """Everything the measurement depends on, recorded in report.json."""

    k: int = 20
    n_bootstrap: int = 200
    confidence_level: float = 0.95
    n_samples: int = 2000
    n_draws: int = 20  # subsets of n_reference images over which K_F is drawn
    task: str = "binary"
    classes: tuple = ()
    size: int = None
    split: str = None  # None: the dataset's default (MNIST: test; MedMNIST: train)
    download: bool = False
    train: bool = False
    arch: str = "small_cnn"
    epochs: int = 5
    test_size: float = 0.3
    epsilons: tuple = DEFAULT_EPSILONS
    device: str = "cpu"
    random_state: int = 0
    verbose: int = 0  # progress bars (with a time estimate) inside each long step


@dataclasses.dataclass
class Report:
    """The result of profiling one or more datasets, as :func:`write_report` renders it."""

    settings: Settings
    datasets: pd.DataFrame  # one row per dataset: size, n_reference, shape, classes, ...
    measures: pd.DataFrame  # tidy: one row per (dataset, quantity, method)
    robustness: pd.DataFrame = None  # one row per (dataset, epsilon), with --train
    local_dimensions: dict = dataclasses.field(default_factory=dict)  # dataset -> array
    samples: dict = dataclasses.field(default_factory=dict)  # dataset -> (images, labels)
    notes: list = dataclasses.field(default_factory=list)
    n_reference: int = None  # the one number of images every dataset is measured on
    properties: pd.DataFrame = None  # study.dataset_properties' table (K_F's spread, ...)


# --------------------------------------------------------------------------- text

def _format_value(quantity, value):
    if value is None or not np.isfinite(value):
        return "inf" if value is not None and value > 0 else "nan"
    if quantity in ("K_F", "test_loss", "delta_loss", "relative_delta_loss"):
        return f"{value:.4g}"
    if quantity == "test_accuracy":
        return f"{value:.3f}"
    return f"{value:.2f}"


def _interval(m, level):
    """The text of a measure's interval: a bootstrap CI, or K_F's spread over its draws."""
    if not (np.isfinite(m.ci_low) and np.isfinite(m.ci_high)):
        return ""
    low, high = _format_value(m.quantity, m.ci_low), _format_value(m.quantity, m.ci_high)
    if m.quantity == "K_F":
        # one draw (the whole dataset) has no spread; several give their 5-95 % range
        return "" if m.ci_low == m.ci_high else f"[5-95% of draws {low}, {high}]"
    return f"[{level} CI {low}, {high}]"


def _level(report):
    return f"{report.settings.confidence_level:.0%}"


def equal_n_sentence(report):
    """How many images each dataset is measured on, said once for the whole report."""
    if report.n_reference is None:
        return ""
    n = report.n_reference
    if len(report.datasets) == 1:
        return f"d_data and K_F are measured on all {n} images of the task."
    return (f"Every dataset is measured on the same number of images, N = {n} (the smallest "
            "dataset after the task is drawn, at most --n-samples): d_data on a stratified "
            f"sample of {n} images, K_F as its mean over stratified subsets of {n} images, "
            "because both grow with N.")


def summary_lines(report):
    """The lines printed to stdout: each dataset's measures with their intervals, and notes."""
    level = _level(report)
    lines = []
    for meta in report.datasets.itertuples():
        lines.append(f"{meta.dataset}: {meta.n_available} images {meta.image_shape}, "
                     f"classes {meta.classes}; {meta.preprocessing}")
        sub = report.measures[report.measures["dataset"] == meta.dataset]
        for m in sub.itertuples():
            label = f"{m.quantity} {m.method}"
            ci = _interval(m, level)
            lines.append(f"  {label:<32s} {_format_value(m.quantity, m.value):>10s}"
                         f"{'  ' + ci if ci else ''}")
    sentence = equal_n_sentence(report)
    if sentence:
        lines.append(sentence)
    lines.extend(f"note: {n}" for n in report.notes)
    return lines


# --------------------------------------------------------------------------- figures

# Sizes for a laptop screen: figures about 9 inches wide, saved at 110 dpi (about 1000 pixels,
# the width of the page), with 12-point text.
_WIDE, _TALL = 9.0, 4.2
_DPI = 110
_FONT = {"font.size": 12, "axes.titlesize": 13, "legend.fontsize": 11}


def _figure(width, height):
    # Figure without pyplot: no global state, no GUI backend, safe in any thread
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def make_figures(report):
    """name -> (matplotlib Figure, caption), in the order the report shows them.

    One palette for all of them: colour is the dataset (in the order of the report),
    marker the estimator or attack (:mod:`skintrinsic.plotting._style`).
    """
    import matplotlib

    from .plotting import _datasets as displays
    from .plotting._style import dataset_colors

    colors = dataset_colors(report.datasets["dataset"])
    level, k = _level(report), report.settings.k
    at_n = "" if report.n_reference is None else f" at N = {report.n_reference} images"
    figures = {}
    with matplotlib.rc_context(_FONT):
        fig = _figure(_WIDE, _TALL)
        displays.DimensionComparisonDisplay(measures=report.measures, colors=colors).plot(
            ax=fig.add_subplot())
        figures["dimensions"] = (fig, (
            f"Intrinsic dimension of each dataset{at_n} (d_data by MLE and TwoNN"
            f"{', d_repr of the trained network' if report.settings.train else ''}); colour: "
            f"dataset, marker: estimator; error bars: {level} bootstrap intervals."))
        n_kf = int((report.measures["quantity"] == "K_F").sum())
        fig = _figure(_WIDE, 1.6 + 0.7 * n_kf)
        displays.SharpnessComparisonDisplay.from_measures(
            report.measures, colors=colors, n_reference=report.n_reference,
            ax=fig.add_subplot())
        figures["sharpness"] = (fig, (
            f"Label sharpness K_F = max |y_j - y_k| / ||x_j - x_k|| over pairs{at_n}, on the "
            "preprocessed images: the mean over stratified subsets of that size, with the "
            "5-95 % range of the subsets (none when a dataset has exactly that many images: "
            "its K_F is then exact). Higher means two nearby images can carry different "
            "labels."))
        fig = _figure(_WIDE, _TALL)
        displays.LocalDimensionDisplay.from_measures(report.local_dimensions, report.measures,
                                                     colors=colors, k=k, ax=fig.add_subplot())
        figures["local_dimensions"] = (fig, (
            "Distribution of the per-image MLE dimension 1/u_k (up to the 99th percentile); "
            "dashed: the dataset estimate, which averages the inverses."))
        if report.samples:
            grid = displays.SampleGridDisplay(samples=report.samples)
            fig = _figure(*grid.figure_size())
            grid.plot(figure=fig)
            figures["samples"] = (fig, "A few preprocessed images of each class, with their "
                                       "labels.")
        if report.robustness is not None:
            fig = _figure(_WIDE, _TALL)
            displays.DatasetRobustnessDisplay(curve=report.robustness, colors=colors).plot(
                ax=fig.add_subplot())
            figures["robustness"] = (fig, (
                "Increase of the test loss under an FGSM attack of size epsilon, for the small "
                "network trained on each dataset."))
    return figures


# --------------------------------------------------------------------------- the page

_TRAIN_SETTINGS = ("arch", "epochs", "test_size", "epsilons")


def _settings_rows(settings):
    rows = []
    for key, value in dataclasses.asdict(settings).items():
        if key in _TRAIN_SETTINGS and not settings.train:
            continue
        if key == "epsilons":
            value = ", ".join(f"{255 * e:g}/255" for e in value)
        elif value is None or value == ():
            value = "default"
        rows.append({"setting": key, "value": str(value)})
    return rows


def _summary_rows(report):
    """One row per dataset: each (quantity, method) with its interval, for the HTML table."""
    level = _level(report)
    wide = {}
    for m in report.measures.itertuples():
        text = _format_value(m.quantity, m.value)
        ci = _interval(m, level)
        # K_F's method says how it was drawn, which differs between datasets: one column
        column = f"{m.quantity}, {m.method}"
        if m.quantity == "K_F" and report.n_reference is not None:
            column = f"K_F at N={report.n_reference}"
        wide.setdefault(m.dataset, {"dataset": m.dataset})[column] = \
            text + (" " + ci.replace(f"{level} CI ", "") if ci else "")
    columns = list(dict.fromkeys(c for row in wide.values() for c in row))
    return columns, [[row.get(c, "") for c in columns] for row in wide.values()]


def _cells(frame, columns=None):
    """(columns, rows of text) of a frame, numbers to four significant digits."""
    columns = [c for c in (columns or frame.columns) if c in frame.columns]

    def text(v):
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else f"{v:.4g}"
        return "" if v is None else str(v)

    return columns, [[text(v) for v in row] for row in frame[columns].itertuples(index=False)]


_ROBUSTNESS_COLUMNS = ["dataset", "attack", "epsilon", "clean_loss", "attacked_loss",
                       "delta_loss", "clean_accuracy", "robust_accuracy"]


def render_html(report, images, *, title):
    """The page: ``images`` is name -> (PNG bytes, caption), embedded as data URIs."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True)
    figures = [{"name": name, "caption": caption,
                "data": base64.b64encode(png).decode("ascii")}
               for name, (png, caption) in images.items()]
    datasets = report.datasets.drop(columns=["description"], errors="ignore")
    return env.get_template("report.html.j2").render(
        title=title, version=__version__,
        created=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        level=_level(report), train=report.settings.train,
        equal_n=equal_n_sentence(report), summary=_summary_rows(report),
        datasets=_cells(datasets), notes=list(report.notes), figures=figures,
        robustness=None if report.robustness is None else _cells(report.robustness,
                                                                  _ROBUSTNESS_COLUMNS),
        settings=_cells(pd.DataFrame(_settings_rows(report.settings))))


# --------------------------------------------------------------------------- files

def _json_safe(value):
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (tuple, list)):
        return [_json_safe(v) for v in value]
    return value


def _records(frame):
    if frame is None:
        return []
    return [{k: _json_safe(v) for k, v in rec.items()} for rec in frame.to_dict("records")]


#: Every file a report folder can hold; a folder with anything else is never replaced.
REPORT_FILES = frozenset({"report.html", "report.json", "report.csv", "robustness.csv",
                          *(f"{name}.png" for name in ("dimensions", "sharpness",
                                                       "local_dimensions", "samples",
                                                       "robustness"))})


def check_output(out_dir, *, overwrite=False):
    """Whether writing to ``out_dir`` replaces a report; refuse when it would lose anything.

    A missing or empty folder is written; a folder holding a report is replaced only with
    ``overwrite``; a file, or a folder holding anything but report files, is refused.
    """
    out = Path(out_dir)
    if not out.exists():
        return False
    if not out.is_dir():
        raise ReportError(f"--out {out} is a file; pass a folder")
    names = {p.name for p in out.iterdir()}
    if not names:
        return False
    others = sorted(names - REPORT_FILES)
    if others:
        raise ReportError(f"--out {out} holds files that are not part of a report "
                          f"({', '.join(others[:3])}); pass a new or empty folder, so that "
                          "nothing else is replaced")
    if not overwrite:
        raise ReportError(f"--out {out} already holds a report; pass --overwrite to replace it, "
                          "or choose another --out")
    return True


def write_report(report, out_dir, *, title="skintrinsic report", overwrite=False):
    """Write report.json, report.csv, the PNG plots and a self-contained report.html.

    The files are written into a temporary folder beside ``out_dir`` and the folder is then
    renamed into place, so ``out_dir`` holds one complete report or none: never a mix of two
    runs, never a half-written one.  An existing report is replaced only with ``overwrite``
    (see :func:`check_output`).  Returns the path of ``report.html``.
    """
    out = Path(out_dir).absolute()
    check_output(out, overwrite=overwrite)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise ReportError(f"cannot create the output folder {out}: {exc.strerror}; "
                          "pass a writable --out") from None
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0700 would hide the report from others
        _write_files(report, tmp, title=title)
        _swap_into_place(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already unless something failed
    return Path(out_dir) / "report.html"


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _swap_into_place(tmp, out):
    """Rename the finished folder ``tmp`` to ``out``, replacing an old ``out`` last."""
    if not out.exists() or not any(out.iterdir()):
        os.replace(tmp, out)  # a rename; an empty folder is replaced too
        return
    old = tmp.with_name(tmp.name[:-len(".tmp")] + ".old")
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except OSError:
        os.replace(old, out)  # put the earlier report back
        raise
    shutil.rmtree(old, ignore_errors=True)


_CSV_COLUMNS = ["dataset", "quantity", "method", "value", "ci_low", "ci_high"]


def _write_files(report, out, *, title):
    report.measures[_CSV_COLUMNS].to_csv(out / "report.csv", index=False)
    if report.robustness is not None:
        report.robustness.to_csv(out / "robustness.csv", index=False)
    payload = {
        "skintrinsic_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "settings": {k: _json_safe(v) for k, v in dataclasses.asdict(report.settings).items()},
        "n_reference": _json_safe(report.n_reference),
        "datasets": _records(report.datasets),
        "properties": _records(report.properties),
        "measures": _records(report.measures[_CSV_COLUMNS]),
        "robustness": _records(report.robustness),
        "notes": list(report.notes),
    }
    (out / "report.json").write_text(json.dumps(payload, indent=2) + "\n")

    images = {}
    for name, (fig, caption) in make_figures(report).items():
        fig.savefig(out / f"{name}.png", dpi=_DPI)
        images[name] = ((out / f"{name}.png").read_bytes(), caption)
    (out / "report.html").write_text(render_html(report, images, title=title))
