"""DANCo against the MLE, end to end at N = 60,000 x 784 (the scale target of issue 12), one thread.

Fits IntrinsicDimension("danco") once with an empty calibration cache (it simulates its curve),
then the MLE and DANCo alternately, twice, with the cache warm; prints each time and d.
Usage: ``python benchmarks/bench_id_time.py``.
"""

import json
import os
import sys
import tempfile
import time

# an empty calibration cache: the first DANCo fit simulates its curve, the later ones read it
os.environ["SKINTRINSIC_CACHE"] = tempfile.mkdtemp(prefix="id_calibration_")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from bench_knn_id import make_manifold  # noqa: E402
from skintrinsic import IntrinsicDimension  # noqa: E402

torch.set_num_threads(1)


def fit(X, estimator):
    start = time.perf_counter()
    est = IntrinsicDimension(estimator, n_jobs=1, random_state=0).fit(X)
    return time.perf_counter() - start, est.dimension_


def main():
    X, _ = make_manifold(60000)
    print("X", X.shape, X.dtype, flush=True)
    out = {"danco_cold": fit(X, "danco")}
    print(out, flush=True)
    for estimator in ("mle", "danco", "mle", "danco"):
        out.setdefault(estimator, []).append(fit(X, estimator))
        print(estimator, out[estimator][-1], "load", os.getloadavg(), flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
