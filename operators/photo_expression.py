# SPDX-License-Identifier: GPL-3.0-or-later
"""FACE_OT_photo_expression: set the active head's ARKit shape keys back to the values fitted to its photo."""

from __future__ import annotations

import json

import bpy

from ..blender.head import PROP_EXPRESSION, is_head, set_expression


class FACE_OT_photo_expression(bpy.types.Operator):
    """Set the active head's ARKit shape keys back to the expression fitted to its photo"""

    bl_idname = "face_from_photo.photo_expression"
    bl_label = "Photo Expression"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        obj = context.active_object
        return obj is not None and is_head(obj) and obj.get(PROP_EXPRESSION) is not None

    def execute(self, context: bpy.types.Context) -> set[str]:
        obj = context.active_object
        if obj is None:
            return {'CANCELLED'}
        try:
            values = json.loads(str(obj[PROP_EXPRESSION]))
        except ValueError:
            self.report({'ERROR'}, f"The fitted expression stored on '{obj.name}' is damaged; "
                                   "reconstruct the head again.")
            return {'CANCELLED'}
        set_expression(obj, {str(k): float(v) for k, v in values.items()})
        return {'FINISHED'}


classes = (FACE_OT_photo_expression,)
