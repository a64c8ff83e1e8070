# SPDX-License-Identifier: GPL-3.0-or-later
"""The fitted template head as one Blender object (``output="head"``), or nothing at all.

One mesh holds every part of the template (face, head and neck, mouth socket, eyes,
teeth, eyelashes, ...): polygons from the template's ``loop_start``/``loop_vertex``,
vertices in metres facing -Y. The identity is baked into the base shape and the
expression is carried by 53 shape keys with the ARKit names::

    Basis            = V0 + B a                    (N, 3) m, core.template_model.deform(a, 0)
    key j            = Basis + E_j                 (one ARKit expression at weight 1)
    shown            = Basis + sum_j e_j (key j - Basis)   with e_j = the fitted value

so the object shows the photo's expression, and setting every key to 0 (the *Neutral
Expression* operator) gives the neutral face of the same person.

UVs: the template's skin lives in two UDIM-style tiles (u in [0, 1) face, [1, 2) back of
the head). They are laid side by side in one image, ``u' = u / 2`` (tile 0) and
``u' = 0.5 + (u - 1) / 2`` (tile 1), which every exporter (glTF, FBX, OBJ) carries as is.
The other parts' UVs (eyes, mouth, teeth, eyelashes: own tiles upstream) are kept in
[0, 1] by their fractional part, the irises in the right half; their materials do not
sample the skin image (the eyes and eyelashes use pictures from core.eye_texture).

Live stack: SUBSURF (levels from the preferences), then DISPLACE through the UVs when the
result carries a UV detail map (``HeadResult.detail_map``), limited to the skin vertex
group. SMOOTH is left out: the template is smooth already.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import bpy
import numpy as np

from . import images, material, modifiers
from .build import (
    PROP_MAPS,
    PROP_MODEL,
    PROP_OPTIONS,
    PROP_SOURCE,
    BuildSettings,
    all_or_nothing,
    maps_images,
    new_tracked_image,
)

UV_MAP = "UVMap"
SKIN_GROUP = "Skin"
PROP_OUTPUT = "face_from_photo_output"  # "head" on head objects
PROP_EXPRESSION = "face_from_photo_expression"  # JSON {ARKit name: fitted value}
SKIN_PARTS = ("face", "head_and_neck")
EYE_PICTURE_SIZE = 512  # px, height of the procedural eye picture (core.eye_texture)
DEFAULT_DETAIL_STRENGTH = 0.001  # m, ReconstructOptions.detail_strength's default: the head's map as measured
CYCLES_TRANSPARENT_BOUNCES = 16  # the inner eye corner stacks six lash cards, three clear eye shells and the
# cornea: Cycles' default of 8 transparent bounces renders it black (seen in a render); 16 was enough
DETAIL_MAX_SIDE = 1024  # px, height of the detail picture (larger maps are area-averaged to it): a
# vertex of the 26,719 samples it, and its structure is ~8 mm (core.detail_bake), a few texels at 1024 px

# Blender material -> (upstream material groups, base colour (linear RGB), alpha).
PART_MATERIALS: dict[str, tuple[tuple[str, ...], tuple[float, float, float], float]] = {
    "skin": (("M_Face", "M_BackHead"), (0.55, 0.36, 0.28), 1.0),
    "sclera": (("M_ScleraLeft", "M_ScleraRight"), (0.80, 0.76, 0.72), 1.0),
    "iris": (("M_IrisLeft", "M_IrisRight"), (0.10, 0.06, 0.035), 1.0),
    "mouth": (("M_GumsTongue",), (0.45, 0.12, 0.12), 1.0),
    "teeth": (("M_Teeth",), (0.80, 0.76, 0.66), 1.0),
    "eye wetness": (("M_LacrimalFluid", "M_EyeBlend", "M_EyeOcclusion"), (1.0, 1.0, 1.0), 0.0),
    "eyelashes": (("M_EyeLashes",), (0.02, 0.015, 0.012), 1.0),
}


def head_uvs(loop_uv: np.ndarray, right_half: np.ndarray | None = None) -> np.ndarray:
    """Per-loop UVs in [0, 1]: skin tiles 0 and 1 side by side, other tiles by their fraction.

    Parameters
    ----------
    loop_uv : (L, 2) float
        The template's UDIM-style UVs (integer part of u = tile).
    right_half : (L,) bool or None
        Loops laid into the right half whatever their tile, ``u' = 0.5 + frac(u) / 2``
        (the irises: their picture sits beside the scleras' in core.eye_texture).

    Returns
    -------
    (L, 2) float32
    """
    uv = np.asarray(loop_uv, dtype=np.float64)
    tile = np.floor(uv[:, 0])
    frac = uv[:, 0] - tile
    out = np.empty(uv.shape, dtype=np.float32)
    out[:, 0] = np.where(tile <= 1, 0.5 * (tile + frac), frac)
    if right_half is not None:
        out[right_half, 0] = 0.5 + 0.5 * frac[right_half]
    out[:, 1] = uv[:, 1]
    return out


def side_by_side(tiles: np.ndarray) -> np.ndarray:
    """(2, T, T, ...) tiles -> (T, 2T, ...) one picture, tile 0 on the left (see :func:`head_uvs`)."""
    a = np.asarray(tiles)
    if a.ndim < 3 or a.shape[0] != 2:
        raise ValueError(f"expected two tiles (2, T, T[, C]), got {a.shape}")
    return np.ascontiguousarray(np.concatenate([a[0], a[1]], axis=1))


def new_head_mesh(name: str, template: Any, basis: np.ndarray) -> bpy.types.Mesh:
    """The template's polygons on ``basis`` vertices, with the side-by-side UV map and material slots order.

    Parameters
    ----------
    basis : (N, 3) float, m
    """
    co = np.ascontiguousarray(basis, dtype=np.float32)  # (N, 3) float32
    loop_vertex = np.ascontiguousarray(template.loop_vertex, dtype=np.int32)  # (L,) int32
    loop_start = np.ascontiguousarray(template.loop_start, dtype=np.int32)  # (P,) int32
    mesh = bpy.data.meshes.new(name)
    try:
        mesh.vertices.add(len(co))
        mesh.vertices.foreach_set("co", co.ravel())
        mesh.loops.add(len(loop_vertex))
        mesh.loops.foreach_set("vertex_index", loop_vertex)
        mesh.polygons.add(len(loop_start))
        mesh.polygons.foreach_set("loop_start", loop_start)
        uv_layer = mesh.uv_layers.new(name=UV_MAP)
        iris = [template.material_names.index(m) for m in PART_MATERIALS["iris"][0]
                if m in template.material_names]
        loop_material = np.repeat(np.asarray(template.polygon_material), template.loop_total)  # (L,)
        uvs = head_uvs(template.loop_uv, right_half=np.isin(loop_material, iris))  # (L, 2) float32
        uv_layer.data.foreach_set("uv", uvs.ravel())
        slot = _material_slots(template)  # (P,) int32
        mesh.polygons.foreach_set("material_index", slot)
        mesh.update(calc_edges=True)
        mesh.validate(verbose=False)
        mesh.shade_smooth()
    except BaseException:
        bpy.data.meshes.remove(mesh)
        raise
    return mesh


def _material_slots(template: Any) -> np.ndarray:
    """(P,) int32 slot of each polygon in :data:`PART_MATERIALS` order."""
    lookup = np.zeros(len(template.material_names), dtype=np.int32)
    for slot, (groups, _colour, _alpha) in enumerate(PART_MATERIALS.values()):
        for group in groups:
            if group in template.material_names:
                lookup[template.material_names.index(group)] = slot
    return lookup[np.asarray(template.polygon_material, dtype=np.int64)]


_KEY_ROWS: list[tuple[np.ndarray, np.ndarray]] = []  # [(expression_basis, its (E, 3N) transpose)]


def _key_rows(expression_basis: np.ndarray) -> np.ndarray:
    """(E, 3N) float32 C-contiguous rows of the expression basis (a 17 MB transpose, made once)."""
    if not _KEY_ROWS or _KEY_ROWS[0][0] is not expression_basis:
        _KEY_ROWS[:] = [(expression_basis,
                         np.ascontiguousarray(np.asarray(expression_basis, dtype=np.float32).T))]
    return _KEY_ROWS[0][1]


def add_shape_keys(obj: bpy.types.Object, basis: np.ndarray, expression_basis: np.ndarray,
                   names: tuple[str, ...], values: np.ndarray) -> None:
    """Basis plus one relative key per expression column, its value set to the fitted weight.

    Parameters
    ----------
    basis : (N, 3) float, m
    expression_basis : (3N, E) float, m at weight 1 (core.template_model.TemplateHead)
    names : E ARKit names
    values : (E,) float in [0, 1]
    """
    obj.shape_key_add(name="Basis", from_mix=False)
    flat = np.asarray(basis, dtype=np.float32).ravel()  # (3N,) float32
    columns = _key_rows(expression_basis)  # (E, 3N) float32
    for j, name in enumerate(names):
        key = obj.shape_key_add(name=name, from_mix=False)
        points = getattr(key, "points", None) or key.data  # points: the fast foreach path (Blender 4.1+)
        points.foreach_set("co", flat + columns[j])
        key.slider_min, key.slider_max = 0.0, 1.0
        key.value = float(np.clip(values[j], 0.0, 1.0))
    if obj.data.shape_keys is not None:
        obj.data.shape_keys.use_relative = True


def _part_material(name: str, colour: tuple[float, float, float], alpha: float) -> bpy.types.Material:
    mat = bpy.data.materials.new(name)
    try:
        if mat.node_tree is None:
            mat.use_nodes = True
        bsdf = next((n for n in mat.node_tree.nodes if n.type == 'BSDF_PRINCIPLED'), None)
        mat.diffuse_color = (*colour, alpha)
        if bsdf is not None:
            bsdf.inputs["Base Color"].default_value = (*colour, 1.0)
            bsdf.inputs["Roughness"].default_value = 0.1 if alpha < 1.0 else 0.5
            bsdf.inputs["Alpha"].default_value = alpha
    except BaseException:
        bpy.data.materials.remove(mat)
        raise
    return mat


def _colour(owner: Any, attr: str) -> tuple[int, int, int] | None:
    """An sRGB colour (0..255) core measured, e.g. ``TextureBake.iris_rgb``, when it did."""
    value = getattr(owner, attr, None) if owner is not None else None
    if value is None:
        return None
    rgb = np.asarray(value, dtype=np.float64).ravel()[:3]
    if rgb.max() <= 1.0:
        rgb = rgb * 255.0
    r, g, b = (int(c) for c in np.clip(np.rint(rgb), 0, 255))
    return r, g, b


def _eyes_rgba(head: Any) -> tuple[np.ndarray, bool]:
    """The eyes' picture, ``(S, 2S, 4) uint8`` (left half the sclera mesh, right half the iris mesh),
    and whether the sclera's alpha opens a clear cornea window.

    When the bake painted the eye (``TextureBake.eye (E, E, 3)``: iris and pupil painted on the
    sclera mesh, the whole visible eyeball) it fills the left half, opaque, and the iris mesh
    behind it gets the flat ``iris_rgb``; otherwise core.eye_texture draws both halves, with
    the cornea window.
    """
    from ..core.eye_texture import eye_picture

    texture = getattr(head, "texture", None)
    iris = _colour(texture, "iris_rgb")
    eye = getattr(texture, "eye", None) if texture is not None else None
    if eye is None:
        return eye_picture(EYE_PICTURE_SIZE, iris), True
    eye = np.asarray(eye, dtype=np.uint8)[..., :3]  # (E, E, 3)
    e = eye.shape[0]
    out = np.full((e, 2 * e, 4), 255, dtype=np.uint8)
    out[:, :e, :3] = eye
    out[:, e:, :3] = iris if iris is not None else eye[e // 2, e // 2]
    return out, False


def _picture_material(name: str, image: bpy.types.Image, *, use_alpha: bool,
                      blended: bool = False) -> bpy.types.Material:
    """A procedural picture (core.eye_texture) through ``UVMap``; ``use_alpha`` links its alpha
    (the sclera's clear cornea window, the eyelash strands).

    The picture's alpha goes straight into the Principled BSDF's Alpha: Cycles always honours
    it, EEVEE with either surface render method, and the glTF exporter writes such a material
    with ``alphaMode`` BLEND (it reads the node tree). ``blended`` asks EEVEE for smooth
    blending (``surface_render_method = 'BLENDED'``, both sides of the card shown) instead of
    the default dithering: the eyelash cards, whose strands are thinner than a pixel at most
    distances and look grainy dithered.
    """
    mat = material.new_photo_material(name, image, uv_map=UV_MAP)
    try:
        tree = mat.node_tree
        bsdf = next(n for n in tree.nodes if n.type == 'BSDF_PRINCIPLED')
        bsdf.inputs["Roughness"].default_value = 0.15
        if use_alpha:
            tex = next(n for n in tree.nodes if n.type == 'TEX_IMAGE')
            tree.links.new(tex.outputs["Alpha"], bsdf.inputs["Alpha"])
        if blended:
            mat.surface_render_method = 'BLENDED'
            mat.use_transparency_overlap = True  # the cards overlap: show the ones behind too
            mat.use_backface_culling = False  # cards are seen from both sides
    except BaseException:
        bpy.data.materials.remove(mat)
        raise
    return mat


def _detail_picture(head: Any) -> tuple[np.ndarray, float] | None:
    """The head's UV displacement map as one side-by-side picture for DISPLACE, or None.

    ``HeadResult.detail_map`` holds ``d``, the displacement along the normal in metres per
    texel of the two skin tiles ``(2, T, T)`` (core.detail_bake). It is stored as
    ``value = 0.5 + d / (2 D)`` with ``D = max |d|``, so values stay in [0, 1] in any image
    format, and DISPLACE (midlevel 0.5, strength ``2 D``) moves each vertex by exactly ``d``.

    Returns
    -------
    picture : (T, 2T) float32 in [0, 1]
    strength : float
        ``2 D``, m.
    """
    detail = getattr(head, "detail_map", None)
    if detail is None:
        return None
    a = np.nan_to_num(np.asarray(detail, dtype=np.float32))
    if a.ndim == 3 and a.shape[0] == 2:
        a = side_by_side(a)
    peak = float(np.abs(a).max()) if a.ndim == 2 and a.size else 0.0
    if peak <= 0.0:
        return None
    if a.shape[0] > DETAIL_MAX_SIDE:  # area-averaged: the map is a high-pass of ~8 mm structure
        import cv2

        a = np.asarray(cv2.resize(a, (2 * DETAIL_MAX_SIDE, DETAIL_MAX_SIDE), interpolation=cv2.INTER_AREA),
                       dtype=np.float32)
    return 0.5 + a / (2.0 * peak), 2.0 * peak


def build_head(
    reco: Any,
    settings: BuildSettings,
    *,
    collection: bpy.types.Collection,
    options_json: str | None = None,
) -> bpy.types.Object:
    """Create the head object from a :class:`core.pipeline.Reconstruction` with ``reco.head``.

    Parameters
    ----------
    reco : core.pipeline.Reconstruction
        ``reco.head.identity (K,)``, ``reco.head.expression (53,)`` in [0, 1],
        ``reco.head.texture.tiles (2, T, T, 3) uint8`` or no texture.
    settings : BuildSettings
    collection : bpy.types.Collection
    options_json : str or None

    Returns
    -------
    bpy.types.Object
        Linked to ``collection``; nothing is left behind when this raises.
    """
    from ..core.eye_texture import lash_picture
    from ..core.image_io import encode_jpeg, encode_png
    from ..core.template_model import load_template

    head = reco.head
    if head is None:
        raise ValueError("the reconstruction holds no head; run it with output='head'")
    template = load_template()
    name = settings.name
    with all_or_nothing() as created:
        basis = template.deform(head.identity, None)  # (N, 3) float32 m, identity only
        me = created.add(new_head_mesh(name, template, basis))

        texture = getattr(head, "texture", None)
        photo: bpy.types.Image | None = None
        if texture is not None:
            jpeg = encode_jpeg(side_by_side(texture.tiles))  # (T, 2T, 3) uint8 -> JPEG bytes
            photo = created.add(images.encoded_image(f"{name} texture", jpeg, ".jpg",
                                                     pack=settings.pack_images, folder=settings.image_folder))
            if not settings.pack_images and photo.filepath:
                from pathlib import Path

                created.files.append(Path(bpy.path.abspath(photo.filepath)))
        eyes_rgba, clear_cornea = _eyes_rgba(head)  # (S, 2S, 4) uint8
        pictures = {}
        for label, rgba in (("eyes", eyes_rgba),
                            ("eyelashes", lash_picture(rgb=_colour(texture, "eyelash_rgb")))):
            img = created.add(images.encoded_image(f"{name} {label}", encode_png(rgba), ".png",
                                                   pack=settings.pack_images, folder=settings.image_folder))
            if not settings.pack_images and img.filepath:
                from pathlib import Path

                created.files.append(Path(bpy.path.abspath(img.filepath)))
            pictures[label] = img
        for part, (_groups, colour, alpha) in PART_MATERIALS.items():
            if part == "skin" and photo is not None:
                mat = created.add(material.new_photo_material(f"{name} skin", photo, uv_map=UV_MAP))
            elif part in ("sclera", "iris"):
                mat = created.add(_picture_material(f"{name} {part}", pictures["eyes"],
                                                    use_alpha=clear_cornea and part == "sclera"))
            elif part == "eyelashes":
                mat = created.add(_picture_material(f"{name} {part}", pictures["eyelashes"], use_alpha=True,
                                                    blended=True))
                mat.diffuse_color = (*colour, 1.0)  # the viewport's Solid shading: dark, not the default grey
            else:
                mat = created.add(_part_material(f"{name} {part}", colour, alpha))
            me.materials.append(mat)

        stored: dict[str, bpy.types.Image] = {}
        if settings.store_maps:
            stored = maps_images(reco, settings, created)

        obj = created.add(bpy.data.objects.new(name, me))
        obj.location = settings.location
        add_shape_keys(obj, basis, template.expression_basis, template.expression_names,
                       np.asarray(head.expression, dtype=np.float64))
        skin = obj.vertex_groups.new(name=SKIN_GROUP)
        skin.add(np.flatnonzero(template.part_mask(*SKIN_PARTS)).tolist(), 1.0, 'REPLACE')

        detail = _detail_picture(head)
        detail_img = None
        stack = settings.stack
        if detail is not None:
            picture, strength = detail
            detail_img = new_tracked_image(created, settings, f"{name} detail", picture, data=True)
            # the map is measured in metres: the Detail option scales it, its default 0.001 m as measured
            scale = modifiers.detail_strength_from(stack.detail_strength) / DEFAULT_DETAIL_STRENGTH
            stack = replace(stack, detail_strength=strength * scale)
        created.add(modifiers.add_stack(obj, detail_img, stack, smooth=False, uv_map=UV_MAP,
                                        vertex_group=SKIN_GROUP))

        obj[PROP_SOURCE] = str(reco.source or "")
        if options_json is None:
            options = reco.options.to_dict() if hasattr(reco.options, "to_dict") else {}
            options_json = json.dumps(options, sort_keys=True)
        obj[PROP_OPTIONS] = options_json
        obj[PROP_MODEL] = str(getattr(reco, "model_sha256", "") or "")
        obj[PROP_OUTPUT] = "head"
        obj[PROP_EXPRESSION] = json.dumps(
            {n: round(float(v), 6) for n, v in zip(template.expression_names, head.expression, strict=True)})
        named = {**stored, **({"detail": detail_img} if detail_img is not None else {})}
        obj[PROP_MAPS] = json.dumps({k: img.name for k, img in named.items()})
        collection.objects.link(obj)
    see_through_in_cycles(bpy.context.scene)
    return obj


def see_through_in_cycles(scene: Any) -> bool:
    """Raise the scene's Cycles transparent bounces to :data:`CYCLES_TRANSPARENT_BOUNCES` when lower.

    Returns True when it changed the setting (never lowered; undo puts it back with the head).
    """
    cycles = getattr(scene, "cycles", None)
    if cycles is None or cycles.transparent_max_bounces >= CYCLES_TRANSPARENT_BOUNCES:
        return False
    cycles.transparent_max_bounces = CYCLES_TRANSPARENT_BOUNCES
    return True


def is_head(obj: Any) -> bool:
    """True for an object built by :func:`build_head`."""
    return obj is not None and getattr(obj, "type", None) == 'MESH' and obj.get(PROP_OUTPUT) == "head"


def set_expression(obj: bpy.types.Object, values: dict[str, float] | None = None) -> int:
    """Set the head's ARKit shape keys: to ``values`` by name, or all to 0 (neutral) when None.

    Returns the number of keys set.
    """
    keys = obj.data.shape_keys
    if keys is None:
        return 0
    count = 0
    for block in keys.key_blocks[1:]:  # [0] is the Basis
        block.value = float(values.get(block.name, 0.0)) if values is not None else 0.0
        count += 1
    return count
