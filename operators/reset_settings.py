# SPDX-License-Identifier: GPL-3.0-or-later
"""FACE_OT_reset_settings: copy the default options from the preferences into the Scene settings."""

from __future__ import annotations

import bpy

from ..blender.settings import CORE_FIELDS


class FACE_OT_reset_settings(bpy.types.Operator):
    """Reset the reconstruction options to the defaults set in the add-on preferences"""

    bl_idname = "face_from_photo.reset_settings"
    bl_label = "Reset Options"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return getattr(context.scene, "face_from_photo", None) is not None

    def execute(self, context: bpy.types.Context) -> set[str]:
        from .. import preferences

        prefs = preferences.get(context)
        settings = context.scene.face_from_photo
        for name in CORE_FIELDS:
            if prefs is not None:
                setattr(settings, name, getattr(prefs, name))
            else:
                settings.property_unset(name)
        return {'FINISHED'}


classes = (FACE_OT_reset_settings,)
