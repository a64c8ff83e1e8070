# SPDX-License-Identifier: GPL-3.0-or-later
"""Vectorised triangle rasteriser with a z-buffer (numpy only).

Screen frame: ``x`` = column coordinate, ``y`` = row coordinate (rows go down), in
pixels; pixel (i, j) has its centre at (x, y) = (j + 0.5, i + 0.5). A pixel is
covered by a triangle when its centre lies inside (edges inclusive); the nearest
covering triangle wins, nearest meaning largest ``inv_depth`` (1 / distance along the
view axis for a perspective camera, which is affine in screen space, so it can be
interpolated linearly).

Every triangle enumerates the pixel centres of its bounding box at once
(``np.repeat`` over box sizes), so the cost is proportional to the covered area plus
the number of triangles; there are no Python loops over triangles or pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Fragments:
    """Result of :func:`rasterize` for an (H, W) image.

    tri : (H, W) int64, index of the visible triangle, -1 where empty
    bary : (H, W, 3) float64, screen-space barycentric coordinates of the pixel centre
    inv_depth : (H, W) float64, interpolated ``inv_depth`` (0 where empty)
    """

    tri: np.ndarray
    bary: np.ndarray
    inv_depth: np.ndarray


def rasterize(xy: np.ndarray, inv_depth: np.ndarray, faces: np.ndarray, height: int, width: int,
              ) -> Fragments:
    """Rasterise triangles with a z-buffer.

    Parameters
    ----------
    xy : (V, 2) float, screen position of each vertex (column, row) in pixels
    inv_depth : (V,) float, larger is nearer (> 0 for points in front of the camera)
    faces : (F, 3) int, vertex indices
    height, width : image size in pixels
    """
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"xy must be (V, 2), got {xy.shape}")
    p = xy[faces]  # (F, 3, 2)
    z = inv_depth[faces]  # (F, 3)
    x0, y0 = p[:, 0, 0], p[:, 0, 1]
    x1, y1 = p[:, 1, 0], p[:, 1, 1]
    x2, y2 = p[:, 2, 0], p[:, 2, 1]
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    jmin = np.ceil(p[..., 0].min(1) - 0.5).astype(np.int64).clip(0, width)
    jmax = np.floor(p[..., 0].max(1) - 0.5).astype(np.int64).clip(-1, width - 1)
    imin = np.ceil(p[..., 1].min(1) - 0.5).astype(np.int64).clip(0, height)
    imax = np.floor(p[..., 1].max(1) - 0.5).astype(np.int64).clip(-1, height - 1)
    nx = jmax - jmin + 1
    ny = imax - imin + 1
    ok = (nx > 0) & (ny > 0) & (np.abs(area) > 1e-12) & (z.min(1) > 0)
    t = np.nonzero(ok)[0]
    tri = np.full((height, width), -1, np.int64)
    bary = np.zeros((height, width, 3), np.float64)
    inv = np.zeros((height, width), np.float64)
    if len(t) == 0:
        return Fragments(tri, bary, inv)
    # edge functions b_k(x, y) = A_k x + B_k y + C_k, normalised by the area, per triangle
    ia = 1.0 / area[t]
    xa, ya, xb, yb, xc, yc = x0[t], y0[t], x1[t], y1[t], x2[t], y2[t]
    coef = np.stack([
        (yb - yc) * ia, (xc - xb) * ia, (xb * yc - xc * yb) * ia,
        (yc - ya) * ia, (xa - xc) * ia, (xc * ya - xa * yc) * ia,
        z[t, 0], z[t, 1], z[t, 2],
    ], 1)
    counts = nx[t] * ny[t]
    total = int(counts.sum())
    rep = np.repeat(np.arange(len(t)), counts)
    k = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    nxt = nx[t][rep]
    px = jmin[t][rep] + k % nxt
    py = imin[t][rep] + k // nxt
    cx = px.astype(np.float32) + np.float32(0.5)
    cy = py.astype(np.float32) + np.float32(0.5)
    c = coef.astype(np.float32)[rep]
    b0 = c[:, 0] * cx + c[:, 1] * cy + c[:, 2]
    b1 = c[:, 3] * cx + c[:, 4] * cy + c[:, 5]
    b2 = np.float32(1.0) - b0 - b1
    eps = np.float32(-1e-6)
    inside = np.nonzero((b0 >= eps) & (b1 >= eps) & (b2 >= eps))[0]
    if len(inside) == 0:
        return Fragments(tri, bary, inv)
    b = np.stack([b0[inside], b1[inside], b2[inside]], 1).astype(np.float64)
    zc = coef[rep[inside], 6:]
    zi = b[:, 0] * zc[:, 0] + b[:, 1] * zc[:, 1] + b[:, 2] * zc[:, 2]
    pix = py[inside] * width + px[inside]
    # one sort on (pixel, nearest first): depth quantised to 30 bits below the pixel index
    zmin, zmax = float(zi.min()), float(zi.max())
    zq = ((zmax - zi) * ((2**30 - 1) / max(zmax - zmin, 1e-300))).astype(np.int64)
    order = np.argsort((pix << 30) | zq, kind="stable")
    pix_s = pix[order]
    first = np.ones(len(order), bool)
    first[1:] = pix_s[1:] != pix_s[:-1]
    win = order[first]
    flat = pix[win]
    tri.reshape(-1)[flat] = t[rep[inside[win]]]
    bary.reshape(-1, 3)[flat] = b[win]
    inv.reshape(-1)[flat] = zi[win]
    return Fragments(tri, bary, inv)


def merge_nearest(a: Fragments, b: Fragments, b_offset: int) -> Fragments:
    """Per pixel the nearer of two fragment sets; b's triangle ids are shifted by ``b_offset``."""
    use_b = (b.tri >= 0) & ((a.tri < 0) | (b.inv_depth > a.inv_depth))
    tri = np.where(use_b, b.tri + b_offset, a.tri)
    bary = np.where(use_b[..., None], b.bary, a.bary)
    inv = np.where(use_b, b.inv_depth, a.inv_depth)
    return Fragments(tri, bary, inv)
