# SPDX-License-Identifier: GPL-3.0-or-later
"""One finished Blender object from a core reconstruction, or nothing at all.

:func:`build_object` creates, in order: the mesh (``foreach_set``), the photo
image and material, the predicted maps as images, the detail image and its
texture, the object with its live modifier stack and custom properties. Every
datablock it creates is tracked; if any step fails they are all removed, so a
failure leaves ``bpy.data`` as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from . import images, material, mesh, modifiers

# Custom properties written on the object (documented for scripts).
PROP_SOURCE = "face_from_photo_source"
PROP_OPTIONS = "face_from_photo_options"
PROP_MODEL = "face_from_photo_model_sha256"
PROP_MAPS = "face_from_photo_maps"


@dataclass(frozen=True)
class BuildSettings:
    """Blender-only choices for building the object.

    Attributes
    ----------
    name : str
        Object, mesh and datablock name stem (the photo's file stem).
    location : (3,) float
        Object origin in m (the 3D cursor).
    pack_images : bool
        Pack the generated images into the .blend; otherwise write them to
        ``image_folder`` and reference the files.
    image_folder : Path or None
        Where unpacked images are written.
    stack : modifiers.StackSettings
        The live modifier stack.
    store_maps : bool
        Keep the predicted maps (N, W, mask, depth) as images.
    """

    name: str
    location: tuple[float, float, float] = (0.0, 0.0, 0.0)
    pack_images: bool = True
    image_folder: Path | None = None
    stack: modifiers.StackSettings = modifiers.StackSettings()
    store_maps: bool = True


class Created:
    """The datablocks one build created, removable in one call."""

    def __init__(self) -> None:
        self.ids: list[bpy.types.ID] = []
        self.files: list[Path] = []

    def add(self, datablock: Any) -> Any:
        if datablock is not None:
            self.ids.append(datablock)
        return datablock

    def remove_all(self) -> None:
        """Remove every tracked datablock, newest first (objects before their data)."""
        collections: dict[type, Any] = {
            bpy.types.Object: bpy.data.objects,
            bpy.types.Mesh: bpy.data.meshes,
            bpy.types.Material: bpy.data.materials,
            bpy.types.Image: bpy.data.images,
            bpy.types.Texture: bpy.data.textures,
        }
        for datablock in reversed(self.ids):
            for kind, coll in collections.items():
                if isinstance(datablock, kind):
                    try:
                        coll.remove(datablock)
                    except ReferenceError:
                        pass  # already gone
                    break
        self.ids.clear()
        for path in self.files:
            path.unlink(missing_ok=True)
        self.files.clear()


@contextmanager
def all_or_nothing() -> Iterator[Created]:
    """Track created datablocks; on any exception remove them and re-raise."""
    created = Created()
    try:
        yield created
    except BaseException:
        created.remove_all()
        raise


def _map(value: Any, channels: int) -> np.ndarray:
    """A predicted map as ``(S, S)`` or ``(S, S, 3)`` float32 with NaN replaced by 0."""
    a = np.asarray(value, dtype=np.float32)
    if a.ndim == 3 and a.shape[0] == channels and a.shape[-1] != channels:
        a = np.moveaxis(a, 0, -1)  # (C, S, S) -> (S, S, C)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[:, :, 0]
    return np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)


def _rgb01(texture: np.ndarray) -> np.ndarray:
    """uint8 or float RGB picture -> (H, W, 3) float32 in [0, 1]."""
    a = np.asarray(texture)
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float32) / 65535.0
    return np.clip(a.astype(np.float32), 0.0, 1.0)


def new_tracked_image(created: Created, settings: BuildSettings, name: str, pixels: np.ndarray,
                      *, data: bool) -> bpy.types.Image:
    """An image of ``pixels`` (row 0 at the top), packed or written as the settings say, tracked."""
    img = created.add(images.new_image(name, pixels, non_color=data, float_buffer=data))
    images.store(img, pack=settings.pack_images, folder=settings.image_folder)
    if not settings.pack_images and img.filepath_raw:
        created.files.append(Path(img.filepath_raw))
    return img


def maps_images(reco: Any, settings: BuildSettings, created: Created) -> dict[str, bpy.types.Image]:
    """The predicted maps as images: normals (encoded 0.5 + 0.5 N), W, mask, depth (px)."""
    maps = reco.maps
    name = settings.name
    out: dict[str, bpy.types.Image] = {}
    normals = _map(maps.normals, 3)  # (S, S, 3) unit vectors, camera frame
    out["normals"] = new_tracked_image(created, settings, f"{name} normals", 0.5 + 0.5 * normals,
                                       data=True)
    out["grad_mag"] = new_tracked_image(created, settings, f"{name} gradient", _map(maps.grad_mag, 1),
                                        data=True)
    mask = _map(np.asarray(maps.mask, dtype=np.float32), 1)  # (S, S) 0/1
    out["mask"] = new_tracked_image(created, settings, f"{name} mask", mask, data=True)
    depth = reco.depth if getattr(reco, "depth", None) is not None else maps.depth
    out["depth"] = new_tracked_image(created, settings, f"{name} depth", _map(depth, 1), data=True)
    return out


def build_object(
    reco: Any,
    settings: BuildSettings,
    *,
    collection: bpy.types.Collection,
    options_json: str | None = None,
) -> bpy.types.Object:
    """Create the textured face object from a :class:`core.pipeline.Reconstruction`.

    Parameters
    ----------
    reco : core.pipeline.Reconstruction
        ``reco.mesh.vertices (n, 3) float32`` m, ``reco.mesh.triangles (m, 3)
        int32``, ``reco.mesh.uvs (n, 2) float32`` into ``reco.texture
        (T, T, 3) uint8``; ``reco.detail (T, T) float32`` in [-1, 1];
        ``reco.maps`` (S x S); ``reco.model_sha256``; ``reco.source``.
    settings : BuildSettings
    collection : bpy.types.Collection
        Where the object is linked.
    options_json : str or None
        Stored in the object's ``face_from_photo_options`` property; default
        ``reco.options.to_dict()``.

    Returns
    -------
    bpy.types.Object
        Linked to ``collection``; nothing is left behind when this raises.
    """
    name = settings.name
    with all_or_nothing() as created:
        vertices = np.ascontiguousarray(reco.mesh.vertices, dtype=np.float32)  # (n, 3) m
        triangles = np.ascontiguousarray(reco.mesh.triangles, dtype=np.int32)  # (m, 3)
        uvs = np.ascontiguousarray(reco.mesh.uvs, dtype=np.float32)  # (n, 2)
        me = created.add(mesh.new_mesh(name, vertices, triangles, uvs))
        me.shade_smooth()

        photo = new_tracked_image(created, settings, f"{name} photo", _rgb01(reco.texture), data=False)
        mat = created.add(material.new_photo_material(f"{name} photo", photo))
        me.materials.append(mat)

        stored: dict[str, bpy.types.Image] = {}
        if settings.store_maps:
            stored = maps_images(reco, settings, created)

        detail = np.clip(np.asarray(reco.detail, dtype=np.float32), -1.0, 1.0)  # (T, T)
        detail_img = new_tracked_image(created, settings, f"{name} detail", 0.5 + 0.5 * detail, data=True)

        obj = created.add(bpy.data.objects.new(name, me))
        obj.location = settings.location
        created.add(modifiers.add_stack(obj, detail_img, settings.stack))

        obj[PROP_SOURCE] = str(reco.source or "")
        if options_json is None:
            options = reco.options.to_dict() if hasattr(reco.options, "to_dict") else {}
            options_json = json.dumps(options, sort_keys=True)
        obj[PROP_OPTIONS] = options_json
        obj[PROP_MODEL] = str(getattr(reco, "model_sha256", "") or "")
        obj[PROP_MAPS] = json.dumps({k: img.name for k, img in {**stored, "detail": detail_img}.items()})
        collection.objects.link(obj)
    return obj


def owned_datablocks(obj: bpy.types.Object) -> list[bpy.types.ID]:
    """The object and the datablocks built with it: mesh, materials, displace textures, images.

    In the order they can be removed (each before the datablocks it uses). Images are
    found through :data:`PROP_MAPS` and the materials' image nodes.
    """
    me = obj.data
    mats = [m for m in getattr(me, "materials", []) if m is not None]
    imgs: list[bpy.types.Image] = []
    try:
        names = json.loads(str(obj.get(PROP_MAPS, "{}")))
        imgs += [bpy.data.images[n] for n in names.values() if n in bpy.data.images]
    except ValueError:
        pass
    for m in mats:
        if m.node_tree is not None:
            imgs += [n.image for n in m.node_tree.nodes if n.type == 'TEX_IMAGE' and n.image is not None]
    texs = [md.texture for md in obj.modifiers
            if isinstance(md, bpy.types.DisplaceModifier) and md.texture is not None]
    return [obj, me, *dict.fromkeys(mats), *dict.fromkeys(texs), *dict.fromkeys(imgs)]


def remove_object(obj: bpy.types.Object, *, keep_used: bool = False) -> None:
    """Remove a face object and the datablocks built with it (mesh, images, material, texture).

    ``keep_used``: a datablock that something else still uses once the object is gone (a
    material the artist gave another object, an image with a fake user) is kept.
    """
    ids = owned_datablocks(obj)
    if not keep_used:
        created = Created()
        created.ids = list(reversed(ids))  # remove_all() goes newest first: the object first
        created.remove_all()
        return
    for datablock in ids:  # each before the ones it uses: their user counts drop as we go
        if datablock is obj or datablock.users == 0:
            one = Created()
            one.ids = [datablock]
            one.remove_all()


def stack_settings(options: Mapping[str, Any], *, subdiv_levels: int = 0,
                   subdiv_render_levels: int = 0) -> modifiers.StackSettings:
    """Modifier stack settings from core option values (``ReconstructOptions`` names)."""
    return modifiers.StackSettings(
        smooth_factor=float(options.get("smoothing_factor", 0.5)),
        smooth_iterations=int(options.get("smoothing_iterations", 3)),
        subdiv_levels=subdiv_levels,
        subdiv_render_levels=subdiv_render_levels,
        detail_strength=modifiers.displace_strength(float(options.get("detail_strength", 0.001))),
    )
