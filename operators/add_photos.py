# SPDX-License-Identifier: GPL-3.0-or-later
"""FACE_OT_add_photos: add photos of the same person to the active head and fit it again."""

from __future__ import annotations

from typing import Any

import bpy

from ..blender import job, refit
from ..blender.head import is_head
from .photo_files import PhotoFiles


class FACE_OT_add_photos(PhotoFiles, bpy.types.Operator):
    """Add photos of the same person to the active head and fit one head to all its photos again"""

    bl_idname = "face_from_photo.add_photos"
    bl_label = "Add Photos and Re-fit"
    bl_options = {'REGISTER', 'UNDO'}

    _plan: refit.RefitPlan | None = None

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.mode == 'OBJECT' and is_head(context.active_object)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        try:
            refit.head_photos(context.active_object)  # a moved photo is said before the browser opens
        except Exception as err:
            return self.fail(err)
        if self.directory and len(self.files):
            return super().invoke(context, event)
        return self.browse(context)

    def prepare(self, context: bpy.types.Context) -> tuple[list[str], Any, job.BlenderChoices]:
        """The head's photos and the chosen ones, the head's options, the preferences' choices."""
        from .. import preferences

        plan = refit.plan_refit(context.active_object, self.chosen_paths())
        self._plan = plan
        self._options = plan.options
        return list(plan.photos), plan.options, job.BlenderChoices.from_preferences(preferences.get(context))

    def one_person_run(self) -> bool:
        return True

    def finish(self, context: bpy.types.Context, reco: Any, choices: job.BlenderChoices) -> set[str]:
        """Swap the head for the re-fit (:func:`blender.refit.replace_head`); each photo left out
        is reported as a warning."""
        plan = self._plan
        assert plan is not None
        old = refit.find_head(plan)
        for warning in reco.warnings:
            self.report({'WARNING'}, warning)
        refit.check_added_kept(reco, plan)
        obj = refit.replace_head(old, reco, plan.options, choices, view_layer=context.view_layer)
        total = float(reco.timings.get("total", 0.0))
        self.report({'INFO'}, f"Re-fitted '{obj.name}' to {len(reco.kept)} photos ({total:.1f} s).")
        return {'FINISHED'}

    def draw(self, context: bpy.types.Context) -> None:
        plan = self._plan
        if plan is not None:
            self.layout.label(text=f"{len(plan.photos)} photos, {plan.added} added")


classes = (FACE_OT_add_photos,)
