# SPDX-License-Identifier: GPL-3.0-or-later
"""Data-safe batch runs without bpy: atomic writes, the JSON report, resume and stop.

The headless command line (Blender side) supplies one callback that turns a
photo into output files; :func:`run_batch` does everything around it:

- output names: ``<out_dir>/<photo stem>.<format>``; photos sharing a stem get
  ``-2``, ``-3``, ... in the order of their sorted full paths;
- never overwrite an existing output unless ``overwrite``; ``resume`` skips
  photos whose report entry says ``ok`` and whose outputs all exist; an
  output that is one of the input photos, or a folder standing where it goes,
  fails that photo even with ``overwrite`` (:func:`core.batch_paths.output_problem`);
  stems are made valid UTF-8 (a non-UTF-8 name's bytes read as Latin-1);
- each output is written atomically (:func:`atomic_write`: temporary file in
  the same folder, then ``os.replace``), so only complete files ever carry an
  output name; outputs get the permissions a plain ``open()`` gives (0666
  minus the umask) or keep those of the file they replace; when a photo fails
  or is cancelled, the outputs it created in this run are removed, together
  with the side files registered with :func:`add_side_file` (an OBJ's .mtl
  and texture), so a photo has all its files or none;
- the report (:class:`BatchReport`) is rewritten atomically after every photo;
- SIGINT/SIGTERM (:class:`GracefulStop`): the first signal asks the current
  photo to stop at its next stage boundary (its outputs are then removed) or,
  when it is already writing, lets it finish; no further photo starts, and the
  report records what finished with ``"interrupted": true``. A second signal
  stops at once (``KeyboardInterrupt``); temporary files are still removed.

A bad photo never stops the batch: its entry gets ``status = "failed"`` and
the sentence of the error (any other exception: one line by cause,
:func:`core.messages.error_sentence`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .batch_paths import InputSet, output_problem
from .console import safe_name
from .errors import FaceFromPhotoError
from .messages import error_sentence
from .safe_write import (
    Transaction,
    Verifier,
    critical_section,
    defer_interrupt,
    file_digest,
    in_critical_section,
    outside_transaction,
    remove_stale_temporaries,
    verifier_for,
    write_bytes_verified,
    write_verified,
)

REPORT_VERSION = 1
_SURROGATE = re.compile(r"[\ud800-\udfff]")
EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


# --------------------------------------------------------------------------- atomic writes


def atomic_write(
    path: str | os.PathLike[str],
    writer: Callable[[Path], Any],
    *,
    durable: bool = True,
    verify: Verifier | None = None,
) -> Path:
    """Write a file so that ``path`` is either absent/unchanged or complete.

    :func:`core.safe_write.write_verified` with, by default, no format check
    (only that the writer made a file); the Blender writers pass the check of
    their format. Inside a batch photo the file is staged and renamed with the
    photo's other outputs once all of them are written.

    Parameters
    ----------
    path : str or path-like
        Final file name; its folder must exist.
    writer : callable(Path)
        Writes the whole content to the temporary path it is given (same
        folder, same extension, so exporters that look at the extension work).
    durable : bool
        fsync the file and its folder so the result survives a power cut.
    verify : callable(Path) or None
        Raises ``core.safe_write.IncompleteFile`` for a file that is not whole.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    FaceFromPhotoError
        If the folder is missing or not writable, the writer produced no file,
        or the disk is full. Other exceptions raised by ``writer`` propagate;
        the temporary file is removed.
    """
    return write_verified(path, writer, verify or _any_file, durable=durable)


def _any_file(path: Path) -> None:
    """No format check: the writer made a file (checked by ``write_verified`` itself)."""


# --------------------------------------------------------------------------- side files

_LEDGER = threading.local()


def add_side_file(path: str | os.PathLike[str]) -> None:
    """Register a file written next to an output that belongs to it (an OBJ's .mtl and texture).

    Inside :func:`run_batch` the file is removed together with the photo's
    outputs when the photo fails, is cancelled or is interrupted, so a photo
    has all its files or none. Outside a batch this does nothing.
    """
    files = getattr(_LEDGER, "files", None)
    if files is not None:
        files.append(Path(path))


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented UTF-8 JSON, read back and compared before the rename.

    The report is never part of a photo's transaction: it is renamed at once.
    Lone surrogates (the undecodable bytes of a non-UTF-8 file name) are
    written as ``\\udcNN`` escapes: valid UTF-8 JSON that reads back as the
    same ``str``, so the photo's path round-trips.
    """
    text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(obj, indent=2, ensure_ascii=False))
    text += "\n"
    with outside_transaction():
        return write_bytes_verified(path, text.encode("utf-8"))


# --------------------------------------------------------------------------- output names


def output_names(
    photos: Iterable[str | os.PathLike[str]], out_dir: str | os.PathLike[str], formats: Iterable[str],
    names: Mapping[Path, str] | None = None,
) -> dict[Path, dict[str, Path]]:
    """Output file per photo and format, unique even when photos share a stem.

    Parameters
    ----------
    photos : iterable of paths
        Input photos (duplicates are collapsed).
    out_dir : path
        Output folder.
    formats : iterable of str
        Format names, used as file extensions (``"glb"`` -> ``.glb``).
        Stems are made valid UTF-8 (:func:`core.console.safe_name`: a
        non-UTF-8 name's bytes read as Latin-1), which every exporter accepts.
    names : mapping of path to str, or None
        Output stem of an item instead of its file stem (a person's name,
        which may hold dots).

    Returns
    -------
    dict
        ``{photo: {format: output path}}`` in input order. Stems are compared
        case-insensitively; within a group of equal stems the photos sorted by
        full path get ``stem``, ``stem-2``, ``stem-3``, ...
    """
    out_dir = Path(out_dir)
    formats = list(dict.fromkeys(formats))
    unique = list(dict.fromkeys(Path(p) for p in photos))
    groups: dict[str, list[Path]] = {}
    given = {Path(p): str(n) for p, n in (names or {}).items()}

    def stem_of(p: Path) -> str:
        return safe_name(given.get(p, p.stem))

    for p in unique:
        groups.setdefault(stem_of(p).casefold(), []).append(p)
    stems: dict[Path, str] = {}
    for group in groups.values():
        for k, p in enumerate(sorted(group, key=lambda q: str(q.absolute()))):
            stem = stem_of(p)
            stems[p] = stem if k == 0 else f"{stem}-{k + 1}"
    return {p: {fmt: out_dir / f"{stems[p]}.{fmt}" for fmt in formats} for p in unique}


# --------------------------------------------------------------------------- report


@dataclass
class PhotoEntry:
    """One photo's line in the report.

    Attributes
    ----------
    photo : str
        Input path as given.
    status : str
        ``"ok"``, ``"failed"``, ``"skipped"`` (resume: already complete) or
        ``"cancelled"`` (interrupted while it ran; nothing written) or
        ``"running"`` (written before the photo starts: an entry still
        ``"running"`` in a report means the process was killed during it).
    error : str or None
        The sentence shown to the user when the photo failed.
    outputs : list of str
        Output files that exist for this photo.
    timings : dict of str to float
        Seconds per stage (from the callback) plus ``"total"``.
    vertices, faces : int or None
        Mesh size of the result.
    files : dict of str to dict
        Every file the photo left (outputs and side files such as an OBJ's
        .mtl and texture): ``{path: {"bytes": n, "sha256": hex}}``; resume
        trusts a photo only when all of them are still exactly these.
    sources : list of str
        For an item made from several photos (the command line's
        ``--person NAME``, keyed by the name): the photos kept. Left out of
        the report when empty.
    warnings : list of str
        One sentence per photo left out of such an item. Left out of the
        report when empty.
    """

    photo: str
    status: str
    error: str | None = None
    outputs: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    vertices: int | None = None
    faces: int | None = None
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; ``sources`` and ``warnings`` only when there are some."""
        data = asdict(self)
        for name in ("sources", "warnings"):
            if not data[name]:
                del data[name]
        return data


class BatchReport:
    """The JSON report of a batch, rewritten atomically after every photo.

    File layout::

        {"version": 1, "started": ISO time, "updated": ISO time,
         "interrupted": bool, "options": {...},
         "startup": {"state": "done", "imports_s": s, "model_s": s, "total_s": s},
         "summary": {"ok": n, "failed": n, "skipped": n, "cancelled": n},
         "photos": [PhotoEntry as dict, ...]}

    ``startup`` (present when the caller gave one) is this process's one-time
    cost before the first photo: importing torch, OpenCV and SciPy, and loading
    the network (:func:`core.warmup.startup_report`); the photos' timings then
    leave it out.
    """

    def __init__(self, path: str | os.PathLike[str], options: Mapping[str, Any] | None = None,
                 startup: Mapping[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.options = dict(options or {})
        self.startup = dict(startup) if startup is not None else None
        self.started = _now()
        self.interrupted = False
        self.damaged = False  # set by load() for a report file that could not be read
        self.entries: dict[str, PhotoEntry] = {}

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BatchReport:
        """Read an earlier report; a missing or unreadable one gives an empty report.

        :attr:`damaged` is set when the file exists but cannot be read as a
        report (cut, edited, not JSON); entries that do not parse are dropped.
        """
        report = cls(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            return report
        except (OSError, ValueError):
            report.damaged = True
            return report
        try:
            data = json.loads(text)
            report.options = dict(data.get("options") or {})
            report.started = str(data.get("started", report.started))
            items = list(data.get("photos", []))
        except (ValueError, TypeError, AttributeError):
            report.damaged = True
            return report
        for item in items:
            try:
                entry = PhotoEntry(**{k: item.get(k) for k in PhotoEntry.__dataclass_fields__ if k in item})
                entry.files = {str(k): dict(v) for k, v in dict(entry.files or {}).items()}
                entry.outputs = [str(o) for o in entry.outputs or []]
                entry.sources = [str(o) for o in entry.sources or []]
                entry.warnings = [str(o) for o in entry.warnings or []]
                if not isinstance(entry.photo, str) or not isinstance(entry.status, str):
                    raise TypeError
            except (TypeError, ValueError, AttributeError):
                report.damaged = True
                continue
            report.entries[entry.photo] = entry
        return report

    def record(self, entry: PhotoEntry) -> None:
        """Add or replace the photo's entry and write the report."""
        self.entries.pop(entry.photo, None)
        self.entries[entry.photo] = entry
        self.write()

    def summary(self) -> dict[str, int]:
        """Count of photos per status."""
        counts = {"ok": 0, "failed": 0, "skipped": 0, "cancelled": 0}  # + "running" after a kill
        for e in self.entries.values():
            counts[e.status] = counts.get(e.status, 0) + 1
        return counts

    def is_complete(self, photo: str | os.PathLike[str], outputs: Iterable[str | os.PathLike[str]]) -> bool:
        """True when the photo's entry is ``ok``/``skipped`` and all its files are whole.

        Whole: every output exists, and every file the entry lists has the
        recorded size and SHA-256 (entries of reports written before the
        digests were recorded: each output passes the check of its format).
        """
        entry = self.entries.get(os.fspath(photo))
        if entry is None or entry.status not in ("ok", "skipped"):
            return False
        outputs = [Path(o) for o in outputs]
        if not all(o.is_file() for o in outputs):
            return False
        try:
            if entry.files:
                listed = {Path(p) for p in entry.files}
                return all(o in listed for o in outputs) and all(
                    file_digest(p) == {"bytes": d.get("bytes"), "sha256": d.get("sha256")}
                    for p, d in entry.files.items()
                )
            for o in outputs:
                verifier_for(o)(o)
        except (OSError, ValueError):
            return False
        return True

    def exit_code(self) -> int:
        """130 when interrupted, 1 when any photo failed, else 0."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_FAILED if self.summary()["failed"] else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "version": REPORT_VERSION,
            "started": self.started,
            "updated": _now(),
            "interrupted": self.interrupted,
            "options": self.options,
            **({"startup": self.startup} if self.startup is not None else {}),
            "summary": self.summary(),
            "photos": [e.to_dict() for e in self.entries.values()],
        }

    def write(self) -> None:
        """Write the report atomically."""
        write_json_atomic(self.path, self.to_dict())


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# --------------------------------------------------------------------------- stop on signals


class GracefulStop:
    """Context manager turning SIGINT/SIGTERM/SIGHUP into a stop request.

    The first signal sets :attr:`requested` (and :attr:`signal_number`); a
    second one raises ``KeyboardInterrupt`` at once - or, inside a
    ``core.safe_write.critical_section`` (a file being written and verified,
    a photo's outputs being renamed with its report entry), as soon as that
    section ends; later signals are ignored while the batch cleans up.
    Handlers are installed only in the main thread (elsewhere the object is a
    plain flag) and the previous handlers are restored on exit. :meth:`is_set`
    is a ready-made ``should_stop`` callback for :func:`core.pipeline.reconstruct`.
    """

    SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal_number: int | None = None
        self._previous: dict[int, Any] = {}
        self._hard = False

    @property
    def requested(self) -> bool:
        """True once a stop was asked for."""
        return self._event.is_set()

    def is_set(self) -> bool:
        """Same as :attr:`requested` (a ``should_stop`` callback)."""
        return self._event.is_set()

    def request(self, signal_number: int | None = None) -> None:
        """Ask to stop (what the signal handler does)."""
        if self.signal_number is None:
            self.signal_number = signal_number
        self._event.set()

    def _handle(self, signum: int, frame: Any) -> None:
        if not self._event.is_set():
            self.request(signum)
            return
        if self._hard:
            return  # already stopping at once; let the clean-up finish
        self._hard = True
        if in_critical_section():
            defer_interrupt()
            return
        raise KeyboardInterrupt

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


# --------------------------------------------------------------------------- the loop

#: ``process(photo, outputs, should_stop) -> {"vertices": n, "faces": m, "timings": {...}}``;
#: it must write every path in ``outputs`` (use :func:`atomic_write`).
ProcessFn = Callable[[Path, dict[str, Path], Callable[[], bool]], Mapping[str, Any]]


def run_batch(
    photos: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    formats: Iterable[str],
    process: ProcessFn,
    *,
    overwrite: bool = False,
    resume: bool = False,
    report_path: str | os.PathLike[str] | None = None,
    options: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = print,
    stop: GracefulStop | None = None,
    startup: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
    names: Mapping[Path, str] | None = None,
) -> BatchReport:
    """Process many photos, never stopping at a bad one; see the module notes.

    Parameters
    ----------
    photos : iterable of paths
        Input photos, in processing order.
    out_dir : path
        Output folder (created when missing).
    formats : iterable of str
        Output formats = file extensions, e.g. ``["glb", "blend"]``.
    process : callable
        See :data:`ProcessFn`. Raises :class:`~core.errors.FaceFromPhotoError`
        for a bad photo (its sentence goes into the report) and
        ``core.pipeline.Cancelled`` when it honoured ``should_stop``.
    overwrite : bool
        Replace existing outputs.
    resume : bool
        Skip photos the earlier report lists as complete with all outputs present.
    report_path : path or None
        Report file; default ``<out_dir>/report.json``.
    options : mapping or None
        Recorded in the report.
    startup : mapping, callable() -> mapping, or None
        The process's start-up (imports, network load), recorded as the report's
        ``startup``. A callable does the start-up: it is called once the stop
        flag is installed, so a signal during it ends the batch before the first
        photo with ``"interrupted": true`` instead of a traceback.
    names : mapping of path to str, or None
        Output stems for items that are not photos (:func:`output_names`): the
        command line's ``--person NAME`` is one item, ``Path(NAME)``, whose
        callback reconstructs all the person's photos.
    log : callable(str) or None
        One line per photo (``[3/10] face.jpg: ok (0.41 s)``).
    stop : GracefulStop or None
        An already-installed stop flag; by default one is installed for the run.

    Returns
    -------
    BatchReport
        Written to disk; ``exit_code()`` gives the process exit status.
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FaceFromPhotoError(
            f"Cannot create the output folder '{out_dir}' ({e.strerror or e}); choose a writable folder."
        ) from None
    report_path = Path(report_path) if report_path is not None else out_dir / "report.json"
    say = log or (lambda line: None)
    for folder in dict.fromkeys((out_dir, report_path.parent)):
        remove_stale_temporaries(folder)  # left by a killed run
    previous = _previous_report(report_path, say) if resume else None
    report = BatchReport(report_path, options, None if callable(startup) else startup)
    if previous is not None:
        report.started = previous.started
        report.entries = dict(previous.entries)  # kept until redone, so an interrupted resume loses nothing
    plan = output_names(photos, out_dir, formats, names)
    inputs = InputSet(plan)

    own_stop = stop is None
    flag = stop or GracefulStop()
    if own_stop:
        flag.__enter__()
    try:
        report.write()  # fail early when the report cannot be written
        if callable(startup):
            report.startup = dict(startup())
            report.write()
        for k, (photo, outputs) in enumerate(plan.items(), start=1):
            if flag.requested:
                break
            key = os.fspath(photo)
            prefix = f"[{k}/{len(plan)}] {photo.name}"
            if previous is not None and previous.is_complete(key, outputs.values()):
                old = previous.entries[key]
                report.record(PhotoEntry(key, "skipped", None, [str(p) for p in outputs.values()],
                                         old.timings, old.vertices, old.faces, old.files, old.sources,
                                         old.warnings))
                say(f"{prefix}: skipped (already done)")
                continue
            problem = output_problem(outputs, inputs)  # never write over a photo or into a folder's place
            if problem is not None:
                entry = PhotoEntry(key, "failed", problem)
                report.record(entry)
                say(f"{prefix}: failed: {entry.error}")
                continue
            existing = [p for p in outputs.values() if p.exists()]
            if existing and not overwrite and not _ours(previous, key):
                entry = PhotoEntry(key, "failed", (
                    f"'{existing[0]}' already exists; pass --overwrite to replace it "
                    "or --resume to skip finished photos."
                ))
                report.record(entry)
                say(f"{prefix}: failed: {entry.error}")
                continue
            # Journal first: a kill during this photo leaves it "running", which tells
            # --resume that files under its output names are this batch's to rebuild.
            earlier = report.entries.get(key)
            report.record(PhotoEntry(key, "running", None, [str(p) for p in outputs.values()],
                                     files=dict(earlier.files) if earlier is not None else {}))
            entry = _run_one(photo, outputs, process, flag, report)
            if entry.status == "ok":
                say(f"{prefix}: ok ({entry.timings.get('total', 0.0):.2f} s)")
            else:
                say(f"{prefix}: {entry.status}: {entry.error}")
        report.interrupted = flag.requested
        report.write()
    except KeyboardInterrupt:
        with critical_section():
            report.interrupted = True
            report.write()
        raise
    finally:
        if own_stop:
            flag.__exit__(None, None, None)
    return report


def _previous_report(path: Path, say: Callable[[str], None]) -> BatchReport:
    """The earlier report for ``--resume``; a damaged one is kept beside it as ``<name>.damaged``."""
    previous = BatchReport.load(path)
    if previous.damaged:
        aside = path.with_name(path.name + ".damaged")
        try:
            os.replace(path, aside)
            where = f"kept as '{aside.name}'"
        except OSError:
            where = "left as it was"
        say(f"The earlier report '{path}' is damaged ({where}); photos it listed are rebuilt.")
    return previous


def _ours(previous: BatchReport | None, key: str) -> bool:
    """Whether ``--resume`` may rebuild files under the photo's output names.

    Yes when the earlier report says this batch wrote them (``ok``,
    ``skipped``) or was writing them when it was killed (``running``), or its
    entry lists files an earlier run of it wrote (a later failure left them as
    they were), or when that report is damaged (the folder holds this batch's
    outputs but no longer says which). Otherwise files under its names belong
    to someone else (a ``failed`` "already exists" photo, for one).
    """
    if previous is None:
        return False
    if previous.damaged:
        return True
    entry = previous.entries.get(key)
    return entry is not None and (entry.status in ("ok", "skipped", "running") or bool(entry.files))


def _run_one(
    photo: Path, outputs: dict[str, Path], process: ProcessFn, stop: GracefulStop, report: BatchReport
) -> PhotoEntry:
    """Run the callback for one photo, then rename its outputs together and record its entry.

    The callback's writes are staged in a :class:`~core.safe_write.Transaction`;
    only when every output is written and verified are they renamed, in one
    critical section with the report entry. On failure nothing under an output
    name changes (files written around the transaction are removed).
    """
    from .pipeline import Cancelled

    before = {p: _stamp(p) for p in outputs.values()}
    t0 = time.perf_counter()
    key = os.fspath(photo)
    earlier = report.entries.get(key)
    kept = _still_there(earlier.files if earlier is not None else {})  # an earlier run's, left as they were
    side_files: list[Path] = []
    _LEDGER.files = side_files
    txn = Transaction()
    try:
        with txn.active():
            result = dict(process(photo, outputs, stop.is_set) or {})
            missing = [p for p in outputs.values() if p not in txn.staged and _stamp(p) in (None, before[p])]
            if missing:
                raise FaceFromPhotoError(
                    f"The output '{missing[0].name}' was not written; check the export settings."
                )
    except BaseException as e:  # noqa: B036 - the partial outputs are removed on any exit
        txn.abort()
        with critical_section():
            for p, stamp in before.items():
                try:
                    if p not in txn.ever_staged and _stamp(p) not in (None, stamp):
                        p.unlink()  # written around the transaction
                except OSError:
                    pass
            for p in side_files:
                try:
                    if p not in txn.ever_staged:
                        p.unlink(missing_ok=True)
                except OSError:
                    pass
            if isinstance(e, Cancelled):
                entry = PhotoEntry(key, "cancelled", str(e), files=kept)
            elif isinstance(e, Exception):  # one line by cause (core.messages), never a traceback
                entry = PhotoEntry(key, "failed", error_sentence(e), files=kept)
            else:
                entry = PhotoEntry(key, "cancelled", "The batch was stopped at once (second Ctrl+C).",
                                   files=kept)
            report.record(entry)
        if not isinstance(e, Exception):
            raise
        return entry
    finally:
        _LEDGER.files = None

    timings = {str(k): float(v) for k, v in dict(result.get("timings") or {}).items()}
    timings["total"] = time.perf_counter() - t0
    entry = PhotoEntry(key, "ok", None, [str(p) for p in outputs.values()], timings,
                       _opt_int(result.get("vertices")), _opt_int(result.get("faces")),
                       sources=[str(x) for x in result.get("sources") or []],
                       warnings=[str(x) for x in result.get("warnings") or []])
    # Renames and entry together: a second Ctrl+C here waits until both are done.
    with critical_section():
        try:
            done = txn.commit()
        except OSError as e:
            done = [p for p in txn.ever_staged if p not in txn.staged]
            txn.abort()
            entry = PhotoEntry(key, "failed", (
                f"The outputs of '{photo.name}' could not be renamed to their final names "
                f"({e.strerror or e}); check the output folder and run again."
            ), files=kept)
        written = dict.fromkeys([*outputs.values(), *done, *side_files]) if entry.status == "ok" else done
        entry.files = {**entry.files, **{str(p): file_digest(p) for p in written if p.is_file()}}
        report.record(entry)
    return entry


def _still_there(files: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The recorded files that still exist with their recorded size."""
    kept = {}
    for name, digest in files.items():
        try:
            if Path(name).stat().st_size == digest.get("bytes"):
                kept[name] = dict(digest)
        except (OSError, AttributeError):
            pass
    return kept


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime) of a file, None when it does not exist: tells whether it was replaced."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)
