# SPDX-License-Identifier: GPL-3.0-or-later
"""The coarse / fine / rotated split of the normal error separates what it claims to."""

from __future__ import annotations

import numpy as np
import pytest

from training.normal_error_split import best_rotation, error_split, masked_lowpass


def _sphere(size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Unit normals of a sphere cap filling most of a (size, size) map, and its mask."""
    y, x = np.mgrid[0:size, 0:size]
    u, v = (x - size / 2 + 0.5) / (size * 0.45), (y - size / 2 + 0.5) / (size * 0.45)
    mask = u**2 + v**2 < 0.95
    z = np.sqrt(np.clip(1 - u**2 - v**2, 1e-6, None))
    n = np.stack([u, v, z], axis=-1)
    return n / np.linalg.norm(n, axis=-1, keepdims=True), mask


def _rotation(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def test_a_perfect_prediction_has_no_error_in_any_part():
    n, mask = _sphere()
    split = error_split(n, n, mask)
    for name in ("coarse", "fine", "rotated"):
        assert split[name].shape == (mask.sum(),)
        assert split[name].max() < 1e-3, name


def test_a_global_tilt_is_coarse_error_that_the_best_rotation_removes():
    n, mask = _sphere()
    tilted = n @ _rotation(12.0).T
    split = error_split(tilted, n, mask)
    assert split["rotated"].max() < 1e-3
    assert split["coarse"].mean() == pytest.approx(12.0, abs=1.5)
    assert split["fine"].mean() < 2.0  # the tilt has no detail of its own


def test_pixel_noise_is_fine_error_not_coarse():
    n, mask = _sphere()
    rng = np.random.default_rng(0)
    noisy = n + rng.normal(0, 0.15, n.shape)
    noisy /= np.linalg.norm(noisy, axis=-1, keepdims=True)
    split = error_split(noisy, n, mask)
    full = np.degrees(np.arccos(np.clip(np.sum(noisy[mask] * n[mask], -1), -1, 1))).mean()
    assert split["fine"].mean() > 0.8 * full
    assert split["coarse"].mean() < 0.25 * full
    assert split["rotated"].mean() > 0.9 * full  # no rotation explains noise


def test_masked_lowpass_ignores_pixels_outside_the_mask():
    n, mask = _sphere()
    outside = n.copy()
    outside[~mask] = [1.0, 0.0, 0.0]  # garbage where the mask is off
    np.testing.assert_allclose(masked_lowpass(outside, mask)[mask], masked_lowpass(n, mask)[mask], atol=1e-9)


def test_best_rotation_is_a_proper_rotation_recovering_a_known_one():
    rng = np.random.default_rng(1)
    src = rng.normal(size=(200, 3))
    r = _rotation(30.0) @ np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]])
    got = best_rotation(src, src @ r.T)
    np.testing.assert_allclose(got, r, atol=1e-9)
    assert np.linalg.det(got) == pytest.approx(1.0)
