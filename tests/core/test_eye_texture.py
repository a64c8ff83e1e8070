# SPDX-License-Identifier: GPL-3.0-or-later
"""The procedural eye and eyelash pictures: layout, cornea window, iris colour, strands."""

from __future__ import annotations

import numpy as np

from core.eye_texture import CORNEA_RADII, INSIDE_RGB, PUPIL_RADIUS, eye_picture, lash_picture


def _at(picture: np.ndarray, half: int, u: float, v: float) -> np.ndarray:
    """Pixel of the left (0) or right (1) half at tile-0 UV (u, v)."""
    s = picture.shape[0]
    return picture[int((1.0 - v) * s), half * s + int(u * s)]


def test_sclera_half_is_white_with_a_clear_cornea_window() -> None:
    pic = eye_picture(256)
    assert pic.shape == (256, 512, 4) and pic.dtype == np.uint8
    assert _at(pic, 0, 0.5, 0.5)[3] == 0  # centre: clear
    assert _at(pic, 0, 0.5 + CORNEA_RADII[1] + 0.02, 0.5)[3] == 255  # past the window: opaque
    assert (_at(pic, 0, 0.8, 0.5)[:3] > 200).all()  # white


def test_iris_half_has_the_given_colour_and_a_dark_pupil_and_inside() -> None:
    pic = eye_picture(256, iris_rgb=(40, 90, 160))
    ring = _at(pic, 1, 0.5 + PUPIL_RADIUS + 0.1, 0.5)
    assert tuple(ring[:3]) == (40, 90, 160) and ring[3] == 255  # blue iris, opaque
    assert tuple(_at(pic, 1, 0.5, 0.5)[:3]) == INSIDE_RGB  # the pupil
    assert tuple(_at(pic, 1, 0.02, 0.02)[:3]) == INSIDE_RGB  # the back, seen through the pupil
    assert _at(pic, 1, 0.5 + PUPIL_RADIUS + 0.01, 0.5)[2] < 160  # darker toward the pupil


def test_lash_strands_are_columns_with_gaps() -> None:
    lashes = lash_picture(width=720, height=8, strands=120)
    alpha = lashes[..., 3].astype(int)
    assert (alpha == alpha[0]).all()  # uniform along v
    assert alpha.max() > 150 and (alpha[0] == 0).mean() > 0.2  # opaque strands, clear gaps
