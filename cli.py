# SPDX-License-Identifier: GPL-3.0-or-later
"""Headless batch command line of Face from Photo.

With the Blender binary (extension installed and enabled)::

    blender -b -c face_from_photo reconstruct photos/*.jpg -o out/ --format glb --format blend
    blender -b -c face_from_photo reconstruct photos/ -o out/ --output-kind head --format fbx

With only the ``bpy`` Python package (no Blender binary), from the repository::

    python tools/face_from_photo_cli.py reconstruct photos/ -o out/ --format glb --preview

Several photos of one person make one head, ``<out>/NAME.<format>`` (one report entry
keyed by NAME, listing the photos kept and a sentence for each photo left out)::

    blender -b -c face_from_photo reconstruct front.jpg left.jpg right.jpg -o out/ --person Ann

A folder with one sub-folder of photos per person makes one head per sub-folder,
``<out>/<sub-folder name>.<format>`` (core/people.py; an empty sub-folder, or one whose
photos all fail, is reported and the batch goes on)::

    blender -b -c face_from_photo reconstruct --people people/ -o out/

One Blender process handles every photo: it imports torch and loads the
network once, before the first photo (``startup`` in the report); each gets ``<out>/<stem>.<format>``
(glb, fbx, obj, ply with the modifier stack applied; blend with the live stack; a head's
glb and fbx keep its 53 shape keys instead, see blender/export.py),
optionally ``<stem>.preview.png``, and a line in ``<out>/report.json``. A bad
photo is reported and skipped; the exit status is 0 when all succeeded, 1
when any failed, 2 for bad arguments, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import glob
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bpy

COMMAND = "face_from_photo"
PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
PREVIEW = "preview.png"  # output "format" of the preview: <stem>.preview.png
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_handle: Any = None


def build_parser() -> argparse.ArgumentParser:
    from .core.models import MODELS

    parser = argparse.ArgumentParser(
        prog=f"blender -b -c {COMMAND}",
        description="Reconstruct textured 3D face meshes from photos, headless.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("reconstruct", help="reconstruct one mesh per photo")
    rec.add_argument("photos", nargs="*", help="photo files, folders of photos, or glob patterns")
    rec.add_argument("-o", "--output", required=True, help="output folder (created when missing)")
    rec.add_argument("--format", dest="formats", action="append",
                     choices=("glb", "fbx", "obj", "ply", "blend"),
                     help="output format, repeatable (default: glb)")
    rec.add_argument("--preview", action="store_true",
                     help="also render <stem>.preview.png: photo | normals | shaded front | shaded 45°")
    rec.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    rec.add_argument("--resume", action="store_true",
                     help="skip photos that the earlier report lists as finished with all outputs present")
    rec.add_argument("--report", help="report path (default: <output>/report.json)")
    rec.add_argument("--quiet", action="store_true", help="only one line per photo")
    rec.add_argument("--person", metavar="NAME",
                     help="all the photos show one person: make ONE head from them, <output>/NAME.<format> "
                          "(a photo that fails or shows someone else is left out with a warning)")
    rec.add_argument("--people", metavar="DIR",
                     help="each sub-folder of DIR holds photos of one person: ONE head per sub-folder, "
                          "<output>/<sub-folder name>.<format> (give no photos; a sub-folder without a "
                          "usable photo is reported and the batch goes on)")
    g = rec.add_argument_group("reconstruction options (default: the add-on preferences)")
    g.add_argument("--output-kind", dest="output_kind", choices=("head", "relief"),
                   help="what each photo becomes: the fitted template head (full head, UV texture, 53 ARKit "
                        "shape keys) or the relief of the visible face (-o/--output is the folder)")
    g.add_argument("--head-texture-size", type=int, choices=(0, 1024, 2048, 4096),
                   help="side in px of each of the head's two UV texture tiles (0: no texture)")
    g.add_argument("--resolution", type=int, choices=(128, 256),
                   help="side of the head crop in px: 256 gives 4x the vertices (the network still sees 128)")
    g.add_argument("--lam", type=float, help="λ of the normal integration (0.1)")
    g.add_argument("--geometry", choices=("normals", "depth"))
    g.add_argument("--smoothing-factor", type=float)
    g.add_argument("--smoothing-iterations", type=int)
    g.add_argument("--detail-strength", type=float, help="metres")
    g.add_argument("--detail-sigma", type=float, help="metres")
    g.add_argument("--target-faces", type=int)
    g.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    g.add_argument("--face-index", type=int)
    g.add_argument("--network", choices=tuple(MODELS),
                   help="shipped network (standard: fastest, most accurate; large: GPU-trained)")
    g.add_argument("--weights", help="network weights file (overrides --network)")
    g.add_argument("--subdivide", type=int, default=None, metavar="LEVELS",
                   help="subdivision levels applied in exported meshes (default: the preferences' viewport "
                        "levels, 0)")
    return parser


def expand_photos(items: Sequence[str]) -> list[Path]:
    """Files as given, photos inside folders (sorted), glob patterns expanded; order kept.

    In a folder every entry with a photo extension that is not a folder is taken,
    also a FIFO or a link to a device named like a photo: the batch reports it
    in one sentence (``core.photo_input``) rather than skipping it unseen.
    """
    from .core.people import photos_in

    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out += photos_in(p, PHOTO_EXTENSIONS)
        elif not p.exists() and any(c in item for c in "*?["):
            out += [Path(q) for q in sorted(glob.glob(item))]
        else:
            out.append(p)  # a missing file is reported by the batch as a failed photo
    return list(dict.fromkeys(out))


def option_values(args: argparse.Namespace) -> dict[str, Any]:
    from . import preferences
    from .core.models import weights_option

    values = dict(preferences.default_values(bpy.context))
    if args.network is not None:
        values["weights"] = weights_option(args.network)
    for name in ("resolution", "lam", "geometry", "smoothing_factor", "smoothing_iterations",
                 "detail_strength", "detail_sigma", "target_faces", "device", "face_index", "weights",
                 "head_texture_size"):
        value = getattr(args, name)
        if value is not None:
            values[name] = value
    if args.output_kind is not None:
        values["output"] = args.output_kind
    return values


def checked_options(args: argparse.Namespace, photos: Sequence[Path]) -> tuple[Any, Any]:
    """Every option through the checks the API and the panel use, before any photo starts.

    Reconstruction options go through ``ReconstructOptions`` (via ``job.make_options``),
    ``--subdivide`` through ``job.BlenderChoices`` (0 to ``job.SUBDIV_MAX``, as the
    preferences' sliders), the output folder and ``--report`` through
    ``core.batch_paths`` (never one of the photos, never a file that is not a report).

    Returns
    -------
    (ReconstructOptions, BlenderChoices)

    Raises
    ------
    FaceFromPhotoError
        One sentence naming the option and the values it takes.
    """
    from . import preferences
    from .blender import job
    from .core.batch_paths import InputSet, check_output_folder, check_report_path

    options = job.make_options(option_values(args))
    choices = job.BlenderChoices.from_preferences(preferences.get(bpy.context))
    levels = (choices.subdiv_levels, choices.subdiv_render_levels)
    if args.subdivide is not None:
        levels = (args.subdivide, args.subdivide)
    # Always pack in batch runs: each .blend is self-contained, nothing piles up elsewhere.
    choices = job.BlenderChoices(True, choices.store_maps, *levels)
    inputs = InputSet(photos)
    out_dir = check_output_folder(args.output, inputs)
    check_report_path(args.report if args.report is not None else out_dir / "report.json", inputs,
                      resume=args.resume)
    return options, choices


def people_inputs(root: str, output: str) -> tuple[list[Path], list[Path]]:
    """``--people DIR``: the person sub-folders (:func:`core.people.person_folders`, the
    output folder left out) and every photo in them (for the output-path checks; a folder
    that cannot be read fails in its turn).
    """
    from .core.errors import FaceFromPhotoError
    from .core.people import person_folders, photos_in

    folders = person_folders(root, exclude=[output])
    photos: list[Path] = []
    for folder in folders:
        try:
            photos += photos_in(folder, PHOTO_EXTENSIONS)
        except FaceFromPhotoError:
            pass  # that person fails with this sentence when its turn comes
    return folders, photos


def person_name_problem(name: str) -> str | None:
    """The sentence saying why ``--person NAME`` cannot name output files, or None."""
    if not name.strip() or name in (".", "..") or any(c in name for c in "/\\\0"):
        return (f"The person's name {name!r} cannot be a file name; give a name without slashes, "
                "e.g. --person Ann.")
    return None


def _clear_startup_scene() -> None:
    """Remove the startup file's objects so each .blend holds only its face."""
    if bpy.data.filepath:
        return
    for obj in list(bpy.context.scene.objects):
        bpy.data.objects.remove(obj)


def warm_up(options: Any, *, quiet: bool = False, say: Any = None) -> dict[str, Any]:
    """Import torch, OpenCV, SciPy and load the network once, before the first photo; timed.

    Timers never fire in background mode, so the batch does the add-on's
    warm-up (``core.warmup.WARMUP``) in its own thread. A network that cannot
    load is recorded here and fails each photo with its sentence, as before.
    """
    from .core.warmup import WARMUP, startup_report

    try:
        WARMUP.run(options.weights, options.device, output=options.output,
                   head_texture_size=options.head_texture_size)
    except Exception:  # noqa: BLE001 - kept in the report; each photo then fails with its own sentence
        pass
    startup = startup_report()
    if not quiet and "total_s" in startup:
        (say or print)(f"Start-up: {startup['imports_s']:.2f} s imports, {startup['model_s']:.2f} s network")
    return startup


def reconstruct_command(args: argparse.Namespace, stop: Any = None) -> int:
    from .blender import job
    from .blender.build import remove_object
    from .blender.export import export, mesh_counts
    from .blender.preview import write_preview
    from .core.batch import run_batch
    from .core.console import safe_name, stderr_console, stdout_console
    from .core.errors import FaceFromPhotoError
    from .core.people import folder_photos, photos_in

    out, err = stdout_console(), stderr_console()
    people: list[Path] = []
    if args.people is not None:
        if args.photos or args.person is not None:
            err.line("--people takes each person's photos from the sub-folders of its folder; "
                     "leave out the photo arguments and --person.")
            return EXIT_USAGE
        try:
            people, photos = people_inputs(args.people, args.output)
        except FaceFromPhotoError as e:
            err.line(str(e))
            return EXIT_USAGE
        loose = len(photos_in(args.people, PHOTO_EXTENSIONS))
        if loose:
            err.line(f"{loose} photo(s) directly in '{args.people}' are not used; with --people each "
                     "person's photos go in a sub-folder named after them.")
    else:
        photos = expand_photos(args.photos)
    if not photos and not people:
        err.line("No photos found; give photo files, folders of photos or glob patterns.")
        return EXIT_USAGE
    formats = list(dict.fromkeys(args.formats or ["glb"]))
    try:
        options, choices = checked_options(args, photos)
    except FaceFromPhotoError as e:
        err.line(str(e))
        return EXIT_USAGE
    if args.person is not None or people:
        flag = "--person" if args.person is not None else "--people"
        problem = person_name_problem(args.person) if args.person is not None else None
        if problem is None and args.output_kind == "relief":
            problem = f"{flag} makes one head from each person's photos; leave out --output-kind relief."
        if problem is not None:
            err.line(problem)
            return EXIT_USAGE
        from dataclasses import replace

        options = replace(options, output="head")
    if "blend" in formats:
        _clear_startup_scene()
    scene = bpy.context.scene

    def progress(fraction: float, message: str) -> None:
        if not args.quiet:
            out.line(f"    {100 * fraction:3.0f}% {message}")

    def process(photo: Path, outputs: dict[str, Path], should_stop: Any) -> dict[str, Any]:
        reco = job.run_core(str(photo), options, progress, should_stop)
        timings = {str(k): float(v) for k, v in dict(reco.timings).items() if k != "total"}
        t0 = time.perf_counter()
        obj = job.build_result(reco, collection=scene.collection, choices=choices)
        vertices, faces = write_and_remove(obj, outputs, lambda: reco, timings, t0)
        return {"vertices": vertices, "faces": faces, "timings": timings}

    def write_and_remove(obj: Any, outputs: dict[str, Path], preview_of: Any, timings: dict[str, float],
                         t_build: float) -> tuple[int, int]:
        """Time the build (from ``t_build``), write every output (the preview from ``preview_of()``),
        then remove the object whatever happened; returns its (vertices, faces)."""
        try:
            timings["build"] = time.perf_counter() - t_build
            vertices, faces = mesh_counts(obj)
            for fmt, path in outputs.items():
                t1 = time.perf_counter()
                if fmt == PREVIEW:
                    write_preview(obj, preview_of(), path)
                else:
                    export(obj, path, fmt)
                timings[f"write_{fmt}"] = time.perf_counter() - t1
        finally:
            remove_object(obj)
        return vertices, faces

    def make_person(person_photos: Sequence[Path], name: str, outputs: dict[str, Path],
                    should_stop: Any) -> dict[str, Any]:
        person = job.run_person([str(p) for p in person_photos], options, progress, should_stop)
        for warning in person.warnings:
            out.line(f"    {warning}")
        timings = {str(k): float(v) for k, v in dict(person.timings).items() if k != "total"}
        t0 = time.perf_counter()
        obj = job.build_person(person, options, collection=scene.collection, choices=choices, name=name)
        preview_of = lambda: job.person_result(person, options)  # noqa: E731 - built only for a preview
        vertices, faces = write_and_remove(obj, outputs, preview_of, timings, t0)
        return {"vertices": vertices, "faces": faces, "timings": timings,
                "sources": [str(r.source or "") for r in person.photos], "warnings": list(person.warnings)}

    def process_person(key: Path, outputs: dict[str, Path], should_stop: Any) -> dict[str, Any]:
        return make_person(photos, str(args.person), outputs, should_stop)

    def process_folder(key: Path, outputs: dict[str, Path], should_stop: Any) -> dict[str, Any]:
        return make_person(folder_photos(key, PHOTO_EXTENSIONS), safe_name(key.name), outputs, should_stop)

    out_formats = formats + ([PREVIEW] if args.preview else [])
    items: Sequence[Path] = photos
    names: dict[Path, str] | None = None
    run_one: Any = process
    if args.person is not None:  # one batch item keyed by the name: <out>/NAME.<format>
        items, names, run_one = [Path(args.person)], {Path(args.person): args.person}, process_person
    elif people:  # one batch item per sub-folder, keyed by its path: <out>/<folder name>.<format>
        items, names, run_one = people, {p: p.name for p in people}, process_folder
    report = run_batch(
        items, args.output, out_formats, run_one, names=names,
        overwrite=args.overwrite, resume=args.resume, report_path=args.report,
        options={**options.to_dict(), "formats": out_formats, "subdivision_levels": choices.subdiv_levels},
        log=out.line, stop=stop, startup=lambda: warm_up(options, quiet=args.quiet, say=out.line),
    )
    summary = report.summary()
    out.line(f"{summary['ok']} ok, {summary['failed']} failed, {summary['skipped']} skipped"
             f"{', interrupted' if report.interrupted else ''}; report: {report.path}")
    return report.exit_code()


def main(argv: Sequence[str], stop: Any = None) -> int:
    """Entry point of ``blender -c face_from_photo`` and of the bpy-module launcher.

    ``stop`` is a ``core.batch.GracefulStop`` already installed by the caller
    (the launcher installs one before importing bpy, so a Ctrl+C at any moment
    counts); without one, one is installed here, before anything else runs.
    """
    from .core.batch import GracefulStop

    if stop is None:
        try:
            with GracefulStop() as own:
                return main(argv, own)
        except KeyboardInterrupt:  # a second signal just after the batch returned
            return EXIT_INTERRUPTED
    try:
        return _main(argv, stop)
    except KeyboardInterrupt:  # a second Ctrl+C: the batch already cleaned up and wrote its report
        from .core.console import stderr_console

        stderr_console().line("Interrupted; only complete files were kept and report.json says which photos "
                              "finished.")
        return EXIT_INTERRUPTED


def _main(argv: Sequence[str], stop: Any) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as e:  # argparse exits on --help and on errors
        return int(e.code or 0) if isinstance(e.code, int) else EXIT_USAGE
    try:
        if args.command == "reconstruct":
            return reconstruct_command(args, stop)
    except Exception as e:  # noqa: BLE001 - one sentence, never a traceback
        from .core.console import stderr_console
        from .core.messages import error_sentence

        stderr_console().line(error_sentence(e))
        return 1
    return EXIT_USAGE


def register() -> None:
    global _handle
    register_cli = getattr(bpy.utils, "register_cli_command", None)
    if register_cli is not None:
        _handle = register_cli(COMMAND, main)


def unregister() -> None:
    global _handle
    if _handle is not None:
        bpy.utils.unregister_cli_command(_handle)
        _handle = None


if __name__ == "__main__":  # pragma: no cover - use tools/face_from_photo_cli.py
    sys.exit(main(sys.argv[1:]))
