# SPDX-License-Identifier: GPL-3.0-or-later
"""Synthetic template heads: the ICT-FaceKit morphable head (core.template_model) rendered
with exact ground truth, beside the anny heads of :mod:`training.synth.generator`.

Per-sample dict: the keys of the anny samples (``image``, ``normals``, ``grad_mag``, ``mask``,
``depth``, ``corr``, ``occluder``, ``info``; same shapes, dtypes, camera, projective depth and
crop framing, see the generator's notes), with these differences and additions:

- ``corr``       (S, S, 3) float32 in [0, 1]: the **template's** canonical coordinates of the
  surface point, i.e. the mean neutral template vertex position (identity 0, expression 0,
  Blender frame X subject's left, Y away, Z up) normalised per axis by the bounding box of
  the rendered parts of the mean neutral head (:func:`template_box`); 0 outside the mask.
  ``template01_to_m`` turns it back into metres. (The anny samples' ``corr`` is anny's
  canonical frame instead; ``corr_anny`` gives that frame here too.)
- ``corr_anny``  (S, S, 3) float32 in [0, 1]: the same surface point in the anny frame the
  network's ``corr`` uses, through the similarity that best maps the template's fit vertices
  onto ``TemplateHead.fit_anny01`` (:func:`anny_frame`); clipped to [0, 1].
- ``identity``   (K,) float32, the identity coefficients in standard deviations.
- ``expression`` (53,) float32 in [0, 1], ``TemplateHead.expression_names`` order.
- ``rotation``   (3, 3) float64, the head's rotation in Blender's object frame, the
  convention of ``core.template_fit.TemplateFit.rotation``: camera frame = TO_CAMERA @ R.
- ``vertices``   (N, 3) float32, m: the head's vertices, ``template.deform(identity,
  expression)`` (unposed, template frame).
- ``landmarks68`` (68, 3) float64: the 68 landmark vertices projected into the crop,
  continuous px (column, row; pixel (i, j) has centre (j + 0.5, i + 0.5)) and projective
  depth px toward the viewer (same offset as ``depth``), visible or not.
- ``occluder`` is all 0 (no hair, glasses or clothing geometry; hair is painted on the scalp).

Rendered parts: skin (face, head and neck; the neck cut where anny's mean head ends, at the
lowest point of ``TemplateHead.anny_box``, so the neck stub matches the anny heads'), mouth
socket, gums and tongue, teeth, eye sockets and eyeballs (sclera, iris); the translucent eye
overlays (lacrimal fluid, eye blend, eye occlusion) and the eyelash cards are left out. All
rendered parts are in the mask.

Sampling (per sample, deterministic by (split, index)): identity ~ N(0, 1) per kept mode;
a sparse expression (a few random ARKit shapes, an open jaw with p = 0.35, both eyes closed
with p = 0.2, one eye with p = 0.1); yaw over the full +-90 deg, pitch and roll as the anny
generator. Appearance: the procedural skin, lips, brows, stubble and scalp hair of
:mod:`training.synth.appearance`'s palettes, laid out in the template's UV tile 0 (region
masks drawn from the landmarks' UVs) and on its canonical surface (noise, hairline); lighting
is a key light with the generator's shadow map plus ambient, then its photographic
augmentation and random backgrounds.

Entry points: :func:`generate_template_sample` (numpy dict, deterministic by (split, index,
resolution); about 0.15 s at 128 px on this CPU) and :class:`TemplateHeadDataset` (torch items in
the anny datasets' layout, ``corr`` in the anny frame by default).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from core.template_fit import TO_CAMERA
from core.template_model import TemplateHead, load_template
from training.synth import appearance, backgrounds, generator
from training.synth.generator import HEAD_EXTENT_SCALE, SPLITS, Camera, gradient_magnitude
from training.synth.mesh_normals import vertex_normals
from training.synth.raster import rasterize

BASE_SEED = 0x1C7_4EAD  # apart from the anny generator's seeds
LEFT_OUT_MATERIALS = ("M_LacrimalFluid", "M_EyeBlend", "M_EyeOcclusion", "M_EyeLashes")
UV_MASK_SIZE = 256  # px, side of the region masks drawn in UV tile 0
IRIS_RADIUS_M = 0.0058  # m, about a human iris (12 mm across)
PUPIL_RADIUS_M = 0.0022  # m
JAW_OPEN_P = 0.35
BLINK_BOTH_P = 0.2
BLINK_ONE_P = 0.1


def sample_rng(split: str, index: int, stream: int) -> np.random.Generator:
    """Independent generator for (split, index, stream); streams: 0 identity, 1 expression,
    2 camera, 3 appearance."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    return np.random.default_rng(np.random.SeedSequence(BASE_SEED, spawn_key=(SPLITS[split], index, stream)))


@dataclass(frozen=True)
class RenderMesh:
    """The rendered polygons of the template, triangulated over loops (corners), so that UV
    seams stay exact.

    tri_loops : (T, 3) int64, loop indices of each triangle
    tri_vertex : (T, 3) int64, their vertices
    tri_material : (T,) int8, index into ``TemplateHead.material_names``
    vertices : (M,) int64, the vertices the triangles use
    box : (2, 3) float64, lo / hi of those vertices on the mean neutral head, m
    """

    tri_loops: np.ndarray
    tri_vertex: np.ndarray
    tri_material: np.ndarray
    vertices: np.ndarray
    box: np.ndarray


@functools.lru_cache(maxsize=1)
def render_mesh() -> RenderMesh:
    """The template's rendered triangles (cached; see :class:`RenderMesh`)."""
    t = load_template()
    total = t.loop_total
    left_out = [t.material_names.index(m) for m in LEFT_OUT_MATERIALS if m in t.material_names]
    keep = ~np.isin(t.polygon_material, left_out)
    # the neck is cut where anny's mean head ends (its lowest point), like the anny heads' neck stub
    below = _to_anny(t.neutral)[:, 2] < float(t.anny_box[0, 2])
    keep &= np.logical_or.reduceat(below[t.loop_vertex], t.loop_start) == 0
    loops, polys = [], []
    for k in range(3, int(total.max()) + 1):
        sel = np.nonzero(keep & (total >= k))[0]
        s = t.loop_start[sel].astype(np.int64)
        loops.append(np.stack([s, s + k - 2, s + k - 1], axis=1))
        polys.append(sel)
    tri_loops = np.concatenate(loops)
    tri_poly = np.concatenate(polys)
    tri_vertex = t.loop_vertex[tri_loops].astype(np.int64)
    used = np.unique(tri_vertex)
    box = np.stack([t.neutral[used].min(0), t.neutral[used].max(0)]).astype(np.float64)
    return RenderMesh(tri_loops, tri_vertex, t.polygon_material[tri_poly].astype(np.int8), used, box)


def template_box() -> np.ndarray:
    """(2, 3) float64, m: the box that normalises ``corr`` (lo, hi of the rendered mean neutral head)."""
    return render_mesh().box.copy()


def template01_to_m(corr: np.ndarray) -> np.ndarray:
    """``corr`` values (..., 3) in [0, 1] -> mean neutral template coordinates, m."""
    box = template_box()
    return box[0] + np.asarray(corr, dtype=np.float64) * (box[1] - box[0])


@functools.lru_cache(maxsize=1)
def anny_frame() -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity ``y = s R x + t`` from the template frame (m) to anny's mean head frame (m),
    least squares over ``TemplateHead.fit_vertices`` onto ``fit_anny01`` (Umeyama).

    Returns ``(s, R (3, 3), t (3,))``.
    """
    tpl = load_template()
    x = tpl.neutral[tpl.fit_vertices].astype(np.float64)
    lo, hi = tpl.anny_box.astype(np.float64)
    y = lo + tpl.fit_anny01.astype(np.float64) * (hi - lo)
    mx, my = x.mean(0), y.mean(0)
    a, b = x - mx, y - my
    u, sv, vt = np.linalg.svd(b.T @ a / len(x))
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ d @ vt
    s = float((sv * np.diag(d)).sum() / (a * a).sum(1).mean())
    return s, rot, my - s * rot @ mx


def _to_anny(points: np.ndarray) -> np.ndarray:
    s, rot, t = anny_frame()
    return s * np.asarray(points, dtype=np.float64) @ rot.T + t


# ----------------------------------------------------------------------------- sampling
def sample_identity(template: TemplateHead, rng: np.random.Generator) -> np.ndarray:
    """(K,) float32 ~ N(0, 1), one per kept identity mode."""
    return rng.standard_normal(template.n_identity).astype(np.float32)


def sample_expression(template: TemplateHead, rng: np.random.Generator) -> np.ndarray:
    """(53,) float32 in [0, 1]: 0-4 random shapes at U(0.2, 1), plus an open jaw
    (p = ``JAW_OPEN_P``) and closed eyes (both ``BLINK_BOTH_P``, one ``BLINK_ONE_P``)."""
    names = template.expression_names
    e = np.zeros(len(names), np.float32)
    n = int(rng.integers(0, 5))
    if n:
        e[rng.choice(len(names), n, replace=False)] = rng.uniform(0.2, 1.0, n)
    # one side only of the shapes that push the same part both ways
    for a, b in (("jawLeft", "jawRight"), ("mouthLeft", "mouthRight")):
        if e[names.index(a)] and e[names.index(b)]:
            e[names.index(b)] = 0.0
    if rng.random() < JAW_OPEN_P:
        e[names.index("jawOpen")] = rng.uniform(0.2, 1.0)
    blink = rng.random()
    if blink < BLINK_BOTH_P:
        w = rng.uniform(0.7, 1.0)
        e[names.index("eyeBlink_L")] = w
        e[names.index("eyeBlink_R")] = np.clip(w + rng.normal(0, 0.05), 0, 1)
    elif blink < BLINK_BOTH_P + BLINK_ONE_P:
        e[names.index(rng.choice(["eyeBlink_L", "eyeBlink_R"]))] = rng.uniform(0.7, 1.0)
    return e


def sample_camera(rng: np.random.Generator) -> tuple[Camera, dict]:
    """Pose and distance like ``generator.sample_camera`` with yaw over the full +-90 deg
    (half uniform, half N(0, 30 deg) clipped); the template's frame to the camera is the
    generator's ``MODEL_TO_CAMERA`` (= ``core.template_fit.TO_CAMERA``)."""
    return generator.sample_camera(rng, max_yaw_deg=90.0, yaw_sd_deg=30.0)


# ----------------------------------------------------------------------------- appearance
@functools.lru_cache(maxsize=1)
def _landmark_uv() -> np.ndarray:
    """(68, 2) float64: UV (tile 0) of the 68 landmark vertices, in mask pixels (x, y down)."""
    t = load_template()
    out = np.zeros((68, 2))
    for k, v in enumerate(t.landmark68):
        loops = np.nonzero(t.loop_vertex == v)[0]
        uv = t.loop_uv[loops]
        uv = uv[uv[:, 0] < 1.0] if (uv[:, 0] < 1.0).any() else uv
        out[k] = uv[0]
    return np.stack([out[:, 0] * UV_MASK_SIZE, (1.0 - out[:, 1]) * UV_MASK_SIZE], 1)


@functools.lru_cache(maxsize=1)
def uv_region_masks() -> np.ndarray:
    """(UV_MASK_SIZE, UV_MASK_SIZE, 4) float32 in [0, 1] in UV tile 0 (row 0 at v = 1):
    lips, brows, beard area, eye surround; drawn from the landmarks' UVs and blurred."""
    n = UV_MASK_SIZE
    p = _landmark_uv()
    sub = 4  # cv2 shift bits: sub-pixel polygon vertices
    q = np.round(p * (1 << sub)).astype(np.int32)
    layers = np.zeros((4, n, n), np.float32)
    cv2.fillPoly(layers[0], [q[48:60]], (1.0,), cv2.LINE_AA, sub)
    brow_w = max(int(0.035 * n), 1)
    for a, b in ((17, 22), (22, 27)):
        cv2.polylines(layers[1], [q[a:b]], False, (1.0,), brow_w, cv2.LINE_AA, sub)
    beard = np.concatenate([q[3:14], q[[35, 33, 31]]])
    cv2.fillPoly(layers[2], [beard], (1.0,), cv2.LINE_AA, sub)
    cv2.fillPoly(layers[2], [q[48:60]], (0.0,), cv2.LINE_AA, sub)
    for a in (36, 42):
        cv2.fillPoly(layers[3], [q[a:a + 6]], (1.0,), cv2.LINE_AA, sub)
    blur = (0.012 * n, 0.006 * n, 0.02 * n, 0.03 * n)
    for k in range(4):
        layers[k] = cv2.GaussianBlur(layers[k], (0, 0), blur[k])
    layers[3] = np.clip(layers[3] * 2.5, 0, 1)
    return np.ascontiguousarray(layers.transpose(1, 2, 0))


@dataclass
class TemplateLook:
    """Random appearance of one template sample (colours linear RGB)."""

    skin: np.ndarray
    hair: np.ndarray
    iris: np.ndarray
    lip: np.ndarray
    stubble: float
    brow_density: float
    bald: bool
    hairline: float  # m above the brow landmarks, at the front
    sheen: float


def sample_look(rng: np.random.Generator) -> TemplateLook:
    """Skin, hair, iris and lip colours from ``appearance``'s palettes."""
    anchors = appearance.SKIN_ANCHORS
    t = rng.uniform(0, len(anchors) - 1)
    k = int(min(t, len(anchors) - 2))
    skin = anchors[k] * (1 - (t - k)) + anchors[k + 1] * (t - k)
    skin = appearance.srgb_to_linear(skin * np.exp(rng.normal(0, 0.05, 3)))
    hair = appearance.HAIR_COLOURS[rng.integers(len(appearance.HAIR_COLOURS))]
    hair = appearance.srgb_to_linear(np.clip(hair * np.exp(rng.normal(0, 0.08, 3)), 0, 1))
    iris = appearance.srgb_to_linear(appearance.IRIS_COLOURS[rng.integers(len(appearance.IRIS_COLOURS))])
    lip = skin * appearance.srgb_to_linear(np.array([0.85, 0.55, 0.55]) * np.exp(rng.normal(0, 0.06, 3)))
    return TemplateLook(
        skin=skin, hair=hair, iris=iris, lip=lip,
        stubble=float(rng.uniform(0.1, 0.7)) if rng.random() < 0.3 else 0.0,
        brow_density=float(rng.uniform(0.5, 1.0)), bald=bool(rng.random() < 0.15),
        hairline=float(rng.uniform(0.045, 0.075)), sheen=float(rng.uniform(0.02, 0.25)),
    )


@functools.lru_cache(maxsize=1)
def _surface_frame() -> dict[str, np.ndarray]:
    """Per-vertex lookups on the mean neutral head: cylindrical noise coordinates (arc, height)
    in m, the eyeballs' centres (box centres of their outer, sclera meshes; the neutral eyes look
    along -Y), the brows' mean height and the head's middle depth."""
    t = load_template()
    v = t.neutral.astype(np.float64)
    centre_y = float(np.median(v[:, 1]))
    st = np.stack([0.1 * np.arctan2(v[:, 0], -(v[:, 1] - centre_y)), v[:, 2]], 1).astype(np.float32)
    mats = render_mesh().tri_material
    tris = render_mesh().tri_vertex
    eyes = []
    for name in ("M_ScleraLeft", "M_ScleraRight"):
        p = v[np.unique(tris[mats == t.material_names.index(name)])]
        eyes.append((p.min(0) + p.max(0)) / 2)
    brow_z = float(v[t.landmark68[17:27], 2].mean())
    return dict(st=st, eyes=np.array(eyes), brow_z=np.array(brow_z), centre_y=np.array(centre_y))


def _albedo(look: TemplateLook, canon: np.ndarray, st: np.ndarray, uv: np.ndarray, material: np.ndarray,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Linear albedo (n, 3) and specular weight (n,) of head pixels from their canonical
    position ``canon`` (n, 3) m, noise coordinates ``st`` (n, 2) m, loop UV (n, 2) and material."""
    names = load_template().material_names
    f32 = np.float32
    noise = appearance.sample_noise(st, rng)  # (n, 4) in [0, 1]
    alb: np.ndarray = np.tile(look.skin.astype(f32), (len(canon), 1))
    alb *= (1 + 0.18 * (noise[:, 0:1] - 0.5) + 0.10 * (noise[:, 1:2] - 0.5) + 0.06 * (noise[:, 3:4] - 0.5))
    tile0 = uv[:, 0] < 1.0
    regions = np.zeros((len(canon), 4), f32)
    if tile0.any():
        n = UV_MASK_SIZE
        regions[tile0] = appearance._bilinear(uv_region_masks(), uv[tile0, 0] * n - 0.5,
                                              (1 - uv[tile0, 1]) * n - 0.5)
    lips, brows, beard, eyes = (regions[:, k:k + 1] for k in range(4))
    alb = alb * (1 - lips) + lips * look.lip.astype(f32) * (0.9 + 0.2 * noise[:, 2:3])
    alb *= 1 - 0.15 * eyes
    brow_mask = brows * look.brow_density * (0.6 + 0.6 * noise[:, 3:4])
    alb = alb * (1 - np.clip(brow_mask, 0, 1)) + np.clip(brow_mask, 0, 1) * look.hair.astype(f32)
    if look.stubble:
        s = np.clip(beard * look.stubble * (0.5 + noise[:, 3:4]), 0, 1)
        alb = alb * (1 - 0.6 * s) + 0.6 * s * look.hair.astype(f32)
    if not look.bald:  # hair painted on the scalp above a hairline that falls toward the nape
        frame = _surface_frame()
        front = np.clip((-(canon[:, 1] - frame["centre_y"]) / 0.08 + 1) / 2, 0, 1)
        line = frame["brow_z"] + look.hairline - (1 - front) * 0.14
        cover = appearance.smoothstep(-0.004, 0.006, canon[:, 2] - line + 0.01 * (noise[:, 1] - 0.5))
        cover = (cover * (uv[:, 0] < 2.0)).astype(f32)[:, None]  # skin tiles only
        hair = look.hair.astype(f32) * (0.6 + 0.8 * noise[:, 3:4])
        alb = alb * (1 - cover) + cover * hair
    spec = np.full(len(canon), look.sheen, f32)

    def paint(material_name: str, colour, spec_value: float) -> np.ndarray:
        sel = material == names.index(material_name)
        alb[sel] = appearance.srgb_to_linear(np.asarray(colour)) * (0.9 + 0.2 * noise[sel, 2:3])
        spec[sel] = spec_value
        return sel

    paint("M_GumsTongue", [0.62, 0.28, 0.28], 0.3)
    paint("M_Teeth", [0.85, 0.82, 0.72], 0.3)
    # the eyeball's outer mesh carries the eye's look: iris and pupil by the distance from the gaze
    # axis (canonical coordinates turn with the eyeLook shapes), front half only
    for side, k in (("Left", 0), ("Right", 1)):
        sel = paint(f"M_Sclera{side}", [0.85, 0.80, 0.76], 0.6)
        sel |= paint(f"M_Iris{side}", [0.85, 0.80, 0.76], 0.6)
        c = _surface_frame()["eyes"][k]
        q = canon[sel]
        r = np.hypot(q[:, 0] - c[0], q[:, 2] - c[2]) * (q[:, 1] < c[1]) + 1.0 * (q[:, 1] >= c[1])
        iris = (1 - appearance.smoothstep(IRIS_RADIUS_M - 0.0006, IRIS_RADIUS_M, r)).astype(f32)[:, None]
        pupil = (1 - appearance.smoothstep(PUPIL_RADIUS_M - 0.0004, PUPIL_RADIUS_M, r)).astype(f32)[:, None]
        iris_col = look.iris.astype(f32) * (0.7 + 0.6 * noise[sel, 3:4]) * (1 - pupil) + 0.01 * pupil
        alb[sel] = alb[sel] * (1 - iris) + iris * iris_col
    return alb, spec


def _shade(look: TemplateLook, rng: np.random.Generator, pix_normals: np.ndarray, P: np.ndarray,
           ray: np.ndarray, alb: np.ndarray, spec: np.ndarray, pc: np.ndarray, tri_vertex: np.ndarray
           ) -> np.ndarray:
    """Linear radiance (n, 3) of head pixels: ambient + key light with a shadow map + specular."""
    f32 = np.float32
    n = pix_normals
    key = np.array([rng.uniform(-1, 1), rng.uniform(-0.4, 1.0), rng.uniform(0.1, 1.2)])
    key /= np.linalg.norm(key)
    warm = rng.normal(0, 0.08)
    key_col = (np.array([1 + warm, 1.0, 1 - warm]) * rng.uniform(0.6, 1.6)).astype(f32)
    amb_dir = rng.normal(0, 1, 3)
    amb_dir /= np.linalg.norm(amb_dir)
    amb_col = (np.array([1.0, 1.0, 1.0]) * np.exp(rng.normal(0, 0.03, 3)) * rng.uniform(0.2, 0.6)).astype(f32)
    sh = 0.7 + 0.3 * n[:, 1] * rng.uniform(0, 1) + 0.3 * (n @ amb_dir.astype(f32)) * rng.uniform(0, 1)
    wrap = 0.25
    ndl = n @ key.astype(f32)
    diffuse = np.clip((ndl + wrap) / (1 + wrap), 0, None)
    vis = np.ones(len(P), f32)
    if rng.random() < 0.85:
        lit = np.nonzero(ndl > -wrap)[0]
        vis[:] = 0.0
        vis[lit] = appearance._shadow_test(P[lit], n[lit], pc, tri_vertex, key, len(tri_vertex))
    V = -ray / np.linalg.norm(ray, axis=1, keepdims=True)
    H = key[None] + V
    H /= np.linalg.norm(H, axis=1, keepdims=True)
    spec_term = spec * np.clip(ndl, 0, None) ** 0.5 * np.clip((n * H).sum(1), 0, 1) ** rng.uniform(15, 60)
    irr = amb_col[None] * np.clip(sh, 0.05, None)[:, None] + key_col[None] * (diffuse * vis)[:, None]
    rad = alb * irr + key_col[None] * (spec_term * vis)[:, None]
    rad *= f32(rng.uniform(0.45, 0.85) / max(float(np.median(irr.mean(1))), 1e-3))
    return (rad * (1 + rad / 4.0) / (1 + rad)).astype(f32)


# ----------------------------------------------------------------------------- rendering
def render_template_head(identity: np.ndarray, expression: np.ndarray, rng_camera: np.random.Generator,
                         rng_look: np.random.Generator, resolution: int = 128, with_image: bool = True,
                         camera: tuple[Camera, dict] | None = None,
                         rng_light: np.random.Generator | None = None) -> dict:
    """Render one template head into the sample dict of the module notes.

    Parameters
    ----------
    identity : (K,) float, standard deviations
    expression : (53,) float in [0, 1]
    rng_camera, rng_look : numpy Generators for the camera / crop and the appearance
    resolution : int, S px
    with_image : bool
        False skips the shading (every ground-truth map, no ``image``).
    camera : (Camera, info) or None
        A fixed pose (e.g. frontal, for tests); None samples one from ``rng_camera``.
    rng_light : numpy Generator or None
        The light, background and photographic augmentation (None: drawn from ``rng_look`` after
        the look, as always), so that one look can be shown in other light (tests).
    """
    tpl = load_template()
    mesh = render_mesh()
    S = int(resolution)
    verts = tpl.deform(identity, expression).astype(np.float64)  # (N, 3) m, template frame
    cam, info = sample_camera(rng_camera) if camera is None else camera
    # crop framing and pivot as the anny generator, on the same parts of the head (anny frame)
    canon_anny = _to_anny(tpl.neutral)
    skin = tpl.part_mask("face", "head_and_neck")
    head_sel = skin & (canon_anny[:, 2] > 0.03)
    pivot = verts[skin & (canon_anny[:, 2] > 0.09)].mean(0)
    pc = (verts - pivot) @ cam.rotation.T + cam.translation  # (N, 3) camera frame, m
    D = -pc[:, 2]
    xn, yn = pc[:, 0] / D, pc[:, 1] / D
    lo = np.array([xn[head_sel].min(), yn[head_sel].min()])
    hi = np.array([xn[head_sel].max(), yn[head_sel].max()])
    side = HEAD_EXTENT_SCALE * float((hi - lo).max()) * rng_camera.uniform(0.85, 1.15)
    center = (lo + hi) / 2 + rng_camera.uniform(-0.08, 0.08, 2) * side
    f = S / side
    cam.focal_px, cam.center = f, center
    xy = np.stack([S / 2 + f * (xn - center[0]), S / 2 - f * (yn - center[1])], 1)

    faces = mesh.tri_vertex
    frag = rasterize(xy, 1.0 / D, faces, S, S)
    p0, p1, p2 = xy[faces[:, 0]], xy[faces[:, 1]], xy[faces[:, 2]]
    area = (p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - (p2[:, 0] - p0[:, 0]) * (p1[:, 1] - p0[:, 1])
    back_face = area > 0  # front faces are clockwise in the row-down screen frame
    vn = vertex_normals(pc, faces)

    mask = frag.tri >= 0
    ti = frag.tri[mask]
    fv = faces[ti]
    w = frag.bary[mask] / D[fv]  # perspective-correct weights
    w /= w.sum(1, keepdims=True)
    box = mesh.box
    canon01 = (tpl.neutral.astype(np.float64) - box[0]) / (box[1] - box[0])
    att = np.einsum("nk,nkc->nc", w, np.concatenate([vn, canon01], 1)[fv])
    n3 = att[:, :3]
    n3[back_face[ti]] *= -1.0
    n3 /= np.maximum(np.linalg.norm(n3, axis=1, keepdims=True), 1e-12)
    ii, jj = np.nonzero(mask)
    Dp = 1.0 / frag.inv_depth[mask]
    ray = np.stack([(jj + 0.5 - S / 2) / f + center[0], -(ii + 0.5 - S / 2) / f + center[1],
                    -np.ones_like(Dp)], 1)
    P = Dp[:, None] * ray
    N = np.stack([n3[:, 0], n3[:, 1], -(P * n3).sum(1) / cam.d0], 1)
    N /= np.linalg.norm(N, axis=1, keepdims=True)
    N[:, 2] = np.maximum(N[:, 2], 1e-3)
    N /= np.linalg.norm(N, axis=1, keepdims=True)
    d = f * (cam.d0 / Dp - 1.0)
    offset = float(np.median(d))
    d -= offset
    normals = np.zeros((S, S, 3), np.float32)
    normals[..., 2] = 1.0
    normals[mask] = N
    depth = np.zeros((S, S), np.float32)
    depth[mask] = d
    corr = np.zeros((S, S, 3), np.float32)
    corr[mask] = np.clip(att[:, 3:], 0.0, 1.0)
    canon_m = box[0] + att[:, 3:] * (box[1] - box[0])  # (n, 3) m, mean neutral template
    anny_box = tpl.anny_box.astype(np.float64)
    corr_anny = np.zeros((S, S, 3), np.float32)
    corr_anny[mask] = np.clip((_to_anny(canon_m) - anny_box[0]) / (anny_box[1] - anny_box[0]), 0.0, 1.0)
    lm = tpl.landmark68
    landmarks = np.stack([xy[lm, 0], xy[lm, 1], f * (cam.d0 / D[lm] - 1.0) - offset], 1)
    rotation = TO_CAMERA.T @ cam.rotation
    out = dict(
        normals=normals, grad_mag=gradient_magnitude(depth, mask), mask=mask, depth=depth, corr=corr,
        corr_anny=corr_anny, occluder=np.zeros((S, S), np.uint8), info=info,
        identity=np.asarray(identity, np.float32), expression=np.asarray(expression, np.float32),
        rotation=rotation, vertices=verts.astype(np.float32), landmarks68=landmarks,
    )
    if not with_image:
        return out
    # ---- appearance, in the template's UV space and on its canonical surface
    look = sample_look(rng_look)
    uv = np.einsum("nk,nkc->nc", w, tpl.loop_uv[mesh.tri_loops[ti]].astype(np.float64))
    st = np.einsum("nk,nkc->nc", w, _surface_frame()["st"][fv]).astype(np.float32)
    material = mesh.tri_material[ti]
    alb, spec = _albedo(look, canon_m, st, uv, material, rng_look)
    in_socket = tpl.part_mask("mouth_socket")[fv].any(1)
    alb[in_socket] = appearance.srgb_to_linear(np.array([0.35, 0.12, 0.12])) * 0.5
    rng_light = rng_look if rng_light is None else rng_light
    rad = _shade(look, rng_light, n3.astype(np.float32), P.astype(np.float32), ray.astype(np.float32),
                 alb.astype(np.float32), spec, pc, faces)
    img = backgrounds.background(rng_light, S)
    img[mask] = appearance.linear_to_srgb(rad)
    edge = np.zeros((S, S), bool)
    dh = mask[:, 1:] != mask[:, :-1]
    dv = mask[1:] != mask[:-1]
    edge[:, 1:] |= dh
    edge[:, :-1] |= dh
    edge[1:] |= dv
    edge[:-1] |= dv
    soft = cv2.blur(img, (3, 3))
    img[edge] = 0.35 * img[edge] + 0.65 * soft[edge]
    out["image"] = appearance.augment(img, rng_light)
    return out


def generate_template_sample(index: int, split: str = "train", resolution: int = 128,
                             with_image: bool = True) -> dict:
    """Template-head sample ``index`` of ``split`` (keys in the module notes).

    Deterministic: depends only on (split, index, resolution).
    """
    if index < 0:
        raise ValueError(f"index must be >= 0, got {index}")
    tpl = load_template()
    identity = sample_identity(tpl, sample_rng(split, index, 0))
    expression = sample_expression(tpl, sample_rng(split, index, 1))
    return render_template_head(identity, expression, sample_rng(split, index, 2),
                                sample_rng(split, index, 3), resolution, with_image)


def frontal_camera(distance_m: float = 1.0) -> tuple[Camera, dict]:
    """A frontal pose on the optical axis at ``distance_m`` (for tests and figures)."""
    info = dict(yaw=0.0, pitch=0.0, roll=0.0, focal_mm=50.0, distance_m=distance_m)
    return Camera(TO_CAMERA.copy(), np.array([0.0, 0.0, -distance_m]), d0=distance_m), info


class TemplateHeadDataset:
    """Torch dataset of template heads: items are ``training.synth.dataset.to_tensors`` dicts (the
    anny datasets' keys, float32 ``(C, S, S)``), so a training run can mix them with anny heads
    (e.g. ``torch.utils.data.ConcatDataset``).

    Parameters
    ----------
    split : "train" | "val" | "test"
    resolution : crop side S in px
    length : number of items; item i is sample ``seed * 10**9 + i`` of ``split``
    seed : offset of the index stream
    corr_frame : "anny" (default: ``corr`` is ``corr_anny``, the frame the shipped correspondence
        decoder predicts) or "template" (the template's own canonical frame)
    """

    def __init__(self, split: str = "train", resolution: int = 128, length: int = 10000, seed: int = 0,
                 corr_frame: str = "anny"):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
        if corr_frame not in ("anny", "template"):
            raise ValueError(f"corr_frame must be 'anny' or 'template', got {corr_frame!r}")
        self.split, self.resolution, self.length = split, int(resolution), int(length)
        self.offset = int(seed) * 10**9
        self.corr_frame = corr_frame

    def __len__(self) -> int:
        return self.length

    def sample(self, i: int) -> dict:
        """Numpy sample dict of item i (``corr`` in the chosen frame)."""
        if not 0 <= i < self.length:
            raise IndexError(i)
        s = generate_template_sample(self.offset + i, self.split, self.resolution)
        if self.corr_frame == "anny":
            s["corr"] = s["corr_anny"]
        return s

    def __getitem__(self, i: int) -> dict:
        from training.synth.dataset import to_tensors

        return to_tensors(self.sample(i))
