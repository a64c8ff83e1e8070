# SPDX-License-Identifier: GPL-3.0-or-later
"""Write synthetic samples to disk in compressed shards.

    python -m training.synth.shards --split train --count 73728 --out DIR --per-shard 512 --jobs 2

is what ``make train`` runs, with DIR = data/train_128x2 and ``--max-minutes 30``.

``--jobs N`` splits the range into N contiguous parts written by N processes.
Each ``shard_NNNNNNNNN.npz`` (numpy ``savez_compressed``, named by the split
index of its first sample) holds, for n samples:
image (n,S,S,3) uint8 (sRGB*255, rounded), normals (n,S,S,3) float16 (error < 5e-4),
grad_mag (n,S,S) float16, mask (n,S,S) bool, depth (n,S,S) float32 px (exact),
corr (n,S,S,3) float16, index (n,) int64 (sample index within the split).
``index.json`` records split, resolution, count and the generator's conventions.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from training.synth import generator

STORE = {"image": None, "normals": np.float16, "grad_mag": np.float16, "mask": bool,
         "depth": np.float32, "corr": np.float16}


def pack(samples: list[dict], indices: list[int]) -> dict[str, np.ndarray]:
    out = {}
    for k, dt in STORE.items():
        a = np.stack([s[k] for s in samples])
        out[k] = (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8) if k == "image" else a.astype(dt)
    out["index"] = np.asarray(indices, np.int64)
    return out


def load_shard(path: str) -> dict[str, np.ndarray]:
    """Arrays of one shard decoded to the per-sample contract (float32, mask bool)."""
    with np.load(path) as z:
        out = {}
        for k in STORE:
            a = z[k]
            if k == "image":
                out[k] = a.astype(np.float32) / 255.0
            elif k == "mask":
                out[k] = a.astype(bool)
            else:
                out[k] = a.astype(np.float32)
        return out


def write_shards(split: str, count: int, out: str, resolution: int = 128, start: int = 0,
                 per_shard: int = 1024, progress=None, index: bool = True,
                 deadline: float | None = None) -> list[str]:
    """Generate samples ``start .. start+count-1`` of ``split`` into ``out``; returns shard paths.

    ``index`` writes ``index.json`` (off for the parts of :func:`write_shards_parallel`).
    ``deadline`` (a ``time.time()`` value): once one shard is written, render no block
    of samples after it; the folder then holds the range's first samples (the last
    shard may be short).
    """
    os.makedirs(out, exist_ok=True)
    B = generator.BLOCK
    paths = []
    buf: list[dict] = []
    idx: list[int] = []
    i = start
    end = start + count

    def flush():
        p = os.path.join(out, f"shard_{idx[0]:09d}.npz")
        np.savez_compressed(p, **pack(buf, idx))
        paths.append(p)
        buf.clear()
        idx.clear()

    while i < end and not (deadline is not None and paths and time.time() > deadline):
        b, k = divmod(i, B)
        block = generator.generate_block(split, b, resolution)
        for kk in range(k, min(B, k + end - i)):
            buf.append(block[kk])
            idx.append(b * B + kk)
            if len(buf) == per_shard:
                flush()
        i = (b + 1) * B
        if progress:
            progress(min(1.0, (i - start) / count), f"{min(i, end) - start}/{count}")
    if buf:
        flush()
    if index:
        write_index(out, split, resolution, start, min(count, i - start), len(paths))
    return paths


def write_index(out: str, split: str, resolution: int, start: int, count: int, shards: int) -> None:
    """``index.json`` of a shard folder: what it holds and under which conventions."""
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(dict(split=split, resolution=resolution, start=start, count=count, shards=shards,
                       base_seed=generator.BASE_SEED, conventions="training/synth/generator.py"), f, indent=1)


def _one_thread() -> None:
    """Pool initializer: one torch and one OpenCV thread per generating process (one process per core)."""
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def write_shards_parallel(split: str, count: int, out: str, resolution: int = 128, start: int = 0,
                          per_shard: int = 1024, jobs: int = 2, max_minutes: float = 0.0) -> list[str]:
    """:func:`write_shards` over ``jobs`` processes of one thread each, each on a contiguous part.

    Part boundaries fall on multiples of ``per_shard`` so every shard but the
    last is full; the folder holds the same samples as one process would write.
    ``max_minutes`` > 0: each process stops after that many minutes (once it has one
    shard), so each part holds its first samples; ``index.json``'s ``count`` is what was written.
    """
    end = start + count
    size = max(per_shard, math.ceil(count / max(1, jobs) / per_shard) * per_shard)  # samples per part
    parts = [(a, min(a + size, end)) for a in range(start, end, size)]
    deadline = time.time() + max_minutes * 60 if max_minutes > 0 else None
    # spawned, not forked: a forked child that sets torch's thread count after the parent ran torch hangs
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max(1, len(parts)), mp_context=spawn, initializer=_one_thread) as pool:
        futures = [pool.submit(write_shards, split, b - a, out, resolution, a, per_shard, None, False,
                               deadline) for a, b in parts]
        paths = sorted(p for f in futures for p in f.result())
    written = 0
    for p in paths:
        with np.load(p) as z:  # reads the small index member only
            written += int(z["index"].shape[0])
    write_index(out, split, resolution, start, written, len(paths))
    return paths


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="train", choices=sorted(generator.SPLITS))
    ap.add_argument("--count", type=int, required=True, help="number of samples")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--resolution", type=int, default=128, help="crop side S, px")
    ap.add_argument("--start", type=int, default=0, help="first sample index")
    ap.add_argument("--per-shard", type=int, default=1024, help="samples per shard file")
    ap.add_argument("--jobs", type=int, default=1, help="generating processes (one per core)")
    ap.add_argument("--max-minutes", type=float, default=0.0,
                    help="with --jobs > 1: stop rendering after this many minutes (0: no limit)")
    a = ap.parse_args(argv)
    t0 = time.time()

    def progress(frac, msg):
        el = time.time() - t0
        print(f"\r{msg}  {el:.0f}s  eta {el / max(frac, 1e-9) - el:.0f}s", end="", flush=True)

    if a.jobs > 1:
        paths = write_shards_parallel(a.split, a.count, a.out, a.resolution, a.start, a.per_shard, a.jobs,
                                      a.max_minutes)
    else:
        paths = write_shards(a.split, a.count, a.out, a.resolution, a.start, a.per_shard, progress)
    print(f"\nwrote {len(paths)} shards to {a.out}")


if __name__ == "__main__":
    main()
