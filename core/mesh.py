# SPDX-License-Identifier: GPL-3.0-or-later
"""Triangle mesh arrays from a depth map: grid triangulation, spike removal, decimation.

Frames (docs/conventions.md)::

     depth map (px)                  Blender object space (m)
     j ──►                                 Z
   i ┌──────────┐                          ▲  ▲ Y (away from the viewer)
   │ │ (i, j)   │        ──►               │ /
   ▼ └──────────┘                          └──► X

     X = (j - cx) s,   Z = -(i - cy) s,   Y = -h s       (s = pixel_size_m)
     u = (j + 0.5) / W,   v = 1 - (i + 0.5) / H

Each lattice quad whose four corners are valid (in the mask, finite depth)
gives two triangles, split along the top-right / bottom-left diagonal and
wound counter-clockwise seen from the front (-Y), so face normals point
toward the viewer::

     (i, j) ───── (i, j+1)
       │  ╲    T1   │         T0 = (i, j), (i+1, j), (i, j+1)
       │ T0  ╲      │         T1 = (i, j+1), (i+1, j), (i+1, j+1)
     (i+1, j) ─── (i+1, j+1)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.csgraph import connected_components

from .errors import FaceFromPhotoError

SPIKE_EDGE_FACTOR = 4.0
"""A lattice edge is a spike edge if its 3-D length (px) exceeds this many times
the local median edge length (median over a ``2 * SPIKE_WINDOW + 1`` square of
lattice points around it)."""

SPIKE_WINDOW = 3
"""Half side, in lattice steps, of the window of the local median edge length."""

SPIKE_MIN_EDGE = 3.0
"""Edges no longer than this (in lattice steps, 3-D length) are never spikes, so
that noise on flat regions with a tiny median is left to the smoothing."""

DISCONTINUITY_GRAD_MAG = 5.0
"""``W`` (px/px) above which the gradient-magnitude map marks a depth
discontinuity (slope beyond ~79 deg from the view direction)."""

DISCONTINUITY_JUMP = 2.0
"""Depth step (px per lattice step) above which an edge whose ends both have
``W > DISCONTINUITY_GRAD_MAG`` is cut: the surface tears there instead of
stretching a wall of thin triangles."""


@dataclass(frozen=True)
class MeshArrays:
    """A triangle mesh as plain arrays, ready for ``foreach_set``.

    Attributes
    ----------
    vertices : (n, 3) float32
        Positions in metres, Blender object frame (X right, Y away from the
        viewer, Z up): ``X = (j - cx) s``, ``Y = -h s``, ``Z = -(i - cy) s``.
    triangles : (m, 3) int32
        Vertex indices, counter-clockwise seen from the front (-Y).
    uvs : (n, 2) float32
        Per-vertex UV into the photo crop: ``u = (j + 0.5) / W``, ``v = 1 - (i + 0.5) / H``.
    pixel_index : (n,) int32
        Flat index ``i * W + j`` of each vertex's pixel in the depth map.
    """

    vertices: np.ndarray
    triangles: np.ndarray
    uvs: np.ndarray
    pixel_index: np.ndarray


def grid_triangles(valid: np.ndarray) -> np.ndarray:
    """Two triangles per lattice quad whose four corners are valid.

    Parameters
    ----------
    valid : (H, W) bool
        Usable lattice points.

    Returns
    -------
    (m, 3) int64
        Triangles as flat point indices ``i * W + j``, ordered quad by quad
        (row-major), ``T0`` then ``T1`` of each quad (see the module diagram).
    """
    rows, cols = valid.shape
    quad = valid[:-1, :-1] & valid[:-1, 1:] & valid[1:, :-1] & valid[1:, 1:]
    qi, qj = np.nonzero(quad)
    tl = qi * cols + qj
    tr = tl + 1
    bl = tl + cols
    br = bl + 1
    tris = np.empty((tl.size, 2, 3), dtype=np.int64)
    tris[:, 0] = np.stack([tl, bl, tr], axis=1)
    tris[:, 1] = np.stack([tr, bl, br], axis=1)
    return tris.reshape(-1, 3)


def _lattice_stride(valid: np.ndarray, target_faces: int | None) -> int:
    """Smallest integer stride whose lattice gives at most ``target_faces`` triangles."""
    if target_faces is None:
        return 1
    if target_faces < 2:
        raise ValueError(f"target_faces must be at least 2, got {target_faces}")

    def faces(stride):
        v = valid[::stride, ::stride]
        return 2 * int(np.count_nonzero(v[:-1, :-1] & v[:-1, 1:] & v[1:, :-1] & v[1:, 1:]))

    full = faces(1)
    if full <= target_faces:
        return 1
    stride = max(1, int(np.floor(np.sqrt(full / target_faces))))
    while faces(stride) > target_faces and stride < max(valid.shape):
        stride += 1
    return stride


def spike_edges(h: np.ndarray, valid: np.ndarray, grad_mag: np.ndarray | None, stride: int = 1):
    """Lattice edges to cut: spikes and marked depth discontinuities.

    Parameters
    ----------
    h : (R, C) float
        Depth on the lattice (px of the original map), finite where ``valid``.
    valid : (R, C) bool
        Usable lattice points.
    grad_mag : (R, C) float or None
        ``W`` (px/px) on the lattice; None disables the discontinuity test.
    stride : int
        Lattice step in original pixels.

    Returns
    -------
    cut_right : (R, C - 1) bool
        Edge ``(i, j)-(i, j+1)`` is cut.
    cut_down : (R - 1, C) bool
        Edge ``(i, j)-(i+1, j)`` is cut.

    Notes
    -----
    An edge of 3-D length ``L = sqrt(stride^2 + dh^2)`` is a spike if
    ``L > SPIKE_EDGE_FACTOR * median_local`` and ``L > SPIKE_MIN_EDGE * stride``,
    where ``median_local`` is the median, over a ``(2 SPIKE_WINDOW + 1)^2``
    window of lattice points, of each point's longest valid incident edge. It is
    a discontinuity if ``|dh| > DISCONTINUITY_JUMP * stride`` and both ends have
    ``W > DISCONTINUITY_GRAD_MAG``.
    """
    hz = np.where(valid, h, 0.0)
    ok_r = valid[:, :-1] & valid[:, 1:]
    ok_d = valid[:-1, :] & valid[1:, :]
    dh_r = np.abs(hz[:, 1:] - hz[:, :-1])
    dh_d = np.abs(hz[1:, :] - hz[:-1, :])
    len_r = np.where(ok_r, np.hypot(stride, dh_r), 0.0)
    len_d = np.where(ok_d, np.hypot(stride, dh_d), 0.0)

    longest = np.zeros(h.shape)
    longest[:, :-1] = np.maximum(longest[:, :-1], len_r)
    longest[:, 1:] = np.maximum(longest[:, 1:], len_r)
    longest[:-1, :] = np.maximum(longest[:-1, :], len_d)
    longest[1:, :] = np.maximum(longest[1:, :], len_d)
    has_edge = longest > 0
    fill = float(np.median(longest[has_edge])) if has_edge.any() else float(stride)
    # Points without edges take the global median so they do not drag the local one.
    local = ndimage.median_filter(np.where(has_edge, longest, fill), size=2 * SPIKE_WINDOW + 1)
    floor = SPIKE_MIN_EDGE * stride
    limit_r = np.maximum(SPIKE_EDGE_FACTOR * np.minimum(local[:, :-1], local[:, 1:]), floor)
    limit_d = np.maximum(SPIKE_EDGE_FACTOR * np.minimum(local[:-1, :], local[1:, :]), floor)
    cut_r = ok_r & (len_r > limit_r)
    cut_d = ok_d & (len_d > limit_d)

    if grad_mag is not None:
        steep = np.nan_to_num(np.asarray(grad_mag, dtype=np.float64), nan=0.0) > DISCONTINUITY_GRAD_MAG
        jump = DISCONTINUITY_JUMP * stride
        cut_r |= ok_r & steep[:, :-1] & steep[:, 1:] & (dh_r > jump)
        cut_d |= ok_d & steep[:-1, :] & steep[1:, :] & (dh_d > jump)
    return cut_r, cut_d


def _largest_component(n_points: int, tris: np.ndarray) -> np.ndarray:
    """Boolean (m,) selecting the triangles of the edge-connected component with most triangles."""
    if tris.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    a = np.concatenate([tris[:, 0], tris[:, 1], tris[:, 2]])
    b = np.concatenate([tris[:, 1], tris[:, 2], tris[:, 0]])
    graph = sparse.coo_matrix((np.ones(a.size, dtype=np.int8), (a, b)), shape=(n_points, n_points))
    _, labels = connected_components(graph, directed=False)
    tri_label = labels[tris[:, 0]]
    counts = np.bincount(tri_label)
    return tri_label == np.argmax(counts)


def build_mesh(
    depth: np.ndarray,
    mask: np.ndarray,
    *,
    pixel_size_m: float,
    grad_mag: np.ndarray | None = None,
    drop_spikes: bool = True,
    largest_component: bool = True,
    target_faces: int | None = None,
    centre: tuple[float, float] | None = None,
) -> MeshArrays:
    """Triangle mesh of a depth map over a mask.

    Parameters
    ----------
    depth : (H, W) float
        Depth ``h`` in pixel units, growing toward the viewer (NaN allowed outside
        the mask; non-finite pixels are treated as outside).
    mask : (H, W) bool
        Face pixels.
    pixel_size_m : float
        ``s``, metres per pixel (e.g. 0.22 m head height / head height in px).
    grad_mag : (H, W) float or None
        ``W`` (px/px); where given, edges with a large depth jump between two
        pixels of large ``W`` are cut (see :func:`spike_edges`).
    drop_spikes : bool
        Remove triangles touching a spike or discontinuity edge.
    largest_component : bool
        Keep only the edge-connected component with the most triangles.
    target_faces : int or None
        If given, sample the pixel lattice with the smallest integer stride
        ``k`` (every ``k``-th row and column) that gives at most this many
        triangles before spike removal.
    centre : (cy, cx) or None
        Pixel that maps to ``X = Z = 0``; default the map centre
        ``((H - 1) / 2, (W - 1) / 2)``.

    Returns
    -------
    MeshArrays
        Only vertices used by a triangle are kept, in row-major pixel order.

    Raises
    ------
    FaceFromPhotoError
        If no triangle can be built (mask too small or too broken).
    ValueError
        On shape mismatches or a non-positive ``pixel_size_m``.
    """
    depth = np.asarray(depth)
    mask = np.asarray(mask, dtype=bool)
    if depth.ndim != 2 or mask.shape != depth.shape:
        raise ValueError(f"depth and mask must be the same (H, W) shape, got {depth.shape} and {mask.shape}")
    if grad_mag is not None and np.shape(grad_mag) != depth.shape:
        raise ValueError(f"grad_mag must be {depth.shape}, got {np.shape(grad_mag)}")
    if not pixel_size_m > 0:
        raise ValueError(f"pixel_size_m must be > 0, got {pixel_size_m}")
    rows, cols = depth.shape
    valid_full = mask & np.isfinite(depth)
    stride = _lattice_stride(valid_full, target_faces)

    valid = valid_full[::stride, ::stride]
    h = np.where(valid_full, depth, 0.0).astype(np.float64)[::stride, ::stride]
    lat_rows, lat_cols = valid.shape
    tris = grid_triangles(valid)

    if drop_spikes and tris.shape[0]:
        w_lat = None
        if grad_mag is not None:
            w = np.nan_to_num(np.asarray(grad_mag, dtype=np.float64), nan=0.0)
            if stride > 1:  # a discontinuity between two samples must still be seen at both
                w = ndimage.maximum_filter(w, size=2 * stride + 1)
            w_lat = w[::stride, ::stride]
        cut_r, cut_d = spike_edges(h, valid, w_lat, stride)
        ti, tj = np.divmod(tris, lat_cols)
        # Each triangle's two axis-aligned edges: T0 has (0,1) vertical, (0,2) horizontal;
        # T1 has (1,2) horizontal, (0,2) vertical. Test all three pairs generically.
        bad = np.zeros(tris.shape[0], dtype=bool)
        for a, b in ((0, 1), (1, 2), (0, 2)):
            i0, j0, i1, j1 = ti[:, a], tj[:, a], ti[:, b], tj[:, b]
            horizontal = (i0 == i1) & (np.abs(j0 - j1) == 1)
            vertical = (j0 == j1) & (np.abs(i0 - i1) == 1)
            jmin = np.minimum(j0, j1)
            imin = np.minimum(i0, i1)
            bad[horizontal] |= cut_r[i0[horizontal], jmin[horizontal]]
            bad[vertical] |= cut_d[imin[vertical], j0[vertical]]
        tris = tris[~bad]

    if largest_component and tris.shape[0]:
        tris = tris[_largest_component(lat_rows * lat_cols, tris)]
    if tris.shape[0] == 0:
        raise FaceFromPhotoError(
            "The face region is too small or too fragmented to build a mesh; "
            "try a photo where the face is larger and unobstructed."
        )

    used = np.unique(tris)  # sorted: row-major lattice order
    remap = np.full(lat_rows * lat_cols, -1, dtype=np.int64)
    remap[used] = np.arange(used.size)
    li, lj = np.divmod(used, lat_cols)
    i = li * stride
    j = lj * stride
    cy, cx = ((rows - 1) / 2.0, (cols - 1) / 2.0) if centre is None else centre
    s = float(pixel_size_m)
    vertices = np.empty((used.size, 3), dtype=np.float32)
    vertices[:, 0] = (j - cx) * s
    vertices[:, 1] = -h[li, lj] * s
    vertices[:, 2] = -(i - cy) * s
    uvs = np.empty((used.size, 2), dtype=np.float32)
    uvs[:, 0] = (j + 0.5) / cols
    uvs[:, 1] = 1.0 - (i + 0.5) / rows
    return MeshArrays(
        vertices=vertices,
        triangles=remap[tris].astype(np.int32),
        uvs=uvs,
        pixel_index=(i * cols + j).astype(np.int32),
    )
