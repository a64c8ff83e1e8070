# SPDX-License-Identifier: GPL-3.0-or-later
"""Area-weighted vertex normals of the synthetic heads and their occluders (hair, glasses, clothing).

Its own module so that the generator and the appearance (which builds the occluder meshes) both import
it without importing each other.
"""

from __future__ import annotations

import numpy as np

_INCIDENCE: dict = {}


def _incidence(faces: np.ndarray, n_vertices: int):
    """Sparse (V, F) vertex-face incidence, cached for the head's (fixed) topology."""
    key = (id(faces), faces.shape, n_vertices)
    m = _INCIDENCE.get(key)
    if m is None:
        from scipy.sparse import csr_matrix

        f = len(faces)
        m = csr_matrix((np.ones(3 * f), (faces.T.ravel(), np.tile(np.arange(f), 3))), shape=(n_vertices, f))
        if len(_INCIDENCE) > 8:
            _INCIDENCE.clear()
        _INCIDENCE[key] = (m, faces)  # keep faces alive so that its id stays unique
        return m
    return m[0]


def vertex_normals(v: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals: ``n_i = normalise(sum over faces f of i: (e1 x e2)_f)``.

    The cross product of a face's two edges is its normal scaled by twice its area, so larger faces
    weigh more; the winding gives the direction.

    Parameters
    ----------
    v : (V, 3) float
        Vertex positions.
    faces : (F, 3) int
        Triangles as vertex indices.

    Returns
    -------
    (V, 3) float64
        Unit normals (zero for a vertex that no face uses).
    """
    a = v[faces[:, 0]]
    e1 = v[faces[:, 1]] - a
    e2 = v[faces[:, 2]] - a
    fn = np.empty_like(e1)
    fn[:, 0] = e1[:, 1] * e2[:, 2] - e1[:, 2] * e2[:, 1]
    fn[:, 1] = e1[:, 2] * e2[:, 0] - e1[:, 0] * e2[:, 2]
    fn[:, 2] = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    if len(faces) > 1000:
        n = _incidence(faces, len(v)) @ fn
    else:
        n = np.zeros_like(v)
        for k in range(3):
            np.add.at(n, faces[:, k], fn)
    return n / np.maximum(np.sqrt((n * n).sum(1, keepdims=True)), 1e-20)
