# SPDX-License-Identifier: GPL-3.0-or-later
"""The run modes shared by the operators that run core (bl_pkg style).

- ``invoke`` from the UI: core runs in a worker thread; a window timer polls
  it, drives the status-bar progress and builds the object on the main
  thread when it is done; Esc cancels.
- ``execute`` (scripts, ``bpy.app.background``, the redo panel): blocking.

Settings are copied into frozen ``ReconstructOptions`` before work starts.
Errors end in ``self.report({'ERROR'}, sentence)`` and ``{'CANCELLED'}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import bpy

from ..blender import job
from ..blender.settings import CORE_FIELDS, OptionProps, core_values

TIMER_STEP_S = 0.1

if TYPE_CHECKING:
    _OperatorBase = bpy.types.Operator
else:
    _OperatorBase = object


class RunModes(_OperatorBase):
    """Operator mixin: the modal and blocking run modes, for any operator that runs core.

    Subclasses provide ``prepare(context) -> (photos, options, choices)`` (raising the
    project's error for bad input) and ``finish(context, result, choices) -> set[str]``
    (building the Blender data on the main thread). Two or more photos run
    :func:`blender.job.run_person` when ``one_person_run()`` (the default), else
    :func:`blender.job.run_each`.
    """

    _worker: job.Worker | None = None
    _timer: Any = None
    _choices: job.BlenderChoices | None = None
    _options: Any = None

    def prepare(self, context: bpy.types.Context) -> tuple[list[str], Any, job.BlenderChoices]:
        raise NotImplementedError

    def finish(self, context: bpy.types.Context, reco: Any, choices: job.BlenderChoices) -> set[str]:
        raise NotImplementedError

    def one_person_run(self) -> bool:
        return bool(getattr(self, "one_person", True))

    def run_blocking(self, photos: list[str], options: Any) -> Any:
        """Core for the photos, in this thread (as :class:`blender.job.Worker` does it)."""
        if len(photos) > 1:
            run = job.run_person if self.one_person_run() else job.run_each
            return run(photos, options)
        return job.run_core(photos[0], options)

    def fail(self, err: BaseException) -> set[str]:
        """One sentence for the artist: the project's error as is, anything else worded."""
        if job.is_cancel(err):
            self.report({'WARNING'}, str(err))
            return {'CANCELLED'}
        if isinstance(err, job.core_error_type()):
            message = str(err)
        else:
            message = (f"Reconstruction failed unexpectedly ({type(err).__name__}: {err}); "
                       "please report this bug.")
        self.report({'ERROR'}, message)
        return {'CANCELLED'}

    # ------------------------------------------------------------------ blocking

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            photos, options, choices = self.prepare(context)
            reco = self.run_blocking(photos, options)
            return self.finish(context, reco, choices)
        except Exception as err:
            return self.fail(err)

    # ------------------------------------------------------------------ modal

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if bpy.app.background or context.window is None:
            return self.execute(context)
        return self.start_modal(context)

    def start_modal(self, context: bpy.types.Context) -> set[str]:
        """Start core in a worker thread and poll it from a window timer."""
        try:
            photos, options, choices = self.prepare(context)
        except Exception as err:
            return self.fail(err)
        self._choices = choices
        self._worker = job.Worker(photos[0], options, photos=tuple(photos), one_person=self.one_person_run())
        self._worker.start()
        wm = context.window_manager
        self._timer = wm.event_timer_add(TIMER_STEP_S, window=context.window)
        wm.progress_begin(0, 100)
        wm.modal_handler_add(self)
        if context.workspace is not None:
            context.workspace.status_text_set("Face from Photo: starting… (Esc to cancel)")
        return {'RUNNING_MODAL'}

    def _stop_modal(self, context: bpy.types.Context) -> None:
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        worker = self._worker
        if worker is None:
            return {'CANCELLED'}
        if event.type == 'ESC' and event.value == 'PRESS':
            worker.cancel()
            if context.workspace is not None:
                context.workspace.status_text_set("Face from Photo: cancelling…")
            return {'RUNNING_MODAL'}
        if event.type != 'TIMER':
            return {'PASS_THROUGH'}
        if not worker.done:
            context.window_manager.progress_update(int(100 * worker.fraction))
            if context.workspace is not None:
                context.workspace.status_text_set(f"Face from Photo: {worker.message}… (Esc to cancel)")
            return {'RUNNING_MODAL'}
        self._stop_modal(context)
        self._worker = None
        if worker.error is not None:
            return self.fail(worker.error)
        try:
            return self.finish(context, worker.result, self._choices or job.BlenderChoices())
        except Exception as err:
            return self.fail(err)

    def cancel(self, context: bpy.types.Context) -> None:
        """Blender ends the modal operator (window closed, file loaded)."""
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None
        self._stop_modal(context)


class RunnerMixin(OptionProps, RunModes):
    """Operator mixin: redo-panel options + the run modes of :class:`RunModes`.

    Subclasses provide ``photo_path(context) -> str``; one that takes several photos also
    ``photo_paths(context) -> list[str]`` and a ``one_person`` property (several photos ->
    one head, :func:`blender.job.run_person`; else one head per photo, :func:`blender.job.run_each`).
    """

    def photo_path(self, context: bpy.types.Context) -> str:
        raise NotImplementedError

    def photo_paths(self, context: bpy.types.Context) -> list[str]:
        return [self.photo_path(context)]

    # ------------------------------------------------------------------ settings

    def copy_scene_settings(self, context: bpy.types.Context) -> None:
        """Fill the redo-panel options from the Scene settings where the caller set none."""
        settings = getattr(context.scene, "face_from_photo", None)
        if settings is None:
            return
        for name in CORE_FIELDS:
            if not self.properties.is_property_set(name):
                setattr(self, name, getattr(settings, name))

    def prepare(self, context: bpy.types.Context) -> tuple[list[str], Any, job.BlenderChoices]:
        """Photo paths, frozen core options and Blender choices (raises the project's error)."""
        from .. import preferences

        self.copy_scene_settings(context)  # unset options follow the Scene settings
        prefs = preferences.get(context)
        values: dict[str, Any] = {}
        if prefs is not None:
            values.update(preferences.run_values(prefs))
        settings = getattr(context.scene, "face_from_photo", None)
        if settings is not None:
            values.update(core_values(settings))
        values.update(core_values(self))
        paths = self.photo_paths(context)
        photos = [job.check_photo_path(p) for p in paths] if paths else [job.check_photo_path("")]
        if len(photos) > 1 and self.one_person_run():
            values["output"] = "head"
        options = job.make_options(values)
        self._options = options
        return photos, options, job.BlenderChoices.from_preferences(prefs)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        self.copy_scene_settings(context)
        return RunModes.invoke(self, context, event)

    # ------------------------------------------------------------------ finishing

    def finish(self, context: bpy.types.Context, reco: Any, choices: job.BlenderChoices) -> set[str]:
        """Build the object(s) on the main thread, make them selected (the last active).

        ``reco``: a ``Reconstruction``, a ``PersonReconstruction`` (one head; each photo left
        out is reported as a warning) or a :class:`blender.job.EachResult` (one object per
        photo that worked, all or none; each photo that failed reported as a warning).
        """
        from ..blender.build import remove_object

        collection = context.collection or context.scene.collection
        cursor = tuple(context.scene.cursor.location)  # type: ignore[arg-type]
        warnings: list[str] = []
        objects: list[Any] = []
        if isinstance(reco, job.EachResult):
            try:
                for one in reco.recos:
                    objects.append(job.build_result(one, collection=collection, location=cursor,
                                                    choices=choices))
            except BaseException:
                for obj in objects:
                    remove_object(obj)
                raise
            warnings = list(reco.failures)
            timings = [r.timings for r in reco.recos]
        elif hasattr(reco, "kept"):  # core.pipeline.PersonReconstruction
            objects.append(job.build_person(reco, self._options, collection=collection, location=cursor,
                                            choices=choices))
            warnings = list(reco.warnings)
            timings = [reco.timings]
        else:
            objects.append(job.build_result(reco, collection=collection, location=cursor, choices=choices))
            timings = [reco.timings]
        view_layer = context.view_layer
        if view_layer is not None:
            try:
                for other in view_layer.objects:
                    if other.select_get():
                        other.select_set(False)
                for obj in objects:
                    obj.select_set(True)
                view_layer.objects.active = objects[-1]
            except RuntimeError:
                pass  # the collection is excluded from this view layer
        for warning in warnings:
            self.report({'WARNING'}, warning)
        total = sum(t.get("total", 0.0) for t in timings if isinstance(t, dict))
        obj = objects[-1]
        if len(objects) == 1:
            self.report({'INFO'}, f"Reconstructed '{obj.name}' ({len(obj.data.vertices)} vertices, "
                                  f"{total:.1f} s).")
        else:
            self.report({'INFO'}, f"Reconstructed {len(objects)} objects ({total:.1f} s).")
        return {'FINISHED'}

    # ------------------------------------------------------------------ redo panel

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        for name in ("output", "lam", "smoothing_factor", "smoothing_iterations", "detail_strength"):
            layout.prop(self, name)
