# SPDX-License-Identifier: GPL-3.0-or-later
"""The procedural eye and eyelash pictures: layout, cornea window, iris colour, strands."""

from __future__ import annotations

import numpy as np

from core.eye_texture import (
    CORNEA_RADII,
    INSIDE_RGB,
    LASH_BANDS,
    LASH_ROOT_V,
    LASH_TIP_V,
    PUPIL_RADIUS,
    eye_picture,
    lash_picture,
)


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


def _band_rows(height: int, k: int, f: float) -> int:
    """Row of card ``k`` at fraction ``f`` of the way from its roots (0) to its tips (1)."""
    v = (k + (LASH_ROOT_V + f * (LASH_TIP_V - LASH_ROOT_V)) * LASH_BANDS) / LASH_BANDS
    return int((1.0 - v) * height)


def test_lash_strands_grow_from_each_cards_lid_edge_and_taper() -> None:
    lashes = lash_picture(width=1024, height=384, rgb=(30, 20, 10))
    assert lashes.shape == (384, 1024, 4) and (lashes[..., :3] == (30, 20, 10)).all()
    alpha = lashes[..., 3].astype(float) / 255.0
    for k in range(LASH_BANDS):
        near_root = alpha[_band_rows(384, k, 0.05)]
        near_tip = alpha[_band_rows(384, k, 0.95)]
        assert near_root.max() > 0.6 and (near_root < 0.02).mean() > 0.5  # solid strands, clear gaps
        assert near_tip.sum() < 0.3 * near_root.sum()  # thinner, fainter and fewer toward the tips
    gap = alpha[_band_rows(384, 3, 1.05)]  # past the tips, before the next card's roots
    assert gap.max() == 0.0


def test_upper_cards_hold_more_strands_than_lower_ones_and_cards_differ() -> None:
    alpha = lash_picture()[..., 3].astype(float)
    lower = [alpha[_band_rows(384, k, 0.05)] for k in range(3)]
    upper = [alpha[_band_rows(384, k, 0.05)] for k in range(3, 6)]
    assert sum(r.sum() for r in upper) > 1.8 * sum(r.sum() for r in lower)
    assert not np.array_equal(upper[0] > 0, upper[1] > 0)  # the three layers do not line up
