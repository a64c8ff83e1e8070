# SPDX-License-Identifier: GPL-3.0-or-later
"""Mesh datablocks from numpy arrays (``foreach_set``, no per-vertex Python)."""

from __future__ import annotations

import bpy
import numpy as np

UV_MAP_NAME = "Photo"


def _check(vertices: np.ndarray, triangles: np.ndarray, uvs: np.ndarray | None) -> None:
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must be (n, 3), got {vertices.shape}")
    if triangles.ndim != 2 or triangles.shape[1] != 3:
        raise ValueError(f"triangles must be (m, 3), got {triangles.shape}")
    if uvs is not None and uvs.shape != (vertices.shape[0], 2):
        raise ValueError(f"uvs must be ({vertices.shape[0]}, 2), got {uvs.shape}")
    if triangles.size and (triangles.min() < 0 or triangles.max() >= vertices.shape[0]):
        raise ValueError("triangles index vertices that do not exist")


def new_mesh(
    name: str,
    vertices: np.ndarray,
    triangles: np.ndarray,
    uvs: np.ndarray | None = None,
) -> bpy.types.Mesh:
    """Create a triangle mesh datablock.

    Parameters
    ----------
    vertices : (n, 3) float, metres, Blender object space (Z up, face toward -Y)
    triangles : (m, 3) int, counter-clockwise seen from the front (-Y)
    uvs : (n, 2) float or None, one UV per vertex, stored per loop in the
        UV map ``"Photo"``

    Torch tensors are refused (``foreach_set`` on a tensor crashes Blender).
    """
    for a in (vertices, triangles, uvs):
        if a is not None and not isinstance(a, np.ndarray):
            raise TypeError(f"expected a numpy array, got {type(a).__name__}")
    _check(vertices, triangles, uvs)
    co = np.ascontiguousarray(vertices, dtype=np.float32)  # (n, 3) float32
    tri = np.ascontiguousarray(triangles, dtype=np.int32)  # (m, 3) int32
    n, m = co.shape[0], tri.shape[0]

    mesh = bpy.data.meshes.new(name)
    try:
        mesh.vertices.add(n)
        mesh.vertices.foreach_set("co", co.ravel())
        mesh.loops.add(3 * m)
        mesh.loops.foreach_set("vertex_index", tri.ravel())  # (3m,) int32, loop -> vertex
        mesh.polygons.add(m)
        loop_start = np.arange(0, 3 * m, 3, dtype=np.int32)  # (m,) int32
        mesh.polygons.foreach_set("loop_start", loop_start)
        if uvs is not None:
            uv_layer = mesh.uv_layers.new(name=UV_MAP_NAME)
            per_loop = np.ascontiguousarray(uvs, dtype=np.float32)[tri.ravel()]  # (3m, 2) float32
            uv_layer.data.foreach_set("uv", per_loop.ravel())
        mesh.update(calc_edges=True)
        mesh.validate(verbose=False)
    except BaseException:
        bpy.data.meshes.remove(mesh)
        raise
    return mesh


def mesh_arrays(mesh: bpy.types.Mesh) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``(n, 3) float32`` and triangles ``(m, 3) int32`` of a mesh.

    Works on evaluated meshes too (polygons are triangulated through loop
    triangles so that subdivided quads come back as triangles).
    """
    n = len(mesh.vertices)
    co = np.empty(3 * n, dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    mesh.calc_loop_triangles()
    m = len(mesh.loop_triangles)
    tri = np.empty(3 * m, dtype=np.int32)
    mesh.loop_triangles.foreach_get("vertices", tri)
    return co.reshape(n, 3), tri.reshape(m, 3)
