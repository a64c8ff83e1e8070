# SPDX-License-Identifier: GPL-3.0-or-later
"""Split a normal map's angular error into coarse shape, fine relief and global tilt.

For one image, with predicted and ground-truth unit normals ``P``, ``G`` (S, S, 3)
compared over the pixels ``sel`` (S, S) bool, and a masked Gaussian low-pass

    L(N) = normalise( g_σ * (N · 1_sel) / g_σ * 1_sel )     (normalised convolution, σ in px)

:func:`error_split` gives three per-pixel angle arrays (deg, over ``sel``):

- ``coarse``:  ∠(L(P), L(G)) -- the error left when both maps lose their detail;
- ``fine``:    ∠(normalise(L(G) + P − L(P)), G) -- the prediction's detail on the
  ground truth's coarse shape, i.e. the error of the detail alone;
- ``rotated``: ∠(R P, G) with R the one rotation per image that best aligns the
  two (Kabsch: R maximises Σ G · R P) -- what is left once a global tilt is removed.

If ``coarse`` and ``fine`` are both near the full error, the network misses both
the shape and the relief; if ``rotated`` is much lower, the error is a global tilt.
"""

from __future__ import annotations

import numpy as np

SPLIT_SIGMA_PX = 4.0  # low-pass scale: about the width of an eye at 128² (px of the map)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-8)


def angular_error_deg(n_pred: np.ndarray, n_gt: np.ndarray) -> np.ndarray:
    """(..., 3) unit normals -> (...) angle between them in degrees."""
    cos = np.clip((n_pred * n_gt).sum(-1), -1.0, 1.0)
    return np.degrees(np.arccos(cos))


def masked_lowpass(normals: np.ndarray, sel: np.ndarray, sigma: float = SPLIT_SIGMA_PX) -> np.ndarray:
    """Unit normals (S, S, 3) low-passed by a Gaussian of ``sigma`` px over ``sel`` only (see module doc)."""
    from scipy.ndimage import gaussian_filter

    w = sel.astype(np.float64)
    den = np.maximum(gaussian_filter(w, sigma), 1e-8)
    out = np.stack([gaussian_filter(normals[..., c] * w, sigma) / den for c in range(3)], axis=-1)
    return _unit(out)


def best_rotation(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The rotation R (3, 3), det +1, maximising Σ dst · R src over (K, 3) vector pairs (Kabsch)."""
    u, _, vt = np.linalg.svd(dst.T @ src)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    return u @ np.diag([1.0, 1.0, d]) @ vt


def error_split(
    n_pred: np.ndarray, n_gt: np.ndarray, sel: np.ndarray, sigma: float = SPLIT_SIGMA_PX
) -> dict[str, np.ndarray]:
    """Per-pixel angles (deg), each (K,) over the K pixels of ``sel``: ``coarse``, ``fine``, ``rotated``."""
    p = n_pred.astype(np.float64)
    g = n_gt.astype(np.float64)
    low_p = masked_lowpass(p, sel, sigma)
    low_g = masked_lowpass(g, sel, sigma)
    rot = best_rotation(p[sel], g[sel])
    return {
        "coarse": angular_error_deg(low_p[sel], low_g[sel]),
        "fine": angular_error_deg(_unit(low_g[sel] + p[sel] - low_p[sel]), g[sel]),
        "rotated": angular_error_deg(p[sel] @ rot.T, g[sel]),
    }
