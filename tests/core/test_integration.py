# SPDX-License-Identifier: GPL-3.0-or-later
"""Normal integration: analytic surfaces with exact normals come back up to an offset."""

import numpy as np
import pytest

from benchmarks.bench_integration import face_surface
from core import integration
from core.errors import FaceFromPhotoError
from core.integration import (
    build_grid_system,
    dct_poisson,
    frankot_chellappa,
    integrate_normals,
    solve_grid_system,
)


def normals_from_gradients(dh_dj, dh_di):
    """Unit normals (camera frame) of a surface with the given pixel gradients (rows down)."""
    n = np.stack([-dh_dj, dh_di, np.ones_like(dh_dj)], axis=-1)
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def grid(size):
    i = np.arange(size, dtype=float)[:, None] * np.ones((1, size))
    j = np.arange(size, dtype=float)[None, :] * np.ones((size, 1))
    return i, j


def offset_free_rms(depth, truth, mask):
    """RMS of depth - truth over the mask after removing the median difference."""
    e = depth[mask] - truth[mask]
    e = e - np.median(e)
    return float(np.sqrt(np.mean(e**2)))


def test_flat_plane_gives_zero_depth():
    mask = np.ones((20, 30), dtype=bool)
    normals = np.zeros((20, 30, 3))
    normals[..., 2] = 1.0
    depth = integrate_normals(normals, np.zeros((20, 30)), mask)
    assert depth.dtype == np.float32
    np.testing.assert_allclose(depth, 0.0, atol=1e-6)


def test_tilted_plane_is_exact():
    # h = 0.7 j - 0.3 i: the staggered averages are exact for a linear surface.
    i, j = grid(40)
    truth = 0.7 * j - 0.3 * i
    normals = normals_from_gradients(np.full_like(i, 0.7), np.full_like(i, -0.3))
    mask = np.ones_like(i, dtype=bool)
    depth = integrate_normals(normals, np.full_like(i, np.hypot(0.7, 0.3)), mask)
    assert offset_free_rms(depth, truth, mask) < 1e-4
    assert abs(np.median(depth[mask])) < 1e-6  # zero-median convention
    # Sign conventions: depth grows along +j and toward the top row (-i).
    assert depth[20, 30] > depth[20, 10] and depth[5, 20] > depth[35, 20]


def test_paraboloid_is_exact_within_1e3_px():
    # h = c - a r^2 has linear gradients, so the half-pixel averages are exact.
    i, j = grid(64)
    a = 0.01
    truth = 30.0 - a * ((i - 31.5) ** 2 + (j - 31.5) ** 2)
    mask = (i - 31.5) ** 2 + (j - 31.5) ** 2 < 28.0**2
    normals = normals_from_gradients(-2 * a * (j - 31.5), -2 * a * (i - 31.5))
    depth = integrate_normals(normals, None, mask)
    assert offset_free_rms(depth, truth, mask) < 1e-3
    assert np.isnan(depth[~mask]).all() and np.isfinite(depth[mask]).all()


@pytest.mark.parametrize("lam", [0.0, 0.1])
def test_sphere_cap_256_rms_below_half_percent_of_range(lam):
    size, radius = 256, 150.0
    i, j = grid(size)
    r2 = (i - 127.5) ** 2 + (j - 127.5) ** 2
    mask = r2 < 115.0**2  # cap up to ~50 deg tilt
    z = np.sqrt(np.maximum(radius**2 - r2, 1.0))
    truth = z
    dh_dj = -(j - 127.5) / z
    dh_di = -(i - 127.5) / z
    grad_mag = np.hypot(dh_dj, dh_di)
    depth = integrate_normals(normals_from_gradients(dh_dj, dh_di), grad_mag, mask, lam)
    depth_range = np.ptp(truth[mask])
    assert offset_free_rms(depth, truth, mask) < 0.005 * depth_range


def test_face_like_surface_256_rms_below_half_percent_of_range():
    truth, normals, grad_mag, mask = face_surface(256)
    depth = integrate_normals(normals, grad_mag, mask)
    rms = offset_free_rms(depth, truth, mask)
    assert rms < 0.005 * np.ptp(truth[mask])
    assert rms < 0.02  # px; measured 0.004 px


def test_multigrid_matches_direct_solve():
    _, normals, grad_mag, mask = face_surface(96)
    system = build_grid_system(normals, grad_mag, mask, 0.1)
    info = {}
    h_mg = solve_grid_system(system, solver="multigrid", info=info)
    h_direct = solve_grid_system(system, solver="direct")
    assert info["residual"] <= 1e-6
    assert np.sqrt(np.mean((h_mg - h_direct)[system.mask] ** 2)) < 1e-5


def test_unconverged_multigrid_falls_back_to_direct(monkeypatch):
    _, normals, grad_mag, mask = face_surface(64)
    reference = integrate_normals(normals, grad_mag, mask, solver="direct")
    monkeypatch.setattr(integration, "MG_MAX_ITER", 1)
    system = build_grid_system(normals, grad_mag, mask, 0.1)
    info = {}
    solve_grid_system(system, info=info)
    assert info["direct_fallback"] and info["residual"] < 1e-9
    np.testing.assert_allclose(integrate_normals(normals, grad_mag, mask), reference, atol=1e-5)


def test_lambda_beats_plain_least_squares_near_a_step():
    # A cliff of 60 px along j = 47.5 in the top rows that opens into a smooth
    # ramp further down. The normals sampled at pixel centres miss the cliff
    # (they are flat on both sides); W, from the true depth, marks it.
    size, height = 96, 60.0
    i, j = grid(size)
    e = np.exp(-(i - 30.0) / 3.0)
    width = 0.05 + 8.0 / (1.0 + e)
    dwidth_di = 8.0 * e / (1.0 + e) ** 2 / 3.0
    x = np.clip((j - 47.5) / width, -60, 60)
    sig = 1.0 / (1.0 + np.exp(-x))
    truth = height * sig
    dh_dj = height * sig * (1 - sig) / width
    dh_di = -height * sig * (1 - sig) * x / width * dwidth_di
    normals = normals_from_gradients(dh_dj, dh_di)
    grad_mag = np.hypot(*np.gradient(truth))
    mask = np.ones((size, size), dtype=bool)
    near_step = (np.abs(j - 47.5) < 8) & (i < 24)

    def error_near_step(lam):
        depth = integrate_normals(normals, grad_mag, mask, lam)
        err = depth - truth
        err -= np.median(err)
        return float(np.sqrt(np.mean(err[near_step] ** 2)))

    e0, e01, e1 = error_near_step(0.0), error_near_step(0.1), error_near_step(1.0)
    # Measured: 21.6, 20.0, 14.2 px.
    assert e01 < 0.97 * e0
    assert e1 < 0.8 * e0


def test_grad_mag_none_is_plain_least_squares():
    _, normals, grad_mag, mask = face_surface(64)
    a = integrate_normals(normals, None, mask, 0.1)
    b = integrate_normals(normals, grad_mag, mask, 0.0)
    np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("min_component", [0, 10**6])  # all by multigrid / all direct
def test_holes_and_several_components(min_component, monkeypatch):
    monkeypatch.setattr(integration, "MG_MIN_COMPONENT", min_component)
    size = 80
    i, j = grid(size)
    left = (i - 40) ** 2 + (j - 20) ** 2 < 15**2
    hole = (i - 40) ** 2 + (j - 20) ** 2 < 4**2
    right = (np.abs(i - 40) < 20) & (j > 45) & (j < 75)
    mask = (left & ~hole) | right
    # Different tilts on the two components.
    dh_dj = np.where(j < 40, 0.5, -0.2)
    dh_di = np.where(j < 40, 0.1, 0.3)
    truth = np.where(j < 40, 0.5 * j + 0.1 * i, -0.2 * j + 0.3 * i)
    depth = integrate_normals(normals_from_gradients(dh_dj, dh_di), None, mask)
    assert np.isnan(depth[hole]).all()
    for part in (left & ~hole, right):
        assert abs(np.median(depth[part])) < 1e-5  # zero median per component
        assert offset_free_rms(depth, truth, part) < 1e-4


def test_one_pixel_component_gets_zero_depth():
    mask = np.zeros((10, 10), dtype=bool)
    mask[2:6, 2:6] = True
    mask[8, 8] = True
    normals = np.zeros((10, 10, 3))
    normals[..., 0] = -0.3
    normals[..., 2] = 1.0
    depth = integrate_normals(normals / np.linalg.norm(normals, axis=-1, keepdims=True), None, mask)
    assert depth[8, 8] == 0.0
    assert np.isfinite(depth[mask]).all()


def test_grazing_and_broken_normals_stay_finite():
    _, normals, grad_mag, mask = face_surface(64)
    normals = normals.astype(np.float64).copy()
    normals[20:24, 10:40] = (1.0, 0.0, 0.0)  # Nz = 0
    normals[30, 30] = (0.0, 0.6, -0.8)  # facing away
    normals[31, 31] = (np.nan, np.nan, np.nan)
    grad_mag = grad_mag.copy()
    grad_mag[5, 5] = np.inf
    depth = integrate_normals(normals, grad_mag, mask)
    assert np.isfinite(depth[mask]).all()
    # Clamped slopes (<= ~20 px/px) on a few pixels cannot blow up the surface.
    assert np.ptp(depth[mask]) < 200


@pytest.mark.parametrize("count", [0, 1])
def test_empty_or_one_pixel_mask_is_a_clear_error(count):
    mask = np.zeros((8, 8), dtype=bool)
    mask.ravel()[:count] = True
    normals = np.zeros((8, 8, 3))
    normals[..., 2] = 1.0
    with pytest.raises(FaceFromPhotoError, match="mask"):
        integrate_normals(normals, None, mask)
    with pytest.raises(FaceFromPhotoError):
        dct_poisson(normals, mask)


def test_shape_errors():
    with pytest.raises(ValueError, match="normals"):
        integrate_normals(np.zeros((4, 4)), None, np.ones((4, 4), bool))
    with pytest.raises(ValueError, match="mask"):
        integrate_normals(np.zeros((4, 4, 3)), None, np.ones((4, 5), bool))
    with pytest.raises(ValueError, match="grad_mag"):
        integrate_normals(np.zeros((4, 4, 3)), np.zeros((3, 3)), np.ones((4, 4), bool))


def test_dct_poisson_equals_plain_least_squares_on_a_rectangle():
    truth, normals, _, _ = face_surface(64)
    mask = np.zeros((64, 64), dtype=bool)
    mask[10:50, 8:60] = True
    a = dct_poisson(normals, mask)
    b = integrate_normals(normals, None, mask, 0.0)
    np.testing.assert_allclose(a[mask], b[mask], atol=1e-4)
    assert np.isnan(a[~mask]).all()


def test_frankot_chellappa_recovers_a_bump():
    # A Gaussian bump that vanishes at the border suits the FFT's periodic assumption.
    i, j = grid(64)
    g = 10.0 * np.exp(-((i - 31.5) ** 2 + (j - 31.5) ** 2) / (2 * 8.0**2))
    normals = normals_from_gradients(-g * (j - 31.5) / 64.0, -g * (i - 31.5) / 64.0)
    mask = np.ones((64, 64), dtype=bool)
    depth = frankot_chellappa(normals, mask)
    assert offset_free_rms(depth, g, mask) < 0.02 * np.ptp(g)
    dct = dct_poisson(normals, mask)
    assert offset_free_rms(dct, g, mask) < 0.02 * np.ptp(g)
