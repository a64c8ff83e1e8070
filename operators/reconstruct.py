# SPDX-License-Identifier: GPL-3.0-or-later
"""FACE_OT_reconstruct: reconstruct a face mesh from the chosen photo."""

import bpy


class FACE_OT_reconstruct(bpy.types.Operator):
    """Reconstruct a textured 3D face mesh from a photo"""

    bl_idname = "face_from_photo.reconstruct"
    bl_label = "Reconstruct from Photo"
    bl_options = {'REGISTER', 'UNDO'}

    filepath: bpy.props.StringProperty(name="Photo", subtype='FILE_PATH')  # type: ignore[valid-type]

    def execute(self, context: bpy.types.Context) -> set[str]:
        self.report({'ERROR'}, "The reconstruction pipeline is not installed yet.")
        return {'CANCELLED'}


classes = (FACE_OT_reconstruct,)
