# SPDX-License-Identifier: GPL-3.0-or-later
"""Bake the photo onto the template head's UV layout through the fitted camera.

The template's UVs are upstream's UDIM-style tiles (the integer part of u is the tile;
core.template_model). The skin lives in two tiles, each baked into its own square image:
tile 0 (``M_Face``: face, ears, front of the neck) and tile 1 (``M_BackHead``: scalp and
the back of the neck)::

    texel (row r, column c) of tile k   <->   u = k + (c + 0.5) / T,  v = 1 - (r + 0.5) / T

Everything that depends on the pose is computed per **vertex** (visibility, view angle,
photo position, the smooth fill), interpolated to the texels of a low-resolution copy of
the layout (``L = T / 4``; the texel table, a sparse (2 L^2, N) barycentric matrix, is
cached per template and size) and upsampled; only the photo itself is sampled texel by
texel, at up to ``COMPOSE_MAX`` px a side (``cv2.remap``; the crop has no finer detail),
then resized to ``T``. Per vertex ``v``:

1. **direct**: ``w_d = vis * mask * cos^2 * ramp(cos)``, ``vis`` from a z-buffer of the
   posed skin and eyes (core.zbuffer) eroded by one ring (a hidden neighbour hides the
   vertex), ``mask`` the network's head mask (clothes and background are not skin),
   ``cos`` the normal's cosine to the view direction, ``ramp`` a smoothstep from 0 at
   ``min_cos`` to 1 at ``2 min_cos``; below the chin ``w_d`` is also multiplied by
   ``exp(-(|c - c_cheeks| / NECK_SKIN_RGB_DISTANCE)^2)`` (a collar is not skin);
2. **mirrored**: ``w_m = w_d(twin(v))`` with ``twin`` the vertex nearest the mirror image
   ``x -> -x``; its colour is scaled by a smooth per-channel gain
   ``g = S(w_d c) / S(w_d) / (S(w_m c_twin) / S(w_m))`` so the mirrored side takes the
   tone of the skin around it (an asymmetric light does not paint one cheek lighter);
3. **fill**: ``f = S(w_d c) / S(w_d)``, a normalised convolution on the skin graph with
   ``S = (I + r^2 L)^-1`` (``L`` the graph Laplacian, ``r = FILL_REACH`` edges, factorised
   once): every unseen vertex (the back of the head, the far side of a profile) takes the
   weighted mean of the seen skin nearest it. The graph is the mesh, so the fill is
   continuous across the UV seams and between the tiles. ``c`` is the photo at ``BLUR_SIDE`` px
   blurred by 1 px.

Texel colour ``= a_d c_direct + a_m g c_mirror + (1 - a_d - a_m) f`` with
``a_d = min(1, w_d / W_FULL)``, ``a_m = (1 - a_d) min(1, w_m / W_FULL)``. Texels outside
the UV islands (the gutters) continue the islands' maps for one low texel, copy the
nearest island texel up to ``GUTTER_TEXELS`` (for mip-mapping) and take the fill beyond.

The eyes: the iris colour is the median photo colour of the visible iris ring around the
fitted pupils (the brightest quarter dropped: sclera, catch-lights); it is painted with the
pupil and a darker limbal ring on an image for the sclera mesh (which covers the cornea),
through that mesh's own UVs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .template_fit import LANDMARK5_VERTICES, TO_CAMERA, TemplateFit
from .template_model import TemplateHead
from .zbuffer import depth_buffer

SKIN_MATERIALS = ("M_Face", "M_BackHead")  # tile 0 and tile 1
OCCLUDER_PARTS = ("face", "head_and_neck", "eyeball_left", "eyeball_right")
SUBPIXEL = 16  # fillConvexPoly fixed-point factor (shift = 4 bits)
GUTTER_TEXELS = 3  # low-resolution texels the islands' attributes reach into the gutters
W_FULL = 0.3  # cos^2 weight at which a texel takes the photo alone (cos ~ 0.55)
IRIS_RADII_M = (0.0018, 0.0055)  # iris ring sampled around the pupil vertex, m
PUPIL_RADIUS_M = 0.0018
IRIS_RADIUS_M = 0.0060  # the limbus, where the iris meets the sclera
EYE_TEXTURE_SIDE = 256  # px, the eye image for the M_Sclera* materials
SCLERA_RGB = (226, 220, 212)
EYELASH_RGB = (28, 22, 20)
IRIS_FALLBACK_RGB = (92, 66, 48)  # a brown, when neither iris is visible
FILL_REACH = 6.0  # mesh edges, the fill's smoothing length
NECK_SKIN_RGB_DISTANCE = 40.0  # RGB distance from the cheeks' colour at which neck skin counts 1/e
BLUR_SIDE = 256  # px, the photo's side for the per-vertex colours of the fill (blurred by 1 px)
COMPOSE_MAX = 1024  # texels a side at which the photo is sampled (the crop has at most 1024 px)


@dataclass
class TextureBake:
    """The baked skin texture and eye colours.

    Attributes
    ----------
    tiles : (2, T, T, 3) uint8
        RGB of UV tile 0 (face) and tile 1 (back of the head), row 0 at v = 1 (image order).
    seen : (2, T, T) float32
        Share of the direct photo sample in each texel's colour, [0, 1].
    mirrored : (2, T, T) bool
        Texels whose colour is mostly (> 1/2) from the mirrored side.
    eye : (E, E, 3) uint8
        Image for both ``M_Sclera*`` materials through their own UVs (u, v in [0, 1], row 0
        at v = 1): the sclera mesh is the whole visible eyeball, cornea included, so the iris
        (``iris_rgb``, a darker limbal ring) and the pupil are painted on it around the
        pupil vertex.
    iris_rgb, sclera_rgb, eyelash_rgb : (3,) uint8
        Flat colours for the ``M_Iris*`` (behind the cornea), ``M_Sclera*`` and
        ``M_EyeLashes`` materials; the eyelash cards are plain polygons, so give them an
        alpha (blender/head.py: the strands of core.eye_texture.lash_picture) or hide them.
    """

    tiles: np.ndarray
    seen: np.ndarray
    mirrored: np.ndarray
    eye: np.ndarray
    iris_rgb: np.ndarray
    sclera_rgb: np.ndarray
    eyelash_rgb: np.ndarray


# --------------------------------------------------------------------------- cached layout


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


def _rasterise_ids(points: np.ndarray, tris: np.ndarray, size: int) -> np.ndarray:
    """(size, size) int32 map of ``1 + triangle index`` (0: none); later triangles win.

    points : (V, 2) pixel-centre coordinates (x right, y down); tris : (T, 3) indices into points.
    """
    import cv2

    ids = np.zeros((size, size), dtype=np.int32)
    fixed = np.round(points * SUBPIXEL).astype(np.int32)
    for t in range(len(tris)):
        cv2.fillConvexPoly(ids, fixed[tris[t]], t + 1, lineType=cv2.LINE_8, shift=4)
    return ids


def _barycentric(points: np.ndarray, tris: np.ndarray, which: np.ndarray, q: np.ndarray,
                 clamp: np.ndarray | bool = True) -> np.ndarray:
    """(n, 3) barycentric coordinates of positions ``q (n, 2)`` in triangles ``which (n,)``;
    rows where ``clamp`` is true are clamped to the triangle, the others extrapolate."""
    p = points[tris[which]]  # (n, 3, 2)
    e1, e2, d = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], q - p[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    det = np.where(np.abs(det) < 1e-12, 1e-12, det)
    b1 = (d[:, 0] * e2[:, 1] - d[:, 1] * e2[:, 0]) / det
    b2 = (e1[:, 0] * d[:, 1] - e1[:, 1] * d[:, 0]) / det
    b = np.stack([1.0 - b1 - b2, b1, b2], axis=1)
    c = np.clip(b, 0.0, 1.0)
    c /= c.sum(axis=1, keepdims=True)
    return np.where(np.asarray(clamp)[..., None] if np.ndim(clamp) else clamp, c, b)


@dataclass(frozen=True)
class _Layout:
    """Pose-independent tables of one template and tile size (cached)."""

    size: int  # T, full tile side
    low: int  # L, side of the low-resolution texel grid
    corner: np.ndarray  # (3, 2 L L) intp, corner vertices of every low texel (both tiles)
    bary: np.ndarray  # (3, 2 L L) float32, its barycentrics (extrapolated into the gutters)
    band: np.ndarray  # (2 L L,) float32, 1 on the islands and GUTTER_TEXELS around them
    inside: np.ndarray  # (2 L L,) bool, on an island
    interpolate: object  # (2 L L, N) scipy CSR, the barycentric weights (3 per row)


@dataclass(frozen=True)
class _Mesh:
    """Pose-independent tables of one template (cached)."""

    skin: np.ndarray  # (S,) intp, vertices of the skin tiles' polygons (with the mouth and eye sockets)
    smoother: object  # scipy SuperLU of (I + FILL_REACH^2 L), L the skin graph's Laplacian
    neighbours: object  # (N, N) scipy CSR adjacency with the diagonal, all occluder vertices
    face_to_vertex: object  # (N, F) scipy CSR, sums face normals onto vertices
    triangles: np.ndarray  # (F, 3) all triangles
    occluders: np.ndarray  # (F_o, 3) skin and eyeball triangles
    twin: np.ndarray  # (N,) intp mirror twin
    iris: tuple[np.ndarray, np.ndarray]  # vertices near each pupil (right, left)
    neck: np.ndarray  # (N,) bool, skin below the chin (clothes may cover it)
    cheeks: np.ndarray  # (C,) intp, face vertices between the eyes' and the mouth's height


_LAYOUTS: dict[tuple[str, int], _Layout] = {}
_MESHES: dict[str, _Mesh] = {}


def _layout(template: TemplateHead, size: int) -> _Layout:
    key = (template.sha256, size)
    if key in _LAYOUTS:
        return _LAYOUTS[key]
    import cv2

    low = max(128, size // 4)
    loops, tile_of = _fan(template, SKIN_MATERIALS)
    uv = template.loop_uv.astype(np.float64)
    corners, barys, bands, insides = [], [], [], []
    for k in range(len(SKIN_MATERIALS)):
        tl = loops[tile_of == k]  # (t, 3) loop indices
        tex = np.stack([(uv[:, 0] - k) * low - 0.5, (1.0 - uv[:, 1]) * low - 0.5], axis=1)
        ids = _rasterise_ids(tex, tl, low)
        inside = ids > 0
        dist, labels = cv2.distanceTransformWithLabels(
            (~inside).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
        owner = np.zeros(int(labels.max()) + 1, dtype=np.int64)
        owner[labels[inside]] = np.flatnonzero(inside)
        nearest = owner[labels.ravel()]  # (L L,) flat index of the nearest island texel
        which = ids.ravel()[nearest] - 1
        # extrapolate the island's affine map by one texel (what bilinear upsampling reads),
        # copy the nearest island texel beyond
        far = dist.ravel() > GUTTER_TEXELS
        copy = dist.ravel() > 1.5
        r, c = np.divmod(np.where(copy, nearest, np.arange(low * low)), low)
        bary = _barycentric(tex, tl, which, np.stack([c, r], axis=1).astype(np.float64),
                            clamp=inside.ravel() | copy)
        corners.append(template.loop_vertex[tl[which]].T.astype(np.intp))
        barys.append(bary.T.astype(np.float32))
        bands.append((~far).astype(np.float32))
        insides.append(inside.ravel())
    import scipy.sparse as sp

    corner = np.concatenate(corners, axis=1)
    bary = np.concatenate(barys, axis=1)
    rows = np.tile(np.arange(corner.shape[1]), 3)
    interpolate = sp.csr_matrix((bary.ravel(), (rows, corner.ravel())),
                                shape=(corner.shape[1], template.n_vertices), dtype=np.float32)
    out = _Layout(size=size, low=low, corner=np.ascontiguousarray(corner), bary=np.ascontiguousarray(bary),
                  band=np.concatenate(bands), inside=np.concatenate(insides), interpolate=interpolate)
    _LAYOUTS.clear()  # one size at a time
    _LAYOUTS[key] = out
    return out


def prepare_layout(template: TemplateHead, size: int) -> None:
    """Build and cache the pose-independent tables of ``template`` at tile side ``size`` px.

    What the first :func:`bake_texture` of a size would build; the add-on's warm-up
    (core.warmup) calls it so that the first click does not.
    """
    _mesh(template)
    _layout(template, size)


def _mesh(template: TemplateHead) -> _Mesh:
    if template.sha256 in _MESHES:
        return _MESHES[template.sha256]
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu
    from scipy.spatial import cKDTree

    n = template.n_vertices
    tri = template.triangles().astype(np.int64)
    occ_mask = template.part_mask(*OCCLUDER_PARTS)
    occ = tri[occ_mask[tri].all(axis=1)]
    loops, _ = _fan(template, SKIN_MATERIALS)
    skin_tri = template.loop_vertex[loops].astype(np.int64)
    skin = np.unique(skin_tri)
    edges = np.concatenate([occ[:, [0, 1]], occ[:, [1, 2]], occ[:, [2, 0]]])
    adj = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    adj = ((adj + adj.T) > 0).astype(np.float64)
    skin_edges = np.concatenate([skin_tri[:, [0, 1]], skin_tri[:, [1, 2]], skin_tri[:, [2, 0]]])
    a_skin = sp.coo_matrix((np.ones(len(skin_edges)), (skin_edges[:, 0], skin_edges[:, 1])),
                           shape=(n, n)).tocsr()
    a_skin = ((a_skin + a_skin.T) > 0).astype(np.float64)[skin][:, skin]
    laplacian = sp.diags(np.asarray(a_skin.sum(axis=1)).ravel()) - a_skin
    smoother = splu((sp.eye(len(skin)) + FILL_REACH**2 * laplacian).tocsc())
    neighbours = (adj + sp.eye(n)).tocsr()
    f2v = sp.csr_matrix((np.ones(3 * len(tri)), (tri.T.ravel(), np.tile(np.arange(len(tri)), 3))),
                        shape=(n, len(tri)))
    twin = np.arange(n)
    sel = np.flatnonzero(occ_mask)
    v = template.neutral.astype(np.float64)
    _, idx = cKDTree(v[sel]).query(v[sel] * np.array([-1.0, 1.0, 1.0]))
    twin[sel] = sel[idx]
    iris = []
    for name, part in (("right_eye", "eyeball_right"), ("left_eye", "eyeball_left")):
        ball = np.flatnonzero(template.part_mask(part))
        d = np.linalg.norm(v[ball] - v[LANDMARK5_VERTICES[name]], axis=1)
        iris.append(ball[(d >= IRIS_RADII_M[0]) & (d <= IRIS_RADII_M[1])])
    chin_z = v[template.landmark68[8], 2]
    neck = np.zeros(n, dtype=bool)
    neck[skin] = v[skin, 2] < chin_z
    lm = v[template.landmark68]
    face = template.part_mask("face")
    cheeks = np.flatnonzero(face & (v[:, 2] < lm[36:48, 2].min() - 0.01) & (v[:, 2] > lm[48:68, 2].max())
                            & (np.abs(v[:, 0]) > 0.025) & (np.abs(v[:, 0]) < 0.05) & (v[:, 1] < -0.05))
    out = _Mesh(skin=skin, smoother=smoother, neighbours=neighbours, face_to_vertex=f2v, triangles=tri,
                occluders=occ, twin=twin, iris=(iris[0], iris[1]), neck=neck, cheeks=cheeks)
    _MESHES[template.sha256] = out
    return out


_EYES: dict[str, np.ndarray] = {}


def _eye_radius(template: TemplateHead) -> np.ndarray:
    """(E, E) float32 distance, m, from each texel's surface point of the sclera UV layout to
    its eye's pupil vertex (both eyes rasterised into the same square; NaN off the mesh). Cached."""
    if template.sha256 in _EYES:
        return _EYES[template.sha256]
    side = EYE_TEXTURE_SIDE
    out = np.full(side * side, np.nan, dtype=np.float32)
    uv = template.loop_uv.astype(np.float64)
    tex = np.stack([uv[:, 0] * side - 0.5, (1.0 - uv[:, 1]) * side - 0.5], axis=1)
    v = template.neutral.astype(np.float64)
    for material, pupil in (("M_ScleraRight", "right_eye"), ("M_ScleraLeft", "left_eye")):
        loops, _ = _fan(template, (material,))
        ids = _rasterise_ids(tex, loops, side)
        flat = np.flatnonzero(ids)
        which = ids.ravel()[flat] - 1
        r, c = np.divmod(flat, side)
        b = _barycentric(tex, loops, which, np.stack([c, r], axis=1).astype(np.float64))
        pos = (v[template.loop_vertex[loops[which]]] * b[..., None]).sum(axis=1)
        out[flat] = np.linalg.norm(pos - v[LANDMARK5_VERTICES[pupil]], axis=1)
    out = out.reshape(side, side)
    _EYES[template.sha256] = out
    return out


def _paint_eye(template: TemplateHead, iris: np.ndarray) -> np.ndarray:
    """(E, E, 3) uint8 eye image: pupil, iris with a darker limbal ring, sclera (smooth borders)."""
    r = _eye_radius(template)
    r = np.where(np.isfinite(r), r, 1.0)[..., None]
    iris_f = iris.astype(np.float32)
    ring = np.clip((r - 0.7 * IRIS_RADIUS_M) / (0.3 * IRIS_RADIUS_M), 0.0, 1.0)  # 0 inner iris, 1 limbus
    colour = iris_f * (1.0 - 0.45 * ring)
    to_pupil = np.clip((PUPIL_RADIUS_M + 0.0003 - r) / 0.0006, 0.0, 1.0)  # 1 inside the pupil
    colour = colour + (np.float32(14.0) - colour) * to_pupil
    to_sclera = np.clip((r - IRIS_RADIUS_M) / 0.0005, 0.0, 1.0)
    colour = colour + (np.asarray(SCLERA_RGB, np.float32) - colour) * to_sclera
    return np.clip(colour + 0.5, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- per pose


@dataclass
class VertexView:
    """How the photo sees each vertex of the fitted head.

    Attributes
    ----------
    points : (N, 3) float32
        ``(x, y, h)``: pixel-centre column, row and depth toward the viewer in the image the
        view was made for, px.
    weight : (N,) float32
        ``w_d`` of the module notes, [0, 1]: 0 hidden, facing away or outside the image.
    visible : (N,) bool
        Not hidden by the z-buffer (before the angle and the erosion).
    cos : (N,) float32
        Cosine between the vertex normal and the direction toward the viewer.
    """

    points: np.ndarray
    weight: np.ndarray
    visible: np.ndarray
    cos: np.ndarray


def vertex_view(
    template: TemplateHead,
    fit: TemplateFit,
    *,
    crop_size: int,
    image_size: int,
    min_cos: float = 0.3,
    depth_tolerance_m: float = 0.006,
) -> VertexView:
    """Visibility and view-angle weight of every vertex of ``fit`` in a square image.

    Parameters
    ----------
    template : TemplateHead
    fit : TemplateFit
        Camera in the network crop's pixels (side ``crop_size``).
    crop_size : int
        Side S of the network crop, px.
    image_size : int
        Side of the image (the same square as the crop at any resolution), px.
    min_cos : float
        Vertices facing the camera at a cosine below this get weight 0.
    depth_tolerance_m : float
        m; a vertex is hidden when the z-buffer holds a surface nearer than this.

    Returns
    -------
    VertexView
    """
    mesh = _mesh(template)
    zoom = image_size / crop_size
    verts = fit.vertices.astype(np.float64)
    uvh = fit.project(verts)
    pts = np.empty_like(uvh)
    pts[:, :2] = (uvh[:, :2] + 0.5) * zoom - 0.5
    pts[:, 2] = uvh[:, 2] * zoom
    # z-buffer at about two px per crop px (enough for a 6 mm tolerance), then in image px
    zside = min(image_size, 2 * crop_size)
    zz = zside / image_size
    zpts = np.empty_like(pts)
    zpts[:, :2] = (pts[:, :2] + 0.5) * zz - 0.5
    zpts[:, 2] = pts[:, 2]
    zbuf = depth_buffer(zpts, mesh.occluders, zside, zside)
    xi = np.clip(np.rint(zpts[:, 0]), 0, zside - 1).astype(np.int64)
    yi = np.clip(np.rint(zpts[:, 1]), 0, zside - 1).astype(np.int64)
    edge = image_size - 0.5
    inside = (pts[:, 0] >= -0.5) & (pts[:, 0] <= edge) & (pts[:, 1] >= -0.5) & (pts[:, 1] <= edge)
    tol = depth_tolerance_m * fit.scale * zoom
    visible = inside & (pts[:, 2] >= zbuf[yi, xi] - tol)
    # vertex normals in the camera frame; cos = their component toward the viewer
    p = verts[mesh.triangles]
    fn = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    vn = mesh.face_to_vertex @ fn
    vn /= np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)
    cos = vn @ (TO_CAMERA @ fit.rotation).T[:, 2]
    ramp = np.clip((cos - min_cos) / min_cos, 0.0, 1.0)
    weight = np.where(visible, cos * cos * ramp * ramp * (3.0 - 2.0 * ramp), 0.0)
    # erode by one ring: a vertex next to a hidden one is treated as hidden
    hidden = (mesh.neighbours @ (weight <= 0).astype(np.float64)) > 0
    weight = np.where(hidden, 0.0, weight)
    return VertexView(points=pts.astype(np.float32), weight=weight.astype(np.float32), visible=visible,
                      cos=cos.astype(np.float32))


def texel_attributes(template: TemplateHead, size: int, attrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertex attributes interpolated at the texels of the low-resolution copy of the skin tiles.

    Parameters
    ----------
    template : TemplateHead
    size : int
        Side T of the full tiles, px; the low copy has side ``L = max(128, T / 4)``.
    attrs : (N, C) float32
        One row per template vertex.

    Returns
    -------
    values : (2, L, L, C) float32
        Barycentric interpolation on the islands, extrapolated ``GUTTER_TEXELS`` into the
        gutters and the nearest island's value beyond.
    band : (2, L, L) float32
        1 on the islands and within ``GUTTER_TEXELS`` of them, else 0.
    """
    layout = _layout(template, size)
    out = layout.interpolate @ np.ascontiguousarray(attrs, dtype=np.float32)
    low = layout.low
    return out.reshape(2, low, low, -1), layout.band.reshape(2, low, low)


def _erode(mesh: _Mesh, values: np.ndarray) -> np.ndarray:
    """(N,) the smallest value over each vertex's one ring (itself included)."""
    nb = mesh.neighbours
    return np.minimum.reduceat(values[nb.indices], nb.indptr[:-1]).astype(values.dtype)


def _bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(n, C) float32 bilinear samples of ``image (H, W, C)`` at pixel-centre coordinates."""
    import cv2

    n = len(x)
    width = 4096  # cv2.remap maps must stay under 32767 px a side
    rows = max(1, -(-n // width))
    mx = np.zeros(rows * width, dtype=np.float32)
    my = np.zeros(rows * width, dtype=np.float32)
    mx[:n], my[:n] = x, y
    out = cv2.remap(image, mx.reshape(rows, width), my.reshape(rows, width), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(rows * width, -1)[:n].astype(np.float32)


def _smooth(mesh: _Mesh, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(S, C) normalised convolution on the skin graph: ``S(w v) / S(w)`` per column.

    ``S = (I + lam L)^-1`` (factorised once per template), a smoothing whose reach is
    about ``sqrt(lam)`` edges and never ends, so every vertex gets the weighted mean of the
    values nearest it; values (S, C), weights (S, 1) >= 0 (one for all columns).
    """
    rhs = np.concatenate([values * weights, weights], axis=1).astype(np.float64)
    out = mesh.smoother.solve(np.asfortranarray(rhs))
    return out[:, :-1] / np.maximum(out[:, -1:], 1e-12)


def _iris_colour(mesh: _Mesh, view: VertexView, photo: np.ndarray) -> np.ndarray:
    """(3,) uint8 median photo colour at the visible iris-ring vertices of both eyes."""
    samples = []
    for ring in mesh.iris:
        ok = ring[view.visible[ring] & (view.weight[ring] > 0.05)]
        if len(ok):
            samples.append(_bilinear(photo, view.points[ok, 0], view.points[ok, 1]))
    if not samples or sum(len(s) for s in samples) < 6:
        return np.array(IRIS_FALLBACK_RGB, dtype=np.uint8)
    rgb = np.concatenate(samples)
    luma = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    # drop the brightest quarter (sclera, catch-lights) before the median
    keep = luma <= np.quantile(luma, 0.75)
    return np.clip(np.median(rgb[keep], axis=0) + 0.5, 0, 255).astype(np.uint8)


def bake_texture(
    template: TemplateHead,
    fit: TemplateFit,
    image: np.ndarray,
    *,
    crop_size: int,
    size: int = 2048,
    min_cos: float = 0.3,
    depth_tolerance_m: float = 0.006,
    mask: np.ndarray | None = None,
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
        Surfaces facing the camera at a cosine below this are unseen.
    depth_tolerance_m : float
        m; a vertex is hidden when the z-buffer holds a surface nearer than this.
    mask : (S, S) bool or None
        The network's head mask in crop px: skin that projects off it (onto clothes or the
        background) counts as unseen (eroded by 2 px, as the fit is not exact at the
        silhouette, and softened over 1 px).

    Returns
    -------
    TextureBake
    """
    import cv2

    t_img = image.shape[0]
    mesh = _mesh(template)
    view = vertex_view(template, fit, crop_size=crop_size, image_size=t_img, min_cos=min_cos,
                       depth_tolerance_m=depth_tolerance_m)
    photo = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    small = min(t_img, BLUR_SIDE)  # the blurred photo, sampled per vertex, at up to BLUR_SIDE px
    blur = cv2.resize(photo, (small, small), interpolation=cv2.INTER_AREA).astype(np.float32)
    blur = cv2.GaussianBlur(blur, (0, 0), 1.0)

    # per vertex: direct colour (blurred), its weight, the twin's, the fill and the mirror gain
    w_d = view.weight
    if mask is not None:
        m = cv2.erode(np.asarray(mask, dtype=np.uint8), np.ones((5, 5), np.uint8)).astype(np.float32)
        m = cv2.GaussianBlur(m, (0, 0), 1.0)[..., None]
        crop_xy = (view.points[:, :2] + 0.5) * (crop_size / t_img) - 0.5
        w_d = w_d * np.clip(_bilinear(m, crop_xy[:, 0], crop_xy[:, 1])[:, 0] * 2.0 - 1.0, 0.0, 1.0)
    blur_xy = (view.points[:, :2] + 0.5) * (small / t_img) - 0.5
    c_blur = _bilinear(blur, blur_xy[:, 0], blur_xy[:, 1])  # (N, 3)
    # below the chin, colours far from the cheeks' skin are clothes (a collar, a scarf): unseen
    cheeks = mesh.cheeks[w_d[mesh.cheeks] > 0.5 * W_FULL]
    if len(cheeks) >= 20:
        skin_rgb = np.median(c_blur[cheeks], axis=0)
        gap = np.linalg.norm(c_blur - skin_rgb, axis=1) / NECK_SKIN_RGB_DISTANCE
        w_d = np.where(mesh.neck, w_d * np.exp(-gap * gap), w_d).astype(np.float32)
    if mask is not None or len(cheeks) >= 20:
        w_d = _erode(mesh, w_d)  # no photo sample next to a vertex the mask or the collar test dropped
    w_m = w_d[mesh.twin]
    skin = mesh.skin
    fill = np.zeros((template.n_vertices, 3), dtype=np.float32)
    gain = np.ones((template.n_vertices, 3), dtype=np.float32)
    fill[skin] = _smooth(mesh, c_blur[skin], w_d[skin, None] + 1e-9)
    twin_tone = _smooth(mesh, c_blur[mesh.twin[skin]], w_m[skin, None] + 1e-9)
    gain[skin] = np.clip((fill[skin] + 8.0) / (twin_tone + 8.0), 0.5, 2.0)
    a_d = np.minimum(1.0, w_d / W_FULL)
    a_m = (1.0 - a_d) * np.minimum(1.0, w_m / W_FULL)
    twin_xy = view.points[mesh.twin, :2]
    attrs = np.concatenate([
        view.points[:, :2], twin_xy, a_d[:, None], a_m[:, None], fill, gain,
    ], axis=1).astype(np.float32)  # (N, 12)

    # low-resolution texels: interpolate, keep the islands' attributes only near them
    tex, band = texel_attributes(template, size, attrs)
    tex[..., 4] *= band
    tex[..., 5] *= band

    # compose at up to COMPOSE_MAX texels a side (the photo has no finer detail), then upsample
    side = min(size, COMPOSE_MAX)
    tiles = np.empty((2, size, size, 3), dtype=np.uint8)
    seen = np.empty((2, size, size), dtype=np.float32)
    mirrored = np.empty((2, size, size), dtype=bool)
    for k in range(2):
        t = tex[k]
        # colour = k_d * direct + k_m * mirror + base (low-frequency coefficients)
        k_d = np.ascontiguousarray(t[..., 4])
        k_m = np.ascontiguousarray(t[..., 5:6] * t[..., 9:12])
        base = np.ascontiguousarray((1.0 - t[..., 4:5] - t[..., 5:6]) * t[..., 6:9])
        up = (side, side)
        direct = cv2.remap(photo, cv2.resize(np.ascontiguousarray(t[..., 0:2]), up), None, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        mirror = cv2.remap(photo, cv2.resize(np.ascontiguousarray(t[..., 2:4]), up), None, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        out = cv2.multiply(direct, cv2.resize(cv2.merge([k_d, k_d, k_d]), up), dtype=cv2.CV_32F)
        out = cv2.add(out, cv2.resize(base, up))
        out = cv2.add(out, cv2.multiply(mirror, cv2.resize(k_m, up), dtype=cv2.CV_32F))
        tile = cv2.convertScaleAbs(out)  # rounds and saturates to uint8
        tiles[k] = tile if side == size else cv2.resize(tile, (size, size), interpolation=cv2.INTER_CUBIC)
        seen[k] = cv2.resize(k_d, (size, size))
        mirrored[k] = cv2.resize(np.ascontiguousarray(t[..., 5]), (size, size)) > 0.5
    iris = _iris_colour(mesh, view, photo)
    return TextureBake(
        tiles=tiles, seen=seen, mirrored=mirrored, eye=_paint_eye(template, iris),
        iris_rgb=iris,
        sclera_rgb=np.array(SCLERA_RGB, dtype=np.uint8),
        eyelash_rgb=np.array(EYELASH_RGB, dtype=np.uint8),
    )
