# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the exported network on real photos and save an input | N | W | mask | depth-shading grid.

    .venv/bin/python -m training.photo_grid examples/astronaut.png -o runs/eval/photos.png

Crops exactly as the add-on does (``core.face_detect.select_face`` ->
``core.crop.crop_box_from_face`` and ``core.crop.face_roll`` -> ``core.crop.crop_square``), predicts with
``core.predict`` and integrates depth with ``core.integration`` (λ = 0.1).
"""

from __future__ import annotations

import argparse
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
