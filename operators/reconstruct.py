# SPDX-License-Identifier: GPL-3.0-or-later
"""FACE_OT_reconstruct: reconstruct a face mesh from the photo in the sidebar settings."""

from __future__ import annotations

import bpy

from .runner import RunnerMixin


class FACE_OT_reconstruct(RunnerMixin, bpy.types.Operator):
    """Reconstruct a textured 3D face mesh from a photo"""

    bl_idname = "face_from_photo.reconstruct"
    bl_label = "Reconstruct from Photo"
    bl_options = {'REGISTER', 'UNDO'}

    filepath: bpy.props.StringProperty(
        name="Photo", subtype='FILE_PATH',
        description="Photo of a face; empty uses the photo chosen in the sidebar",
    )

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None and (context.mode == 'OBJECT')

    def photo_path(self, context: bpy.types.Context) -> str:
        if self.filepath:
            return str(self.filepath)
        settings = getattr(context.scene, "face_from_photo", None)
        return str(settings.photo) if settings is not None else ""


classes = (FACE_OT_reconstruct,)
