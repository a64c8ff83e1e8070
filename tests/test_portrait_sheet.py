# SPDX-License-Identifier: GPL-3.0-or-later
"""The portrait sheet's harder photo variants do what their labels say, and its portraits are licensed.

The sheet itself (tools/render_portrait_sheet.py, about 80 s) is not drawn here.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tools.render_portrait_sheet import (
    FILL,
    PORTRAITS,
    greyscale,
    mirrored,
    portrait_row,
    rolled,
    scaled,
    side_lit,
    variants,
)

ROOT = Path(__file__).resolve().parent.parent


def _ramp(h: int = 40, w: int = 60) -> np.ndarray:
    """(h, w, 3) uint8 picture whose every pixel differs: R = column, G = row, B = 200."""
    rows, cols = np.mgrid[0:h, 0:w]
    return np.stack([cols * 4, rows * 6, np.full_like(rows, 200)], axis=2).astype(np.uint8)


def test_mirrored_flips_columns_and_twice_is_the_photo() -> None:
    image = _ramp()
    out = mirrored(image)
    assert np.array_equal(out[:, 0], image[:, -1]) and np.array_equal(out[:, 13], image[:, 60 - 1 - 13])
    assert np.array_equal(mirrored(out), image)


def test_rolled_keeps_the_whole_photo_and_turns_counter_clockwise() -> None:
    image = np.zeros((40, 60, 3), np.uint8)
    image[20, 50] = 255  # a dot right of the centre (30, 20)
    quarter = rolled(image, 90.0)
    assert quarter.shape == (60, 40, 3)  # (W, H): the canvas holds the turned photo
    y, x = np.argwhere(quarter[..., 0] == quarter[..., 0].max())[0]
    assert abs(x - 20) <= 1 and abs(y - 10) <= 1  # right of the centre -> above it
    a = math.radians(25.0)
    tilted = rolled(_ramp(), 25.0)
    assert tilted.shape[:2] == (math.ceil(60 * math.sin(a) + 40 * math.cos(a)),
                                math.ceil(60 * math.cos(a) + 40 * math.sin(a)))
    assert np.all(tilted[0, 0] == FILL) and np.all(tilted[-1, -1] == FILL)  # uncovered corners
    assert np.array_equal(rolled(_ramp(), 0.0), _ramp())


def test_greyscale_gives_equal_channels_of_the_luma() -> None:
    image = np.zeros((2, 2, 3), np.uint8)
    image[0, 0] = (255, 0, 0)
    image[1, 1] = (0, 0, 255)
    out = greyscale(image)
    assert out.shape == image.shape
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    assert abs(int(out[0, 0, 0]) - 76) <= 1 and abs(int(out[1, 1, 0]) - 29) <= 1  # 0.299, 0.114 of 255


def test_side_light_brightens_the_left_and_darkens_the_right_of_the_face() -> None:
    flat = np.full((10, 100, 3), 120, np.uint8)
    out = side_lit(flat, 30.0, 70.0)
    row = out[5, :, 0].astype(int)
    assert np.all(np.diff(row) <= 0)  # light falls off from left to right
    assert np.all(row[:31] == row[0]) and np.all(row[70:] == row[-1])  # flat outside the ramp
    assert row[0] > 120 > 60 > row[-1]
    linear = (120 / 255) ** 2.2  # the gains act on linear light: out = (g in^2.2)^(1/2.2)
    assert abs(row[-1] - 255 * (0.05 * linear) ** (1 / 2.2)) <= 1
    with pytest.raises(ValueError, match="x0 < x1"):
        side_lit(flat, 70.0, 30.0)


def test_variants_come_in_order_with_their_sizes() -> None:
    image = _ramp(200, 100)
    found = variants(image, face_x=30.0, face_width_px=40.0, small_face_px=20.0)
    labels = [label for label, _ in found]
    assert labels == ["as photographed", "mirrored", "rolled 25 deg", "face 20 px wide", "greyscale",
                      "hard side light"]
    assert found[0][1] is image
    assert found[3][1].shape == (100, 50, 3)  # scaled by 20 / 40
    assert scaled(image, 1.5).shape == (300, 150, 3)
    with pytest.raises(ValueError, match="positive"):
        variants(image, face_x=0.0, face_width_px=0.0)


def test_the_small_face_variant_of_the_sample_photo_has_an_80_px_face() -> None:
    from core.face_detect import select_face
    from core.image_io import load_photo

    image = load_photo(ROOT / "examples" / "astronaut.png")
    face = select_face(image)
    small = dict(variants(image, face.x, face.w))["face 80 px wide"]
    assert select_face(small).w == pytest.approx(80.0, rel=0.15)  # what the detector sees in the copy


def test_every_portrait_is_a_small_file_with_its_source_and_licence_noted() -> None:
    notes = (ROOT / "examples" / "README.md").read_text()
    for name in PORTRAITS:
        path = ROOT / name
        assert path.stat().st_size <= 1_000_000
        paragraph = notes.split(f"`{path.name}`", 1)[1].split("\n\n", 1)[0].lower()
        assert "public domain" in paragraph, path.name


def test_a_photo_without_a_face_gets_a_row_with_the_error_sentence() -> None:
    blank = np.full((300, 300, 3), 128, np.uint8)
    row, outcome = portrait_row(blank, "blank", template=None, cell=64)
    assert row.shape == (64, 5 * 64, 3) and row.dtype == np.uint8
    assert outcome.startswith("No face was found")
    assert np.all(row[:, 2 * 64:] == row[0, -1])  # the head columns stay empty
