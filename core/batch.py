# SPDX-License-Identifier: GPL-3.0-or-later
"""Data-safe batch runs without bpy: atomic writes, the JSON report, resume and stop.

The headless command line (Blender side) supplies one callback that turns a
photo into output files; :func:`run_batch` does everything around it:

- output names: ``<out_dir>/<photo stem>.<format>``; photos sharing a stem get
  ``-2``, ``-3``, ... in the order of their sorted full paths;
- never overwrite an existing output unless ``overwrite``; ``resume`` skips
  photos whose report entry says ``ok`` and whose outputs all exist;
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
the sentence of the error.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import FaceFromPhotoError

REPORT_VERSION = 1
EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


# --------------------------------------------------------------------------- atomic writes


def atomic_write(
    path: str | os.PathLike[str], writer: Callable[[Path], Any], *, durable: bool = True
) -> Path:
    """Write a file so that ``path`` is either absent/unchanged or complete.

    Parameters
    ----------
    path : str or path-like
        Final file name; its folder must exist.
    writer : callable(Path)
        Writes the whole content to the temporary path it is given (same
        folder, same extension, so exporters that look at the extension work).
    durable : bool
        fsync the file and its folder so the result survives a power cut.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    FaceFromPhotoError
        If the folder is missing or not writable, or the writer produced no file.
        Exceptions raised by ``writer`` propagate; the temporary file is removed.
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise FaceFromPhotoError(
            f"The output folder '{folder}' does not exist; create it or choose another one."
        )
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=folder)
    except OSError as e:
        raise FaceFromPhotoError(
            f"Cannot write into the output folder '{folder}' ({e.strerror or e}); choose a writable folder."
        ) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        writer(tmp)
        if not tmp.is_file():
            raise FaceFromPhotoError(f"Writing '{path.name}' produced no file; check the output settings.")
        # mkstemp makes the file private (0600); give it the mode a plain open() would
        # (0666 minus the umask), or keep the mode of the file it replaces.
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        if durable:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if durable and hasattr(os, "O_DIRECTORY"):
            dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    """The process umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no way to read it without setting it
    os.umask(mask)
    return mask


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
    """Write ``obj`` as indented UTF-8 JSON with :func:`atomic_write`."""
    text = json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


# --------------------------------------------------------------------------- output names


def output_names(
    photos: Iterable[str | os.PathLike[str]], out_dir: str | os.PathLike[str], formats: Iterable[str]
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
    for p in unique:
        groups.setdefault(p.stem.casefold(), []).append(p)
    stems: dict[Path, str] = {}
    for group in groups.values():
        for k, p in enumerate(sorted(group, key=lambda q: str(q.absolute()))):
            stems[p] = p.stem if k == 0 else f"{p.stem}-{k + 1}"
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
        ``"cancelled"`` (interrupted while it ran; nothing written).
    error : str or None
        The sentence shown to the user when the photo failed.
    outputs : list of str
        Output files that exist for this photo.
    timings : dict of str to float
        Seconds per stage (from the callback) plus ``"total"``.
    vertices, faces : int or None
        Mesh size of the result.
    """

    photo: str
    status: str
    error: str | None = None
    outputs: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    vertices: int | None = None
    faces: int | None = None


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
        self.entries: dict[str, PhotoEntry] = {}

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BatchReport:
        """Read an earlier report; a missing or unreadable one gives an empty report."""
        report = cls(path)
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            for item in data.get("photos", []):
                entry = PhotoEntry(**{k: item.get(k) for k in PhotoEntry.__dataclass_fields__ if k in item})
                report.entries[entry.photo] = entry
            report.options = dict(data.get("options") or {})
            report.started = data.get("started", report.started)
        except (OSError, ValueError, TypeError, AttributeError):
            pass
        return report

    def record(self, entry: PhotoEntry) -> None:
        """Add or replace the photo's entry and write the report."""
        self.entries.pop(entry.photo, None)
        self.entries[entry.photo] = entry
        self.write()

    def summary(self) -> dict[str, int]:
        """Count of photos per status."""
        counts = {"ok": 0, "failed": 0, "skipped": 0, "cancelled": 0}
        for e in self.entries.values():
            counts[e.status] = counts.get(e.status, 0) + 1
        return counts

    def is_complete(self, photo: str | os.PathLike[str], outputs: Iterable[str | os.PathLike[str]]) -> bool:
        """True when the photo's entry is ``ok``/``skipped`` and every output exists."""
        entry = self.entries.get(os.fspath(photo))
        return (
            entry is not None
            and entry.status in ("ok", "skipped")
            and all(Path(o).is_file() for o in outputs)
        )

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
            "photos": [asdict(e) for e in self.entries.values()],
        }

    def write(self) -> None:
        """Write the report atomically."""
        write_json_atomic(self.path, self.to_dict())


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# --------------------------------------------------------------------------- stop on signals


class GracefulStop:
    """Context manager turning SIGINT/SIGTERM into a stop request.

    The first signal sets :attr:`requested` (and :attr:`signal_number`); a
    second one raises ``KeyboardInterrupt`` at once. Handlers are installed
    only in the main thread (elsewhere the object is a plain flag) and the
    previous handlers are restored on exit. :meth:`is_set` is a ready-made
    ``should_stop`` callback for :func:`core.pipeline.reconstruct`.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal_number: int | None = None
        self._previous: dict[int, Any] = {}

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
        if self._event.is_set():
            raise KeyboardInterrupt
        self.request(signum)

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
    previous = BatchReport.load(report_path) if resume else None
    report = BatchReport(report_path, options, None if callable(startup) else startup)
    if previous is not None:
        report.started = previous.started
    plan = output_names(photos, out_dir, formats)
    say = log or (lambda line: None)

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
                                         old.timings, old.vertices, old.faces))
                say(f"{prefix}: skipped (already done)")
                continue
            existing = [p for p in outputs.values() if p.exists()]
            known = previous is not None and key in previous.entries
            if existing and not overwrite and not known:
                entry = PhotoEntry(key, "failed", (
                    f"'{existing[0]}' already exists; pass --overwrite to replace it "
                    "or --resume to skip finished photos."
                ))
                report.record(entry)
                say(f"{prefix}: failed: {entry.error}")
                continue
            entry = _run_one(photo, outputs, process, flag)
            report.record(entry)
            if entry.status == "ok":
                say(f"{prefix}: ok ({entry.timings.get('total', 0.0):.2f} s)")
            else:
                say(f"{prefix}: {entry.status}: {entry.error}")
        report.interrupted = flag.requested
        report.write()
    except KeyboardInterrupt:
        report.interrupted = True
        report.write()
        raise
    finally:
        if own_stop:
            flag.__exit__(None, None, None)
    return report


def _run_one(photo: Path, outputs: dict[str, Path], process: ProcessFn, stop: GracefulStop) -> PhotoEntry:
    """Run the callback for one photo; on failure remove the outputs it created."""
    from .pipeline import Cancelled

    before = {p: (p.stat().st_mtime_ns if p.exists() else None) for p in outputs.values()}
    t0 = time.perf_counter()
    key = os.fspath(photo)
    side_files: list[Path] = []
    _LEDGER.files = side_files
    try:
        result = dict(process(photo, outputs, stop.is_set) or {})
        missing = [p for p in outputs.values() if not p.is_file()]
        if missing:
            raise FaceFromPhotoError(
                f"The output '{missing[0].name}' was not written; check the export settings."
            )
    except BaseException as e:  # noqa: B036 - the partial outputs are removed on any exit
        for p, stamp in before.items():
            try:
                if p.exists() and (stamp is None or p.stat().st_mtime_ns != stamp):
                    p.unlink()
            except OSError:
                pass
        for p in side_files:
            try:
                p.unlink(missing_ok=True)
            except OSError:
                pass
        if isinstance(e, Cancelled):
            return PhotoEntry(key, "cancelled", str(e))
        if isinstance(e, FaceFromPhotoError):
            return PhotoEntry(key, "failed", str(e))
        if isinstance(e, Exception):
            message = f"Unexpected error ({type(e).__name__}: {e}); please report this bug."
            return PhotoEntry(key, "failed", message)
        raise
    finally:
        _LEDGER.files = None
    timings = {str(k): float(v) for k, v in dict(result.get("timings") or {}).items()}
    timings["total"] = time.perf_counter() - t0
    return PhotoEntry(
        key, "ok", None, [str(p) for p in outputs.values()], timings,
        _opt_int(result.get("vertices")), _opt_int(result.get("faces")),
    )


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)
