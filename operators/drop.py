# SPDX-License-Identifier: GPL-3.0-or-later
"""FACE_FH_photo: dropping a photo on the 3D viewport reconstructs it."""

from __future__ import annotations

import bpy

from .import_photo import FACE_OT_import_photo
from .photo_files import PHOTO_EXTENSIONS


class FACE_FH_photo(bpy.types.FileHandler):
    bl_idname = "FACE_FH_photo"
    bl_label = "Face from Photo"
    bl_import_operator = FACE_OT_import_photo.bl_idname
    bl_file_extensions = ";".join(PHOTO_EXTENSIONS)

    @classmethod
    def poll_drop(cls, context: bpy.types.Context) -> bool:
        return context.area is not None and context.area.type == 'VIEW_3D'


classes = (FACE_FH_photo,)
