# SPDX-License-Identifier: GPL-3.0-or-later
"""FACE_OT_import_photo: File > Import > Face from Photo, and drag-and-drop target."""

from __future__ import annotations

import bpy
from bpy_extras.io_utils import ImportHelper

from .photo_files import PhotoFiles
from .runner import RunnerMixin


class FACE_OT_import_photo(PhotoFiles, RunnerMixin, ImportHelper, bpy.types.Operator):
    """Reconstruct a textured 3D face mesh from a photo file"""

    bl_idname = "face_from_photo.import_photo"
    bl_label = "Face from Photo"
    bl_options = {'REGISTER', 'UNDO', 'PRESET'}

    filename_ext = ".jpg"
    # filepath comes from ImportHelper; a drop from the FileHandler sets it too.
    filepath: bpy.props.StringProperty(name="Photo", subtype='FILE_PATH', options={'SKIP_SAVE'})
    one_person: bpy.props.BoolProperty(
        name="One Person", default=True,
        description="Several photos show one person: make one head from them all (else one object per photo)",
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None and context.mode == 'OBJECT'

    def photo_path(self, context: bpy.types.Context) -> str:
        return str(self.filepath)

    def photo_paths(self, context: bpy.types.Context) -> list[str]:
        """The chosen files (``directory`` + ``files``), else ``filepath``."""
        return self.chosen_paths() or [str(self.filepath)]

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if self.filepath or (self.directory and len(self.files)):  # dropped on the viewport: no browser
            return RunnerMixin.invoke(self, context, event)
        self.copy_scene_settings(context)
        return self.browse(context)

    def draw(self, context: bpy.types.Context) -> None:
        self.layout.prop(self, "one_person")
        RunnerMixin.draw(self, context)


def menu_func_import(self: bpy.types.Menu, context: bpy.types.Context) -> None:
    self.layout.operator(FACE_OT_import_photo.bl_idname, text="Face from Photo (.jpg, .png, …)")


classes = (FACE_OT_import_photo,)


def register() -> None:
    bpy.types.TOPBAR_MT_file_import.append(menu_func_import)


def unregister() -> None:
    bpy.types.TOPBAR_MT_file_import.remove(menu_func_import)
