# SPDX-License-Identifier: GPL-3.0-or-later
"""Throughput of the synthetic head generator (all maps), samples/s at 128 and 256.

    .venv/bin/python benchmarks/bench_synth.py [--blocks 3] [--workers 2]

Each worker process renders whole blocks (one anny pass per block of
``generator.BLOCK`` heads), as DataLoader workers do with ``shuffle=False``. Model
loading and Warp compilation are excluded (one warm-up block per worker). The CPU
may be shared: the figure is noisy. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def _worker(args):
    res, first, n = args
    import torch

    torch.set_num_threads(1)
    from training.synth import generator

    generator.generate_block("train", 10_000 + first, res)  # warm-up: model load, caches
    t = time.perf_counter()
    for b in range(first, first + n):
        generator.generate_block("train", b, res)
    return n * generator.BLOCK, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=3, help="blocks per worker and resolution")
    ap.add_argument("--workers", type=int, default=2, help="processes (the machine has 2 cores)")
    a = ap.parse_args()
    out = {}
    ctx = mp.get_context("fork")
    for res in (128, 256):
        with ctx.Pool(a.workers) as pool:
            t = time.perf_counter()
            r = pool.map(_worker, [(res, k * a.blocks, a.blocks) for k in range(a.workers)])
        n = sum(x[0] for x in r)
        wall = max(x[1] for x in r)
        per_proc = [x[0] / x[1] for x in r]
        out[str(res)] = round(n / wall, 2)
        print(f"{res}x{res}: {n} samples, {out[str(res)]:.1f} samples/s with {a.workers} processes "
              f"(per process {', '.join(f'{p:.1f}' for p in per_proc)}), "
              f"total {time.perf_counter() - t:.0f}s")
    print(json.dumps({"samples_per_s": out}))


if __name__ == "__main__":
    main()
