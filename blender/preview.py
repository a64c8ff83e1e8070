# SPDX-License-Identifier: GPL-3.0-or-later
"""Preview PNG rendered by Blender: photo | normals | shaded front | shaded at 45°.

Cycles on the CPU (runs headless without an OpenGL/EGL stack; ~1 s per
256 px tile at 16 samples). The shaded tiles render the evaluated object
(modifier stack included) in grey clay in a throw-away scene: a stand-in object that shares
the mesh, its material slots overridden by clay that keeps each part's transparency (the
head's clear eye shells stay clear, the cornea window and lash strands keep their alpha).
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any, cast

import bpy
import numpy as np

TILE = 256  # px, side of each of the four tiles
SAMPLES = 16


def _fit(img: np.ndarray, side: int = TILE) -> np.ndarray:
    """(H, W, C) -> (side, side, C) by nearest-neighbour sampling."""
    h, w = img.shape[:2]
    rows = np.minimum((np.arange(side) + 0.5) * h / side, h - 1).astype(np.int64)
    cols = np.minimum((np.arange(side) + 0.5) * w / side, w - 1).astype(np.int64)
    return img[rows][:, cols]


def _rgb(a: Any) -> np.ndarray:
    x = np.asarray(a)
    if x.dtype == np.uint8:
        return x[..., :3].astype(np.float32) / 255.0
    return np.clip(np.asarray(x, dtype=np.float32)[..., :3], 0.0, 1.0)


def _normals_tile(reco: Any) -> np.ndarray:
    n = np.asarray(reco.maps.normals, dtype=np.float32)  # (S, S, 3) camera frame
    if n.ndim == 3 and n.shape[0] == 3 and n.shape[-1] != 3:
        n = np.moveaxis(n, 0, -1)
    mask = np.asarray(reco.maps.mask, dtype=bool).reshape(n.shape[:2])
    rgb = np.where(mask[..., None], 0.5 + 0.5 * np.nan_to_num(n), 0.0)  # (S, S, 3)
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


CLAY_RGBA = (0.75, 0.72, 0.70, 1.0)  # linear
TRANSPARENT_BOUNCES = 16  # Cycles: the head's eye corner stacks lash cards and clear shells (blender/head.py)


def _clay(alpha: float = 1.0, alpha_image: bpy.types.Image | None = None,
          uv_map: str = "") -> bpy.types.Material:
    """Grey clay; ``alpha`` or the alpha of ``alpha_image`` through ``uv_map`` keeps a part see-through."""
    mat = bpy.data.materials.new("FFP preview clay")
    if mat.node_tree is None:
        mat.use_nodes = True
    tree = mat.node_tree
    bsdf = next(n for n in tree.nodes if n.type == 'BSDF_PRINCIPLED')
    bsdf.inputs["Base Color"].default_value = CLAY_RGBA
    bsdf.inputs["Roughness"].default_value = 0.55
    bsdf.inputs["Alpha"].default_value = alpha
    if alpha_image is not None:
        tex = tree.nodes.new("ShaderNodeTexImage")
        tex.image = alpha_image
        if uv_map:
            uv = tree.nodes.new("ShaderNodeUVMap")
            uv.uv_map = uv_map
            tree.links.new(uv.outputs["UV"], tex.inputs["Vector"])
        tree.links.new(tex.outputs["Alpha"], bsdf.inputs["Alpha"])
    return mat


def clay_alpha(mat: bpy.types.Material | None) -> tuple[float, bpy.types.Image | None, str]:
    """What of ``mat``'s transparency the clay keeps: its Principled BSDF's Alpha as a constant,
    or the image (and UV map) whose alpha drives it.

    Returns ``(alpha, image, uv_map)``: ``(1, None, "")`` for an opaque or unknown material;
    ``(a, None, "")`` for a constant alpha ``a`` (the head's clear eye shells: 0);
    ``(1, image, uv_map)`` when an image's Alpha output feeds it (the sclera's cornea window,
    the eyelash strands).
    """
    tree = getattr(mat, "node_tree", None)
    bsdf = next((n for n in tree.nodes if n.type == 'BSDF_PRINCIPLED'), None) if tree is not None else None
    if bsdf is None:
        return 1.0, None, ""
    socket = bsdf.inputs["Alpha"]
    if not socket.is_linked:
        return float(socket.default_value), None, ""
    link = socket.links[0]
    node = link.from_node
    if node.type != 'TEX_IMAGE' or link.from_socket.name != "Alpha" or node.image is None:
        return 1.0, None, ""
    vector = node.inputs["Vector"]
    src = vector.links[0].from_node if vector.is_linked else None
    uv_map = str(getattr(src, "uv_map", "")) if src is not None and src.type == 'UVMAP' else ""
    return 1.0, node.image, uv_map


def clay_stand_in(obj: bpy.types.Object, made: list[Any]) -> bpy.types.Object:
    """A copy of ``obj`` sharing its mesh (shape keys, modifiers and all), each material slot
    overridden on the object by a clay that keeps that material's transparency (:func:`clay_alpha`).

    A view-layer material override would make every part opaque clay: the head's clear eye
    shells and lash cards would cover the eyeballs. ``obj`` itself is not touched.
    """
    stand = obj.copy()  # object-level copy: the mesh is shared, not duplicated
    made.append(stand)
    plain: bpy.types.Material | None = None
    for slot in stand.material_slots:
        alpha, image, uv_map = clay_alpha(slot.material)
        slot.link = 'OBJECT'
        if alpha >= 1.0 and image is None:
            if plain is None:
                plain = _clay()
                made.append(plain)
            slot.material = plain
        else:
            clay = _clay(alpha, image, uv_map)
            made.append(clay)
            slot.material = clay
    return stand  # (no slots: Blender's default grey surface, a clay already)


def _render_views(obj: bpy.types.Object, azimuths_deg: tuple[float, ...]) -> list[np.ndarray]:
    """Cycles renders of ``obj`` alone, camera at each azimuth (0 = front, from -Y)."""
    scene = bpy.data.scenes.new("FFP preview")
    made: list[Any] = []
    tiles: list[np.ndarray] = []
    try:
        stand = clay_stand_in(obj, made)
        scene.collection.objects.link(stand)
        scene.render.engine = cast(Any, 'CYCLES')
        scene.cycles.device = 'CPU'
        scene.cycles.samples = SAMPLES
        scene.cycles.use_denoising = False
        scene.cycles.transparent_max_bounces = TRANSPARENT_BOUNCES
        scene.render.resolution_x = scene.render.resolution_y = TILE
        scene.render.resolution_percentage = 100
        scene.render.film_transparent = False
        scene.render.image_settings.file_format = 'PNG'
        scene.render.image_settings.color_mode = 'RGB'
        world = bpy.data.worlds.new("FFP preview world")
        made.append(world)
        world.color = (0.05, 0.05, 0.06)
        scene.world = world

        sun_data = cast(bpy.types.SunLight, bpy.data.lights.new("FFP preview sun", 'SUN'))
        made.append(sun_data)
        sun_data.energy = 3.0
        sun = bpy.data.objects.new("FFP preview sun", sun_data)
        made.append(sun)
        sun.rotation_euler = (math.radians(60), 0.0, math.radians(-30))
        scene.collection.objects.link(sun)

        cam_data = bpy.data.cameras.new("FFP preview camera")
        made.append(cam_data)
        cam_data.type = 'ORTHO'
        cam = bpy.data.objects.new("FFP preview camera", cam_data)
        made.append(cam)
        scene.collection.objects.link(cam)
        scene.camera = cam

        centre = np.array(obj.matrix_world.translation) + np.array(
            [sum(c) / 8.0 for c in zip(*(tuple(b) for b in obj.bound_box), strict=True)])
        cam_data.ortho_scale = 1.15 * max(obj.dimensions.x, obj.dimensions.z, 1e-3)
        distance = 2.0
        with tempfile.TemporaryDirectory(prefix="ffp-preview-") as tmp:
            for k, az in enumerate(azimuths_deg):
                a = math.radians(az)
                # camera on a circle around the face centre, looking at it (horizontal)
                cam.location = (centre[0] + distance * math.sin(a),
                                centre[1] - distance * math.cos(a), centre[2])
                cam.rotation_euler = (math.radians(90.0), 0.0, a)
                path = Path(tmp) / f"view{k}.png"
                scene.render.filepath = str(path)
                bpy.ops.render.render(write_still=True, scene=scene.name)
                img = bpy.data.images.load(str(path))
                try:
                    px = np.empty(img.size[0] * img.size[1] * 4, dtype=np.float32)
                    cast(Any, img.pixels).foreach_get(px)
                    tiles.append(px.reshape(img.size[1], img.size[0], 4)[::-1, :, :3].copy())
                finally:
                    bpy.data.images.remove(img)
    finally:
        for block in reversed(made):
            coll: dict[type, Any] = {bpy.types.Object: bpy.data.objects, bpy.types.Camera: bpy.data.cameras,
                    bpy.types.Light: bpy.data.lights, bpy.types.Material: bpy.data.materials,
                    bpy.types.World: bpy.data.worlds}
            for kind, c in coll.items():
                if isinstance(block, kind):
                    c.remove(block)
                    break
        bpy.data.scenes.remove(scene)
    return tiles


def preview_array(obj: bpy.types.Object, reco: Any) -> np.ndarray:
    """``(TILE, 4 * TILE, 3) float32``: photo | normals | shaded front | shaded 45°."""
    photo = _fit(_rgb(reco.crop))
    normals = _fit(_normals_tile(reco))
    front, side = _render_views(obj, (0.0, 45.0))
    return np.concatenate([photo, normals, front, side], axis=1)


def write_preview(obj: bpy.types.Object, reco: Any, path: str | os.PathLike[str]) -> Path:
    """Render the preview and write it as an 8-bit PNG, atomically."""
    from ..core.batch import atomic_write
    from ..core.safe_write import verify_png

    panel = preview_array(obj, reco)  # (TILE, 4 TILE, 3), row 0 at the top
    h, w = panel.shape[:2]
    rgba = np.ones((h, w, 4), dtype=np.float32)
    rgba[:, :, :3] = panel
    img = bpy.data.images.new("FFP preview", width=w, height=h, alpha=False)
    try:
        img.colorspace_settings.name = 'sRGB'
        cast(Any, img.pixels).foreach_set(np.ascontiguousarray(rgba[::-1]).ravel())

        def write(tmp: Path) -> None:
            img.filepath_raw = str(tmp)
            img.file_format = 'PNG'
            img.save()

        return atomic_write(path, write, verify=verify_png)
    finally:
        bpy.data.images.remove(img)
