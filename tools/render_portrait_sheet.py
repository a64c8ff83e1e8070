# SPDX-License-Identifier: GPL-3.0-or-later
"""Draw the shipped model's heads from real portraits, and harder variants of them, on one contact sheet.

Each row is one photo given to ``core.pipeline.reconstruct`` with the defaults a user gets
(``output="head"``, every other option left alone): the crop the network saw (with the whole photo
as a thumbnail in its corner) | the textured head from the front | at 45 deg | at 90 deg | the same
head in clay (one colour, shading only) from the front. The head views are
``tools/render_head_views.render``. A photo whose face is not found gets the error's sentence.

Besides each portrait as photographed, :func:`variants` makes harder copies of it: mirrored, rolled
by 25 deg, shrunk until the face is 80 px wide, greyscale, and lit hard from one side.

The portraits are public-domain photos committed under examples/ (sources in examples/README.md);
never the dev photos of ../shared/realdev.

Usage (about 2 min on a 2-core CPU): ``.venv/bin/python tools/render_portrait_sheet.py
[--out docs/images/portrait_sheet.png] [--cell 280] [photo ...]``
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PORTRAITS = ("examples/astronaut.png", "examples/grace_hopper.jpg")
COLUMNS = ("photo (crop)", "head, front", "head, 45 deg", "head, 90 deg", "clay, front")
CLAY = (196.0, 182.0, 166.0)  # RGB 0-255
BACKGROUND = 245  # grey of empty cells, the same as the head views'
ROLL_DEG = 25.0
SMALL_FACE_PX = 80.0
FILL = 128  # grey of the corners a roll uncovers


def mirrored(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 photo flipped left to right: ``out[i, j] = image[i, W - 1 - j]``."""
    return np.ascontiguousarray(image[:, ::-1])


def rolled(image: np.ndarray, degrees: float) -> np.ndarray:
    """The photo turned by ``degrees`` counter-clockwise about its centre, on a canvas large enough
    to hold all of it: ``(H', W') = (W |sin a| + H |cos a|, W |cos a| + H |sin a|)`` px, rounded up;
    the uncovered corners are grey ``FILL``.

    Parameters
    ----------
    image : (H, W, 3) uint8
    degrees : float
        a, degrees; positive turns the picture counter-clockwise as seen.

    Returns
    -------
    (H', W', 3) uint8
    """
    import cv2

    h, w = image.shape[:2]
    a = math.radians(degrees)
    c, s = abs(math.cos(a)), abs(math.sin(a))
    new_w, new_h = math.ceil(w * c + h * s - 1e-9), math.ceil(w * s + h * c - 1e-9)  # cos 90 deg = 6e-17
    turn = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), degrees, 1.0)
    turn[:, 2] += (new_w / 2.0 - w / 2.0, new_h / 2.0 - h / 2.0)
    return cv2.warpAffine(np.ascontiguousarray(image), turn, (new_w, new_h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(FILL, FILL, FILL))


def scaled(image: np.ndarray, factor: float) -> np.ndarray:
    """(round(H f), round(W f), 3) uint8 photo resized by ``f = factor`` (area-averaged when shrinking)."""
    import cv2

    h, w = image.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return cv2.resize(np.ascontiguousarray(image), size,
                      interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)


def greyscale(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 with R = G = B = the photo's luma ``0.299 R + 0.587 G + 0.114 B``."""
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    return np.repeat(grey[..., None], 3, axis=2)


def side_lit(image: np.ndarray, x0: float, x1: float, bright: float = 1.3, dark: float = 0.05) -> np.ndarray:
    """The photo as if lit hard from the image's left: a light ramp across the face, in linear light.

    ``out = 255 (g(x) (in / 255)^2.2)^(1 / 2.2)``, clipped to [0, 255], with the gain ``g(x)`` equal
    to ``bright`` left of column ``x0``, ``dark`` right of column ``x1`` and linear in between.

    Parameters
    ----------
    image : (H, W, 3) uint8
    x0, x1 : float
        Columns where the ramp starts and ends, px (the face box's left and right edges); x0 < x1.
    bright, dark : float
        Gain on linear light on the lit and on the shadowed side.

    Returns
    -------
    (H, W, 3) uint8
    """
    if not x1 > x0:
        raise ValueError(f"the ramp needs x0 < x1, got {x0} and {x1}")
    x = np.arange(image.shape[1], dtype=np.float64)
    gain = bright + (dark - bright) * np.clip((x - x0) / (x1 - x0), 0.0, 1.0)
    linear = (image.astype(np.float64) / 255.0) ** 2.2
    out = 255.0 * np.clip(linear * gain[None, :, None], 0.0, 1.0) ** (1.0 / 2.2)
    return np.round(out).astype(np.uint8)


def variants(image: np.ndarray, face_x: float, face_width_px: float, small_face_px: float = SMALL_FACE_PX,
             roll_deg: float = ROLL_DEG) -> list[tuple[str, np.ndarray]]:
    """The photo as given and five harder copies of it, each with a short label.

    Parameters
    ----------
    image : (H, W, 3) uint8
        RGB photo.
    face_x, face_width_px : float
        Left edge and width of the face's detector box in ``image``, px. The small copy is scaled by
        ``small_face_px / face_width_px`` so that its face is ``small_face_px`` wide; the side light's
        ramp runs across the box.
    small_face_px : float
        px.
    roll_deg : float
        Roll of the turned copy, degrees.

    Returns
    -------
    list of (str, (h, w, 3) uint8)
        In this order: as photographed, mirrored, rolled, small face, greyscale, side light.
    """
    if face_width_px <= 0:
        raise ValueError(f"face_width_px must be positive, got {face_width_px}")
    return [
        ("as photographed", image),  # main() labels this row with the file's name
        ("mirrored", mirrored(image)),
        (f"rolled {roll_deg:g} deg", rolled(image, roll_deg)),
        (f"face {small_face_px:g} px wide", scaled(image, small_face_px / face_width_px)),
        ("greyscale", greyscale(image)),
        ("hard side light", side_lit(image, face_x, face_x + face_width_px)),
    ]


def _label(cell: np.ndarray, text: str, row: int = 0) -> None:
    """Write ``text`` in white on a dark band at the top of ``cell`` ((S, S, 3) uint8, in place)."""
    import cv2

    scale, thick = 0.5, 1
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    y0 = row * (th + base + 6)
    cell[y0:y0 + th + base + 6, :tw + 8] = (cell[y0:y0 + th + base + 6, :tw + 8] * 0.35).astype(np.uint8)
    cv2.putText(cell, text, (4, y0 + th + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick,
                cv2.LINE_AA)


def _thumbnail(cell: np.ndarray, photo: np.ndarray, fraction: float = 0.34) -> None:
    """Paste the whole photo, scaled to ``fraction`` of the cell's side, into its lower left corner."""
    from training.photo_grid import fit_cell

    side = max(8, round(cell.shape[0] * fraction))
    thumb = (fit_cell(photo, side) * 255.0).astype(np.uint8)
    cell[-side - 2:, :side + 2] = 255
    cell[-side:, :side] = thumb


def portrait_row(photo: np.ndarray, label: str, template, cell: int) -> tuple[np.ndarray, str]:
    """(cell, 5 cell, 3) uint8 row for one photo, and what happened (``"ok"`` or the error's sentence)."""
    import cv2

    from core.errors import FaceFromPhotoError
    from core.pipeline import ReconstructOptions, reconstruct
    from tools.render_head_views import render
    from training.photo_grid import fit_cell

    cells = [np.full((cell, cell, 3), BACKGROUND, np.uint8) for _ in COLUMNS]
    try:
        rec = reconstruct(photo, ReconstructOptions(output="head"))
    except FaceFromPhotoError as err:
        cells[0] = (fit_cell(photo, cell) * 255.0).astype(np.uint8)
        _label(cells[0], label)
        _label(cells[1], "no head:")
        for k, line in enumerate(_wrap(str(err), 30)[:8]):
            _label(cells[1], line, row=k + 1)
        return np.concatenate(cells, axis=1), str(err)
    cells[0] = np.asarray(cv2.resize(rec.texture, (cell, cell), interpolation=cv2.INTER_AREA), np.uint8)
    _thumbnail(cells[0], photo)
    _label(cells[0], label)
    cells[1] = render(template, rec.head, 0.0, cell)
    cells[2] = render(template, rec.head, 45.0, cell)
    cells[3] = render(template, rec.head, 90.0, cell)
    cells[4] = render(template, rec.head, 0.0, cell, clay=CLAY)
    return np.concatenate(cells, axis=1), "ok"


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def header(cell: int, height: int = 26) -> np.ndarray:
    """(height, 5 cell, 3) uint8 strip naming the columns."""
    import cv2

    strip = np.full((height, cell * len(COLUMNS), 3), 255, np.uint8)
    for k, name in enumerate(COLUMNS):
        cv2.putText(strip, name, (k * cell + 6, height - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return strip


def save_palette_png(rgb: np.ndarray, path: str | Path) -> None:
    """Write an (H, W, 3) uint8 picture as a 256-colour PNG (median cut, Floyd-Steinberg dithering):
    about a third of the bytes of a full-colour PNG for this sheet, with no visible loss."""
    from PIL import Image

    picture = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    picture.quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                     dither=Image.Dither.FLOYDSTEINBERG).save(path, optimize=True)


def main(argv: list[str] | None = None) -> None:
    from core.face_detect import select_face
    from core.image_io import load_photo
    from core.template_model import load_template

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("photos", nargs="*", default=[str(ROOT / p) for p in PORTRAITS])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images" / "portrait_sheet.png"))
    parser.add_argument("--cell", type=int, default=280, help="side of one picture, px")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    template = load_template()
    rows = [header(args.cell)]
    for path in args.photos:
        image = load_photo(path)
        face = select_face(image)
        for k, (label, photo) in enumerate(variants(image, face.x, face.w)):
            row, outcome = portrait_row(photo, Path(path).name if k == 0 else label, template, args.cell)
            rows.append(row)
            print(f"{Path(path).name:24s} {label:24s} {outcome}", flush=True)
    sheet = np.concatenate(rows, axis=0)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save_palette_png(sheet, args.out)
    size_kb = Path(args.out).stat().st_size / 1024
    print(f"{args.out}: {sheet.shape[1]}x{sheet.shape[0]} px, {size_kb:.0f} KB, "
          f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
