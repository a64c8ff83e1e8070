# SPDX-License-Identifier: GPL-3.0-or-later
"""Mesh synthesis: counts, frames, mask borders, spikes, components, decimation."""

import numpy as np
import pytest

from benchmarks.bench_integration import face_surface
from core.errors import FaceFromPhotoError
from core.mesh import build_mesh, grid_triangles


def full_quads(mask):
    return int(np.count_nonzero(mask[:-1, :-1] & mask[:-1, 1:] & mask[1:, :-1] & mask[1:, 1:]))


@pytest.fixture(scope="module")
def face128():
    depth, _, grad_mag, mask = face_surface(128)
    depth = np.where(mask, depth - np.median(depth[mask]), np.nan).astype(np.float32)
    return depth, grad_mag, mask


def test_rectangle_counts_positions_and_uvs():
    rows, cols, s = 10, 12, 0.01
    depth = np.full((rows, cols), 3.0, dtype=np.float32)
    mesh = build_mesh(depth, np.ones((rows, cols), bool), pixel_size_m=s)
    assert mesh.vertices.shape == (rows * cols, 3) and mesh.vertices.dtype == np.float32
    assert mesh.triangles.shape == (2 * (rows - 1) * (cols - 1), 3) and mesh.triangles.dtype == np.int32
    assert mesh.uvs.dtype == np.float32 and mesh.pixel_index.dtype == np.int32
    i, j = np.divmod(mesh.pixel_index, cols)
    np.testing.assert_allclose(mesh.vertices[:, 0], (j - (cols - 1) / 2) * s, atol=1e-7)
    np.testing.assert_allclose(mesh.vertices[:, 2], -(i - (rows - 1) / 2) * s, atol=1e-7)
    np.testing.assert_allclose(mesh.vertices[:, 1], -3.0 * s, atol=1e-7)  # toward the viewer = -Y
    np.testing.assert_allclose(mesh.uvs[:, 0], (j + 0.5) / cols, atol=1e-7)
    np.testing.assert_allclose(mesh.uvs[:, 1], 1 - (i + 0.5) / rows, atol=1e-7)
    # Counter-clockwise from the front: every face normal points to -Y.
    v = mesh.vertices[mesh.triangles]
    normal = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    assert (normal[:, 1] < 0).all()
    np.testing.assert_allclose(normal[:, [0, 2]], 0.0, atol=1e-12)


def test_face_mesh_counts_and_mask_border(face128):
    depth, grad_mag, mask = face128
    mesh = build_mesh(depth, mask, pixel_size_m=0.22 / 128, grad_mag=grad_mag)
    # The smooth face loses nothing: two triangles per quad fully inside the mask.
    assert mesh.triangles.shape[0] == 2 * full_quads(mask)
    assert 15_000 < mesh.triangles.shape[0] < 20_000  # 60 % ellipse at 128^2: 19 038
    assert np.isfinite(mesh.vertices).all() and np.isfinite(mesh.uvs).all()
    # No triangle crosses the mask border: all corners are mask pixels.
    assert mask.ravel()[mesh.pixel_index[mesh.triangles]].all()
    assert np.unique(mesh.triangles).size == mesh.vertices.shape[0]  # no unused vertex
    height = np.ptp(mesh.vertices[:, 2])
    assert 0.15 < height < 0.23  # metres, head-sized


def test_planted_spike_is_removed_and_nothing_else(face128):
    depth, grad_mag, mask = face128
    clean = build_mesh(depth, mask, pixel_size_m=0.001, grad_mag=grad_mag)
    spiky = depth.copy()
    spiky[64, 50] += 40.0
    mesh = build_mesh(spiky, mask, pixel_size_m=0.001, grad_mag=grad_mag)
    # The six triangles around the spike vertex go, and the vertex with them.
    assert clean.triangles.shape[0] - mesh.triangles.shape[0] == 6
    assert 64 * 128 + 50 not in set(mesh.pixel_index.tolist())
    assert mesh.vertices.shape[0] == clean.vertices.shape[0] - 1
    kept = set(map(tuple, np.sort(mesh.pixel_index[mesh.triangles], axis=1).tolist()))
    before = set(map(tuple, np.sort(clean.pixel_index[clean.triangles], axis=1).tolist()))
    assert kept <= before and len(before - kept) == 6
    unfiltered = build_mesh(spiky, mask, pixel_size_m=0.001, drop_spikes=False)
    assert unfiltered.triangles.shape[0] == clean.triangles.shape[0]


def test_discontinuity_marked_by_grad_mag_is_cut():
    rows, cols = 20, 40
    depth = np.zeros((rows, cols), dtype=np.float32)
    depth[:, 25:] = 3.5  # a 3.5 px step between columns 24 and 25
    grad_mag = np.zeros((rows, cols), dtype=np.float32)
    grad_mag[:, 24:26] = 6.0
    mask = np.ones((rows, cols), bool)
    # Edge length alone keeps it (3.6 px < SPIKE_EDGE_FACTOR * median 1 px) ...
    kept_all = build_mesh(depth, mask, pixel_size_m=0.01, largest_component=False)
    assert kept_all.triangles.shape[0] == 2 * (rows - 1) * (cols - 1)
    # ... but W marks it: the wall is cut, leaving two pieces; the larger (left) one is kept.
    both = build_mesh(depth, mask, pixel_size_m=0.01, grad_mag=grad_mag, largest_component=False)
    assert both.triangles.shape[0] == 2 * (rows - 1) * (cols - 2)
    left = build_mesh(depth, mask, pixel_size_m=0.01, grad_mag=grad_mag)
    assert left.triangles.shape[0] == 2 * (rows - 1) * 24
    assert (left.pixel_index % cols <= 24).all()
    # A 1 px wide cliff of 6 px is cut by edge length alone (4x the local median).
    depth[:, 25:] = 6.0
    cliff = build_mesh(depth, mask, pixel_size_m=0.01, largest_component=False)
    assert cliff.triangles.shape[0] == 2 * (rows - 1) * (cols - 2)


def test_largest_component_only():
    i, j = np.mgrid[0:60, 0:60]
    big = (i - 30) ** 2 + (j - 20) ** 2 < 15**2
    small = (i - 30) ** 2 + (j - 50) ** 2 < 6**2
    mask = big | small
    depth = np.zeros((60, 60), dtype=np.float32)
    mesh = build_mesh(depth, mask, pixel_size_m=0.01)
    assert mesh.triangles.shape[0] == 2 * full_quads(big)
    assert big.ravel()[mesh.pixel_index].all()
    both = build_mesh(depth, mask, pixel_size_m=0.01, largest_component=False)
    assert both.triangles.shape[0] == 2 * (full_quads(big) + full_quads(small))


def test_decimation_to_target_face_count(face128):
    depth, grad_mag, mask = face128
    mesh = build_mesh(depth, mask, pixel_size_m=0.001, grad_mag=grad_mag, target_faces=5000)
    assert 2500 < mesh.triangles.shape[0] <= 5000
    i, j = np.divmod(mesh.pixel_index, 128)
    stride = 2  # 19 038 faces -> stride 2 gives 4 638
    assert (i % stride == 0).all() and (j % stride == 0).all()
    assert mask.ravel()[mesh.pixel_index].all()
    full = build_mesh(depth, mask, pixel_size_m=0.001, target_faces=10**6)
    assert full.triangles.shape[0] == 2 * full_quads(mask)


def test_nan_depth_inside_mask_is_treated_as_outside():
    depth = np.zeros((10, 10), dtype=np.float32)
    depth[5, 5] = np.nan
    mesh = build_mesh(depth, np.ones((10, 10), bool), pixel_size_m=0.01)
    assert mesh.triangles.shape[0] == 2 * 81 - 8
    assert np.isfinite(mesh.vertices).all()


def test_empty_mask_and_bad_arguments():
    depth = np.zeros((8, 8), dtype=np.float32)
    with pytest.raises(FaceFromPhotoError):
        build_mesh(depth, np.zeros((8, 8), bool), pixel_size_m=0.01)
    with pytest.raises(ValueError, match="pixel_size_m"):
        build_mesh(depth, np.ones((8, 8), bool), pixel_size_m=0.0)
    with pytest.raises(ValueError):
        build_mesh(depth, np.ones((8, 9), bool), pixel_size_m=0.01)


def test_grid_triangles_split():
    valid = np.ones((2, 2), bool)
    np.testing.assert_array_equal(grid_triangles(valid), [[0, 2, 1], [1, 2, 3]])
