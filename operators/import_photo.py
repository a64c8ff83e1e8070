# SPDX-License-Identifier: GPL-3.0-or-later
"""FACE_OT_import_photo: File > Import > Face from Photo, and drag-and-drop target."""

from __future__ import annotations

import bpy
from bpy_extras.io_utils import ImportHelper

from .runner import RunnerMixin

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


class FACE_OT_import_photo(RunnerMixin, ImportHelper, bpy.types.Operator):
    """Reconstruct a textured 3D face mesh from a photo file"""

    bl_idname = "face_from_photo.import_photo"
    bl_label = "Face from Photo"
    bl_options = {'REGISTER', 'UNDO', 'PRESET'}

    filename_ext = ".jpg"
    filter_glob: bpy.props.StringProperty(
        default=";".join(f"*{e}" for e in PHOTO_EXTENSIONS), options={'HIDDEN'},
    )
    # filepath comes from ImportHelper; a drop from the FileHandler sets it too.
    filepath: bpy.props.StringProperty(name="Photo", subtype='FILE_PATH', options={'SKIP_SAVE'})
    # several files chosen in the browser (or dropped): directory + their names
    files: bpy.props.CollectionProperty(type=bpy.types.OperatorFileListElement,
                                        options={'HIDDEN', 'SKIP_SAVE'})
    directory: bpy.props.StringProperty(subtype='DIR_PATH', options={'HIDDEN', 'SKIP_SAVE'})
    one_person: bpy.props.BoolProperty(
        name="One Person", default=True,
        description="Several photos show one person: make one head from them all (else one object per photo)",
    )
    modal_after_browse: bpy.props.BoolProperty(default=False, options={'HIDDEN', 'SKIP_SAVE'})

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None and context.mode == 'OBJECT'

    def photo_path(self, context: bpy.types.Context) -> str:
        return str(self.filepath)

    def photo_paths(self, context: bpy.types.Context) -> list[str]:
        """The chosen files (``directory`` + ``files``), else ``filepath``."""
        import os

        names = [f.name for f in self.files if f.name]
        if self.directory and names:
            return [os.path.join(str(self.directory), n) for n in names]
        return [str(self.filepath)]

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if self.filepath or (self.directory and len(self.files)):  # dropped on the viewport: no browser
            return RunnerMixin.invoke(self, context, event)
        self.copy_scene_settings(context)
        self.modal_after_browse = True
        context.window_manager.fileselect_add(self)
        return {'RUNNING_MODAL'}

    def execute(self, context: bpy.types.Context) -> set[str]:
        # Confirmed in the file browser: run in the background like an invoke.
        # Scripts and the redo panel (flag cleared) run blocking.
        if self.modal_after_browse and not bpy.app.background and context.window is not None:
            self.modal_after_browse = False
            return self.start_modal(context)
        return RunnerMixin.execute(self, context)

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
