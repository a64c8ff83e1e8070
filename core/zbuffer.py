# SPDX-License-Identifier: GPL-3.0-or-later
"""Vectorised z-buffer of a triangle mesh in an image (numpy, no Python loop over triangles).

Pixel frame: pixel-centre coordinates, ``x`` the column and ``y`` the row, pixel ``(i, j)``
centred at ``(x, y) = (j, i)`` (the frame of core.template_fit's crop pixels). Depth ``h``
grows toward the viewer, so the nearest surface is the largest ``h``.

Each triangle enumerates the pixel centres of its bounding box at once (``np.repeat`` over
box sizes), keeps those inside its edge functions, interpolates ``h`` there and the buffer
takes the largest per pixel (``np.maximum.at``). Meant for meshes whose triangles cover a
few pixels each (the template head at a few hundred pixels a side).
"""

from __future__ import annotations

import numpy as np


def depth_buffer(points: np.ndarray, triangles: np.ndarray, height: int, width: int) -> np.ndarray:
    """Largest interpolated depth per pixel.

    Parameters
    ----------
    points : (V, 3) float
        ``(x, y, h)`` per vertex: pixel-centre column and row, depth toward the viewer.
    triangles : (F, 3) int
        Vertex indices.
    height, width : int
        Image size, px.

    Returns
    -------
    (height, width) float32
        ``max`` over the triangles covering the pixel centre of ``b0 h0 + b1 h1 + b2 h2``
        (barycentric ``b``), ``-inf`` where none does.
    """
    p = np.asarray(points, dtype=np.float32)
    f = np.asarray(triangles, dtype=np.int64)
    x0, x1, x2 = (p[f[:, k], 0] for k in range(3))
    y0, y1, y2 = (p[f[:, k], 1] for k in range(3))
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    jmin = np.ceil(np.minimum(np.minimum(x0, x1), x2)).clip(0, width).astype(np.int64)
    jmax = np.floor(np.maximum(np.maximum(x0, x1), x2)).clip(-1, width - 1).astype(np.int64)
    imin = np.ceil(np.minimum(np.minimum(y0, y1), y2)).clip(0, height).astype(np.int64)
    imax = np.floor(np.maximum(np.maximum(y0, y1), y2)).clip(-1, height - 1).astype(np.int64)
    nx, ny = jmax - jmin + 1, imax - imin + 1
    keep = np.flatnonzero((nx > 0) & (ny > 0) & (np.abs(area) > 1e-9))
    out = np.full(height * width, -np.inf, dtype=np.float32)
    if len(keep) == 0:
        return out.reshape(height, width)
    f, area, nx, ny, jmin, imin = f[keep], area[keep], nx[keep], ny[keep], jmin[keep], imin[keep]
    x0, x1, x2, y0, y1, y2 = x0[keep], x1[keep], x2[keep], y0[keep], y1[keep], y2[keep]
    # b1 = c0 x + c1 y + c2, b2 = c3 x + c4 y + c5 (edge functions over the signed area)
    inv = 1.0 / area
    c = np.stack([(y2 - y0) * inv, (x0 - x2) * inv, (x2 * y0 - x0 * y2) * inv,
                  (y0 - y1) * inv, (x1 - x0) * inv, (x0 * y1 - x1 * y0) * inv])
    h = p[f, 2]  # (F, 3)
    counts = nx * ny
    rep = np.repeat(np.arange(len(f)), counts)
    k = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    dy = k // nx[rep]
    px = jmin[rep] + k - dy * nx[rep]
    py = imin[rep] + dy
    cx, cy = px.astype(np.float32), py.astype(np.float32)
    b1 = c[0][rep] * cx + c[1][rep] * cy + c[2][rep]
    b2 = c[3][rep] * cx + c[4][rep] * cy + c[5][rep]
    b0 = 1.0 - b1 - b2
    eps = np.float32(-1e-5)
    ins = np.flatnonzero((b0 >= eps) & (b1 >= eps) & (b2 >= eps))
    r = rep[ins]
    depth = b0[ins] * h[r, 0] + b1[ins] * h[r, 1] + b2[ins] * h[r, 2]
    np.maximum.at(out, py[ins] * width + px[ins], depth.astype(np.float32))
    return out.reshape(height, width)
