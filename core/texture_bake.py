# SPDX-License-Identifier: GPL-3.0-or-later
"""Bake the photo onto the template head's UV layout through the fitted camera.

The template's UVs are upstream's UDIM-style tiles (the integer part of u is the tile;
core.template_model). The skin lives in two tiles, each baked into its own square image:
tile 0 (``M_Face``: face, ears, front of the neck) and tile 1 (``M_BackHead``: scalp and
the back of the neck)::

    texel (row r, column c) of tile k   <->   u = k + (c + 0.5) / T,  v = 1 - (r + 0.5) / T

For every texel inside a skin triangle the bake finds its surface point (barycentric in
UV space), poses it with the fit's camera into the photo crop, and takes the photo's
colour there when the point is visible:

1. **direct**: visible when no surface lies nearer the camera at that pixel (a z-buffer of
   the posed skin and eyeballs, painter's algorithm with ``cv2.fillConvexPoly``), weighted
   by ``cos^2`` of the angle between the surface normal and the view direction; texels
   seen at grazing angles (``cos < min_cos``) count as unseen;
2. **mirrored**: texels the photo does not see take the colour of the mirrored surface
   point (x -> -x in the template's frame, through each vertex's mirror twin) when that
   one is seen;
3. **push-pull**: what is still empty (the far side of a profile, the back of the head, the
   gutters between UV islands) is filled from a pyramid of weighted averages, so colours
   flow smoothly from the seen skin with no holes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .template_fit import TO_CAMERA, TemplateFit
from .template_model import TemplateHead

SKIN_MATERIALS = ("M_Face", "M_BackHead")  # tile 0 and tile 1
OCCLUDER_PARTS = ("face", "head_and_neck", "eyeball_left", "eyeball_right")
SUBPIXEL = 16  # fillConvexPoly fixed-point factor (shift = 4 bits)


@dataclass
class TextureBake:
    """The baked skin texture.

    Attributes
    ----------
    tiles : (2, T, T, 3) uint8
        RGB of UV tile 0 (face) and tile 1 (back of the head), row 0 at v = 1 (image order).
    seen : (2, T, T) float32
        Weight of the direct photo sample per texel in [0, 1] (0: mirrored or filled).
    mirrored : (2, T, T) bool
        Texels coloured from the mirrored side.
    """

    tiles: np.ndarray
    seen: np.ndarray
    mirrored: np.ndarray


def _fan(template: TemplateHead, materials: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Loop indices (T, 3) of the fan triangles of the polygons of ``materials``, and their tile."""
    total = template.loop_total
    keep = np.isin(template.polygon_material, [template.material_names.index(m) for m in materials])
    tris, tile = [], []
    for k in range(3, int(total.max()) + 1):
        sel = keep & (total >= k)
        starts = template.loop_start[sel]
        tris.append(np.stack([starts, starts + k - 2, starts + k - 1], axis=1))
        tile.append(np.floor(template.loop_uv[starts, 0]).astype(np.int64))
    return np.concatenate(tris), np.concatenate(tile)


def _rasterise_ids(points: np.ndarray, tris: np.ndarray, order: np.ndarray, size: int) -> np.ndarray:
    """(size, size) int32 map of ``1 + triangle index`` (0: none); later triangles in ``order`` win.

    points : (V, 2) pixel-centre coordinates (x right, y down); tris : (T, 3) indices into points.
    """
    import cv2

    ids = np.zeros((size, size), dtype=np.int32)
    fixed = np.round(points * SUBPIXEL).astype(np.int32)
    for t in order:
        cv2.fillConvexPoly(ids, fixed[tris[t]], int(t) + 1, lineType=cv2.LINE_8, shift=4)
    return ids


def _barycentric(points: np.ndarray, tris: np.ndarray, which: np.ndarray, q: np.ndarray) -> np.ndarray:
    """(n, 3) barycentric coordinates of pixel positions ``q (n, 2)`` in triangles ``which (n,)``,
    clamped to the triangle (texels on an edge)."""
    p = points[tris[which]]  # (n, 3, 2)
    e1, e2, d = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], q - p[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    det = np.where(np.abs(det) < 1e-12, 1e-12, det)
    b1 = (d[:, 0] * e2[:, 1] - d[:, 1] * e2[:, 0]) / det
    b2 = (e1[:, 0] * d[:, 1] - e1[:, 1] * d[:, 0]) / det
    b = np.clip(np.stack([1.0 - b1 - b2, b1, b2], axis=1), 0.0, 1.0)
    return b / b.sum(axis=1, keepdims=True)


def _mirror_twins(template: TemplateHead, vertices: np.ndarray) -> np.ndarray:
    """(N,) int64: for each skin or eye vertex, the skin or eye vertex nearest its mirror image
    (x -> -x); other vertices are their own twin."""
    from scipy.spatial import cKDTree

    twin = np.arange(len(vertices))
    sel = np.flatnonzero(template.part_mask(*OCCLUDER_PARTS))
    tree = cKDTree(vertices[sel])
    _, idx = tree.query(vertices[sel] * np.array([-1.0, 1.0, 1.0]))
    twin[sel] = sel[idx]
    return twin


def _bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(n, C) bilinear samples of ``image (H, W, C)`` float32 at pixel-centre coordinates, edges repeated."""
    import cv2

    n = len(x)
    width = 4096  # cv2.remap maps must stay under 32767 px a side
    rows = max(1, -(-n // width))
    mx = np.zeros(rows * width, dtype=np.float32)
    my = np.zeros(rows * width, dtype=np.float32)
    mx[:n], my[:n] = x, y
    out = cv2.remap(image, mx.reshape(rows, width), my.reshape(rows, width), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(rows * width, -1)[:n]


def _push_pull(color: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Fill texels of zero weight from a pyramid of weighted averages (push-pull).

    color : (H, W, 3) float, weight : (H, W) float >= 0. Returns (H, W, 3) float with the
    weighted texels kept as they are.
    """
    import cv2

    levels = [(color * weight[..., None], weight)]
    while min(levels[-1][1].shape) > 1:
        c, w = levels[-1]
        h, wd = w.shape
        c2 = cv2.resize(c, ((wd + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
        w2 = cv2.resize(w, ((wd + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
        levels.append((c2, w2))
    c, w = levels[-1]
    filled = c / np.maximum(w, 1e-8)[..., None]
    for c, w in reversed(levels[1:-1]):
        up = cv2.resize(filled, (w.shape[1], w.shape[0]), interpolation=cv2.INTER_LINEAR)
        # filled = alpha * average + (1 - alpha) * up, alpha = the share of known texels here
        average = c / np.maximum(w, 1e-8)[..., None]
        filled = up + np.minimum(w, 1.0)[..., None] * (average - up)
    up = cv2.resize(filled, (weight.shape[1], weight.shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.where((weight > 0)[..., None], color, up)


_TEXELS: dict[tuple[str, int], list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}


def _uv_texels(template: TemplateHead, size: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per skin tile: texels inside a triangle (flat index (n,) int64), their triangle's corner
    vertices (3, n) intp and barycentric weights (3, n) float32 (corner-major, so each corner's
    column is contiguous for ``np.take``). Pose-independent, cached."""
    key = (template.sha256, size)
    if key not in _TEXELS:
        loops, tile_of = _fan(template, SKIN_MATERIALS)
        uv = template.loop_uv.astype(np.float64)
        out = []
        for k in range(len(SKIN_MATERIALS)):
            tl = loops[tile_of == k]  # (t, 3) loop indices
            tex = np.stack([(uv[:, 0] - k) * size - 0.5, (1.0 - uv[:, 1]) * size - 0.5], axis=1)
            ids = _rasterise_ids(tex, tl, np.arange(len(tl)), size)
            flat = np.flatnonzero(ids)
            which = ids.ravel()[flat] - 1
            r, c = np.divmod(flat, size)
            bary = _barycentric(tex, tl, which, np.stack([c, r], axis=1).astype(np.float64))
            corner = np.ascontiguousarray(template.loop_vertex[tl[which]].T.astype(np.intp))
            out.append((flat, corner, np.ascontiguousarray(bary.T.astype(np.float32))))
        _TEXELS.clear()  # one size at a time
        _TEXELS[key] = out
    return _TEXELS[key]


def bake_texture(
    template: TemplateHead,
    fit: TemplateFit,
    image: np.ndarray,
    *,
    crop_size: int,
    size: int = 2048,
    min_cos: float = 0.15,
    depth_tolerance_m: float = 0.006,
) -> TextureBake:
    """Bake ``image`` onto the skin UV tiles of the fitted head.

    Parameters
    ----------
    template : TemplateHead
    fit : TemplateFit
        Pose and shape, with the camera in the network crop's pixels (side ``crop_size``).
    image : (T_img, T_img, 3) uint8
        The same square as the network crop at any resolution (``Reconstruction.texture``).
    crop_size : int
        Side S of the network crop the fit's camera refers to, px.
    size : int
        Side of each baked tile, px (1024, 2048 or 4096).
    min_cos : float
        Texels whose surface faces the camera at a cosine below this are unseen.
    depth_tolerance_m : float
        m; a texel is hidden when the z-buffer holds a surface nearer than this.

    Returns
    -------
    TextureBake
    """

    t_img = image.shape[0]
    zoom = t_img / crop_size
    verts = fit.vertices.astype(np.float64)
    uvh = fit.project(verts)  # crop pixel-centre coordinates
    img_pts = np.empty_like(uvh)
    img_pts[:, :2] = (uvh[:, :2] + 0.5) * zoom - 0.5
    img_pts[:, 2] = uvh[:, 2] * zoom
    tol = depth_tolerance_m * fit.scale * zoom  # px of the image

    # z-buffer of the posed skin and eyes in the image
    occ = template.triangles()
    occ_mask = template.part_mask(*OCCLUDER_PARTS)
    occ = occ[occ_mask[occ].all(axis=1)]
    order = np.argsort(img_pts[occ, 2].mean(axis=1))  # far first, nearest drawn last
    ids = _rasterise_ids(img_pts[:, :2], occ, order, t_img)
    hit = ids > 0
    rows, cols = np.nonzero(hit)
    zbuf = np.full((t_img, t_img), -np.inf, dtype=np.float32)
    b = _barycentric(img_pts[:, :2], occ, ids[hit] - 1, np.stack([cols, rows], axis=1).astype(np.float64))
    zbuf[hit] = (b * img_pts[occ[ids[hit] - 1], 2]).sum(axis=1)

    # vertex normals in the camera frame (z toward the viewer)
    tri_all = template.triangles()
    p = verts[tri_all]
    fn = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    vn = np.zeros_like(verts)
    for k in range(3):
        np.add.at(vn, tri_all[:, k], fn)
    vn /= np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)
    cos = vn @ (TO_CAMERA @ fit.rotation).T[:, 2]  # (N,) camera-z component of the normal

    twin = _mirror_twins(template, template.neutral.astype(np.float64))
    photo = image.astype(np.float32)

    # per vertex: image x, y, depth (px) and the normal's cosine to the view direction
    attrs = np.concatenate([img_pts, cos[:, None]], axis=1).astype(np.float32)  # (N, 4)

    def interpolate(corner: np.ndarray, bary: np.ndarray) -> np.ndarray:
        """(n, 4) attributes at texels with corner vertices (3, n) and barycentrics (3, n)."""
        out = np.take(attrs, corner[0], axis=0) * bary[0][:, None]
        out += np.take(attrs, corner[1], axis=0) * bary[1][:, None]
        out += np.take(attrs, corner[2], axis=0) * bary[2][:, None]
        return out

    def sample(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Colour (n, 3) and weight (n,) float32 of texels with attributes ``a`` (n, 4)."""
        x, y, depth, cos_t = a[:, 0], a[:, 1], a[:, 2], a[:, 3]
        xi = np.clip(x + 0.5, 0, t_img - 1).astype(np.int32)
        yi = np.clip(y + 0.5, 0, t_img - 1).astype(np.int32)
        inside = (x >= -0.5) & (x <= t_img - 0.5) & (y >= -0.5) & (y <= t_img - 0.5)
        visible = inside & (depth >= zbuf[yi, xi] - tol) & (cos_t > min_cos)
        weight = np.where(visible, cos_t * cos_t, np.float32(0.0)).astype(np.float32)
        return _bilinear(photo, x, y), weight

    tiles = np.zeros((2, size, size, 3), dtype=np.uint8)
    seen = np.zeros((2, size, size), dtype=np.float32)
    mirrored = np.zeros((2, size, size), dtype=bool)
    for k, (flat, corner, bary) in enumerate(_uv_texels(template, size)):
        colour, weight = sample(interpolate(corner, bary))
        seen[k].ravel()[flat] = weight
        unseen = np.flatnonzero(weight <= 0)
        col_m, w_m = sample(interpolate(np.take(twin, corner[:, unseen]), bary[:, unseen]))
        got = w_m > 0
        colour[unseen[got]] = col_m[got]
        weight[unseen[got]] = w_m[got]
        mirrored[k].ravel()[flat[unseen[got]]] = True
        grid = np.zeros((size * size, 3), dtype=np.float32)
        known = np.zeros(size * size, dtype=np.float32)
        grid[flat] = colour
        known[flat] = weight > 0
        filled = _push_pull(grid.reshape(size, size, 3), known.reshape(size, size))
        tiles[k] = np.clip(filled + 0.5, 0, 255).astype(np.uint8)
    return TextureBake(tiles=tiles, seen=seen, mirrored=mirrored)
