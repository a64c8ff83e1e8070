# SPDX-License-Identifier: GPL-3.0-or-later
"""Detail map (photo high-pass) and its displacement along vertex normals."""

import numpy as np
import pytest

from core.detail import apply_detail, detail_image, detail_map, sample_uv, vertex_normals
from core.mesh import build_mesh


def test_flat_and_smooth_images_have_no_detail():
    np.testing.assert_array_equal(detail_map(np.full((32, 32), 0.4), 3.0), 0.0)
    i, j = np.mgrid[0:64, 0:64]
    ramp = 0.2 + 0.5 * j / 63.0  # linear: its Gaussian low-pass is itself
    texture = 0.01 * np.sin(2 * np.pi * (i + j) / 4.0)  # far above the cut-off
    d = detail_map(ramp + texture, 6.0)
    inner = d[12:-12, 12:-12]
    expected = texture[12:-12, 12:-12]
    assert np.corrcoef(inner.ravel(), expected.ravel())[0, 1] > 0.99


def test_detail_range_sign_and_scale():
    rng = np.random.default_rng(0)
    gray = np.clip(0.5 + 0.05 * rng.normal(size=(128, 128)), 0, 1)
    gray[60, 60] = 1.0  # a bright pore-sized dot
    d = detail_map(gray, 4.0)
    assert d.dtype == np.float32 and d.shape == gray.shape
    assert d.min() >= -1.0 and d.max() <= 1.0
    assert d[60, 60] == 1.0  # clipped bright outlier
    # Normalised by 3 robust sigmas: about a third of a unit per sigma of noise.
    assert 0.25 < np.std(d) < 0.4
    with pytest.raises(ValueError):
        detail_map(gray, 0.0)


def test_detail_image_for_displace_modifier():
    d = np.array([[-1.0, 0.0, 1.0]])
    np.testing.assert_allclose(detail_image(d), [[0.0, 0.5, 1.0]])


def test_vertex_normals_of_front_facing_grid():
    mesh = build_mesh(np.zeros((6, 6), np.float32), np.ones((6, 6), bool), pixel_size_m=0.01)
    n = vertex_normals(mesh.vertices, mesh.triangles)
    np.testing.assert_allclose(n, np.tile([0.0, -1.0, 0.0], (36, 1)), atol=1e-6)


def test_vertex_normals_of_a_tetrahedron_corner():
    v = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    tris = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2]])  # three faces meeting at 0, facing outward
    n = vertex_normals(v, tris)
    np.testing.assert_allclose(n[0], -np.ones(3) / np.sqrt(3), atol=1e-6)


def test_sample_uv_hits_pixel_centres():
    img = np.arange(12, dtype=float).reshape(3, 4)
    i, j = np.mgrid[0:3, 0:4]
    uv = np.stack([(j.ravel() + 0.5) / 4, 1 - (i.ravel() + 0.5) / 3], axis=1)
    np.testing.assert_allclose(sample_uv(img, uv), img.ravel())


def test_apply_detail_moves_along_normals():
    rows = cols = 8
    mesh = build_mesh(np.zeros((rows, cols), np.float32), np.ones((rows, cols), bool), pixel_size_m=0.01)
    detail = np.zeros((rows, cols), np.float32)
    detail[2, 3] = 0.5
    out = apply_detail(mesh.vertices, None, mesh.uvs, detail, 0.002, triangles=mesh.triangles)
    moved = np.flatnonzero(np.any(out != mesh.vertices, axis=1))
    assert mesh.pixel_index[moved].tolist() == [2 * cols + 3]
    # Normal is -Y (toward the viewer): +detail comes out toward the viewer by strength * detail.
    assert out[moved[0], 1] - mesh.vertices[moved[0], 1] == pytest.approx(-0.001)
    normals = vertex_normals(mesh.vertices, mesh.triangles)
    np.testing.assert_allclose(apply_detail(mesh.vertices, normals, mesh.uvs, detail, 0.002), out)
    with pytest.raises(ValueError):
        apply_detail(mesh.vertices, None, mesh.uvs, detail, 0.002)
