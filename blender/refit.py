# SPDX-License-Identifier: GPL-3.0-or-later
"""Add photos to a head and fit it again: the plan before core runs, the swap after.

The re-fit is ``core.pipeline.reconstruct_person`` on the head's own photos
(:data:`.job.PROP_SOURCES`, or :data:`.build.PROP_SOURCE` for a single-photo head) followed
by the added ones, with the options the head was made with (:data:`.build.PROP_OPTIONS`).
Its result takes the old object's place (:func:`replace_head`): same name, transform,
parent, children, collections, visibility, selection and active state; the old object and
the datablocks built with it that nothing else uses are then removed. Inside one operator
this is one undo step, so Ctrl+Z brings the old head back as it was.

Nothing in the scene changes until the new head is built: a missing photo, a failed
reconstruction, or a set where none of the added photos was kept leave the old head as it is.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import bpy

from . import job
from .build import PROP_MAPS, PROP_OPTIONS, PROP_SOURCE, owned_datablocks, remove_object
from .head import is_head

#: Options that belong to one photo and are not carried over to a set of photos.
PER_PHOTO_OPTIONS = ("crop_box",)


@dataclass(frozen=True)
class RefitPlan:
    """What a re-fit runs, copied from the head before core starts.

    Attributes
    ----------
    name : str
        The head object's name (kept by the new head).
    uid : int
        The head's ``session_uid``, to find it again when core is done.
    photos : tuple of str
        Absolute paths: the head's photos, then the added ones.
    added : int
        How many of ``photos`` (at the end) were added.
    options : core.pipeline.ReconstructOptions
        The head's stored options, ``output="head"``, per-photo options left out.
    """

    name: str
    uid: int
    photos: tuple[str, ...]
    added: int
    options: Any


def _error(sentence: str) -> Exception:
    return job.core_error_type()(sentence)


def head_photos(obj: bpy.types.Object | None) -> list[str]:
    """The photos ``obj`` was made from, absolute; the project's error when one is missing.

    A head made from several photos lists them in :data:`.job.PROP_SOURCES` (JSON), one made
    from one photo in :data:`.build.PROP_SOURCE`.
    """
    if obj is None or not is_head(obj):
        raise _error("The active object is not a Face from Photo head; select a head made by this add-on.")
    raw = obj.get(job.PROP_SOURCES)
    try:
        if raw is not None:
            sources = [str(s) for s in json.loads(str(raw))]
        else:
            sources = [str(obj.get(PROP_SOURCE, ""))]
    except (ValueError, TypeError):
        sources = []
    sources = [bpy.path.abspath(s) for s in sources if s.strip()]
    if not sources:
        raise _error(f"'{obj.name}' does not record the photos it was made from, so it cannot be re-fitted; "
                     "make a new head from all the photos instead.")
    missing = [s for s in sources if not os.path.isfile(s)]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise _error(f"The photo '{missing[0]}'{more} that '{obj.name}' was made from is missing (moved or "
                     "deleted); put it back to add photos, the head was left as it was.")
    return sources


def _same(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def plan_refit(obj: bpy.types.Object | None, paths: list[str]) -> RefitPlan:
    """The re-fit of ``obj`` with ``paths`` added (raises the project's error with one sentence).

    Photos already among the head's are not added twice; adding none raises.
    """
    sources = head_photos(obj)
    assert obj is not None
    known = {_same(s) for s in sources}
    added: list[str] = []
    for path in paths:
        photo = job.check_photo_path(path)
        if _same(photo) not in known:
            known.add(_same(photo))
            added.append(photo)
    if not added:
        raise _error(f"No new photo was chosen; pick photos of the same person that '{obj.name}' "
                     "was not made from.")
    try:
        values = dict(json.loads(str(obj.get(PROP_OPTIONS, "{}"))))
    except (ValueError, TypeError):
        values = {}
    for name in PER_PHOTO_OPTIONS:
        values.pop(name, None)
    values["output"] = "head"
    return RefitPlan(obj.name, int(obj.session_uid), (*sources, *added), len(added), job.make_options(values))


def find_head(plan: RefitPlan) -> bpy.types.Object:
    """The head the plan was made for, or the project's error when it was deleted meanwhile."""
    for obj in bpy.data.objects:
        if obj.session_uid == plan.uid:
            return obj
    raise _error(f"The head '{plan.name}' was deleted while it was re-fitted; nothing was added.")


def check_added_kept(person: Any, plan: RefitPlan) -> None:
    """The project's error when none of the added photos made it into ``person`` (a
    ``core.pipeline.PersonReconstruction``): the head would not change, so it is kept."""
    first_added = len(plan.photos) - plan.added
    if any(i >= first_added for i in person.kept):
        return
    why = f" ({person.warnings[-1].rstrip('.')})" if person.warnings else ""
    raise _error(f"None of the added photos could be used{why}, so '{plan.name}' was left as it was.")


def _place_like(new: bpy.types.Object, old: bpy.types.Object) -> None:
    """Transform, parent, children and visibility of ``old`` onto ``new``."""
    new.parent = old.parent
    new.parent_type = old.parent_type
    if old.parent_type == 'BONE':
        new.parent_bone = old.parent_bone
    new.matrix_parent_inverse = old.matrix_parent_inverse.copy()
    new.rotation_mode = old.rotation_mode
    for name in ("location", "rotation_euler", "rotation_quaternion", "rotation_axis_angle", "scale",
                 "delta_location", "delta_rotation_euler", "delta_rotation_quaternion", "delta_scale"):
        setattr(new, name, tuple(getattr(old, name)))
    new.hide_viewport, new.hide_render, new.hide_select = old.hide_viewport, old.hide_render, old.hide_select
    for child in list(old.children):  # same transform as old: the children stay where they are
        child.parent = new


def _view_state(old: bpy.types.Object, view_layer: Any) -> tuple[bool, bool, bool]:
    """(selected, active, hidden) of ``old`` in ``view_layer`` (all False when it is not in it)."""
    if view_layer is None:
        return False, False, False
    try:
        return (old.select_get(view_layer=view_layer), view_layer.objects.active == old,
                old.hide_get(view_layer=view_layer))
    except RuntimeError:  # not in this view layer
        return False, False, False


def _rename(new: bpy.types.Object, stem: str, name: str) -> None:
    """Give ``new`` and its datablocks named ``stem…`` the name ``name…`` (and fix :data:`PROP_MAPS`)."""
    renamed: dict[str, str] = {}
    for datablock in owned_datablocks(new):
        old_name = datablock.name
        if old_name == stem or old_name.startswith(stem + " "):
            datablock.name = name + old_name[len(stem):]
            renamed[old_name] = datablock.name
    try:
        maps = json.loads(str(new.get(PROP_MAPS, "{}")))
        new[PROP_MAPS] = json.dumps({k: renamed.get(v, v) for k, v in maps.items()})
    except ValueError:
        pass


def replace_head(old: bpy.types.Object, person: Any, options: Any, choices: job.BlenderChoices,
                 *, view_layer: Any = None) -> bpy.types.Object:
    """Build the head of ``person`` (:func:`.job.build_person`) in the place of ``old``.

    The new object gets ``old``'s name, transform, parent, children, collections and
    visibility, and its selection and active state in ``view_layer``; then ``old`` and
    the datablocks built with it that nothing else uses are removed. When building
    fails, nothing has changed.
    """
    name = old.name
    collections = list(old.users_collection) or [bpy.context.scene.collection]
    selected, active, hidden = _view_state(old, view_layer)
    stem = f"{name} re-fit"
    new = job.build_person(person, options, collection=collections[0], choices=choices, name=stem)
    try:
        for collection in collections[1:]:
            collection.objects.link(new)
        _place_like(new, old)
    except BaseException:
        for child in list(new.children):
            child.parent = old
        remove_object(new)
        raise
    remove_object(old, keep_used=True)
    _rename(new, stem, name)
    if view_layer is not None:
        try:
            new.hide_set(hidden, view_layer=view_layer)
            new.select_set(selected, view_layer=view_layer)
            if active:
                view_layer.objects.active = new
        except RuntimeError:
            pass  # not in this view layer
    return new
