# SPDX-License-Identifier: GPL-3.0-or-later
"""The artist's reconstruction settings: one PropertyGroup on the Scene.

:class:`OptionProps` holds the core options shared by the Scene settings,
the add-on preferences (their defaults) and the operators' redo panel;
:func:`core_values` turns any of them into ``ReconstructOptions`` keywords.
"""

from __future__ import annotations

from typing import Any

import bpy

RESOLUTION_ITEMS = [
    ('128', "128 px", "Fast network resolution (default)"),
    ('256', "256 px", "Denser mesh (4x the vertices) and texture crop; the network still sees the "
                      "face at 128 px, its maps are upsampled"),
]
OUTPUT_ITEMS = [
    ('head', "Head", "The template head fitted to the photo: full head, fixed topology, UV texture, "
                     "53 ARKit shape keys"),
    ('relief', "Relief", "The relief of the visible face: a grid mesh from the depth map, the photo "
                         "as texture"),
]
HEAD_TEXTURE_ITEMS = [
    ('1024', "1024 px", "Faster bake"),
    ('2048', "2048 px", "Default"),
    ('4096', "4096 px", "Sharpest, slowest"),
    ('0', "None", "No texture: plain skin colour (fastest)"),
]
GEOMETRY_ITEMS = [
    ('normals', "Normals", "Integrate the predicted normals (weighted least squares, default)"),
    ('depth', "Depth", "Use the network's direct depth prediction"),
]


class OptionProps:
    """Mixin: the core options as Blender properties (same names as ReconstructOptions)."""

    output: bpy.props.EnumProperty(name="Output", items=OUTPUT_ITEMS, default='head',
                                   description="What to build from the photo")
    head_texture_size: bpy.props.EnumProperty(name="Head Texture", items=HEAD_TEXTURE_ITEMS, default='2048',
                                              description="Side of each of the head's two UV texture "
                                                          "tiles baked from the photo")
    resolution: bpy.props.EnumProperty(name="Resolution", items=RESOLUTION_ITEMS, default='128',
                                       description="Side of the head crop the mesh is built from")
    lam: bpy.props.FloatProperty(name="λ", default=0.1, min=0.0, max=10.0, soft_max=0.5, step=1,
                                 precision=3,
                                 description="Edge weight λ of the normal integration: w = 1/(1+λW); "
                                             "0 = plain least squares")
    geometry: bpy.props.EnumProperty(name="Geometry", items=GEOMETRY_ITEMS, default='normals',
                                     description="Where the depth comes from")
    smoothing_factor: bpy.props.FloatProperty(name="Smoothing", default=0.5, min=0.0, max=1.0,
                                              description="Smoothing step toward the one-ring centroid")
    smoothing_iterations: bpy.props.IntProperty(name="Smoothing Repeat", default=3, min=0, max=100,
                                                description="Smoothing iterations (0: none)")
    detail_strength: bpy.props.FloatProperty(name="Detail", default=0.001, min=0.0, max=0.05,
                                             soft_max=0.005,
                                             subtype='DISTANCE', unit='LENGTH', precision=4, step=0.01,
                                             description="Displacement of the photo's fine detail along the "
                                                         "normals where the detail map is at its extreme")


class FACE_PG_settings(OptionProps, bpy.types.PropertyGroup):
    """Scene settings of Face from Photo (``scene.face_from_photo``)."""

    photo: bpy.props.StringProperty(name="Photo", subtype='FILE_PATH',
                                    description="Photo of a face (JPEG, PNG, TIFF, BMP, WebP)")
    face_index: bpy.props.IntProperty(name="Face", default=0, min=0,
                                      description="Which face when the photo shows several: "
                                                  "0 is the largest")
    target_faces: bpy.props.IntProperty(name="Target Faces", default=0, min=0, max=2_000_000,
                                        description="Approximate triangle count "
                                                    "(0: one vertex per map pixel)")


CORE_FIELDS = ("output", "head_texture_size", "resolution", "lam", "geometry", "smoothing_factor",
               "smoothing_iterations", "detail_strength")


def core_values(src: Any) -> dict[str, Any]:
    """``ReconstructOptions`` keywords from settings, preferences or an operator."""
    values: dict[str, Any] = {}
    for name in CORE_FIELDS:
        if hasattr(src, name):
            values[name] = getattr(src, name)
    for name in ("resolution", "head_texture_size"):  # enums of whole numbers
        if name in values:
            values[name] = int(values[name])
    for name in ("lam", "smoothing_factor", "detail_strength"):
        if name in values:  # Blender floats are single precision: 0.1 -> 0.10000000149
            values[name] = float(f"{float(values[name]):.6g}")
    if "smoothing_iterations" in values:
        values["smoothing_iterations"] = int(values["smoothing_iterations"])
    if hasattr(src, "face_index"):
        values["face_index"] = int(src.face_index)
    if getattr(src, "target_faces", 0):
        values["target_faces"] = int(src.target_faces)
    return values


classes = (FACE_PG_settings,)


def register() -> None:
    for cls in classes:
        bpy.utils.register_class(cls)
    scene_type: Any = bpy.types.Scene
    scene_type.face_from_photo = bpy.props.PointerProperty(type=FACE_PG_settings)  # type: ignore[func-returns-value]


def unregister() -> None:
    scene_type: Any = bpy.types.Scene
    del scene_type.face_from_photo
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
