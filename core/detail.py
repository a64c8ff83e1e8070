# SPDX-License-Identifier: GPL-3.0-or-later
"""High-frequency detail map of the photo and its displacement along vertex normals."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

DETAIL_ROBUST_SIGMAS = 3.0
"""The high-pass is divided by this many robust standard deviations
(``1.4826 * MAD``) before clipping, so about 99 % of a Gaussian-like detail
signal stays unclipped inside [-1, 1]."""

MAD_TO_SIGMA = 1.4826
"""Median absolute deviation to standard deviation of a normal distribution."""


def detail_map(gray: np.ndarray, sigma_px: float, mask: np.ndarray | None = None) -> np.ndarray:
    """FaceVision-GAN detail: the photo minus its low-pass, normalised to [-1, 1].

    ::

        high   = gray - G_sigma * gray               (Gaussian low-pass, reflected border)
        scale  = DETAIL_ROBUST_SIGMAS * 1.4826 * median(|high - median(high)|)
        detail = clip(high / scale, -1, 1)

    Positive where the photo is brighter than its surroundings (read as a bump).

    Parameters
    ----------
    gray : (H, W) float
        Grayscale photo crop in [0, 1], full resolution.
    sigma_px : float
        Standard deviation of the Gaussian low-pass in pixels of ``gray`` (> 0).
    mask : (H, W) bool or None
        If given, the statistics of ``scale`` are taken over these pixels only
        (e.g. the face, so the background does not set the scale).

    Returns
    -------
    (H, W) float32
        Detail in [-1, 1]; all zeros if the image has no detail (``scale == 0``).
    """
    g = np.asarray(gray, dtype=np.float64)
    if g.ndim != 2:
        raise ValueError(f"gray must be (H, W), got shape {g.shape}")
    if not sigma_px > 0:
        raise ValueError(f"sigma_px must be > 0, got {sigma_px}")
    high = g - ndimage.gaussian_filter(g, sigma_px, mode="reflect")
    sample = high if mask is None else high[np.asarray(mask, dtype=bool)]
    if sample.size == 0:
        sample = high
    mad = float(np.median(np.abs(sample - np.median(sample))))
    scale = DETAIL_ROBUST_SIGMAS * MAD_TO_SIGMA * mad
    if not scale > 0:
        return np.zeros(g.shape, dtype=np.float32)
    return np.clip(high / scale, -1.0, 1.0).astype(np.float32)


def detail_image(detail: np.ndarray) -> np.ndarray:
    """Grey image for Blender's Displace modifier: ``0.5 + 0.5 * detail`` in [0, 1], (H, W) float32."""
    return (0.5 + 0.5 * np.asarray(detail, dtype=np.float32)).astype(np.float32)


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Unit vertex normals, corner-angle weighted (as Blender computes them).

    ``n_i = normalise(sum over corners of i: angle * unit face normal)``; face
    normals follow the winding (counter-clockwise = toward the viewer).

    Parameters
    ----------
    vertices : (n, 3) float
        Positions.
    triangles : (m, 3) int
        Faces.

    Returns
    -------
    (n, 3) float32
        Unit normals; zero for vertices in no (non-degenerate) triangle.
    """
    v = np.asarray(vertices, dtype=np.float64)
    t = np.asarray(triangles, dtype=np.int64)
    p = v[t]  # (m, 3, 3): corner positions
    face = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    length = np.linalg.norm(face, axis=1, keepdims=True)
    face = np.divide(face, length, out=np.zeros_like(face), where=length > 0)
    normals = np.zeros_like(v)
    for c in range(3):
        e1 = p[:, (c + 1) % 3] - p[:, c]
        e2 = p[:, (c + 2) % 3] - p[:, c]
        n1 = np.linalg.norm(e1, axis=1)
        n2 = np.linalg.norm(e2, axis=1)
        denom = n1 * n2
        cos = np.divide((e1 * e2).sum(axis=1), denom, out=np.ones_like(denom), where=denom > 0)
        angle = np.arccos(np.clip(cos, -1.0, 1.0))
        np.add.at(normals, t[:, c], face * angle[:, None])
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
    return normals.astype(np.float32)


def sample_uv(image: np.ndarray, uvs: np.ndarray) -> np.ndarray:
    """Bilinear lookup of a (H, W) image at UVs (``u`` right, ``v`` up, pixel centres at
    ``((j + 0.5) / W, 1 - (i + 0.5) / H)``), clamped at the border; returns (n,) float64."""
    img = np.asarray(image, dtype=np.float64)
    rows, cols = img.shape
    uv = np.asarray(uvs, dtype=np.float64)
    j = uv[:, 0] * cols - 0.5
    i = (1.0 - uv[:, 1]) * rows - 0.5
    return ndimage.map_coordinates(img, [i, j], order=1, mode="nearest")


def apply_detail(
    vertices: np.ndarray,
    normals: np.ndarray | None,
    uvs: np.ndarray,
    detail: np.ndarray,
    strength_m: float,
    *,
    triangles: np.ndarray | None = None,
) -> np.ndarray:
    """Move vertices along their normals by the detail map (reference for Displace).

    ::

        v_i' = v_i + strength_m * detail(uv_i) * n_i

    Blender's Displace modifier (direction Normal, texture coordinates UV,
    midlevel 0.5) moves by ``strength * (value - midlevel)``; with the image
    :func:`detail_image` (``value = 0.5 + 0.5 * detail``) it matches this
    function when its ``strength = 2 * strength_m``.

    Parameters
    ----------
    vertices : (n, 3) float
        Positions (m).
    normals : (n, 3) float or None
        Unit vertex normals; None computes :func:`vertex_normals` from ``triangles``.
    uvs : (n, 2) float
        UV of each vertex into ``detail``.
    detail : (H, W) float
        Detail map in [-1, 1] (:func:`detail_map`).
    strength_m : float
        Displacement at ``detail = 1``, metres.
    triangles : (m, 3) int or None
        Needed only when ``normals`` is None.

    Returns
    -------
    (n, 3) float32
        Displaced positions (m).
    """
    v = np.asarray(vertices, dtype=np.float64)
    if normals is None:
        if triangles is None:
            raise ValueError("apply_detail needs triangles when normals is None")
        normals = vertex_normals(v, triangles)
    n = np.asarray(normals, dtype=np.float64)
    if n.shape != v.shape or np.shape(uvs) != (v.shape[0], 2):
        raise ValueError(
            f"normals must be {v.shape} and uvs ({v.shape[0]}, 2), got {n.shape} and {np.shape(uvs)}"
        )
    d = sample_uv(detail, uvs)
    return (v + (strength_m * d)[:, None] * n).astype(np.float32)
