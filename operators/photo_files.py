# SPDX-License-Identifier: GPL-3.0-or-later
"""PhotoFiles: operators that take several photos from the file browser (or a drop), then run core."""

from __future__ import annotations

import os

import bpy

from .runner import RunModes

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


class PhotoFiles(RunModes):
    """Operator mixin: ``directory`` + ``files`` chosen in the file browser (multi-select).

    :meth:`browse` opens the browser; confirming it calls ``execute``, which then runs in
    the background like an invoke (:meth:`RunModes.start_modal`); scripts and the redo
    panel (the flag cleared) run blocking.
    """

    filter_glob: bpy.props.StringProperty(
        default=";".join(f"*{e}" for e in PHOTO_EXTENSIONS), options={'HIDDEN'},
    )
    # several files chosen in the browser (or dropped): directory + their names
    files: bpy.props.CollectionProperty(type=bpy.types.OperatorFileListElement,
                                        options={'HIDDEN', 'SKIP_SAVE'})
    directory: bpy.props.StringProperty(subtype='DIR_PATH', options={'HIDDEN', 'SKIP_SAVE'})
    modal_after_browse: bpy.props.BoolProperty(default=False, options={'HIDDEN', 'SKIP_SAVE'})

    def chosen_paths(self) -> list[str]:
        """The chosen files, ``directory`` + each name (empty when none were given)."""
        names = [f.name for f in self.files if f.name]
        if self.directory and names:
            return [os.path.join(str(self.directory), n) for n in names]
        return []

    def browse(self, context: bpy.types.Context) -> set[str]:
        """Open the file browser; its confirmation runs ``execute``."""
        self.modal_after_browse = True
        context.window_manager.fileselect_add(self)
        return {'RUNNING_MODAL'}

    def execute(self, context: bpy.types.Context) -> set[str]:
        if self.modal_after_browse and not bpy.app.background and context.window is not None:
            self.modal_after_browse = False
            return self.start_modal(context)
        return super().execute(context)
