# SPDX-License-Identifier: GPL-3.0-or-later
"""The map of where on the head the large normal errors lie (training.error_map)."""

from __future__ import annotations

import cv2
import numpy as np

from training.error_map import ErrorMap


def _head(S: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """corr (S, S, 3) sweeping X left to right and Z top to bottom at Y = 0.25, and a disc mask."""
    v, u = np.mgrid[0:S, 0:S]
    corr = np.stack([(u + 0.5) / S, np.full((S, S), 0.25), 1 - (v + 0.5) / S], -1)
    mask = (u - S / 2) ** 2 + (v - S / 2) ** 2 < (S / 2.5) ** 2
    return corr, mask


def test_large_errors_are_counted_in_their_bins_of_both_views(tmp_path):
    corr, mask = _head()
    err = np.full(mask.shape, 5.0)
    err[12:16, 24:28] = 45.0  # upper right of the image: X and Z in [0.6, 0.7)
    m = ErrorMap(bins=10)
    m.add(corr, mask, err)
    m.add(corr, mask, err)
    assert m.total.sum() == 2 * 2 * mask.sum() and m.over.sum() == 2 * 2 * (mask & (err > 30)).sum()
    front, side = m.over
    rows, cols = np.nonzero(front)
    assert set(cols) == {6} and set(rows) == {3}  # X bin 6 of 10, Z bin 6 counted from the bottom
    assert set(np.nonzero(side)[1]) == {2}  # Y = 0.25
    img = m.image()
    assert img.shape == (10, 20, 3) and img[3, 6, 0] == 1.0 and img[3, 6, 1] == 0.0
    assert img[0, 0].max() == 0.0 and 0 < img[5, 5, 1] < 1  # background black, head grey
    m.save(tmp_path / "map.png", scale=2)
    assert cv2.imread(str(tmp_path / "map.png")).shape == (20, 40, 3)


def test_pixels_outside_the_selection_and_small_errors_are_not_counted():
    corr, mask = _head()
    m = ErrorMap(bins=8, threshold_deg=30.0)
    m.add(corr, np.zeros_like(mask), np.full(mask.shape, 90.0))
    m.add(corr, mask, np.full(mask.shape, 30.0))  # not above the threshold
    assert m.total.sum() == 2 * mask.sum() and m.over.sum() == 0
    assert m.image()[..., 0].max() <= 0.35
