# SPDX-License-Identifier: GPL-3.0-or-later
"""FACE_OT_neutral_expression: set every ARKit shape key of the active head to 0."""

from __future__ import annotations

import bpy

from ..blender.head import is_head, set_expression


class FACE_OT_neutral_expression(bpy.types.Operator):
    """Set all 53 ARKit shape keys of the active head to 0: the person's neutral face"""

    bl_idname = "face_from_photo.neutral_expression"
    bl_label = "Neutral Expression"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return is_head(context.active_object)

    def execute(self, context: bpy.types.Context) -> set[str]:
        obj = context.active_object
        if obj is None:
            return {'CANCELLED'}
        count = set_expression(obj)
        self.report({'INFO'}, f"Set {count} shape keys of '{obj.name}' to 0.")
        return {'FINISHED'}


classes = (FACE_OT_neutral_expression,)
