# SPDX-License-Identifier: GPL-3.0-or-later
"""The live modifier stack: SMOOTH -> SUBSURF -> DISPLACE (detail map along normals).

- SMOOTH is the papers' one-ring Laplacian: each iteration moves every vertex
  toward the mean of its edge neighbours by ``factor``;
  ``core.smoothing.laplacian_smooth`` is its numpy reference. (The
  LAPLACIANSMOOTH modifier is a different, implicit scheme and ~200x slower.)
- SUBSURF adds resolution for the detail. Both levels default to 0: on this
  2-core machine one Catmull-Clark level on a 16 k-vertex triangle mesh costs
  ~1 s per evaluation (and ~20 s the first time), far over the 50 ms budget;
  the artist raises them when wanted. Exports use the viewport levels.
- DISPLACE moves vertices along their normals by
  ``strength * (value - 0.5)``, value = detail image sampled through the UV
  map; the image stores ``0.5 + 0.5 * detail`` so a strength ``s`` displaces
  by ``0.5 * s * detail`` metres (``core.detail.apply_detail``); core's
  ``detail_strength`` (m where detail = +-1) is ``s / 2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import bpy

from .mesh import UV_MAP_NAME

SMOOTH = "FaceSmooth"
SUBSURF = "FaceSubdivision"
DISPLACE = "FaceDetail"
DISPLACE_MIDLEVEL = 0.5


@dataclass(frozen=True)
class StackSettings:
    """Settings of the live stack (Blender units: metres)."""

    smooth_factor: float = 0.5  # SMOOTH factor, 0 = off
    smooth_iterations: int = 3  # SMOOTH repeat
    subdiv_levels: int = 0  # SUBSURF viewport levels (interactive budget)
    subdiv_render_levels: int = 0  # SUBSURF levels for F12 renders (exports use viewport levels)
    detail_strength: float = 0.002  # DISPLACE strength, metres per unit of (value - 0.5)


def add_stack(
    obj: bpy.types.Object,
    detail_image: bpy.types.Image | None,
    settings: StackSettings,
    *,
    smooth: bool = True,
    uv_map: str = UV_MAP_NAME,
    vertex_group: str = "",
) -> bpy.types.Texture | None:
    """Add the modifiers to ``obj``; returns the image texture it created.

    ``smooth=False`` leaves SMOOTH out (the template head is smooth already);
    DISPLACE samples ``detail_image`` through ``uv_map`` and moves only the
    vertices of ``vertex_group`` (all when empty). The texture is the only new
    datablock; the caller owns its clean-up.
    """
    if smooth:
        smoothing = cast(bpy.types.SmoothModifier, obj.modifiers.new(SMOOTH, 'SMOOTH'))
        smoothing.factor = settings.smooth_factor
        smoothing.iterations = settings.smooth_iterations

    sub = cast(bpy.types.SubsurfModifier, obj.modifiers.new(SUBSURF, 'SUBSURF'))
    sub.levels = settings.subdiv_levels
    sub.render_levels = settings.subdiv_render_levels
    sub.subdivision_type = 'CATMULL_CLARK'
    sub.boundary_smooth = 'PRESERVE_CORNERS'
    sub.uv_smooth = 'PRESERVE_BOUNDARIES'

    if detail_image is None:
        return None
    tex = cast(bpy.types.ImageTexture, bpy.data.textures.new(f"{obj.name} detail", type='IMAGE'))
    try:
        tex.image = detail_image
        tex.extension = 'EXTEND'
        tex.use_interpolation = True
        disp = cast(bpy.types.DisplaceModifier, obj.modifiers.new(DISPLACE, 'DISPLACE'))
        disp.texture = tex
        disp.texture_coords = 'UV'
        disp.uv_layer = uv_map
        disp.vertex_group = vertex_group
        disp.direction = 'NORMAL'
        disp.space = 'LOCAL'
        disp.mid_level = DISPLACE_MIDLEVEL
        disp.strength = settings.detail_strength
    except BaseException:
        bpy.data.textures.remove(tex)
        raise
    return tex


def displace_strength(detail_strength_m: float) -> float:
    """DISPLACE strength for a core ``detail_strength`` (m of displacement where detail = +-1).

    The image stores ``0.5 + 0.5 * detail``, the modifier moves by
    ``strength * (value - 0.5) = 0.5 * strength * detail``.
    """
    return 2.0 * detail_strength_m


def detail_strength_from(displace: float) -> float:
    """Inverse of :func:`displace_strength`."""
    return 0.5 * displace
