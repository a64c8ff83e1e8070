# SPDX-License-Identifier: GPL-3.0-or-later
"""Umbrella smoothing with Blender's Smooth-modifier formula, on hand-checkable meshes."""

import numpy as np
import pytest

from core.mesh import build_mesh
from core.smoothing import laplacian_smooth, mesh_edges


def flat_grid(n=7):
    return build_mesh(np.zeros((n, n), np.float32), np.ones((n, n), bool), pixel_size_m=1.0)


def test_single_triangle_by_hand():
    v = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    out = laplacian_smooth(v, np.array([[0, 1, 2]]), factor=0.5, iterations=1)
    # v' = v + (factor / 2) (mean of the other two - v)
    expected = v + 0.25 * (np.array([[1.5, 1.5, 0], [0, 1.5, 0], [1.5, 0, 0]]) - v)
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_mesh_edges_lists_each_undirected_edge_once_in_order():
    # Two triangles sharing the edge (1, 2), given in both orientations: 5 edges.
    np.testing.assert_array_equal(mesh_edges(np.array([[0, 1, 2], [2, 1, 3]])),
                                  [[0, 1], [0, 2], [1, 2], [1, 3], [2, 3]])
    # Against the definition on a random soup (repeated and degenerate triangles included).
    tris = np.random.default_rng(3).integers(0, 50, size=(400, 3))
    pairs = np.sort(np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]]), axis=1)
    got = mesh_edges(tris)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, np.unique(pairs, axis=0))
    assert mesh_edges(np.zeros((0, 3), int)).shape == (0, 2)


def test_blender_edge_midpoint_formula():
    # Blender: c_i = mean over edges of the edge midpoints; v' = (1 - f) v + f c.
    rng = np.random.default_rng(0)
    mesh = flat_grid(6)
    v = mesh.vertices.astype(np.float64) + rng.normal(0, 0.1, mesh.vertices.shape)
    f = 0.7
    edges = mesh_edges(mesh.triangles)
    acc = np.zeros_like(v)
    count = np.zeros(len(v))
    mid = 0.5 * (v[edges[:, 0]] + v[edges[:, 1]])
    for k in (0, 1):
        np.add.at(acc, edges[:, k], mid)
        np.add.at(count, edges[:, k], 1)
    expected = (1 - f) * v + f * acc / count[:, None]
    np.testing.assert_allclose(laplacian_smooth(v, mesh.triangles, f, 1), expected, atol=1e-12)


def test_spike_is_halved_and_plane_interior_is_fixed():
    mesh = flat_grid(7)
    v = mesh.vertices.copy()
    centre = int(np.flatnonzero(mesh.pixel_index == 3 * 7 + 3)[0])
    v[centre, 1] = 1.0
    out = laplacian_smooth(v, mesh.triangles, factor=1.0, iterations=1)
    assert out.dtype == np.float32
    # Neighbours are flat: the spike moves half way to their mean.
    assert out[centre, 1] == pytest.approx(0.5)
    # Interior vertices of the flat grid do not move in X/Z (symmetric one-ring).
    interior = np.isin(mesh.pixel_index // 7, [2, 3, 4]) & np.isin(mesh.pixel_index % 7, [2, 3, 4])
    np.testing.assert_allclose(out[interior][:, [0, 2]], mesh.vertices[interior][:, [0, 2]], atol=1e-6)
    # Boundary vertices are smoothed too (they move inward).
    corner = int(np.flatnonzero(mesh.pixel_index == 0)[0])
    assert not np.allclose(out[corner], mesh.vertices[corner])


def test_iterations_compose_and_zero_is_identity():
    mesh = flat_grid(5)
    rng = np.random.default_rng(1)
    v = rng.normal(size=mesh.vertices.shape)
    twice = laplacian_smooth(laplacian_smooth(v, mesh.triangles, 0.3, 1), mesh.triangles, 0.3, 1)
    np.testing.assert_allclose(laplacian_smooth(v, mesh.triangles, 0.3, 2), twice, atol=1e-12)
    np.testing.assert_array_equal(laplacian_smooth(v, mesh.triangles, 0.3, 0), v)
    # Smoothing shrinks the noise.
    assert np.std(laplacian_smooth(v, mesh.triangles, 0.5, 10)) < 0.5 * np.std(v)


def test_unreferenced_vertex_stays():
    v = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 5, 5]])
    out = laplacian_smooth(v, np.array([[0, 1, 2]]), 0.5, 3)
    np.testing.assert_array_equal(out[3], v[3])
