# SPDX-License-Identifier: GPL-3.0-or-later
"""Write a face object to glb / obj / ply / blend, with its modifiers applied.

Each writer takes the final path and writes it through ``core.batch.atomic_write``
(temporary file in the same folder, then rename): an interrupted export never
leaves a file under the final name. glb, obj and ply hold the evaluated mesh
(smoothing, subdivision at viewport levels and detail applied); .blend keeps
the live modifier stack so the artist can still tweak it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import bpy

FORMATS = ("glb", "obj", "ply", "blend")


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
    with only_selected(obj):
        bpy.ops.export_scene.gltf(
            filepath=str(tmp), export_format='GLB', use_selection=True, export_apply=True,
            export_yup=True, export_texcoords=True, export_normals=True, export_materials='EXPORT',
            export_cameras=False, export_lights=False, export_animations=False,
        )


def _ply(obj: bpy.types.Object, tmp: Path) -> None:
    with only_selected(obj):
        bpy.ops.wm.ply_export(
            filepath=str(tmp), export_selected_objects=True, apply_modifiers=True, export_uv=True,
            export_normals=True, export_colors='NONE', export_triangulated_mesh=True, ascii_format=False,
        )


def _obj(obj: bpy.types.Object, tmp: Path, final: Path) -> None:
    """OBJ + MTL + texture: exported under the final stem in a scratch folder, then moved.

    The .mtl and texture are moved next to the output first (each with an
    atomic rename, and registered with ``core.batch.add_side_file`` so a batch
    removes them again when a later output of the same photo fails); the .obj
    goes to ``tmp`` (renamed to its final name by the caller).
    """
    from ..core.batch import add_side_file

    with tempfile.TemporaryDirectory(prefix=".ffp-obj-", dir=final.parent) as scratch:
        target = Path(scratch) / final.name
        with only_selected(obj):
            bpy.ops.wm.obj_export(
                filepath=str(target), export_selected_objects=True, apply_modifiers=True,
                export_uv=True, export_normals=True, export_materials=True, path_mode='COPY',
                export_triangulated_mesh=True, forward_axis='NEGATIVE_Z', up_axis='Y',
            )
        for side in sorted(Path(scratch).iterdir()):
            if side != target:
                add_side_file(final.parent / side.name)
                os.replace(side, final.parent / side.name)
        shutil.move(str(target), str(tmp))


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
    if fmt == "obj":
        return lambda tmp: _obj(obj, tmp, final)
    if fmt == "blend":
        return lambda tmp: _blend(obj, tmp)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def export(obj: bpy.types.Object, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
    """Write ``obj`` to ``path`` atomically; the format defaults to the file extension."""
    from ..core.batch import atomic_write

    final = Path(path)
    fmt = (fmt or final.suffix.lstrip(".")).lower()
    return atomic_write(final, writer(fmt, obj, final))
