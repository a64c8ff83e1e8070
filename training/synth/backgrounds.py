# SPDX-License-Identifier: GPL-3.0-or-later
"""Random backgrounds, (S, S, 3) float32 sRGB in [0, 1]: gradients, multi-octave
noise, stripes/checkers, blurred blobs. All procedural (no image data is shipped)."""

from __future__ import annotations

import functools

import cv2
import numpy as np


def _noise(rng: np.random.Generator, S: int, cells: int) -> np.ndarray:
    g = rng.random((cells + 1, cells + 1, 3)).astype(np.float32)
    return cv2.resize(g, (S, S), interpolation=cv2.INTER_CUBIC)


@functools.lru_cache(maxsize=4)
def _grid(S: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32) / S
    yy.flags.writeable = False
    xx.flags.writeable = False
    return yy, xx


def background(rng: np.random.Generator, S: int) -> np.ndarray:
    kind = rng.integers(5)
    yy, xx = _grid(S)
    c0 = rng.random(3).astype(np.float32) * rng.uniform(0.2, 1.0)
    c1 = rng.random(3).astype(np.float32) * rng.uniform(0.2, 1.0)
    if kind == 0:  # linear gradient
        a = rng.uniform(0, 2 * np.pi)
        t = (np.cos(a) * xx + np.sin(a) * yy)
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
        img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    elif kind == 1:  # multi-octave colour noise
        img = sum(_noise(rng, S, c) * w for c, w in ((2, 0.5), (6, 0.3), (20, 0.2)))
        img = c0 + (img - 0.5) * rng.uniform(0.3, 1.5)
    elif kind == 2:  # stripes / checkers, rotated
        a = rng.uniform(0, np.pi)
        f = rng.uniform(2, 12)
        u = np.cos(a) * xx + np.sin(a) * yy
        v = -np.sin(a) * xx + np.cos(a) * yy
        t = (np.sin(u * f * 2 * np.pi) > 0) if rng.random() < 0.5 else \
            ((np.floor(u * f) + np.floor(v * f)) % 2 > 0)
        img = np.where(t[..., None], c0, c1)
        img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), rng.uniform(0.5, 4) * S / 128)
    elif kind == 3:  # blurred blobs (out-of-focus room)
        img = np.empty((S, S, 3), np.float32)
        img[:] = c0
        for _ in range(int(rng.integers(3, 10))):
            cx, cy, r = rng.random(), rng.random(), rng.uniform(0.05, 0.4)
            col = tuple(float(v) for v in rng.random(3))
            cv2.circle(img, (int(cx * S), int(cy * S)), max(int(r * S), 1), col, -1)
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(2, 10) * S / 128)
    else:  # flat studio wall with soft light falloff
        cx, cy = rng.random(2)
        t = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / rng.uniform(0.1, 0.6))
        img = c0 * (0.5 + 0.5 * t[..., None])
    return np.clip(img, 0, 1).astype(np.float32)
