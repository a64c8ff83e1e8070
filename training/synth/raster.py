# SPDX-License-Identifier: GPL-3.0-or-later
"""Vectorised triangle rasteriser with a z-buffer (numpy only).

Screen frame: ``x`` = column coordinate, ``y`` = row coordinate (rows go down), in
pixels; pixel (i, j) has its centre at (x, y) = (j + 0.5, i + 0.5). A pixel is
covered by a triangle when its centre lies inside (edges inclusive); the nearest
covering triangle wins, nearest meaning largest ``inv_depth`` (1 / distance along the
view axis for a perspective camera, which is affine in screen space, so it can be
interpolated linearly).

How it works, without Python loops over triangles or pixels:

1. every triangle enumerates the pixel centres of its bounding box at once
   (``np.repeat`` over box sizes) and keeps those inside (edge functions, float32);
2. the z-buffer is one ``np.maximum.at`` per layer over a packed int64 key
   ``(quantised inv_depth << 32) | triangle id``, so the winner's id comes with its
   depth (no sort); ties go to the larger triangle id, deterministically;
3. barycentrics and depth are recomputed in float64 only for the winning triangle
   of each pixel (one gather per attribute, done by the caller on ``tri``).

:func:`rasterize_layers` rasterises two triangle sets (e.g. a head and the occluders
in front of it) in one pass and returns the first set alone and both merged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_ZBITS = 31  # quantisation of inv_depth in the z-buffer key (larger = nearer)
_ID_MASK = np.int64(0xFFFFFFFF)


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


@dataclass
class _Setup:
    coef: np.ndarray  # (F, 9) float64: b0 = c0 x + c1 y + c2, b1 = c3 x + c4 y + c5, z0, z1, z2
    pix: np.ndarray  # (n,) int64 flat pixel index of each covered (triangle, pixel) pair
    tri: np.ndarray  # (n,) int64 triangle of each pair
    key: np.ndarray  # (n,) int64 packed z-buffer key
    z: np.ndarray  # (n,) float32 interpolated inv_depth of each pair


def _setup(xy: np.ndarray, inv_depth: np.ndarray, faces: np.ndarray, height: int, width: int,
           cull: np.ndarray | None = None, keep_sign: float = 0.0) -> _Setup:
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"xy must be (V, 2), got {xy.shape}")
    X = np.ascontiguousarray(xy[:, 0], dtype=np.float64)
    Y = np.ascontiguousarray(xy[:, 1], dtype=np.float64)
    Z = np.ascontiguousarray(inv_depth, dtype=np.float64)
    f0, f1, f2 = (np.ascontiguousarray(faces[:, k]) for k in range(3))
    x0, x1, x2 = X[f0], X[f1], X[f2]
    y0, y1, y2 = Y[f0], Y[f1], Y[f2]
    z0, z1, z2 = Z[f0], Z[f1], Z[f2]
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    mn, mx = np.minimum, np.maximum
    jmin = np.ceil(mn(mn(x0, x1), x2) - 0.5).clip(0, width).astype(np.int64)
    jmax = np.floor(mx(mx(x0, x1), x2) - 0.5).clip(-1, width - 1).astype(np.int64)
    imin = np.ceil(mn(mn(y0, y1), y2) - 0.5).clip(0, height).astype(np.int64)
    imax = np.floor(mx(mx(y0, y1), y2) - 0.5).clip(-1, height - 1).astype(np.int64)
    nx = jmax - jmin + 1
    ny = imax - imin + 1
    ok = (nx > 0) & (ny > 0) & (np.abs(area) > 1e-12) & (mn(mn(z0, z1), z2) > 0)
    if cull is not None:
        ok &= ~cull
    if keep_sign:
        ok &= area * keep_sign > 0
    # edge-function coefficients (kept triangles only; zero rows elsewhere)
    t = np.nonzero(ok)[0]
    coef = np.zeros((len(faces), 9))
    ia = 1.0 / area[t]
    xa, xb, xc, ya, yb, yc = x0[t], x1[t], x2[t], y0[t], y1[t], y2[t]
    ct = np.stack([
        (yb - yc) * ia, (xc - xb) * ia, (xb * yc - xc * yb) * ia,
        (yc - ya) * ia, (xa - xc) * ia, (xc * ya - xa * yc) * ia,
        z0[t], z1[t], z2[t],
    ], 0)  # (9, T)
    coef[t] = ct.T
    empty = np.zeros(0, np.int64)
    if len(t) == 0:
        return _Setup(coef, empty, empty, empty, np.zeros(0, np.float32))
    nx, ny, jmin, imin = nx[t], ny[t], jmin[t], imin[t]
    counts = nx * ny
    total = int(counts.sum())
    rep = np.repeat(np.arange(len(t), dtype=np.int32), counts)
    k = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    nxt = nx[rep]
    dy = k // nxt
    px = jmin[rep] + (k - dy * nxt)
    py = imin[rep] + dy
    ct = ct.astype(np.float32)
    cx = px.astype(np.float32) + np.float32(0.5)
    cy = py.astype(np.float32) + np.float32(0.5)
    b0 = ct[0][rep] * cx + ct[1][rep] * cy + ct[2][rep]
    b1 = ct[3][rep] * cx + ct[4][rep] * cy + ct[5][rep]
    b2 = np.float32(1.0) - b0 - b1
    eps = np.float32(-1e-6)
    inside = np.nonzero((b0 >= eps) & (b1 >= eps) & (b2 >= eps))[0]
    if len(inside) == 0:
        return _Setup(coef, empty, empty, empty, np.zeros(0, np.float32))
    r = rep[inside]
    zi = b0[inside] * ct[6][r] + b1[inside] * ct[7][r] + b2[inside] * ct[8][r]
    zmin, zmax = float(zi.min()), float(zi.max())
    zq = ((zi - np.float32(zmin)) * np.float32((2**_ZBITS - 2) / max(zmax - zmin, 1e-30))).astype(np.int64)
    tri = t[r]
    key = (zq.clip(0, 2**_ZBITS - 1) << 32) | tri
    return _Setup(coef, py[inside] * width + px[inside], tri, key, zi)


def _resolve(st: _Setup, sel: np.ndarray | None, height: int, width: int) -> Fragments:
    """Z-buffer over the pairs ``sel`` (all when None), then exact barycentrics."""
    buf = np.full(height * width, -1, np.int64)
    if sel is None:
        np.maximum.at(buf, st.pix, st.key)
    else:
        np.maximum.at(buf, st.pix[sel], st.key[sel])
    return _finish(st.coef, buf, height, width)


def _finish(coef: np.ndarray, buf: np.ndarray, height: int, width: int) -> Fragments:
    tri = np.where(buf >= 0, buf & _ID_MASK, -1)
    bary = np.zeros((height * width, 3), np.float64)
    inv = np.zeros(height * width, np.float64)
    pix = np.nonzero(tri >= 0)[0]
    if len(pix):
        c = coef[tri[pix]]
        ii, jj = np.divmod(pix, width)
        cx = jj + 0.5
        cy = ii + 0.5
        b0 = c[:, 0] * cx + c[:, 1] * cy + c[:, 2]
        b1 = c[:, 3] * cx + c[:, 4] * cy + c[:, 5]
        b2 = 1.0 - b0 - b1
        bary[pix, 0] = b0
        bary[pix, 1] = b1
        bary[pix, 2] = b2
        inv[pix] = b0 * c[:, 6] + b1 * c[:, 7] + b2 * c[:, 8]
    return Fragments(tri.reshape(height, width), bary.reshape(height, width, 3), inv.reshape(height, width))


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
    return _resolve(_setup(xy, inv_depth, faces, height, width), None, height, width)


def rasterize_layers(xy: np.ndarray, inv_depth: np.ndarray, faces: np.ndarray, height: int, width: int,
                     n_first: int) -> tuple[Fragments, Fragments]:
    """One rasterisation pass, two z-buffers: triangles ``faces[:n_first]`` alone, and all.

    Returns ``(first, merged)``; triangle ids index ``faces`` in both.
    """
    st = _setup(xy, inv_depth, faces, height, width)
    first_sel = st.tri < n_first
    buf_a = np.full(height * width, -1, np.int64)
    np.maximum.at(buf_a, st.pix[first_sel], st.key[first_sel])
    buf_b = np.full(height * width, -1, np.int64)
    rest = ~first_sel
    np.maximum.at(buf_b, st.pix[rest], st.key[rest])
    return _finish(st.coef, buf_a, height, width), _finish(st.coef, np.maximum(buf_a, buf_b), height, width)


def depth_buffer(xy: np.ndarray, inv_depth: np.ndarray, faces: np.ndarray, height: int, width: int,
                 cull: np.ndarray | None = None, keep_sign: float = 0.0) -> np.ndarray:
    """Largest interpolated ``inv_depth`` per pixel, (H, W) float32, -inf where empty
    (a shadow map: no triangle ids or barycentrics). ``cull`` (F,) bool drops triangles;
    ``keep_sign`` +1 / -1 keeps only triangles of that screen-space winding (0: all)."""
    st = _setup(xy, inv_depth, faces, height, width, cull, keep_sign)
    out = np.full(height * width, -np.inf, np.float32)
    if len(st.pix):
        np.maximum.at(out, st.pix, st.z)
    return out.reshape(height, width)
