# SPDX-License-Identifier: GPL-3.0-or-later
"""FACE_PT_main: the View3D > Sidebar > Face panel."""

import bpy


class FACE_PT_main(bpy.types.Panel):
    bl_label = "Face from Photo"
    bl_idname = "FACE_PT_main"
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "Face"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        row = layout.row()
        row.scale_y = 1.6
        row.operator("face_from_photo.reconstruct", icon='USER')


classes = (FACE_PT_main,)
