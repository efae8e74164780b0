"""Benchmark of the vectorized diffeomorphism sampler against per-image loops (issue 5).

Three ways to deform a batch of B images of n x n pixels, each by its own
random field (cutoff c, temperature T(delta=1)):

* ``vectorized``: ``skintrinsic.diffeo.random_diffeo`` on the whole batch
  (one coefficient draw, one einsum for all fields, one ``grid_sample``);
* ``loop (ours)``: the same function called once per image;
* ``loop (reference style)``: the per-image code of the authors' public
  sampler re-written here: a field from a c x c coefficient matrix by einsum,
  then bilinear reading by floor/ceil gathers, image by image.

Each case is timed as the best of ``--repeats`` runs after one warm-up (the
three methods taking turns), on
the CPU with ``--threads`` torch threads, float32.  The speed-up is the loop
time over the vectorized time.  The result is printed and written as a
markdown section to ``benchmarks/_sections/diffeo.md``.

Usage::

    python benchmarks/bench_diffeo_sampler.py [--threads 1] [--repeats 3]
"""

import argparse
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch

from skintrinsic.diffeo import random_diffeo, typical_temperature

SECTION = Path(__file__).resolve().parent / "_sections" / "diffeo.md"
CASES = [(256, 28), (1024, 28), (256, 32), (1024, 32), (256, 64)]


def reference_style(images, temperature, cutoff, generator):
    """Per image: field by einsum over a c x c coefficient matrix, bilinear by gathers."""
    n = images.shape[-1]
    x = torch.linspace(0, 1, n)
    k = torch.arange(1, cutoff + 1, dtype=torch.float32)
    i, j = torch.meshgrid(k, k, indexing="ij")
    r = (i**2 + j**2).sqrt()
    e = (r < cutoff + 0.5) / r
    s = torch.sin(math.pi * x[:, None] * k[None, :])
    yy, xx = torch.meshgrid(torch.arange(n, dtype=torch.float32),
                            torch.arange(n, dtype=torch.float32), indexing="ij")
    out = torch.empty_like(images)
    for b in range(images.shape[0]):
        fields = []
        for _ in range(2):
            c = torch.randn(cutoff, cutoff, generator=generator) * e
            fields.append(torch.einsum("ij,xi,yj->yx", c, s, s) * (temperature**0.5 * n))
        dx, dy = fields
        xn = (xx - dx).clamp(0, n - 1)
        yn = (yy - dy).clamp(0, n - 1)
        xf, yf = xn.floor().long(), yn.floor().long()
        xc, yc = xn.ceil().long(), yn.ceil().long()
        xv, yv = xn - xf, yn - yf
        a = images[b]
        out[b] = ((1 - yv) * (1 - xv) * a[..., yf, xf] + (1 - yv) * xv * a[..., yf, xc]
                  + yv * (1 - xv) * a[..., yc, xf] + yv * xv * a[..., yc, xc])
    return out


def best_of_interleaved(fns, repeats):
    """Best time of each function, the functions taking turns so that load bursts hit all alike."""
    for fn in fns:
        fn()
    best = [math.inf] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t)
    return best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--cutoff", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for batch, n in CASES:
        images = torch.rand(batch, 1, n, n, generator=torch.Generator().manual_seed(0))
        T = typical_temperature(1, args.cutoff, n)
        rng = np.random.RandomState(0)
        gen = torch.Generator().manual_seed(0)
        t_vec, t_loop, t_ref = best_of_interleaved([
            lambda: random_diffeo(images, T, args.cutoff, random_state=rng),
            lambda: [random_diffeo(images[i:i + 1], T, args.cutoff, random_state=rng)
                     for i in range(batch)],
            lambda: reference_style(images, T, args.cutoff, gen),
        ], args.repeats)
        rows.append((batch, n, t_vec, t_loop, t_ref))
        print(f"B={batch:5d} n={n:3d}  vectorized {t_vec * 1e3:8.1f} ms  loop(ours) "
              f"{t_loop * 1e3:8.1f} ms ({t_loop / t_vec:5.1f}x)  loop(reference style) "
              f"{t_ref * 1e3:8.1f} ms ({t_ref / t_vec:5.1f}x)", flush=True)
    write_section(rows, args)


def summary(rows):
    """Which cases reach the 20x target, said plainly."""
    met = [f"{b}x{n}x{n}" for b, n, t_vec, t_loop, t_ref in rows
           if min(t_loop, t_ref) / t_vec >= 20]
    missed = [(f"{b}x{n}x{n}", min(t_loop, t_ref) / t_vec) for b, n, t_vec, t_loop, t_ref in rows
              if min(t_loop, t_ref) / t_vec < 20]
    text = f"Against the faster of the two loops, 20x or more for: {', '.join(met) or 'none'}."
    if missed:
        text += (" Below 20x for: " + ", ".join(f"{c} ({r:.1f}x)" for c, r in missed) + ". A loop "
                 "pays a fixed cost per call (~0.1-0.2 ms); once the images are large, bilinear "
                 "reading of every pixel dominates both versions and the ratio shrinks toward "
                 "the per-pixel cost ratio.")
    return text


def write_section(rows, args):
    lines = [
        "## Diffeomorphism sampler: vectorized against per-image loops",
        "",
        "`benchmarks/bench_diffeo_sampler.py`: deform B images of n x n pixels (float32, one "
        f"channel), each by its own field, c = {args.cutoff}, T = T(delta=1). Best of "
        f"{args.repeats} runs after a warm-up, the methods taking turns; CPU, "
        f"{args.threads} torch thread(s); "
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}.",
        "",
        "| B | n | vectorized (ms) | loop, ours (ms) | speed-up | loop, reference style (ms) "
        "| speed-up |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for batch, n, t_vec, t_loop, t_ref in rows:
        lines.append(f"| {batch} | {n} | {t_vec * 1e3:.1f} | {t_loop * 1e3:.1f} | "
                     f"{t_loop / t_vec:.0f}x | {t_ref * 1e3:.1f} | {t_ref / t_vec:.0f}x |")
    lines += [
        "",
        "*loop, ours*: `random_diffeo` called once per image. *loop, reference style*: the "
        "per-image field-and-gather code of the authors' public sampler, re-written in the "
        "script. The target was a speed-up of at least 20x over a per-image loop.",
        "",
        summary(rows),
        "",
        "The machine (2 cores) was shared with other work while this ran, so absolute times "
        "are noisy; the three methods took turns on the same inputs, so a burst of load "
        "hits all of them, and the best run of each is kept.",
        "",
    ]
    SECTION.parent.mkdir(parents=True, exist_ok=True)
    SECTION.write_text("\n".join(lines))
    print(f"wrote {SECTION}")


if __name__ == "__main__":
    main()
