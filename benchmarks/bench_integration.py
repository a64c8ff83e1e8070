# SPDX-License-Identifier: GPL-3.0-or-later
"""Speed and accuracy of the WLS normal integration against spsolve and DCT baselines."""

from __future__ import annotations

import json
import os
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import integration  # noqa: E402

# Gaussian features of the face-like surface, in normalised coordinates
# (x right, y up, both in [-1, 1] across the grid):
# (amplitude, x0, y0, sigma_x, sigma_y); amplitude in units of the half grid side.
_FEATURES = (
    (0.22, 0.0, -0.05, 0.10, 0.28),  # nose
    (-0.08, -0.30, 0.20, 0.13, 0.08),  # eye sockets
    (-0.08, 0.30, 0.20, 0.13, 0.08),
    (0.05, -0.30, 0.36, 0.20, 0.06),  # brow ridges
    (0.05, 0.30, 0.36, 0.20, 0.06),
    (0.05, 0.0, -0.45, 0.20, 0.06),  # lips
    (0.06, 0.0, -0.72, 0.22, 0.10),  # chin
    (0.04, -0.45, -0.25, 0.15, 0.15),  # cheeks
    (0.04, 0.45, -0.25, 0.15, 0.15),
)
_HEAD_RX, _HEAD_RY, _HEAD_DZ = 0.95, 1.12, 0.6  # ellipsoid semi-axes (normalised units)
_MASK_RX, _MASK_RY = 0.80, 0.96  # mask ellipse: pi * 0.8 * 0.96 / 4 = 60 % of the grid


def face_surface(size: int, *, eye_holes: bool = True):
    """Face-like analytic surface with exact normals and gradient magnitude.

    Parameters
    ----------
    size : int
        Grid side S in pixels.
    eye_holes : bool
        Cut two small elliptic holes at the eyes out of the mask.

    Returns
    -------
    depth : (S, S) float64
        True depth in pixel units (toward the viewer), finite everywhere.
    normals : (S, S, 3) float32
        Exact unit normals (camera frame: x right, y up, z toward the viewer),
        ``(0, 0, 1)`` outside the mask.
    grad_mag : (S, S) float32
        Exact ``|grad h|`` in px/px inside the mask, 0 outside.
    mask : (S, S) bool
        Ellipse covering about 60 % of the grid (minus the eye holes).
    """
    half = size / 2.0
    coords = (np.arange(size) + 0.5 - half) / half
    x = coords[None, :]
    y = -coords[:, None]
    t = np.maximum(1.0 - (x / _HEAD_RX) ** 2 - (y / _HEAD_RY) ** 2, 1e-3)
    f = _HEAD_DZ * np.sqrt(t)
    fx = -_HEAD_DZ * x / (_HEAD_RX**2 * np.sqrt(t))
    fy = -_HEAD_DZ * y / (_HEAD_RY**2 * np.sqrt(t))
    for a, x0, y0, sx, sy in _FEATURES:
        g = a * np.exp(-(((x - x0) / sx) ** 2) - ((y - y0) / sy) ** 2)
        f = f + g
        fx = fx - 2.0 * (x - x0) / sx**2 * g
        fy = fy - 2.0 * (y - y0) / sy**2 * g
    mask = (x / _MASK_RX) ** 2 + (y / _MASK_RY) ** 2 <= 1.0
    if eye_holes:
        for x0 in (-0.30, 0.30):
            mask &= ((x - x0) / 0.09) ** 2 + ((y - 0.20) / 0.04) ** 2 > 1.0
    # h = half * f(x, y) with x = (j - c) / half, y = -(i - c) / half, so
    # dh/dj = fx and dh/dy = fy (y up): the normal is (-fx, -fy, 1) normalised.
    n = np.stack([-fx, -fy, np.ones_like(f)], axis=-1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    n[~mask] = (0.0, 0.0, 1.0)
    grad_mag = np.where(mask, np.hypot(fx, fy), 0.0)
    return half * f, n.astype(np.float32), grad_mag.astype(np.float32), mask


def _timed_ms(fn, repeats: int) -> tuple[float, float, object]:
    """Median and minimum wall time (ms) of ``repeats`` calls, and the last result."""
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times)), 1e3 * min(times), result


SIZES = (128, 256, 512, 1024)
SPSOLVE_LIMIT_S = 60.0  # skip spsolve where its predicted time (8x the previous size's) exceeds this
REPEATS = {128: 9, 256: 9, 512: 5, 1024: 3}


def main() -> dict:
    from scipy.sparse.linalg import spsolve

    result = {"wls_ms": {}, "spsolve_ms": {}, "dct_ms": {}, "rms_vs_spsolve": {}}
    last_spsolve_s = 0.0
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# times are medians (wls also min); load average {load:.1f} on {os.cpu_count()} CPUs")
    print("size  unknowns  wls_ms (min)  spsolve_ms  dct_ms  rms_vs_sp_px  rms_vs_truth_px  range_px  cg_it")
    for size in SIZES:
        depth, normals, grad_mag, mask = face_surface(size)
        repeats = REPEATS[size]
        wls_ms, wls_min, ours = _timed_ms(
            partial(integration.integrate_normals, normals, grad_mag, mask), repeats
        )
        dct_ms, _, _ = _timed_ms(partial(integration.dct_poisson, normals, mask), repeats)
        system = integration.build_grid_system(normals, grad_mag, mask, 0.1)
        info: dict = {}
        integration.solve_grid_system(system, info=info)
        sp_ms = None
        rms_sp = None
        if last_spsolve_s * 8.0 <= SPSOLVE_LIMIT_S:
            A = system.to_csr().tocsc()
            b = system.rhs[system.mask]
            sp_repeats = 3 if size <= 256 else 1
            sp_ms, _, h = _timed_ms(partial(spsolve, A, b), sp_repeats)
            last_spsolve_s = sp_ms / 1e3
            ref = np.full(mask.shape, np.nan)
            h = h - np.median(h)  # one component: zero median, as integrate_normals
            sub = ref[system.box]
            sub[system.mask] = h
            rms_sp = float(np.sqrt(np.mean((ours[mask] - ref[mask]) ** 2)))
        truth = depth[mask] - np.median(depth[mask])
        rms_truth = float(np.sqrt(np.mean((ours[mask] - truth) ** 2)))
        print(
            f"{size:4d}  {int(mask.sum()):8d}  {wls_ms:6.1f} ({wls_min:6.1f})  "
            f"{'skipped' if sp_ms is None else f'{sp_ms:10.1f}'}  {dct_ms:6.1f}  "
            f"{'-' if rms_sp is None else f'{rms_sp:.2e}'}  {rms_truth:.2e}  {np.ptp(truth):.1f}  "
            f"{info['iterations']}"
        )
        key = str(size)
        result["wls_ms"][key] = round(wls_ms, 2)
        result["spsolve_ms"][key] = None if sp_ms is None else round(sp_ms, 2)
        result["dct_ms"][key] = round(dct_ms, 2)
        result["rms_vs_spsolve"][key] = rms_sp
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
