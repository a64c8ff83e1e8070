# SPDX-License-Identifier: GPL-3.0-or-later
"""Derive the shipped template head asset from the ICT-FaceKit light model.

Usage: ``python tools/build_template.py [--source DIR] [--modes 60] [--anny-cache FILE]``

Reads ``../shared/third_party/ict-facekit/`` (MIT: ``LICENSE``, ``CREDITS.md``) and writes
``core/template/ict_head.npz`` with ``LICENSE``, ``CREDITS.md`` and ``manifest.json``
(SHA-256, counts, measured float16 errors) beside it. Prints a JSON summary as its last line.

Frames and units::

    source (ICT OBJ)          asset (Blender object space)
    x: subject's left         X = x / 100      (subject's left, the viewer's right)
    y: up                     Y = -z / 100     (away from a frontal viewer; the face looks toward -Y)
    z: toward the viewer      Z = y / 100      (up)
    cm                        m

The map ``(x, y, z) -> (x, -z, y)`` is a rotation (+90 deg about X), so the polygon
winding stays outward.

What is kept (measured with this script, see ``manifest.json``):

- every part (face, head and neck, mouth socket, eye sockets, gums and tongue, teeth,
  eyeballs, lacrimal fluid, eye blend and occlusion, eyelashes): the head is meant to be
  rig-ready, and the small parts cost little;
- the first ``--modes`` identity PCA modes (coefficient 1 = one standard deviation). The
  modes are sorted by variance; the 60 kept carry 99.2 % of the identity variance and the
  40 dropped ones move a random N(0, 1) identity by 0.54 mm RMS per vertex, below what a
  128 px crop (about 2 mm per pixel) can observe. Compressed asset: 11.3 MB with 60 modes,
  16.8 MB with all 100, 8.6 MB with 40 (whose dropped modes cost 0.85 mm RMS); 60 keeps the
  extension zip small and the fit's normal equations at 113 unknowns;
- the 53 ARKit-named expressions of ``vertex_indices.json["expressions"]`` in that order;
  ``cheekRaiser_L/R`` (FACS AU6, not in ARKit) and ``PupilDilate_L/R`` (not a facial action)
  are dropped so the shape keys are exactly the ARKit set an animator expects;
- the 68 Multi-PIE landmark vertices;
- the correspondence to the synthetic generator's anny mean head: the network's
  ``corr`` map holds points of anny's canonical neutral surface normalised by its
  bounding box (training/synth/head_model.py). The ICT neutral is aligned to anny's
  mean head by a similarity transform (eye centres, nose tip and crown, then trimmed
  ICP on the face), and every face / head-and-neck vertex lying within
  ``MAX_SURFACE_GAP_M`` of anny's skin is stored with its aligned position in anny's
  normalised coordinates (``fit_vertices``, ``fit_anny01``), so a predicted ``corr``
  value finds its template vertex by a nearest-neighbour look-up.

Storage: the neutral in float32 metres; the modes in float16 **millimetres** (values up
to 38 mm, so the float16 step is at most 0.016 mm and no value is subnormal), turned
into float32 metres on load.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT.parent / "shared" / "third_party" / "ict-facekit"
OUT = ROOT / "core" / "template"
ASSET_NAME = "ict_head.npz"
DEFAULT_MODES = 60
MAX_SURFACE_GAP_M = 0.008  # m, an ICT vertex farther than this from anny's skin gets no correspondence
MAX_ASSET_BYTES = 20 * 1024 * 1024

# Parts of the ICT light model: (name, first vertex, last vertex inclusive), UPSTREAM_README.md.
PARTS = (
    ("face", 0, 9408),
    ("head_and_neck", 9409, 11247),
    ("mouth_socket", 11248, 13293),
    ("eye_socket_left", 13294, 13677),
    ("eye_socket_right", 13678, 14061),
    ("gums_and_tongue", 14062, 17038),
    ("teeth", 17039, 21450),
    ("eyeball_left", 21451, 23020),
    ("eyeball_right", 23021, 24590),
    ("lacrimal_fluid_left", 24591, 24794),
    ("lacrimal_fluid_right", 24795, 24998),
    ("eye_blend_left", 24999, 25022),
    ("eye_blend_right", 25023, 25046),
    ("eye_occlusion_left", 25047, 25198),
    ("eye_occlusion_right", 25199, 25350),
    ("eyelashes_left", 25351, 26034),
    ("eyelashes_right", 26035, 26718),
)
SKIN_LAST = 11247  # face and head-and-neck: the surface the network's correspondences cover
NARROW_FACE_LAST = 6705  # upstream "narrow face area", used for the ICP refinement


def to_blender(points_cm: np.ndarray) -> np.ndarray:
    """ICT frame (y up, face toward +z, cm) -> Blender frame (Z up, face toward -Y, m).

    Parameters
    ----------
    points_cm : (..., 3) float
    """
    p = np.asarray(points_cm, dtype=np.float64)
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1) / 100.0


def read_obj(path: Path) -> dict[str, np.ndarray]:
    """Polygons, per-loop UVs and material groups of the upstream neutral OBJ.

    Returns
    -------
    dict
        ``vertices (N, 3)`` cm, ``loop_start (P,) int32``, ``loop_vertex (L,) int32``,
        ``loop_uv (L, 2) float32``, ``polygon_material (P,) int8``, ``material_names (M,)``.
    """
    vertices, uvs, loop_v, loop_t, starts, mats = [], [], [], [], [], []
    names: list[str] = []
    current = -1
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("v "):
                vertices.append([float(x) for x in line.split()[1:4]])
            elif line.startswith("vt "):
                uvs.append([float(x) for x in line.split()[1:3]])
            elif line.startswith("usemtl "):
                name = line.split()[1]
                if name not in names:
                    names.append(name)
                current = names.index(name)
            elif line.startswith("f "):
                starts.append(len(loop_v))
                mats.append(current)
                for corner in line.split()[1:]:
                    v, t = corner.split("/")[:2]
                    loop_v.append(int(v) - 1)
                    loop_t.append(int(t) - 1)
    uv = np.asarray(uvs, dtype=np.float32)
    return {
        "vertices": np.asarray(vertices, dtype=np.float64),
        "loop_start": np.asarray(starts, dtype=np.int32),
        "loop_vertex": np.asarray(loop_v, dtype=np.int32),
        "loop_uv": uv[np.asarray(loop_t)],
        "polygon_material": np.asarray(mats, dtype=np.int8),
        "material_names": np.asarray(names),
    }


def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity ``dst ~ s R src + t`` minimising the squared distances (Umeyama 1991).

    Parameters
    ----------
    src, dst : (n, 3) float

    Returns
    -------
    s : float
    R : (3, 3) float, a rotation
    t : (3,) float
    """
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(b.T @ a / len(src))
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag(d) @ vt
    scale = float((sig * d).sum() / (a**2).sum(1).mean())
    return scale, rot, mu_d - scale * rot @ mu_s


def anny_canonical(cache: Path | None) -> dict[str, np.ndarray]:
    """The synthetic generator's anny mean head: ``canonical (V, 3)`` m, ``lo, hi, part, faces``."""
    if cache is not None and cache.is_file():
        with np.load(cache) as z:
            return {k: z[k] for k in z.files}
    sys.path.insert(0, str(ROOT))
    from training.synth.head_model import get_head_model

    m = get_head_model()
    data = {"canonical": m.canonical, "lo": m.canonical_box[0], "hi": m.canonical_box[1],
            "part": m.part, "faces": m.faces}
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **data)
    return data


def _surface_samples(vertices: np.ndarray, faces: np.ndarray, per_edge: int = 4) -> np.ndarray:
    """Points spread over the triangles (barycentric grid with ``per_edge`` steps), (k, 3)."""
    w = [(i / per_edge, j / per_edge) for i in range(per_edge + 1) for j in range(per_edge + 1 - i)]
    bary = np.array([(a, b, 1.0 - a - b) for a, b in w])
    tri = vertices[faces]  # (F, 3, 3)
    return np.einsum("kc,fcd->fkd", bary, tri).reshape(-1, 3)


def align_to_anny(ict: np.ndarray, landmarks: np.ndarray, anny: dict[str, np.ndarray]) -> dict:
    """Similarity taking the ICT neutral (Blender frame, m) onto anny's mean head, and the look-up.

    Returns
    -------
    dict
        ``scale, rotation (3, 3), translation (3,)`` (anny = s R ict + t), ``fit_vertices (M,)``,
        ``fit_anny01 (M, 3)`` and the ICP residual ``rms_m``.
    """
    from scipy.spatial import cKDTree

    a = anny["canonical"].astype(np.float64)
    part = anny["part"]
    skin_faces = anny["faces"][(part[anny["faces"]] == 0).all(1)]
    eyes = a[part == 2]
    eye_l, eye_r = eyes[eyes[:, 0] > 0].mean(0), eyes[eyes[:, 0] < 0].mean(0)
    skin = a[part == 0]
    mid = skin[np.abs(skin[:, 0]) < 0.01]
    below = mid[(mid[:, 2] < eye_l[2]) & (mid[:, 2] > eye_l[2] - 0.08)]
    nose_a = below[np.argmin(below[:, 1])]
    crown_a = mid[np.argmax(mid[:, 2])]
    face = ict[: SKIN_LAST + 1]
    ict_mid = face[np.abs(face[:, 0]) < 0.01]
    src = np.stack([
        ict[21451:23021].mean(0), ict[23021:24591].mean(0),
        ict[landmarks[30]], ict_mid[np.argmax(ict_mid[:, 2])],
    ])
    dst = np.stack([eye_l, eye_r, nose_a, crown_a])
    s, rot, t = umeyama(src, dst)

    dense = _surface_samples(a, skin_faces)
    tree = cKDTree(dense)
    narrow = ict[: NARROW_FACE_LAST + 1]
    for _ in range(30):
        moved = s * narrow @ rot.T + t
        dist, idx = tree.query(moved)
        keep = dist <= np.quantile(dist, 0.9)
        s, rot, t = umeyama(narrow[keep], dense[idx[keep]])
    moved = s * narrow @ rot.T + t
    rms = float(np.sqrt(np.mean(tree.query(moved)[0] ** 2)))

    skin_ict = s * face @ rot.T + t
    gap, _ = tree.query(skin_ict)
    fit = np.flatnonzero(gap <= MAX_SURFACE_GAP_M).astype(np.int32)
    lo, hi = anny["lo"].astype(np.float64), anny["hi"].astype(np.float64)
    return {
        "scale": s, "rotation": rot, "translation": t, "rms_m": rms,
        "fit_vertices": fit,
        "fit_anny01": ((skin_ict[fit] - lo) / (hi - lo)).astype(np.float32),
        "anny_box": np.stack([lo, hi]).astype(np.float32),
    }


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build(source: Path, out: Path, modes: int, anny_cache: Path | None) -> dict:
    """Write the asset, licence, credits and manifest into ``out``; return the manifest."""
    obj = read_obj(source / "generic_neutral_mesh.obj")
    indices = json.loads((source / "vertex_indices.json").read_text())
    with np.load(source / "ict_facekit_shapes.npz") as z:
        names = [str(n) for n in z["names"]]
        neutral_cm = z["neutral"].astype(np.float64)
        shapes_cm = z["shapes"]
    if np.abs(neutral_cm - obj["vertices"]).max() > 1e-4:
        raise SystemExit("the OBJ's vertices differ from the npz neutral")
    expression_names = list(indices["expressions"])
    identity_rows = [names.index(f"identity{k:03d}") for k in range(100)]
    expression_rows = [names.index(n) for n in expression_names]

    neutral = to_blender(neutral_cm)  # (N, 3) m
    identity_all = to_blender(shapes_cm[identity_rows] - neutral_cm)  # (100, N, 3) m
    expression = to_blender(shapes_cm[expression_rows] - neutral_cm)  # (53, N, 3) m

    variance = (identity_all**2).sum((1, 2))  # (100,) m^2: coefficient 1 = one std
    kept_fraction = float(variance[:modes].sum() / variance.sum())
    n_vertices = len(neutral)
    dropped_rms_mm = float(np.sqrt(variance[modes:].sum() / n_vertices) * 1000.0)

    identity_mm = (identity_all[:modes] * 1000.0).astype(np.float16)
    expression_mm = (expression * 1000.0).astype(np.float16)
    id_err_mm = float(np.abs(identity_mm.astype(np.float64) - identity_all[:modes] * 1000.0).max())
    ex_err_mm = float(np.abs(expression_mm.astype(np.float64) - expression * 1000.0).max())

    landmarks = np.asarray(indices["idx_to_landmark_verts"], dtype=np.int32)
    alignment = align_to_anny(neutral, landmarks, anny_canonical(anny_cache))

    out.mkdir(parents=True, exist_ok=True)
    asset = out / ASSET_NAME
    np.savez_compressed(
        asset,
        neutral=neutral.astype(np.float32),
        identity_mm=identity_mm,
        expression_mm=expression_mm,
        expression_names=np.asarray(expression_names),
        loop_start=obj["loop_start"],
        loop_vertex=obj["loop_vertex"],
        loop_uv=obj["loop_uv"],
        polygon_material=obj["polygon_material"],
        material_names=obj["material_names"],
        part_names=np.asarray([p[0] for p in PARTS]),
        part_ranges=np.asarray([(p[1], p[2] + 1) for p in PARTS], dtype=np.int32),
        landmark68=landmarks,
        fit_vertices=alignment["fit_vertices"],
        fit_anny01=alignment["fit_anny01"],
        anny_box=alignment["anny_box"],
    )
    size = asset.stat().st_size
    if size > MAX_ASSET_BYTES:
        raise SystemExit(f"{asset} is {size} bytes, over the {MAX_ASSET_BYTES} byte budget")
    for name in ("LICENSE", "CREDITS.md"):
        shutil.copyfile(source / name, out / name)
    manifest = {
        "asset": ASSET_NAME,
        "sha256": sha256_file(asset),
        "bytes": size,
        "source": "ICT-FaceKit light model, ICT-VGL/ICT-FaceKit "
                  "da5f95a607f5e6b37755b38d3385d7f2853732e5 (MIT)",
        "vertices": n_vertices,
        "polygons": len(obj["loop_start"]),
        "loops": len(obj["loop_vertex"]),
        "identity_modes": modes,
        "identity_variance_kept": round(kept_fraction, 5),
        "identity_dropped_rms_mm": round(dropped_rms_mm, 4),
        "expressions": len(expression_names),
        "float16_max_error_mm": {"identity": round(id_err_mm, 5), "expression": round(ex_err_mm, 5)},
        "anny_alignment": {
            "scale": round(float(alignment["scale"]), 6),
            "icp_rms_mm": round(alignment["rms_m"] * 1000.0, 3),
            "fit_vertices": len(alignment["fit_vertices"]),
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--output-dir", type=Path, default=OUT)
    parser.add_argument("--modes", type=int, default=DEFAULT_MODES, help="identity PCA modes kept (1..100)")
    parser.add_argument("--anny-cache", type=Path, default=None,
                        help="npz of anny's mean head, written on first use (building anny takes minutes)")
    args = parser.parse_args(argv)
    if not 1 <= args.modes <= 100:
        raise SystemExit("--modes must be 1..100")
    print(json.dumps(build(args.source, args.output_dir, args.modes, args.anny_cache)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
