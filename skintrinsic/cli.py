"""The ``skintrinsic`` command: profile datasets from the shell.

::

    skintrinsic                              # the built-in default: sklearn digits
    skintrinsic profile DATA [--train] --out DIR
    skintrinsic compare A B ... --out DIR
    skintrinsic fetch NAME ...               # download datasets into the data folder

DATA is a built-in name (``digits``, ``mnist``, ``cifar10``, ``svhn``, a MedMNIST name
such as ``pneumoniamnist``), an ``.npz`` file (MedMNIST layout or plain ``X``/``y``), an
IDX images file (its labels beside it or given with ``--labels``), or a folder of
images with one sub-folder per class.

This module only parses arguments, shows progress and turns errors into one
line.  Sources are read by :mod:`skintrinsic.datasets._sources`, measured by
:mod:`skintrinsic.study._profile` (every dataset at the same number of images) and
rendered by :mod:`skintrinsic._report`.  It imports nothing heavy (torch,
pandas, matplotlib) until the arguments are known to be valid, so a typo is answered at
once, and it sets the thread count before torch is loaded.
"""

import argparse
import os
import sys

from . import __version__

_COMMANDS = ("profile", "compare", "fetch")
_BUILTIN_NAMES = ("digits", "mnist", "cifar10", "svhn")  # and MedMNIST names, ending in "mnist"
#: The default job of a bare ``skintrinsic``: small enough for a few seconds on a laptop.
_DEFAULT_SOURCE = "digits"
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_EXIT_INPUT_ERROR = 1
_EXIT_INTERRUPTED = 130


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


# IntrinsicDimension's MIN_BOOTSTRAP, repeated here so that parsing imports nothing heavy
_MIN_BOOTSTRAP = 10


def _bootstrap_count(text):
    value = int(text)
    if value != 0 and value < _MIN_BOOTSTRAP:
        raise argparse.ArgumentTypeError(
            f"must be 0 (no intervals) or at least {_MIN_BOOTSTRAP}, got {text}")
    return value


def _seed(text):
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**32 - 1, got {text}")
    return value


def _mle_k(text):
    value = int(text)
    if value < 3:
        # the MLE's reference normalization divides by k - 2
        raise argparse.ArgumentTypeError(f"must be at least 3, got {text}")
    return value


def _add_common(parser):
    data = parser.add_argument_group("data and task")
    data.add_argument("--split", default=None, choices=("train", "val", "test"),
                      help="split of a MedMNIST .npz or a built-in dataset (default: train for "
                           "MedMNIST, test for mnist)")
    data.add_argument("--task", default="binary", choices=("binary", "all"),
                      help="'binary' (default): a balanced two-class task, as in Konz & "
                           "Mazurowski; 'all': keep every class")
    data.add_argument("--classes", nargs=2, metavar=("A", "B"), default=None,
                      help="the two classes of the binary task (default: chosen by the "
                           "dataset loader)")
    data.add_argument("--n-samples", type=_positive_int, default=2000, metavar="N",
                      help="use at most N images, balanced over classes (default: 2000)")
    data.add_argument("--size", type=_positive_int, default=None, metavar="S",
                      help="resize images to S x S (default: keep their resolution; the paper "
                           "uses 224)")
    _add_data_home(data)
    data.add_argument("--download", action="store_true",
                      help="download a built-in dataset missing from the data folder (or "
                           "fetch it first: skintrinsic fetch NAME)")

    est = parser.add_argument_group("estimators")
    est.add_argument("--k", type=_mle_k, default=20,
                     help="neighbours of the MLE, at least 3 (default: 20)")
    est.add_argument("--n-bootstrap", type=_bootstrap_count, default=200, metavar="B",
                     help=f"bootstrap replicates of the confidence intervals: 0 for none, else "
                          f"at least {_MIN_BOOTSTRAP} (default: 200)")
    est.add_argument("--n-draws", type=_positive_int, default=20, metavar="D",
                     help="subsets over which K_F is drawn at the common size N of a "
                          "comparison (default: 20; one, the exact value, for a dataset of "
                          "exactly N images)")
    est.add_argument("--train", action="store_true",
                     help="also train a small network: d_repr, test loss and an FGSM "
                          "robustness curve")
    est.add_argument("--epochs", type=_positive_int, default=5,
                     help="training epochs with --train (default: 5)")
    est.add_argument("--device", default="cpu",
                     help="torch device: cpu (default), cuda or auto")
    est.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    est.add_argument("--threads", type=_positive_int, default=None, metavar="T",
                     help="CPU threads of torch and of numpy's linear algebra (default: half "
                          "the cores, at least 1: on a machine shared with other work, one "
                          "thread per core in use is much faster than oversubscribing)")

    out = parser.add_argument_group("output")
    out.add_argument("--out", default="skintrinsic-report", metavar="DIR",
                     help="folder for report.html, report.json, report.csv and the plots "
                          "(default: ./skintrinsic-report); written all at once when the "
                          "measuring is done")
    out.add_argument("--overwrite", action="store_true",
                     help="replace the report already in --out (without it, an existing "
                          "report is never touched)")
    out.add_argument("--quiet", "-q", action="store_true",
                     help="no progress bar (it is shown only on a terminal anyway)")
    out.add_argument("--debug", action="store_true",
                     help="show the full traceback of an error")


def _add_data_home(group):
    group.add_argument("--data-home", default=None, metavar="DIR",
                       help="folder of the built-in datasets (default: $SKINTRINSIC_DATA_HOME, "
                            "else ~/skintrinsic_data)")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="skintrinsic",
        description="Measure intrinsic properties of image datasets: intrinsic dimension "
                    "(MLE, TwoNN) and label sharpness K_F; with --train also the dimension "
                    "of a trained network's representation and its robustness.",
        epilog="Without a command, 'skintrinsic' runs 'skintrinsic profile' on the built-in "
               "digits dataset.")
    parser.add_argument("--version", action="version", version=f"skintrinsic {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{profile,compare}")

    profile = sub.add_parser(
        "profile", help="measure one dataset",
        description="Measure one dataset and write a report.")
    profile.add_argument("data", nargs="?", default=None, metavar="DATA",
                         help="built-in name (digits, mnist, pneumoniamnist, ...), .npz file, "
                              "IDX images file or image folder (default: digits)")
    profile.add_argument("--labels", default=None, metavar="FILE",
                         help="labels for DATA when they are not inside it: an IDX labels file, "
                              ".npy, or a text file with one label per line")
    _add_common(profile)

    compare = sub.add_parser(
        "compare", help="measure several datasets side by side",
        description="Measure several datasets with the same settings and put them in one "
                    "table and one set of plots.")
    compare.add_argument("data", nargs="+", metavar="DATA",
                         help="two or more datasets (built-in names or paths)")
    _add_common(compare)

    fetch = sub.add_parser(
        "fetch", help="download datasets into the data folder",
        description="Download datasets into the data folder, each file checked against its "
                    "published md5; files already there and intact are kept.")
    fetch.add_argument("names", nargs="+", metavar="NAME",
                       help="mnist (its test set), mnist_train, cifar10, svhn, or a MedMNIST "
                            "name such as pneumoniamnist (pneumoniamnist_224: 224 pixels)")
    _add_data_home(fetch)
    fetch.add_argument("--replace", action="store_true",
                       help="download the official file over a present file whose checksum "
                            "differs (by default such a file is kept, with a warning)")
    fetch.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    fetch.add_argument("--debug", action="store_true",
                       help="show the full traceback of an error")
    return parser


def _normalize_argv(argv):
    """A bare ``skintrinsic`` (or one starting with a dataset or an option) means ``profile``."""
    if not argv:
        return ["profile"]
    if argv[0] in _COMMANDS or argv[0] in ("-h", "--help", "--version"):
        return argv
    return ["profile", *argv]


class _Stages:
    """Drives the progress bar: each new stage completes the previous one."""

    def __init__(self, bar):
        self.bar = bar
        self.started = False

    def begin(self, description):
        if self.started:
            self.bar.update(1)
        self.started = True
        if description is not None:
            self.bar.set_description(description)


def default_threads():
    """The thread policy: half the cores, at least one.

    torch's own default (one thread per core) collapses when another process uses the CPU:
    its threads wait for each other at every operation (benchmarks/README.md, "Threads").
    Half the cores leaves room for other work and loses little on an idle machine.
    """
    return max(1, (os.cpu_count() or 1) // 2)


def _set_threads(threads):
    """Threads of the BLAS/OpenMP pools, set before torch and numpy are imported.

    Called in-process after they are loaded (e.g. by a test), the variables would only leak
    into the caller's environment: they are then left alone.
    """
    threads = default_threads() if threads is None else threads
    if "torch" not in sys.modules and "numpy" not in sys.modules:
        for name in _THREAD_VARIABLES:
            os.environ[name] = str(threads)
    return threads


def _check_sources(args):
    """Fail fast, before any heavy import, on inputs that cannot be read: an error or None."""
    sources = [args.data] if args.command == "profile" else list(args.data)
    for source in sources:
        if source is None or os.path.exists(os.path.expanduser(source)):
            continue
        key = str(source).lower()
        if key not in _BUILTIN_NAMES and not (key.endswith("mnist") and "/" not in key):
            return (f"{source}: no such file or folder, and not a built-in dataset "
                    f"({', '.join(_BUILTIN_NAMES)} or a MedMNIST name)")
    labels = getattr(args, "labels", None)
    if labels is not None and not os.path.isfile(os.path.expanduser(labels)):
        return f"--labels {labels}: no such file"
    if args.task == "all" and args.classes:
        return "--classes picks the two classes of --task binary; drop it or use --task binary"
    return None


def _fetch(args):
    from .datasets import fetch_datasets, get_data_home

    home = get_data_home(args.data_home)
    paths = fetch_datasets(args.names, data_home=home, replace=args.replace,
                           verbose=0 if args.quiet else 1)
    for name, files in paths.items():
        print(f"{name}: " + ", ".join(p.name for p in files))
    print(f"Data folder: {home}")
    return 0


def _run(args):
    # heavy imports (torch, pandas, matplotlib) only once the arguments are known to be valid
    import torch
    from tqdm.auto import tqdm

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(_set_threads(args.threads))
    try:
        return _profile(args, tqdm)
    finally:
        torch.set_num_threads(previous_threads)


def _profile(args, tqdm):
    from . import _report
    from .datasets import _sources
    from .study import _profile as profiling

    # the steps' own bars (per batch of images, with the time left) where the stage bar shows
    verbose = int(not args.quiet and sys.stderr.isatty())

    sources = [args.data] if args.command == "profile" else list(args.data)
    if args.command == "profile" and sources == [None]:
        sources = [_DEFAULT_SOURCE]
    settings = _report.Settings(
        k=args.k, n_bootstrap=args.n_bootstrap, n_samples=args.n_samples,
        n_draws=args.n_draws, task=args.task,
        classes=tuple(args.classes or ()), size=args.size, split=args.split, download=args.download,
        train=args.train,
        epochs=args.epochs, device=args.device, random_state=args.seed, verbose=verbose)
    labels = getattr(args, "labels", None)
    # before any measuring: a run must not end in a refusal to write
    replacing = _report.check_output(args.out, overwrite=args.overwrite)

    n_stages = profiling.n_stages(len(sources), settings)
    # disable=None: a bar only on a terminal, so logs and pipes get clean one-line errors
    with tqdm(total=n_stages, disable=True if args.quiet else None, file=sys.stderr, leave=False,
              bar_format="{desc:<36.36}{percentage:3.0f}%|{bar:20}| {elapsed}") as bar:
        stages = _Stages(bar)
        datasets = []
        for source in sources:
            stages.begin(f"{source}: loading")
            datasets.append(_sources.load_dataset(source, settings, labels=labels,
                                                  data_home=args.data_home))
        _sources.check_distinct_names(datasets)
        report = profiling.build_report(datasets, settings, stage=stages.begin)
        stages.begin("writing the report")
        title = f"skintrinsic {args.command}: " + ", ".join(d.name for d in datasets)
        path = _report.write_report(report, args.out, title=title, overwrite=args.overwrite)
        stages.begin(None)

    for line in _report.summary_lines(report):
        print(line)
    print(f"Report written to {os.path.abspath(path)} "
          f"(with report.json, report.csv and the PNG plots in {os.path.abspath(args.out)})")
    if replacing:
        print(f"It replaced the earlier report in {os.path.abspath(args.out)} (--overwrite).")
    return 0


def main(argv=None):
    """Entry point of the ``skintrinsic`` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(_normalize_argv(argv))
    if args.command == "compare" and len(args.data) < 2:
        parser.error("compare needs two or more datasets; use 'skintrinsic profile' for one")
    if args.command != "fetch":
        problem = _check_sources(args)
        if problem is not None:
            print(f"skintrinsic: error: {problem}", file=sys.stderr)
            return _EXIT_INPUT_ERROR
        _set_threads(args.threads)  # before torch or numpy start their thread pools
    try:
        return _fetch(args) if args.command == "fetch" else _run(args)
    except KeyboardInterrupt:
        print("skintrinsic: interrupted", file=sys.stderr)
        return _EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (e.g. `skintrinsic | head`): stop quietly, as the Python docs advise
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return _EXIT_INPUT_ERROR
    except Exception as exc:  # every failure is one line; --debug shows the traceback
        if args.debug:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        if not isinstance(exc, (ValueError, TypeError, OSError)):
            message = (f"unexpected {type(exc).__name__}: {message} (rerun with --debug for "
                       "the traceback and report it)")
        print(f"skintrinsic: error: {message}", file=sys.stderr)
        return _EXIT_INPUT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
