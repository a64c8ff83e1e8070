# SPDX-License-Identifier: GPL-3.0-or-later
"""Ground-truth normals averaged over each pixel's footprint, for diagnostics.

The generator samples every ground-truth map once per pixel, at its centre. Where
the surface turns within a pixel (ears, eyelids, the lip line) that one sample can
lie far from the pixel's mean normal, which is what a network that sees the
pixel's colour can at best recover. This module renders the same head at K times
the resolution and averages:

    N̄(i, j) = normalise( Σ_{a, b < K, M(Ki + a, Kj + b)} N(Ki + a, Kj + b) )

with N, M the normals and mask of the K·S render. The crop and camera of a sample
do not depend on the resolution (the focal length in px scales with S), so pixel
(i, j) of the S map covers exactly the K × K block (Ki … Ki + K - 1, Kj … Kj + K - 1)
of the K·S map, and for odd K the centre of that block's middle sub-pixel is the
S pixel's centre. ``training.evaluate --gt-supersample K`` scores predictions
against N̄; the fixed test set itself stays as it is.

For training on N̄, a copy of a shard folder (``training.synth.shards``) with the
normals replaced and every other array kept (about 0.1 s per head at K = 4 and
S = 128, per process)::

    python -m training.synth.supersampled --shards data/train_128 --out data/train_128_ss4 --factor 4 --jobs 2

Where no sub-pixel of a head pixel sees the head (it happens at K = 4 in none of
the 200 test heads) the pixel keeps its point sample.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from training.synth import generator


def supersampled_normals(split: str, indices: list[int] | range, resolution: int = 128,
                         factor: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """N̄ of samples ``indices`` of ``split`` at ``resolution`` S, averaged over ``factor`` K.

    Returns ``normals`` (n, S, S, 3) float32, unit where ``cover`` > 0 and (0, 0, 1)
    elsewhere, and ``cover`` (n, S, S) float32 in [0, 1], the share of each pixel's
    K² sub-pixels that see the head. ``factor=1`` gives the generator's own normals.
    """
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    S, K = int(resolution), int(factor)
    indices = [int(i) for i in indices]
    normals = np.zeros((len(indices), S, S, 3), np.float32)
    normals[..., 2] = 1.0
    cover = np.zeros((len(indices), S, S), np.float32)
    model = generator.get_head_model()
    by_block: dict[int, list[tuple[int, int]]] = {}
    for row, index in enumerate(indices):
        block, k = divmod(index, generator.BLOCK)
        by_block.setdefault(block, []).append((row, k))
    for block, rows in by_block.items():
        verts, params = generator.block_vertices(model, split, block)
        for row, k in rows:
            index = block * generator.BLOCK + k
            s = generator.render_head(model, verts[k], params[k], split, index, S * K, with_image=False)
            m = s["mask"]
            total = (s["normals"] * m[..., None]).reshape(S, K, S, K, 3).sum((1, 3))
            count = m.reshape(S, K, S, K).sum((1, 3))
            seen = count > 0
            normals[row][seen] = total[seen] / np.linalg.norm(total[seen], axis=-1, keepdims=True)
            cover[row] = count / K**2
    return normals, cover


def supersample_shard(src: str | Path, out_dir: str | Path, split: str, factor: int) -> str:
    """Copy shard ``src`` into ``out_dir`` with its normals replaced by N̄ (skipped if already there).

    Written to a temporary name and renamed, so an interrupted run leaves no half shard."""
    src, out = Path(src), Path(out_dir) / Path(src).name
    if out.exists():
        return str(out)
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    mask = arrays["mask"].astype(bool)
    fine, cover = supersampled_normals(split, arrays["index"].tolist(), mask.shape[1], factor)
    keep = mask & (cover > 0)
    normals = arrays["normals"].copy()
    normals[keep] = fine[keep].astype(normals.dtype)
    arrays["normals"] = normals
    tmp = out.with_name("partial_" + out.name)  # not matched by shard_*.npz
    np.savez_compressed(tmp, **arrays)
    tmp.rename(out)
    return str(out)


def supersample_shards(shards: str | Path, out_dir: str | Path, factor: int = 4, jobs: int = 1) -> list[str]:
    """:func:`supersample_shard` over every shard of folder ``shards`` (``jobs`` processes);
    ``index.json`` is copied with ``normals_supersample`` = K added. Resumes: existing shards stay."""
    from training.synth.shards import _one_thread

    shards, out_dir = Path(shards), Path(out_dir)
    index = json.loads((shards / "index.json").read_text())
    files = sorted(str(p) for p in shards.glob("shard_*.npz"))
    out_dir.mkdir(parents=True, exist_ok=True)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max(1, jobs), mp_context=spawn, initializer=_one_thread) as pool:
        paths = list(pool.map(supersample_shard, files, [out_dir] * len(files), [index["split"]] * len(files),
                              [factor] * len(files)))
    (out_dir / "index.json").write_text(json.dumps({**index, "normals_supersample": factor}, indent=1))
    return paths


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Copy a shard folder with the ground-truth normals averaged "
                                             "over each pixel's K x K sub-pixels.")
    ap.add_argument("--shards", required=True, help="folder written by training.synth.shards")
    ap.add_argument("--out", required=True, help="output folder (existing shards in it are kept)")
    ap.add_argument("--factor", type=int, default=4, help="K: sub-pixels per pixel side")
    ap.add_argument("--jobs", type=int, default=1, help="processes (one per core)")
    a = ap.parse_args(argv)
    if a.factor < 1:
        ap.error("--factor must be >= 1")
    t0 = time.time()
    paths = supersample_shards(a.shards, a.out, a.factor, a.jobs)
    print(f"wrote {len(paths)} shards to {a.out} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
