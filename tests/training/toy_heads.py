# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-in data for the training tests: shaded ellipsoid "heads" with exact maps.

Test helper only (never shipped, never used for the real training run). Same
keys and conventions as ``training.synth.SynthDataset``: (C, S, S) float32
tensors, image in [0, 1], unit camera-frame normals (x right, y up, z to
viewer), grad_mag = |grad h| (px/px), mask {0, 1}, depth in px with zero median
over the mask (0 outside), corr in [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


def ellipsoid_sample(resolution: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One random ellipsoid head; maps as (S, S, C) / (S, S) float32 numpy arrays."""
    s = resolution
    cy, cx = rng.uniform(0.4, 0.6, 2) * s  # centre (px)
    a, b = rng.uniform(0.22, 0.34, 2) * s  # x and y semi-axes (px)
    c = rng.uniform(0.2, 0.3) * s  # z semi-axis (px)
    i, j = np.mgrid[0:s, 0:s].astype(np.float64) + 0.5
    x, y = (j - cx) / a, -(i - cy) / b  # y up
    r2 = x * x + y * y
    mask = r2 < 0.95
    zn = np.sqrt(np.clip(1.0 - r2, 1e-6, None))
    h = np.where(mask, c * zn, 0.0)
    # gradient of z = c sqrt(1 - x^2 - y^2) -> normal ~ (-dz/dX, -dz/dY, 1) in px
    nx, ny, nz = x / a * c / zn, y / b * c / zn, np.ones_like(zn)
    n = np.stack([nx, ny, nz], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    n[~mask] = (0.0, 0.0, 1.0)
    h[mask] -= np.median(h[mask])
    h[~mask] = 0.0
    gi, gj = np.gradient(h)
    w = np.hypot(gi, gj)
    light = rng.normal(size=3) * (0.5, 0.5, 0.2) + (0.0, 0.0, 1.0)
    light /= np.linalg.norm(light)
    albedo = rng.uniform(0.4, 0.9, 3)
    shade = np.clip(n @ light, 0.0, 1.0)[..., None] * albedo + 0.1
    bg = rng.uniform(0, 1, 3) * 0.5 + 0.25 * np.sin(i / rng.uniform(3, 9))[..., None]
    img = np.where(mask[..., None], shade, bg) + rng.normal(0, 0.02, (s, s, 3))
    corr = np.stack([(x + 1) / 2, (y + 1) / 2, zn], -1) * mask[..., None]
    return {
        "image": np.clip(img, 0, 1).astype(np.float32),
        "normals": n.astype(np.float32),
        "grad_mag": w.astype(np.float32),
        "mask": mask,
        "depth": h.astype(np.float32),
        "corr": np.clip(corr, 0, 1).astype(np.float32),
    }


class ToyHeads(Dataset):
    """Map-style dataset: sample ``k`` is a pure function of (split, seed, k)."""

    def __init__(self, split: str = "train", resolution: int = 32, length: int = 1000, seed: int = 0):
        self.split, self.resolution, self.length, self.seed = split, resolution, length, seed
        self._split_id = {"train": 0, "val": 1, "test": 2}[split]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self._split_id, int(k)])
        d = ellipsoid_sample(self.resolution, rng)
        out = {}
        for key, v in d.items():
            v = v.astype(np.float32)
            out[key] = torch.from_numpy(v[None] if v.ndim == 2 else v.transpose(2, 0, 1).copy())
        return out
