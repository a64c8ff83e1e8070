# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the exported network on real photos and save an input | N | W | mask | depth-shading grid.

    .venv/bin/python -m training.photo_grid examples/astronaut.png -o runs/eval/photos.png

Crops exactly as the add-on does (``core.face_detect.select_face`` ->
``core.crop.crop_box_from_face`` and ``core.crop.face_roll`` -> ``core.crop.crop_square``), predicts with
``core.predict`` and integrates depth with ``core.integration`` (λ = 0.1).

:func:`shaded_mesh` draws a reconstructed mesh (numpy z-buffer, training.synth.raster) turned about
the vertical axis, and :func:`fit_cell` letterboxes a photo into a grid cell; training.evaluate_real
builds its photo | front | 45° contact sheet from them.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from core.crop import crop_box_from_face, crop_square, face_roll
from core.face_detect import select_face
from core.image_io import load_photo
from core.integration import integrate_normals
from core.predict import load_model, predict_maps
from training.evaluate import shade


def photo_row(path: str | Path, model, resolution: int = 128, lam: float = 0.1) -> np.ndarray:
    """(S, 5 S, 3) float row in [0, 1]: crop | normals | tanh(W) | mask | shaded integrated depth."""
    image = load_photo(path)
    face = select_face(image)
    center, side = crop_box_from_face(face)
    crop, _ = crop_square(image, center, side, resolution, angle=face_roll(face))
    maps = predict_maps(crop, model)
    depth = integrate_normals(maps.normals, maps.grad_mag, maps.mask, lam=lam)
    gray = np.ones(3, np.float32)
    cells = [
        crop.astype(np.float32) / 255.0,
        maps.normals * 0.5 + 0.5,
        np.tanh(maps.grad_mag)[..., None] * gray,
        maps.mask[..., None] * gray,
        shade(depth, maps.mask)[..., None] * gray,
    ]
    return np.concatenate(cells, axis=1)


def fit_cell(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 photo -> (size, size, 3) float in [0, 1], scaled to fit and centred on black."""
    import cv2

    h, w = image.shape[:2]
    k = size / max(h, w)
    nw, nh = max(1, round(w * k)), max(1, round(h * k))
    small = cv2.resize(np.ascontiguousarray(image), (nw, nh), interpolation=cv2.INTER_AREA)
    cell = np.zeros((size, size, 3), np.float32)
    y0, x0 = (size - nh) // 2, (size - nw) // 2
    cell[y0:y0 + nh, x0:x0 + nw] = small[..., :3].astype(np.float32) / 255.0
    return cell


def shaded_mesh(vertices: np.ndarray, triangles: np.ndarray, size: int, turn_deg: float = 0.0,
                frame: np.ndarray | None = None) -> np.ndarray:
    """Grey Lambertian picture of a mesh seen from the front after turning it about the vertical axis.

    The mesh is in Blender's frame (X right, Y away from the viewer, Z up; the face looks toward -Y).
    Turning by ``θ`` maps ``X' = X cos θ - Y sin θ``, ``Y' = X sin θ + Y cos θ`` (positive θ shows the
    head's left side); the view is orthographic along +Y, screen ``x = X'``, ``y = -Z'``, and the pixel
    shows ``0.15 + 0.85 max(0, n · l)`` with interpolated vertex normals ``n`` and a light ``l`` from the
    viewer's upper left.

    Parameters
    ----------
    vertices : (n, 3) float
        m.
    triangles : (m, 3) int
    size : int
        Side of the square picture, px.
    turn_deg : float
        θ, degrees.
    frame : (2, 3) float or None
        ``[min, max]`` corners of the box to fit into the picture (m, before turning); None fits the mesh
        itself. Pass the same box for several turns so they share one scale.

    Returns
    -------
    (size, size, 3) float32 in [0, 1]
        Black where no triangle is seen.
    """
    from core.detail import vertex_normals
    from training.synth.raster import rasterize

    v = np.asarray(vertices, dtype=np.float64)
    t = np.asarray(triangles, dtype=np.int64)
    lo, hi = (v.min(axis=0), v.max(axis=0)) if frame is None else np.asarray(frame, dtype=np.float64)
    centre = (lo + hi) / 2.0
    half = 0.55 * float(np.max(hi - lo))  # 10 % margin around the box's largest side
    c, s = math.cos(math.radians(turn_deg)), math.sin(math.radians(turn_deg))
    turn = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    p = (v - centre) @ turn.T  # (n, 3) turned, centred
    px_per_m = size / (2.0 * half) if half > 0 else 1.0
    xy = np.stack([p[:, 0], -p[:, 2]], axis=1) * px_per_m + size / 2.0
    nearness = -p[:, 1]
    frags = rasterize(xy, nearness - nearness.min() + 1.0, t, size, size)
    n = vertex_normals(v, t).astype(np.float64) @ turn.T  # (n, 3), outward, toward -Y at the front
    light = np.array([-0.45, -0.75, 0.5])  # from the viewer's upper left
    light /= np.linalg.norm(light)
    seen = frags.tri >= 0
    corner = t[frags.tri[seen]]  # (k, 3) vertex ids of each seen pixel's triangle
    normal = np.einsum("kc,kcd->kd", frags.bary[seen], n[corner])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    grey = np.zeros((size, size), np.float32)
    grey[seen] = 0.15 + 0.85 * np.clip(normal @ light, 0.0, 1.0)
    return np.repeat(grey[..., None], 3, axis=2)


def main(argv: list[str] | None = None) -> None:
    import cv2

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("photos", nargs="+")
    ap.add_argument("-o", "--out", default="runs/eval/photos.png")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--resolution", type=int, default=128)
    args = ap.parse_args(argv)
    model = load_model(args.weights, device="cpu")
    rows = [photo_row(p, model, args.resolution) for p in args.photos]
    rgb = (np.clip(np.concatenate(rows, axis=0), 0, 1) * 255).astype(np.uint8)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(args.out, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
