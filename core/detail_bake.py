# SPDX-License-Identifier: GPL-3.0-or-later
"""Bake the relief's fine detail onto the template head's skin UV tiles (a displacement map).

The relief (the WLS depth, crop px toward the viewer) holds shape the morphable model
cannot: wrinkles, a crooked nose, the lips' edge. In the crop's pixels::

    r     = relief - head - median(relief - head)          (head: the fitted head's z-buffer)
    high  = r - G_sigma(r m) / G_sigma(m)                  (masked Gaussian low-pass, sigma = high_pass_m * s)
    fade  = clip(2 G_2(m) - 1, 0, 1)                        (0 at the mask's border, 1 inside)
    d     = clip(high * fade, -max_m s, max_m s) / s * cos  (m along the surface normal)

with ``m`` the pixels where both depths exist and ``s`` the fit's crop px per metre; ``cos``
turns the view-axis offset into one along the normal. Each texel of the skin tiles (tile
layout as core.texture_bake: tile 0 the face, tile 1 the back of the head, row 0 at v = 1)
takes ``d`` at its surface point's crop pixel, times the texture's direct-view share ``a_d``
(0 where the photo does not see the skin, rising smoothly at the visibility border).
"""

from __future__ import annotations

import numpy as np

from .template_fit import TemplateFit
from .template_model import TemplateHead
from .texture_bake import W_FULL, _mesh, texel_attributes, vertex_view
from .zbuffer import depth_buffer


def head_depth(template: TemplateHead, fit: TemplateFit, crop_size: int) -> np.ndarray:
    """(S, S) float32 depth of the fitted head's skin and eyes at the crop's pixel centres, px
    toward the viewer in the fit's frame (``h`` of ``TemplateFit.project``), NaN off the head."""
    pts = fit.project(fit.vertices.astype(np.float64))
    z = depth_buffer(pts, _mesh(template).occluders, crop_size, crop_size)
    return np.where(np.isfinite(z), z, np.nan).astype(np.float32)


def bake_detail(
    template: TemplateHead,
    fit: TemplateFit,
    relief: np.ndarray,
    *,
    size: int = 2048,
    high_pass_m: float = 0.008,
    max_m: float = 0.004,
) -> np.ndarray:
    """UV displacement map of the relief's detail (module notes).

    Parameters
    ----------
    template : TemplateHead
    fit : TemplateFit
        Camera in the relief's crop pixels.
    relief : (S, S) float
        Relief depth, px toward the viewer, any offset, NaN off the head.
    size : int
        Side T of each tile, px (the texture's).
    high_pass_m : float
        m, standard deviation of the low-pass that is removed (shape the fit already has).
    max_m : float
        m, largest displacement kept either way.

    Returns
    -------
    (2, T, T) float32
        Displacement along the surface normal, m (positive outward), per texel of UV tile 0
        and 1; 0 where the photo does not see the skin.
    """
    import cv2

    relief = np.asarray(relief, dtype=np.float32)
    s = relief.shape[0]
    if relief.ndim != 2 or relief.shape[1] != s:
        raise ValueError(f"relief must be a square (S, S) map, got {relief.shape}")
    r = relief - head_depth(template, fit, s)
    valid = np.isfinite(r)
    detail = np.zeros((s, s), dtype=np.float32)
    if valid.sum() > 16:
        r = np.where(valid, r - np.median(r[valid]), 0.0).astype(np.float32)
        m = valid.astype(np.float32)
        sigma = max(0.5, high_pass_m * fit.scale)
        low = cv2.GaussianBlur(r, (0, 0), sigma) / np.maximum(cv2.GaussianBlur(m, (0, 0), sigma), 1e-6)
        fade = np.clip(2.0 * cv2.GaussianBlur(m, (0, 0), 2.0) - 1.0, 0.0, 1.0) * m
        limit = max_m * fit.scale
        detail = (np.clip((r - low) * fade, -limit, limit) / fit.scale).astype(np.float32)

    view = vertex_view(template, fit, crop_size=s, image_size=s)
    attrs = np.stack([view.points[:, 0], view.points[:, 1], np.minimum(1.0, view.weight / W_FULL),
                      np.clip(view.cos, 0.0, 1.0)], axis=1)
    tex, band = texel_attributes(template, size, attrs)
    out = np.empty((2, size, size), dtype=np.float32)
    for k in range(2):
        t = tex[k]
        d = cv2.remap(detail, np.ascontiguousarray(t[..., 0]), np.ascontiguousarray(t[..., 1]),
                      cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        d *= t[..., 2] * t[..., 3] * band[k]
        out[k] = cv2.resize(d, (size, size), interpolation=cv2.INTER_LINEAR)
    return out
