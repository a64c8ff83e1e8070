# SPDX-License-Identifier: GPL-3.0-or-later
"""Python API of Face from Photo, for Blender's console and scripts.

Example (Blender's Python console, extension enabled)::

    import bpy, importlib
    name = next(m for m in bpy.context.preferences.addons.keys() if m.endswith(".face_from_photo"))
    ffp = importlib.import_module(name)
    obj = ffp.api.reconstruct("/path/to/portrait.jpg", lam=0.1, detail_strength=0.002)

(an extension's module name depends on the repository it was installed
into, hence the look-up.) Errors raise ``ffp.api.FaceFromPhotoError``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import bpy

__all__ = ["add_photos", "reconstruct", "remove"]  # and FaceFromPhotoError (lazy, see __getattr__)


def __getattr__(name: str) -> Any:
    # ``api.FaceFromPhotoError`` without importing core at enable time.
    if name == "FaceFromPhotoError":
        from .core.errors import FaceFromPhotoError

        return FaceFromPhotoError
    raise AttributeError(name)


def reconstruct(
    path: str | bytes | os.PathLike[str] | os.PathLike[bytes] | list[Any] | tuple[Any, ...],
    *,
    name: str | None = None,
    collection: bpy.types.Collection | None = None,
    location: tuple[float, float, float] | None = None,
    pack_images: bool | None = None,
    progress: Callable[[float, str], None] | None = None,
    output: str | None = None,
    **options: Any,
) -> bpy.types.Object:
    """Reconstruct a textured head or face relief object from one photo, or one head
    from several photos of one person (blocking).

    Parameters
    ----------
    path : str, bytes or path-like, or a list or tuple of them
        Photo of a face (JPEG, PNG, TIFF, BMP, WebP; ``//`` paths are relative
        to the .blend). A ``bytes`` path is decoded with ``os.fsdecode``.
        A list or tuple: photos of ONE person, made into one head
        (``core.pipeline.reconstruct_person``: one identity, the texture fused
        from every photo; ``output`` is always ``"head"``). A photo that fails
        or shows someone else is left out: its sentence is printed and kept in
        the object's ``face_from_photo_warnings`` (JSON list of str);
        ``face_from_photo_sources`` lists the photos kept (JSON list of paths).
    name : str or None
        Object name; default the photo's file stem (several photos: the first
        photo kept).
    collection : bpy.types.Collection or None
        Where the object goes; default the active collection.
    location : (3,) float or None
        Object origin in m; default the 3D cursor.
    pack_images : bool or None
        Pack images into the .blend; default from the add-on preferences.
    progress : callable(fraction, message) or None
        Called as the pipeline moves through its stages.
    output : str or None
        ``"head"``: the template head fitted to the photo (full head, UV
        texture, 53 ARKit shape keys); ``"relief"``: the mesh of the visible
        face. None uses the preferences' *Output* (Head unless changed).
    **options
        ``core.pipeline.ReconstructOptions`` fields, overriding the defaults
        from the preferences: ``head_texture_size``
        (1024 | 2048 | 4096 | 0), ``resolution`` (128 | 256), ``lam`` (λ of the
        integration, 0.1), ``geometry`` ("normals" | "depth"),
        ``smoothing_factor`` (0..1), ``smoothing_iterations``,
        ``detail_strength`` (m), ``detail_sigma`` (m), ``target_faces``,
        ``device`` ("auto" | "cpu" | "cuda" | "mps"), ``face_index``,
        ``crop_box`` ((x, y, w, h) px), ``weights`` (path).

    Returns
    -------
    bpy.types.Object
        Named after the photo, face toward -Y, metres, with UV map, photo
        material, live modifier stack (smooth, subdivision, detail displace)
        and custom properties ``face_from_photo_source``,
        ``face_from_photo_options`` (JSON) and ``face_from_photo_model_sha256``.
        A head (``output="head"``) has every template part in one mesh, the
        photo baked into a UV texture, the identity in its Basis and 53 ARKit
        shape keys set to the fitted expression (``face_from_photo_output`` is
        ``"head"``, ``face_from_photo_expression`` the fitted values as JSON).

    Raises
    ------
    FaceFromPhotoError
        (``core.errors``) with one sentence saying what is wrong; nothing is
        left behind in ``bpy.data``.
    """
    from . import preferences
    from .blender import job

    context = bpy.context
    prefs = preferences.get(context)
    values = {**preferences.default_values(context), **options}
    if output is not None:
        values["output"] = output
    several = isinstance(path, (list, tuple))
    if several:
        from .core.errors import FaceFromPhotoError

        if not path:
            raise FaceFromPhotoError("The list of photos is empty; give photos of the same person.")
        values["output"] = "head"
        photos = [job.check_photo_path(_photo_path_text(p)) for p in path]
    else:
        photo = job.check_photo_path(_photo_path_text(path))
    core_options = job.make_options(values)
    choices = job.BlenderChoices.from_preferences(prefs)
    if pack_images is not None:
        choices = job.BlenderChoices(bool(pack_images), choices.store_maps, choices.subdiv_levels,
                                     choices.subdiv_render_levels)
    target = collection or context.collection or context.scene.collection
    where = tuple(location) if location is not None else tuple(context.scene.cursor.location)  # type: ignore[arg-type]
    if several:
        person = job.run_person(photos, core_options, progress)
        obj = job.build_person(person, core_options, collection=target, location=where,  # type: ignore[arg-type]
                               choices=choices, name=name)
        for warning in person.warnings:
            print(f"Face from Photo: {warning}")
        return obj
    reco = job.run_core(photo, core_options, progress)
    return job.build_result(reco, collection=target, location=where, choices=choices,  # type: ignore[arg-type]
                            name=name)


def add_photos(
    obj: bpy.types.Object,
    paths: str | bytes | os.PathLike[str] | os.PathLike[bytes] | list[Any] | tuple[Any, ...],
    *,
    progress: Callable[[float, str], None] | None = None,
) -> bpy.types.Object:
    """Add photos of the same person to a head and fit one head to all its photos again (blocking).

    The sidebar's *Add Photos and Re-fit* as a call: ``core.pipeline.reconstruct_person`` on
    the head's photos (``face_from_photo_sources``, or ``face_from_photo_source`` for a head
    made from one photo) followed by ``paths``, with the options the head was made with
    (``face_from_photo_options``, less its crop box). The new head takes the old one's place
    (blender/refit.py).

    Parameters
    ----------
    obj : bpy.types.Object
        A head made by this add-on (``face_from_photo_output`` is ``"head"``).
    paths : path or list or tuple of paths
        The photos to add; those the head was already made from are not added twice.
    progress : callable(fraction, message) or None
        Called as the pipeline moves through its stages.

    Returns
    -------
    bpy.types.Object
        The new head: ``obj``'s name, transform, parent, children, collections, selection and
        active state; ``face_from_photo_sources`` lists every photo kept,
        ``face_from_photo_warnings`` the sentence of each photo left out (also printed).
        ``obj`` and the datablocks built with it that nothing else uses are removed: use
        the returned object from here on.

    Raises
    ------
    FaceFromPhotoError
        One sentence, and ``obj`` is left as it was: ``obj`` is not a head, one of its photos
        is missing (moved or deleted), no new photo was given, no photo gives a head, or
        none of the added photos was kept (another person, no face found).
    """
    from . import preferences
    from .blender import job, refit

    given = paths if isinstance(paths, (list, tuple)) else [paths]
    plan = refit.plan_refit(obj, [_photo_path_text(p) for p in given])
    person = job.run_person(list(plan.photos), plan.options, progress)
    for warning in person.warnings:
        print(f"Face from Photo: {warning}")
    refit.check_added_kept(person, plan)
    choices = job.BlenderChoices.from_preferences(preferences.get(bpy.context))
    return refit.replace_head(obj, person, plan.options, choices, view_layer=bpy.context.view_layer)


def _photo_path_text(path: Any) -> str:
    """The photo path as ``str``: ``bytes`` and ``PathLike[bytes]`` decoded with ``os.fsdecode``.

    Anything that is not a path (an int, an image array, None) raises the
    project's error with one sentence.
    """
    from .core.errors import FaceFromPhotoError

    try:
        return os.fsdecode(os.fspath(path))
    except TypeError:
        raise FaceFromPhotoError(
            f"The photo must be a file path (str, bytes or pathlib.Path), not {type(path).__name__}; "
            "pass the photo's path."
        ) from None


def remove(obj: bpy.types.Object) -> None:
    """Remove a reconstructed object with its mesh, material, images and texture."""
    from .blender.build import remove_object

    remove_object(obj)
