# SPDX-License-Identifier: GPL-3.0-or-later
"""Synthetic head samples: render + exact ground-truth maps.

Per-sample dict (numpy; see docs/conventions.md), S = resolution:

- ``image``    (S, S, 3) float32 in [0, 1], sRGB, the augmented photo-like render.
- ``normals``  (S, S, 3) float32, unit, camera frame (x right, y up, z toward the
  viewer); (0, 0, 1) outside the mask.
- ``grad_mag`` (S, S) float32, W = |grad depth| in px/px from finite differences
  of ``depth`` (see :func:`gradient_magnitude`); 0 outside the mask.
- ``mask``     (S, S) bool, pixels whose visible surface is the head model (skin,
  eyes, mouth cavity, tongue, neck stub). **Hair and glasses are occluders only**:
  where they cover the head the image shows them, but mask, normals, depth and corr
  stay those of the head beneath (as in the normals paper). Background and the
  clothing/torso occluder are outside the mask.
- ``depth``    (S, S) float32, pixel units, grows toward the viewer, zero median
  over the mask, 0 outside.
- ``corr``     (S, S, 3) float32 in [0, 1], canonical coordinates (anny model frame
  X, Y, Z of the mean neutral head, normalised by its bounding box) of the surface
  point; 0 outside the mask.
- ``occluder`` (S, S) uint8, what the image shows in front of the head model or the
  background: 0 nothing (the head itself, or background), 1 hair, 2 glasses,
  3 clothing (the kinds of ``appearance.Occluders``). For diagnostics
  (``training.evaluate`` reports the normal error per kind); not a training target.

Camera and depth. Camera frame: x right, y up, z toward the viewer, camera at the
origin looking down -z; a point P = (X, Y, Z) has distance D = -Z along the view
axis. The crop is a square window of side S px in the image plane of a pinhole
camera of focal length f px; pixel (i, j) has centre (u, v) = (j + 0.5, i + 0.5)
and u = S/2 + f (X/D - c_x), v = S/2 - f (Y/D - c_y), with (c_x, c_y) the crop
centre in normalised image coordinates. With D0 the distance of the head's pivot,
the ground-truth depth is the *projective depth*

    d = f (D0 / D - 1)   [px]   (then minus its median over the mask)

which equals f (D0 - D) / D0 to first order around the head, i.e. it has the same
px-per-metre scale as u and v there. The map (X, Y, Z) -> (u, -v, d) is projective,
so planes stay planes, and the ground-truth normal is the normal of the 2.5-D
surface (u, -v, d): for a 3-D camera-frame normal n at point P it is

    N ∝ (n_x, n_y, -(P · n) / D0)

Integrating N with the orthographic integrator (p = -Nx/Nz = dd/du, q = -Ny/Nz) thus
reproduces d for every focal length. Normals are smooth (vertex normals interpolated
with perspective-correct barycentrics); depth is exact on the planar triangles.

Rendering. Head and occluders are rasterised in one pass with two z-buffers
(:func:`training.synth.raster.rasterize_layers`): the head alone gives every
ground-truth map, head + occluders give the image. Each map is then a gather of
per-vertex attributes at the winning triangle of each pixel.

Determinism. Item i depends only on (split, i, resolution): its random streams are
seeded from (split, i) alone, anny evaluates whole blocks of ``BLOCK`` heads, and
the fixed test set's per-sample statistics are recorded in ``test_set_128.stats.json``
and its SHA-256 per CPU family in ``test_set_128.sha256`` (``python -m
training.synth.checksum`` checks them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.synth import appearance
from training.synth.head_model import HeadModel, HeadParams, get_head_model
from training.synth.mesh_normals import vertex_normals
from training.synth.raster import rasterize_layers

SPLITS = {"train": 0, "val": 1, "test": 2}
BASE_SEED = 0x5EED_FACE
BLOCK = 32  # heads per anny forward pass; sample i lives in block i // BLOCK
HEAD_EXTENT_SCALE = 1.3  # crop side / head extent (docs/conventions.md)


@dataclass
class Camera:
    """Pose and intrinsics of one sample (camera frame, see module docstring)."""

    rotation: np.ndarray  # (3, 3) model frame -> camera frame, applied about the pivot
    translation: np.ndarray  # (3,) m, camera-frame position of the pivot
    focal_px: float = 0.0
    center: np.ndarray | None = None  # (2,) crop centre in normalised image coords
    d0: float = 1.0  # m, distance of the pivot along the view axis


def sample_rng(split: str, index: int, stream: int) -> np.random.Generator:
    """Independent generator for (split, sample index, stream); streams: 0 identity,
    1 expression, 2 camera and scene, 3 appearance."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    return np.random.default_rng(np.random.SeedSequence(BASE_SEED, spawn_key=(SPLITS[split], index, stream)))


def head_params(model: HeadModel, split: str, index: int) -> HeadParams:
    """Identity + expression of sample ``index`` of ``split`` (every sample is a new
    identity; identities of different splits come from disjoint seed streams)."""
    ph, lc = model.sample_identity(sample_rng(split, index, 0))
    fa = model.sample_expression(sample_rng(split, index, 1))
    return HeadParams(ph, lc, fa)


def _rot(axis: int, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    r = np.eye(3)
    r[i, i] = c
    r[j, j] = c
    r[i, j] = -s
    r[j, i] = s
    return r


# model frame (X left-of-subject = viewer's right, Y away, Z up) -> camera frame of a frontal view
MODEL_TO_CAMERA = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def sample_camera(
    rng: np.random.Generator, max_yaw_deg: float = 70.0, yaw_sd_deg: float = 20.0
) -> tuple[Camera, dict]:
    """Random head pose and camera distance. Angles in radians.

    Yaw: half the samples uniform in +-``max_yaw_deg``, half N(0, ``yaw_sd_deg``) clipped to it (deg).
    """
    if rng.random() < 0.5:
        yaw = rng.uniform(-max_yaw_deg, max_yaw_deg)
    else:
        yaw = np.clip(rng.normal(0, yaw_sd_deg), -max_yaw_deg, max_yaw_deg)
    pitch = np.clip(rng.normal(0, 14), -35, 35)
    roll = np.clip(rng.normal(0, 9), -25, 25)
    yaw, pitch, roll = np.radians([yaw, pitch, roll])
    r = _rot(2, roll) @ _rot(0, pitch) @ _rot(1, yaw) @ MODEL_TO_CAMERA
    # 35 mm-equivalent focal length from phone-wide to portrait-tele, head filling a
    # fraction of the 24 mm frame height -> camera distance
    focal_mm = float(np.exp(rng.uniform(np.log(22.0), np.log(135.0))))
    fill = rng.uniform(0.2, 0.65)
    d0 = focal_mm * 0.24 / (fill * 24.0)
    # the head need not sit on the optical axis
    off = rng.uniform(-0.35, 0.35, 2) * (24.0 / focal_mm) * 0.5
    t = np.array([np.tan(off[0]) * d0, np.tan(off[1]) * d0, -d0])
    info = dict(yaw=float(yaw), pitch=float(pitch), roll=float(roll), focal_mm=focal_mm, distance_m=d0)
    return Camera(r, t, d0=d0), info


def gradient_magnitude(depth: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """W = |grad depth| (px/px) by finite differences inside the mask.

    Per axis the larger of the two one-sided absolute differences to in-mask
    neighbours is used, so both pixels on either side of a depth discontinuity get
    the full jump; a pixel with no in-mask neighbour on an axis gets 0 on it.
    ``depth`` (H, W) px, ``mask`` (H, W) bool -> (H, W) float32, 0 outside the mask.
    """
    d = depth.astype(np.float64)
    m = mask

    def axis_diff(axis: int) -> np.ndarray:
        fwd = np.zeros_like(d)
        valid = np.zeros_like(m)
        sl_a = [slice(None)] * 2
        sl_b = [slice(None)] * 2
        sl_a[axis] = slice(1, None)
        sl_b[axis] = slice(None, -1)
        diff = np.abs(d[tuple(sl_a)] - d[tuple(sl_b)])
        ok = m[tuple(sl_a)] & m[tuple(sl_b)]
        diff = np.where(ok, diff, 0.0)
        out = np.zeros_like(d)
        out[tuple(sl_b)] = diff  # forward difference at the lower pixel
        fwd[tuple(sl_a)] = diff  # backward difference at the upper pixel
        valid[tuple(sl_b)] |= ok
        return np.maximum(out, fwd)

    g = np.sqrt(axis_diff(0) ** 2 + axis_diff(1) ** 2)
    return np.where(m, g, 0.0).astype(np.float32)


def render_head(model: HeadModel, verts: np.ndarray, params: HeadParams, split: str, index: int,
                resolution: int, with_image: bool = True) -> dict:
    """Render one posed head (model frame vertices (V, 3) m) into the sample dict.

    ``with_image=False`` skips the shading: the dict has every ground-truth map but no
    ``image`` (the maps are the same; shading is the last draw of the sample's streams).
    """
    S = int(resolution)
    rng = sample_rng(split, index, 2)
    cam, info = sample_camera(rng)
    canon = model.canonical
    head_sel = (model.part == 0) & (canon[:, 2] > 0.03)
    pivot = verts[(model.part == 0) & (canon[:, 2] > 0.09)].mean(0)
    pc = (verts - pivot) @ cam.rotation.T + cam.translation  # (V, 3) camera frame, m
    D = -pc[:, 2]
    xn = pc[:, 0] / D
    yn = pc[:, 1] / D
    # crop: square, side 1.3 x head extent (jittered), centre jittered
    lo = np.array([xn[head_sel].min(), yn[head_sel].min()])
    hi = np.array([xn[head_sel].max(), yn[head_sel].max()])
    side = HEAD_EXTENT_SCALE * float((hi - lo).max()) * rng.uniform(0.85, 1.15)
    center = (lo + hi) / 2 + rng.uniform(-0.08, 0.08, 2) * side
    f = S / side
    cam.focal_px, cam.center = f, center
    xy = np.stack([S / 2 + f * (xn - center[0]), S / 2 - f * (yn - center[1])], 1)

    faces = model.faces
    vn = vertex_normals(pc, faces)
    rot, piv, trans = cam.rotation, pivot, cam.translation
    scene = appearance.build_occluders(model, verts, params.phenotypes, pc, vn, rng,
                                       sample_rng(split, index, 3),
                                       to_cam=lambda x: (x - piv) @ rot.T + trans)
    n_head_faces = len(faces)
    if len(scene.faces):
        all_xyz = np.concatenate([pc, scene.xyz])
        all_faces = np.concatenate([faces, scene.faces + len(verts)])
        Da = -all_xyz[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            xy_all = np.stack([S / 2 + f * (all_xyz[:, 0] / Da - center[0]),
                               S / 2 - f * (all_xyz[:, 1] / Da - center[1])], 1)
        xy_all = np.nan_to_num(xy_all, nan=-1e6, posinf=1e6, neginf=-1e6)
        inv_all = 1.0 / np.where(Da > 0, Da, -1.0)
    else:
        all_xyz, all_faces, xy_all, inv_all = pc, faces, xy, 1.0 / D
    # one rasterisation pass, two z-buffers: the head alone (ground truth) and with occluders
    frag_h, frag = rasterize_layers(xy_all, inv_all, all_faces, S, S, n_head_faces)
    p0, p1, p2 = xy_all[all_faces[:, 0]], xy_all[all_faces[:, 1]], xy_all[all_faces[:, 2]]
    area = (p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - (p2[:, 0] - p0[:, 0]) * (p1[:, 1] - p0[:, 1])
    back_face = area > 0  # front faces are clockwise in the row-down screen frame

    # ---- ground truth from the head alone (occluders do not change the GT)
    th = frag_h.tri
    mask = th >= 0
    ti = th[mask]
    fv = faces[ti]  # (n, 3)
    w = frag_h.bary[mask] / D[fv]  # perspective-correct weights
    w /= w.sum(1, keepdims=True)
    Dp = 1.0 / frag_h.inv_depth[mask]
    att = np.einsum("nk,nkc->nc", w, np.concatenate([vn, model.canonical01], 1)[fv])
    n3 = att[:, :3]
    # back faces seen through an opening (mouth cavity, inside of the neck) face the camera
    n3[back_face[ti]] *= -1.0
    n3 /= np.maximum(np.sqrt((n3 * n3).sum(1, keepdims=True)), 1e-12)
    ii, jj = np.nonzero(mask)
    P = Dp[:, None] * np.stack([(jj + 0.5 - S / 2) / f + center[0], -(ii + 0.5 - S / 2) / f + center[1],
                                -np.ones_like(Dp)], 1)
    N = np.stack([n3[:, 0], n3[:, 1], -(P * n3).sum(1) / cam.d0], 1)
    N /= np.linalg.norm(N, axis=1, keepdims=True)
    N[:, 2] = np.maximum(N[:, 2], 1e-3)  # interpolated normals may graze past the silhouette
    N /= np.linalg.norm(N, axis=1, keepdims=True)
    d = f * (cam.d0 / Dp - 1.0)
    d -= np.median(d)
    normals = np.zeros((S, S, 3), np.float32)
    normals[..., 2] = 1.0
    normals[mask] = N
    depth = np.zeros((S, S), np.float32)
    depth[mask] = d
    corr = np.zeros((S, S, 3), np.float32)
    corr[mask] = att[:, 3:]
    grad_mag = gradient_magnitude(depth, mask)
    occluder = np.zeros((S, S), np.uint8)
    in_front = frag.tri >= n_head_faces
    occluder[in_front] = scene.kind[frag.tri[in_front] - n_head_faces]

    maps = dict(normals=normals, grad_mag=grad_mag, mask=mask, depth=depth,
                corr=np.clip(corr, 0.0, 1.0).astype(np.float32), occluder=occluder, info=info)
    if not with_image:
        return maps
    # ---- appearance
    image = appearance.shade(model, scene.look, frag_h, frag, all_xyz, np.concatenate([vn, scene.normals]),
                             all_faces, n_head_faces, scene, rng, S, f, center, back_face)
    return dict(image=image.astype(np.float32), **maps)


def block_vertices(model: HeadModel, split: str, block: int) -> tuple[np.ndarray, list[HeadParams]]:
    """Posed vertices of the heads of one block, (BLOCK, V, 3) float64, and their parameters."""
    params = [head_params(model, split, block * BLOCK + k) for k in range(BLOCK)]
    return model.forward(params), params


def generate_block(split: str, block: int, resolution: int = 128) -> list[dict]:
    """All samples of one block (indices block*BLOCK ... block*BLOCK + BLOCK - 1)."""
    model = get_head_model()
    verts, params = block_vertices(model, split, block)
    return [render_head(model, verts[k], params[k], split, block * BLOCK + k, resolution)
            for k in range(BLOCK)]


def generate_sample(index: int, split: str = "train", resolution: int = 128) -> dict:
    """Sample ``index`` of ``split`` as a numpy dict (keys in the module docstring,
    plus ``info``: pose angles in rad, focal length in 35 mm-equivalent mm, distance in m).

    Deterministic: depends only on (split, index, resolution).
    """
    if index < 0:
        raise ValueError(f"index must be >= 0, got {index}")
    model = get_head_model()
    block, k = divmod(int(index), BLOCK)
    verts, params = block_vertices(model, split, block)
    return render_head(model, verts[k], params[k], split, int(index), resolution)
