# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the core pipeline for Blender: options, lazy imports, worker thread.

Core (and with it torch, scipy, cv2) is imported only here, when a
reconstruction runs, and by the background warm-up (:mod:`.warmup`), never
when the extension is enabled.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The options the Blender side may pass to core (ReconstructOptions field names).
CORE_OPTION_NAMES = (
    "resolution", "lam", "geometry", "smoothing_factor", "smoothing_iterations",
    "detail_strength", "detail_sigma", "target_faces", "device", "face_index", "crop_box", "weights",
    "output", "head_texture_size", "head_depth_weight",
)


def core_error_type() -> type[Exception]:
    """``core.errors.FaceFromPhotoError`` (cheap import: no torch)."""
    from ..core.errors import FaceFromPhotoError

    return FaceFromPhotoError


def is_cancel(err: BaseException) -> bool:
    """True for ``core.pipeline.Cancelled`` (the artist pressed Esc)."""
    from ..core.pipeline import Cancelled

    return isinstance(err, Cancelled)


def make_options(values: Mapping[str, Any]) -> Any:
    """A frozen ``core.pipeline.ReconstructOptions`` from plain values.

    Unknown names raise the project's error with a sentence naming them;
    out-of-range values are rejected by ``ReconstructOptions`` itself.
    """
    from ..core.errors import FaceFromPhotoError
    from ..core.pipeline import ReconstructOptions

    known = {f for f in ReconstructOptions.__dataclass_fields__}
    unknown = sorted(set(values) - known)
    if unknown:
        raise FaceFromPhotoError(
            f"Unknown option {', '.join(unknown)}; use one of {', '.join(sorted(known))}."
        )
    return ReconstructOptions(**dict(values))


def _warm_up(options: Any, progress: Any, should_stop: Any) -> None:
    """``core.warmup.WARMUP.ensure`` for these options' network, device and output."""
    from ..core.warmup import HEAD_OUTPUT, HEAD_WARM_TEXTURE, WARMUP

    WARMUP.ensure(getattr(options, "weights", None), getattr(options, "device", "auto"), progress,
                  should_stop, output=str(getattr(options, "output", HEAD_OUTPUT)),
                  head_texture_size=int(getattr(options, "head_texture_size", HEAD_WARM_TEXTURE)))


def run_core(photo: str, options: Any, progress: Any = None, should_stop: Any = None) -> Any:
    """``core.pipeline.reconstruct`` (imports torch on first use).

    A background warm-up still under way (:mod:`.warmup`) is waited for first,
    with ``progress`` told so; when none started yet, this thread does it
    (``core.warmup.WarmUp.ensure``), so the timer that fires later finds it
    done. Either way the network is loaded once and taken from the cache.
    """
    from ..core.pipeline import reconstruct

    _warm_up(options, progress, should_stop)
    return reconstruct(photo, options, progress=progress, should_stop=should_stop)


def run_person(photos: list[str], options: Any, progress: Any = None, should_stop: Any = None) -> Any:
    """``core.pipeline.reconstruct_person`` after the warm-up, as :func:`run_core`."""
    from ..core.pipeline import reconstruct_person

    _warm_up(options, progress, should_stop)
    return reconstruct_person(photos, options, progress=progress, should_stop=should_stop)


@dataclass
class EachResult:
    """What :func:`run_each` gives: a ``Reconstruction`` per photo that worked, a sentence per
    photo that did not."""

    recos: list[Any]
    failures: list[str]


def run_each(photos: list[str], options: Any, progress: Any = None, should_stop: Any = None) -> EachResult:
    """:func:`run_core` on each photo in turn, going on past a photo that fails (a batch).

    Raises the first photo's error when none worked.
    """
    from ..core.errors import FaceFromPhotoError

    n = len(photos)
    recos: list[Any] = []
    failures: list[str] = []
    first: FaceFromPhotoError | None = None
    for i, photo in enumerate(photos):
        def sub(fraction: float, message: str, i: int = i) -> None:
            if progress is not None:
                progress((i + min(fraction, 1.0)) / n, f"Photo {i + 1} of {n}: {message}")
        try:
            recos.append(run_core(photo, options, sub, should_stop))
        except FaceFromPhotoError as e:
            first = first or e
            failures.append(f"{Path(photo).name} was skipped: {e}")
    if not recos and first is not None:
        raise first
    return EachResult(recos, failures)


def person_result(person: Any, options: Any) -> Any:
    """The ``Reconstruction`` that :func:`build_result` turns into the person's head.

    The most frontal kept photo's single-photo ``Reconstruction`` (its source, maps and
    model) carrying the joint ``person.head`` and the options asked for (``output="head"``;
    the single-photo runs had no texture of their own).
    """
    from dataclasses import replace

    reference = person.photos[person.reference]
    return replace(reference, head=person.head, options=replace(options, output="head"))


def person_name(person: Any) -> str:
    """The first kept photo's file stem (:func:`object_name`)."""
    return object_name(person.photos[0])


@dataclass
class Worker:
    """Runs core in a background thread; the main thread polls it from a timer.

    Only plain Python objects cross the thread boundary: the frozen options
    go in, a ``Reconstruction`` (numpy arrays) or an exception comes out.
    Blender data is never touched from the thread. With two or more ``photos`` it runs
    :func:`run_person` (``one_person``) or :func:`run_each`.
    """

    photo: str
    options: Any
    photos: tuple[str, ...] = ()
    one_person: bool = True
    fraction: float = 0.0
    message: str = "Starting"
    result: Any = None
    error: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="face_from_photo", daemon=True)
        self._thread.start()

    def _progress(self, fraction: float, message: str) -> None:
        self.fraction, self.message = float(fraction), str(message)

    def _run(self) -> None:
        try:
            if len(self.photos) > 1:
                run = run_person if self.one_person else run_each
                self.result = run(list(self.photos), self.options, self._progress, self._stop.is_set)
            else:
                self.result = run_core(self.photo, self.options, self._progress, self._stop.is_set)
        except BaseException as e:  # noqa: B036 - handed to the main thread, never lost
            self.error = e

    def cancel(self) -> None:
        """Ask core to stop at its next stage boundary."""
        self._stop.set()

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


# --------------------------------------------------------------------------- building


#: Largest subdivision level: each level quadruples the faces (a 128 px head at 3 levels has
#: ~1.4 M faces); the preferences' sliders stop here and every entry point is checked against it.
SUBDIV_MAX = 3


@dataclass(frozen=True)
class BlenderChoices:
    """Blender-side choices copied from the preferences before work starts.

    Validated on creation, whoever creates it (preferences, API, command line):
    subdivision levels are whole numbers from 0 to :data:`SUBDIV_MAX`, else the
    project's error with one sentence.
    """

    pack_images: bool = True
    store_maps: bool = True
    subdiv_levels: int = 0
    subdiv_render_levels: int = 0

    def __post_init__(self) -> None:
        from ..core.errors import FaceFromPhotoError

        for name in ("subdiv_levels", "subdiv_render_levels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SUBDIV_MAX:
                raise FaceFromPhotoError(
                    f"The subdivision level {value!r} is out of range; use a whole number from 0 to "
                    f"{SUBDIV_MAX} (each level quadruples the faces)."
                )

    @classmethod
    def from_preferences(cls, prefs: Any) -> BlenderChoices:
        if prefs is None:
            return cls()
        return cls(bool(prefs.pack_images), bool(prefs.store_maps), int(prefs.subdiv_levels),
                   int(prefs.subdiv_render_levels))


def image_folder() -> Path:
    """Folder for unpacked images: next to the saved .blend, else the extension's user folder."""
    import bpy

    if bpy.data.filepath:
        return Path(bpy.path.abspath("//face_from_photo_images"))
    root = (__package__ or "").rpartition(".")[0]
    try:
        return Path(bpy.utils.extension_path_user(root, path="images", create=True))
    except (ValueError, KeyError, AttributeError):
        import tempfile

        return Path(tempfile.gettempdir()) / "face_from_photo_images"


def object_name(reco: Any) -> str:
    """The photo's file stem ("Face" for an image given as an array).

    Made valid UTF-8 (:func:`core.console.safe_name`), as Blender's names must be:
    the bytes of a non-UTF-8 file name are read as Latin-1.
    """
    from ..core.console import safe_name

    source = getattr(reco, "source", None)
    return safe_name(Path(source).stem) if source else "Face"


def build_result(
    reco: Any,
    *,
    collection: Any,
    location: tuple[float, float, float] = (0.0, 0.0, 0.0),
    choices: BlenderChoices = BlenderChoices(),
    name: str | None = None,
) -> Any:
    """The finished Blender object for a ``Reconstruction``: the head when it holds one
    (``output="head"``, :func:`.head.build_head`), else the relief (:func:`.build.build_object`)."""
    from . import build

    options = reco.options.to_dict() if hasattr(reco.options, "to_dict") else {}
    settings = build.BuildSettings(
        name=name or object_name(reco),
        location=tuple(location),  # type: ignore[arg-type]
        pack_images=choices.pack_images,
        image_folder=None if choices.pack_images else image_folder(),
        stack=build.stack_settings(options, subdiv_levels=choices.subdiv_levels,
                                   subdiv_render_levels=choices.subdiv_render_levels),
        store_maps=choices.store_maps,
    )
    import json

    options_json = json.dumps(options, sort_keys=True)
    if getattr(reco, "head", None) is not None:
        from .head import build_head

        return build_head(reco, settings, collection=collection, options_json=options_json)
    return build.build_object(reco, settings, collection=collection, options_json=options_json)


#: Custom properties of a head made from several photos: JSON lists of the kept photos' paths
#: and of the sentences naming each photo left out.
PROP_SOURCES = "face_from_photo_sources"
PROP_WARNINGS = "face_from_photo_warnings"


def build_person(
    person: Any,
    options: Any,
    *,
    collection: Any,
    location: tuple[float, float, float] = (0.0, 0.0, 0.0),
    choices: BlenderChoices = BlenderChoices(),
    name: str | None = None,
) -> Any:
    """The head object of a ``core.pipeline.PersonReconstruction`` (:func:`build_result`).

    Named ``name`` or after the first kept photo; ``face_from_photo_source`` is the most
    frontal photo's, :data:`PROP_SOURCES` lists every kept photo and :data:`PROP_WARNINGS`
    the photos left out (JSON lists of str). Nothing is left behind when this raises.
    """
    import json

    from .build import remove_object

    obj = build_result(person_result(person, options), collection=collection, location=location,
                       choices=choices, name=name or person_name(person))
    try:
        obj[PROP_SOURCES] = json.dumps([str(r.source or "") for r in person.photos])
        obj[PROP_WARNINGS] = json.dumps([str(w) for w in person.warnings])
    except BaseException:
        remove_object(obj)
        raise
    return obj


def check_photo_path(path: str) -> str:
    """Absolute photo path, or the project's error when it is empty."""
    import bpy

    from ..core.errors import FaceFromPhotoError

    if not path or not path.strip():
        raise FaceFromPhotoError("No photo was chosen; pick a photo of a face first.")
    return bpy.path.abspath(path)
