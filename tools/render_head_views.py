# SPDX-License-Identifier: GPL-3.0-or-later
"""Render the textured template head of a photo from the front, 45 deg, 90 deg and behind.

A check picture without Blender: ``core.pipeline.reconstruct(output="head")``, then the
fitted head (unposed, neutral camera) rasterised orthographically with
``training.synth.raster`` and shaded with a head-on Lambert light. Skin texels come from
``Reconstruction.head.texture`` through the loops' UVs; iris, sclera and eyelashes take
its eye image (iris and pupil painted on the cornea), teeth and gums fixed colours.

Usage: ``.venv/bin/python tools/render_head_views.py [--photo examples/astronaut.png]
[--out docs/images/head_views.png] [--side 384]``
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RENDERED = {  # material -> flat RGB, or None for the baked skin tiles
    "M_Face": None, "M_BackHead": None, "M_Teeth": (225, 220, 205), "M_GumsTongue": (170, 80, 80),
    "M_ScleraLeft": "eye", "M_ScleraRight": "eye",
}  # the iris lies behind the sclera's cornea; the eyelash cards (alpha strands in Blender) and the clear
# eye shells are left out: this rasteriser keeps one opaque surface per pixel


def _triangles(template) -> tuple[np.ndarray, np.ndarray]:
    """Loop triples (T, 3) of the rendered materials' fan triangles and each one's material."""
    total = template.loop_total
    names = template.material_names
    keep = np.isin(template.polygon_material, [names.index(m) for m in RENDERED])
    tris, mats = [], []
    for k in range(3, int(total.max()) + 1):
        sel = keep & (total >= k)
        starts = template.loop_start[sel]
        tris.append(np.stack([starts, starts + k - 2, starts + k - 1], axis=1))
        mats.append(template.polygon_material[sel])
    return np.concatenate(tris), np.concatenate(mats)


def render(template, head, yaw_deg: float, side: int,
           clay: tuple[float, float, float] | None = None) -> np.ndarray:
    """(side, side, 3) uint8 view of the head turned by ``yaw_deg`` about Z (0: the face).

    ``clay`` (RGB, 0-255) paints every rendered part that one colour instead of its texture, so only
    the shading shows the shape.
    """
    from training.synth.raster import rasterize

    loops, mats = _triangles(template)
    y = math.radians(yaw_deg)
    rot = np.array([[math.cos(y), -math.sin(y), 0.0], [math.sin(y), math.cos(y), 0.0], [0.0, 0.0, 1.0]])
    v = head.vertices.astype(np.float64) @ rot.T
    centre = np.array([0.0, 0.0, v[:, 2].max() - 0.14])
    px = side / 0.32  # px per metre
    xy = np.stack([(v[:, 0] - centre[0]) * px + side / 2, (centre[2] - v[:, 2]) * px + side / 2], axis=1)
    inv_depth = 1.0 - v[:, 1]  # the camera looks along +Y; nearer = larger
    faces = template.loop_vertex[loops]
    frag = rasterize(xy, inv_depth, faces, side, side)
    out = np.full((side, side, 3), 245.0)
    hit = frag.tri >= 0
    t, b = frag.tri[hit], frag.bary[hit]
    uv = (template.loop_uv[loops[t]].astype(np.float64) * b[..., None]).sum(axis=1)
    # vertex normals for the light
    tri_all = template.triangles()
    p = v[tri_all]
    fn = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    vn = np.zeros_like(v)
    for k in range(3):
        np.add.at(vn, tri_all[:, k], fn)
    vn /= np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)
    n = (vn[faces[t]] * b[..., None]).sum(axis=1)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    light = np.array([0.3, -1.0, 0.4])  # from the camera's side, up and to the right
    light /= np.linalg.norm(light)
    shade = 0.45 + 0.55 * np.clip(n @ light, 0.0, 1.0)
    colour = np.zeros((len(t), 3))
    tex = head.texture
    size = tex.tiles.shape[1]
    m = mats[t]
    names = template.material_names
    for name, value in RENDERED.items():
        sel = m == names.index(name)
        if not sel.any():
            continue
        if clay is not None:
            colour[sel] = clay
        elif value is None:
            tile = np.clip(np.floor(uv[sel, 0]).astype(int), 0, 1)
            c = np.clip(((uv[sel, 0] - tile) * size).astype(int), 0, size - 1)
            r = np.clip(((1.0 - uv[sel, 1]) * size).astype(int), 0, size - 1)
            colour[sel] = tex.tiles[tile, r, c]
        elif value == "eye":
            eye_side = tex.eye.shape[0]
            c = np.clip((uv[sel, 0] * eye_side).astype(int), 0, eye_side - 1)
            r = np.clip(((1.0 - uv[sel, 1]) * eye_side).astype(int), 0, eye_side - 1)
            colour[sel] = tex.eye[r, c]
        else:
            colour[sel] = value
    out[hit] = colour * shade[:, None]
    return np.clip(out, 0, 255).astype(np.uint8)


def main() -> None:
    import cv2

    from core.pipeline import ReconstructOptions, reconstruct
    from core.template_model import load_template

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photo", default=str(ROOT / "examples" / "astronaut.png"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "images" / "head_views.png"))
    parser.add_argument("--side", type=int, default=384)
    parser.add_argument("--yaw", type=float, nargs="*", default=[0.0, 45.0, 90.0, 180.0])
    args = parser.parse_args()
    rec = reconstruct(args.photo, ReconstructOptions(output="head"))
    template = load_template()
    panels = [cv2.resize(rec.texture, (args.side, args.side), interpolation=cv2.INTER_AREA)]
    panels += [render(template, rec.head, yaw, args.side) for yaw in args.yaw]
    sheet = np.concatenate(panels, axis=1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(args.out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(args.out)


if __name__ == "__main__":
    main()
