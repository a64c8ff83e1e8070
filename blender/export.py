# SPDX-License-Identifier: GPL-3.0-or-later
"""Write a face object to glb / fbx / obj / ply / blend, with its modifiers applied.

Each writer takes the final path and writes it through ``core.safe_write``
(temporary file in the same folder, fsync, a check of the format, then
rename): an interrupted export never leaves a file under the final name, and
neither does a full disk, which Blender's OBJ, PLY and .blend writers do not
report (they return ``{'FINISHED'}`` with the file cut short; the OBJ check
counts its vertex and face lines against the evaluated mesh). glb, obj and ply hold the evaluated mesh
(smoothing, subdivision at viewport levels and detail applied); .blend keeps
the live modifier stack so the artist can still tweak it.

A head (an object with shape keys) keeps them: glb and fbx then hold the base mesh with
its 53 ARKit shape keys as morph targets (glTF) or blend shapes (FBX), with their
current values, and no modifiers applied (both exporters drop shape keys when they apply
modifiers); obj and ply hold the mesh as shown, keys mixed in and modifiers applied.
Textures: embedded in glb and fbx; written next to the obj (named in its .mtl).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import bpy

FORMATS = ("glb", "fbx", "obj", "ply", "blend")


def has_shape_keys(obj: bpy.types.Object) -> bool:
    """True when the object's mesh has shape keys beyond the Basis (a head)."""
    keys = getattr(obj.data, "shape_keys", None)
    return keys is not None and len(keys.key_blocks) > 1


@contextmanager
def only_selected(obj: bpy.types.Object) -> Iterator[None]:
    """Select just ``obj`` (and make it active) for the exporters, then restore."""
    view_layer = bpy.context.view_layer
    before = [o for o in view_layer.objects if o.select_get()]
    active = view_layer.objects.active
    for o in before:
        o.select_set(False)
    obj.select_set(True)
    view_layer.objects.active = obj
    try:
        yield
    finally:
        try:
            obj.select_set(False)
        except ReferenceError:
            pass
        for o in before:
            try:
                o.select_set(True)
            except ReferenceError:
                pass
        view_layer.objects.active = active


def _glb(obj: bpy.types.Object, tmp: Path) -> None:
    keys = has_shape_keys(obj)
    with only_selected(obj):
        bpy.ops.export_scene.gltf(
            filepath=str(tmp), export_format='GLB', use_selection=True, export_apply=not keys,
            export_yup=True, export_texcoords=True, export_normals=True, export_materials='EXPORT',
            export_cameras=False, export_lights=False, export_animations=False,
            export_morph=keys, export_morph_normal=False, export_try_sparse_sk=True,
        )


def _fbx(obj: bpy.types.Object, tmp: Path) -> None:
    """Binary FBX 7.4, Y up, textures embedded; shape keys as blend shapes (modifiers then not applied)."""
    with only_selected(obj):
        bpy.ops.export_scene.fbx(
            filepath=str(tmp), use_selection=True, object_types={'MESH'},
            use_mesh_modifiers=not has_shape_keys(obj), mesh_smooth_type='FACE', use_custom_props=False,
            add_leaf_bones=False, bake_anim=False, path_mode='COPY', embed_textures=True,
            axis_forward='-Z', axis_up='Y', apply_scale_options='FBX_SCALE_UNITS',
        )


def _ply(obj: bpy.types.Object, tmp: Path) -> None:
    with only_selected(obj):
        bpy.ops.wm.ply_export(
            filepath=str(tmp), export_selected_objects=True, apply_modifiers=True, export_uv=True,
            export_normals=True, export_colors='NONE', export_triangulated_mesh=True, ascii_format=False,
        )


def _obj(obj: bpy.types.Object, tmp: Path, final: Path) -> None:
    """OBJ + MTL + texture: exported under the final stem in a scratch folder, then moved.

    The .mtl and texture go next to the output through ``core.batch.atomic_write``
    (each checked; inside a batch they are renamed together with the photo's
    other outputs) and are registered with ``core.batch.add_side_file``; the
    .obj goes to ``tmp`` (checked and renamed to its final name by the caller).
    """
    from ..core.batch import add_side_file, atomic_write
    from ..core.safe_write import verifier_for

    with tempfile.TemporaryDirectory(prefix=f".ffp-obj-{os.getpid()}-", dir=final.parent) as scratch:
        target = Path(scratch) / final.name
        with only_selected(obj):
            bpy.ops.wm.obj_export(
                filepath=str(target), export_selected_objects=True, apply_modifiers=True,
                export_uv=True, export_normals=True, export_materials=True, path_mode='COPY',
                export_triangulated_mesh=True, forward_axis='NEGATIVE_Z', up_axis='Y',
            )
        _write_packed_textures(obj, Path(scratch))
        for side in sorted(Path(scratch).iterdir()):
            if side != target:
                atomic_write(final.parent / side.name, lambda t, side=side: os.replace(side, t),
                             verify=verifier_for(side))
                add_side_file(final.parent / side.name)  # only once written: a failed write keeps the old one
        shutil.move(str(target), str(tmp))


def _write_packed_textures(obj: bpy.types.Object, folder: Path) -> None:
    """Write the packed images the .mtl names but the OBJ writer did not copy (it copies files only)."""
    mtl = next(folder.glob("*.mtl"), None)
    text = mtl.read_text(errors="replace") if mtl is not None else ""
    for slot in obj.material_slots:
        tree = slot.material.node_tree if slot.material is not None else None
        for node in tree.nodes if tree is not None else ():
            image = getattr(node, "image", None) if node.type == 'TEX_IMAGE' else None
            if image is None or image.packed_file is None or not image.filepath_raw:
                continue
            name = Path(bpy.path.abspath(image.filepath_raw)).name
            if name in text and not (folder / name).exists():
                (folder / name).write_bytes(image.packed_file.data)


def _blend(obj: bpy.types.Object, tmp: Path) -> None:
    """The whole session as a .blend (the batch keeps only the current face in it)."""
    paths = bpy.context.preferences.filepaths
    versions = paths.save_version
    paths.save_version = 0  # no .blend1 backup of the (empty) temporary file
    try:
        bpy.ops.wm.save_as_mainfile(filepath=str(tmp), copy=True, check_existing=False, compress=True,
                                    relative_remap=False)
    finally:
        paths.save_version = versions
        Path(str(tmp) + "1").unlink(missing_ok=True)


def writer(fmt: str, obj: bpy.types.Object, final: Path) -> Callable[[Path], None]:
    """The ``writer(tmp_path)`` callable for ``core.batch.atomic_write``."""
    if fmt == "glb":
        return lambda tmp: _glb(obj, tmp)
    if fmt == "ply":
        return lambda tmp: _ply(obj, tmp)
    if fmt == "fbx":
        return lambda tmp: _fbx(obj, tmp)
    if fmt == "obj":
        return lambda tmp: _obj(obj, tmp, final)
    if fmt == "blend":
        return lambda tmp: _blend(obj, tmp)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def mesh_counts(obj: bpy.types.Object) -> tuple[int, int]:
    """(vertices, triangles) of the evaluated mesh: what glb/obj/ply exports hold."""
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mesh = evaluated.to_mesh()
    try:
        mesh.calc_loop_triangles()
        return len(mesh.vertices), len(mesh.loop_triangles)
    finally:
        evaluated.to_mesh_clear()


def verifier(fmt: str, obj: bpy.types.Object) -> Callable[[Path], None]:
    """The check ``core.safe_write`` runs on the written file before renaming it."""
    from ..core import safe_write

    if fmt == "obj":
        vertices, faces = mesh_counts(obj)
        return lambda path: safe_write.verify_obj(path, vertices=vertices, faces=faces)
    return safe_write.verifier_for(f"x.{fmt}")


def export(obj: bpy.types.Object, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
    """Write ``obj`` to ``path``, checked before the rename; the format defaults to the extension."""
    from ..core.batch import atomic_write

    final = Path(path)
    fmt = (fmt or final.suffix.lstrip(".")).lower()
    return atomic_write(final, writer(fmt, obj, final), verify=verifier(fmt, obj))
