# SPDX-License-Identifier: GPL-3.0-or-later
"""Torch datasets over synthetic heads.

Items are dicts of float32 tensors ``(C, S, S)``: image (3), normals (3), grad_mag (1),
mask (1, 0/1), depth (1, px), corr (3) -- the per-sample contract of
docs/conventions.md in channel-first layout.

``SynthDataset`` renders on the fly. Item i is a pure function of (split, i,
resolution). Heads are evaluated by anny in blocks of ``generator.BLOCK`` indices;
the last block is cached per dataset instance, so sequential access (DataLoader with
``shuffle=False``; the samples are already i.i.d. random) costs one anny pass per
block. Random access works too, at one anny pass per item. The anny model is built
lazily in each process (DataLoader workers included) on first use.
"""

from __future__ import annotations

import glob
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch.utils.data import Dataset

from training.synth import generator

KEYS = ("image", "normals", "grad_mag", "mask", "depth", "corr")
TEST_SET_SIZE = 200


def to_tensors(sample: dict) -> dict[str, torch.Tensor]:
    """Numpy sample dict (S, S, C) -> dict of float32 tensors (C, S, S)."""
    out = {}
    for k in KEYS:
        a = np.asarray(sample[k], dtype=np.float32)
        if a.ndim == 2:
            a = a[None]
        else:
            a = np.moveaxis(a, -1, 0)
        out[k] = torch.from_numpy(np.ascontiguousarray(a))
    return out


class SynthDataset(Dataset):
    """On-the-fly synthetic heads.

    Parameters
    ----------
    split : "train" | "val" | "test" (disjoint identity streams)
    resolution : crop side S in px (128 default, 256 supported)
    length : number of items
    seed : offset of the index stream: item i is sample ``seed * 10**9 + i`` of ``split``
        (use different seeds for different epochs to never repeat a head)
    """

    def __init__(self, split: str = "train", resolution: int = 128, length: int = 10000, seed: int = 0):
        if split not in generator.SPLITS:
            raise ValueError(f"split must be one of {sorted(generator.SPLITS)}, got {split!r}")
        self.split = split
        self.resolution = int(resolution)
        self.length = int(length)
        self.offset = int(seed) * 10**9
        self._block_id: int | None = None
        self._block: list[dict] | None = None

    def __len__(self) -> int:
        return self.length

    def sample(self, i: int) -> dict:
        """Numpy sample dict of item i."""
        if not 0 <= i < self.length:
            raise IndexError(i)
        g = self.offset + i
        b, k = divmod(g, generator.BLOCK)
        if self._block_id != b:
            self._block = generator.generate_block(self.split, b, self.resolution)
            self._block_id = b
        return self._block[k]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return to_tensors(self.sample(int(i)))


def stacked_batches(ds, n: int, batch_size: int = 16):
    """Yield the first ``n`` items of ``ds`` in order, as dicts of (B, C, S, S) float32 tensors.

    Items may be tensor dicts (:class:`SynthDataset`) or numpy sample dicts
    (:func:`test_set`); every key of :data:`KEYS` is stacked, plus ``occluder``
    ((B, S, S) uint8, 0 none / 1 hair / 2 glasses / 3 clothing) when every item has one.
    """
    for start in range(0, n, batch_size):
        raw = [ds[i] for i in range(start, min(n, start + batch_size))]
        items = [it if isinstance(it["image"], torch.Tensor) else to_tensors(it) for it in raw]
        batch = {k: torch.stack([it[k].float() for it in items]) for k in KEYS}
        if all("occluder" in it for it in raw):
            batch["occluder"] = torch.stack([torch.as_tensor(np.asarray(it["occluder"])) for it in raw])
        yield batch


def test_set(resolution: int = 128) -> list[dict]:
    """The fixed 200-image test set (numpy dicts), regenerated bit-exactly from its seed."""
    out = []
    for b in range((TEST_SET_SIZE + generator.BLOCK - 1) // generator.BLOCK):
        out.extend(generator.generate_block("test", b, resolution))
    return out[:TEST_SET_SIZE]


class ShardDataset(Dataset):
    """Samples stored by ``python -m training.synth.shards`` (``shard_*.npz`` in a folder)."""

    def __init__(self, folder: str):
        self.files = sorted(glob.glob(os.path.join(folder, "shard_*.npz")))
        if not self.files:
            raise FileNotFoundError(f"no shard_*.npz files in {folder}")
        self.counts = []
        for f in self.files:
            with np.load(f) as z:
                self.counts.append(int(z["image"].shape[0]))
        self.starts = np.cumsum([0] + self.counts)
        self._cache: tuple[int, dict] | None = None

    def __len__(self) -> int:
        return int(self.starts[-1])

    def sample(self, i: int) -> dict:
        if not 0 <= i < len(self):
            raise IndexError(i)
        s = int(np.searchsorted(self.starts, i, side="right") - 1)
        if self._cache is None or self._cache[0] != s:
            from training.synth.shards import load_shard

            self._cache = (s, load_shard(self.files[s]))
        k = i - int(self.starts[s])
        return {key: v[k] for key, v in self._cache[1].items()}

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return to_tensors(self.sample(int(i)))


class ShardTensors:
    """Every sample of a shard folder decoded once into compact tensors on ``device``.

    For a GPU, whose steps outrun any DataLoader decoding npz shards: the folder
    (36 864 samples at 128 px: 4.6 GB of npz) becomes 13 GB of device memory in
    the shards' own dtypes -- image (N, 3, S, S) uint8, normals and corr
    (N, 3, S, S) float16, grad_mag (N, 1, S, S) float16, mask (N, 1, S, S) bool,
    depth (N, 1, S, S) float32 px -- and :meth:`batch` gathers and widens a batch
    there. Values equal :class:`ShardDataset`'s (the same decoding, in torch).

    Parameters
    ----------
    folder : shard folder written by ``python -m training.synth.shards``
    device : where the tensors live ("cpu", "cuda", ...)
    threads : shards decompressed at once (zlib releases the GIL)
    """

    def __init__(self, folder: str, device: str | torch.device = "cpu", threads: int = 8):
        from training.synth.shards import STORE

        files = sorted(glob.glob(os.path.join(folder, "shard_*.npz")))
        if not files:
            raise FileNotFoundError(f"no shard_*.npz files in {folder}")
        counts = []
        for f in files:
            with np.load(f) as z:
                counts.append(int(z["index"].shape[0]))
        starts = np.cumsum([0] + counts)
        with np.load(files[0]) as z:
            first = {k: z[k] for k in STORE}
        self.device = torch.device(device)
        n = int(starts[-1])
        self.tensors: dict[str, torch.Tensor] = {}
        for k, a in first.items():
            shape = (n, a.shape[3] if a.ndim == 4 else 1, a.shape[1], a.shape[2])
            self.tensors[k] = torch.empty(shape, dtype=torch.from_numpy(a[:1]).dtype, device=self.device)

        def store(j: int, arrays: dict[str, np.ndarray]) -> None:
            for k in STORE:
                a = torch.from_numpy(arrays[k])
                a = a.permute(0, 3, 1, 2) if a.ndim == 4 else a[:, None]
                self.tensors[k][starts[j]:starts[j + 1]].copy_(a)

        def load(j: int) -> None:
            with np.load(files[j]) as z:
                store(j, {k: z[k] for k in STORE})

        store(0, first)  # already decompressed for the dtypes and shapes
        del first
        with ThreadPoolExecutor(max(1, threads)) as pool:
            list(pool.map(load, range(1, len(files))))

    def __len__(self) -> int:
        return int(self.tensors["image"].shape[0])

    def batch(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """Samples ``indices`` as a dict of float32 (B, C, S, S) tensors on ``device``
        (image in [0, 1], mask 0/1): :func:`to_tensors` of each, stacked."""
        idx = torch.as_tensor(indices, dtype=torch.long, device=self.device)
        out = {}
        for k, t in self.tensors.items():
            b = t.index_select(0, idx)
            out[k] = b.float() / 255.0 if k == "image" else b.float()
        return out
