# SPDX-License-Identifier: GPL-3.0-or-later
"""FACE_PT_main: the View3D > Sidebar > Face panel."""

import bpy

from ..blender import warmup
from ..blender.head import is_head


class FACE_PT_main(bpy.types.Panel):
    bl_label = "Face from Photo"
    bl_idname = "FACE_PT_main"
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "Face"

    def draw(self, context: bpy.types.Context) -> None:
        warmup.request(context)  # shown before the enable timer fired: warm up now (no-op once started)
        layout = self.layout
        settings = getattr(context.scene, "face_from_photo", None)
        if settings is None:
            layout.label(text="Settings unavailable", icon='ERROR')
            return
        layout.prop(settings, "photo", text="")
        col = layout.column()
        col.use_property_split = True
        col.use_property_decorate = False
        col.prop(settings, "output")
        if settings.output == 'head':
            col.prop(settings, "head_texture_size")
        col.prop(settings, "resolution")
        col.prop(settings, "geometry")
        col.prop(settings, "lam")
        col.prop(settings, "smoothing_factor")
        col.prop(settings, "smoothing_iterations")
        col.prop(settings, "detail_strength")
        col.prop(settings, "face_index")
        col.prop(settings, "target_faces")
        row = layout.row()
        row.scale_y = 1.8
        row.operator("face_from_photo.reconstruct", text="Reconstruct from Photo", icon='USER')
        layout.operator("face_from_photo.reset_settings", icon='LOOP_BACK')
        if is_head(context.active_object):
            row = layout.row(align=True)
            row.operator("face_from_photo.neutral_expression", icon='SHAPEKEY_DATA')
            row.operator("face_from_photo.photo_expression", icon='IMAGE_DATA')
            layout.operator("face_from_photo.add_photos", icon='FILE_IMAGE')


classes = (FACE_PT_main,)
