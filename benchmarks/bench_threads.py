"""How many torch threads: the README pipeline's wall time, alone and beside a busy process.

The job is the README's "pipeline in ten lines" (d_data, K_F and a GridSearchCV over three
training sizes of the small CNN on the digits 2-vs-8 task), run in a fresh Python process
per measurement with ``OMP_NUM_THREADS`` and ``torch.set_num_threads`` set to the count
under test.  "Contended" runs start one extra process that keeps one core busy (a pure
Python loop), as another user's job would.  Each cell is the median of ``--repeats`` runs.

Usage::

    python benchmarks/bench_threads.py --repeats 3

prints a Markdown table for benchmarks/README.md ("Threads").  The counts compared are 1,
half the cores (the command line's default, skintrinsic.cli.default_threads) and all cores
(torch's own default).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def _pipeline_code():
    code = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)[0]
    return "import sys, torch; torch.set_num_threads(int(sys.argv[1]))\n" + code


def _run(threads, code):
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(threads)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(threads)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _busy():
    """One process keeping one core busy until it is killed."""
    return subprocess.Popen([sys.executable, "-c", "while True:\n    pass"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from skintrinsic.cli import default_threads

    cores = os.cpu_count() or 1
    counts = sorted({1, default_threads(), cores})
    code = _pipeline_code()
    rows = []
    for contended in (False, True):
        for threads in counts:
            busy = _busy() if contended else None
            try:
                time.sleep(0.5 if contended else 0)
                load = os.getloadavg()[0]
                times = [_run(threads, code) for _ in range(args.repeats)]
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()
            rows.append((contended, threads, statistics.median(times), min(times),
                         max(times), load))
            print(f"contended={contended} threads={threads}: "
                  + ", ".join(f"{t:.1f}" for t in times), file=sys.stderr)

    print(f"{cores} cores; default of the command line: {default_threads()} thread(s); "
          f"median of {args.repeats} runs (min-max); load = 1-min load average at the start\n")
    print("| machine | threads | wall time (s) | min-max (s) | load |")
    print("|---|---|---|---|---|")
    for contended, threads, median, low, high, load in rows:
        who = "one busy process beside" if contended else "no extra process"
        label = {1: "1", default_threads(): f"{threads} (default)", cores: f"{threads} (all)"}
        print(f"| {who} | {label.get(threads, threads)} | {median:.1f} | {low:.1f}-{high:.1f} "
              f"| {load:.1f} |")


if __name__ == "__main__":
    main()
