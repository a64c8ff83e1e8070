# SPDX-License-Identifier: GPL-3.0-or-later
"""The photo material: Principled BSDF whose base colour is the photo crop."""

from __future__ import annotations

import bpy

from .mesh import UV_MAP_NAME


def new_photo_material(name: str, image: bpy.types.Image, uv_map: str = UV_MAP_NAME) -> bpy.types.Material:
    """Material sampling ``image`` through the UV map ``uv_map`` (the relief's ``"Photo"``).

    Works in Blender 4.2 (``node_tree`` is None until ``use_nodes``) and
    5.0 (node tree always present, ``use_nodes`` deprecated).
    """
    mat = bpy.data.materials.new(name)
    try:
        if mat.node_tree is None:
            mat.use_nodes = True
        tree = mat.node_tree
        nodes, links = tree.nodes, tree.links
        bsdf = next((n for n in nodes if n.type == 'BSDF_PRINCIPLED'), None)
        out = next((n for n in nodes if n.type == 'OUTPUT_MATERIAL'), None)
        if bsdf is None:
            bsdf = nodes.new("ShaderNodeBsdfPrincipled")
        if out is None:
            out = nodes.new("ShaderNodeOutputMaterial")
            links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
        bsdf.location = (0.0, 300.0)
        out.location = (300.0, 300.0)
        bsdf.inputs["Roughness"].default_value = 0.6

        uv = nodes.new("ShaderNodeUVMap")
        uv.uv_map = uv_map
        uv.location = (-600.0, 300.0)
        tex = nodes.new("ShaderNodeTexImage")
        tex.image = image
        tex.extension = 'EXTEND'
        tex.location = (-350.0, 300.0)
        links.new(uv.outputs["UV"], tex.inputs["Vector"])
        links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    except BaseException:
        bpy.data.materials.remove(mat)
        raise
    return mat
