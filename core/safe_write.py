# SPDX-License-Identifier: GPL-3.0-or-later
"""The one writer every output goes through: temporary file, fsync, verify, then rename.

Blender's OBJ, PLY and .blend writers report success when the disk fills up
(measured with bpy 5.0.1: a file cut at the size limit, ``{'FINISHED'}``), so
a file is trusted only after it was read back:

1. the caller's ``writer(tmp)`` writes a temporary file in the final folder
   (same extension, name ``.<stem>.ffp<pid>-<random>.partial<ext>``);
2. the file is fsynced, then checked by a verifier (:data:`VERIFIERS` by
   extension, or one the caller gives): a parse that finds the end of the
   format (glb length field, PNG chunk CRCs up to ``IEND``, the zstd seek
   table of a compressed .blend, PLY element counts, OBJ vertex/face counts);
3. only then is it renamed over ``path``; on any failure the temporary file is
   removed, ``path`` is left exactly as it was, and a full disk (or a file
   size limit / quota) raises :class:`~core.errors.FaceFromPhotoError` with
   one sentence starting "The disk is full".

Inside a :class:`Transaction` (one batch photo) the verified files are only
*staged*; :meth:`Transaction.commit` renames them all at the end, so a photo
whose third output fails leaves its earlier outputs - and any older versions
under the same names - untouched.

:func:`critical_section` marks code that must not be cut by a second Ctrl-C
(a write, a commit with its report entry): the signal handler of
``core.batch.GracefulStop`` defers its ``KeyboardInterrupt`` to the end of
the section.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import struct
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import FaceFromPhotoError

#: ``verify(path)`` raises :class:`IncompleteFile` when the file is not whole.
Verifier = Callable[[Path], None]

_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_DISK_FULL_WORDS = ("No space left", "File too large", "Disk quota exceeded", "[Errno 28]", "[Errno 27]")


class IncompleteFile(ValueError):
    """A written file that is cut short or does not parse; the message says where."""


# --------------------------------------------------------------------------- temporary names


def temp_prefix(stem: str) -> str:
    """Prefix of this process's temporary files for ``stem`` (hidden, carries the pid)."""
    return f".{stem}.ffp{os.getpid()}-"


_TEMP_RE = re.compile(r"^\..*\.ffp(\d+)-.*\.partial(\.[^.]*)?$|^\.ffp-obj-(\d+)-", re.DOTALL)


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove temporary files and scratch folders left by killed processes.

    Only names made by :func:`temp_prefix` (and the OBJ exporter's
    ``.ffp-obj-<pid>-`` folders) whose process no longer runs are removed, so
    a batch running beside this one into the same folder keeps its files.

    Returns
    -------
    list of Path
        What was removed.
    """
    import shutil

    removed: list[Path] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        m = _TEMP_RE.match(name)
        if m is None:
            continue
        pid = int(m.group(1) or m.group(3))
        if pid != os.getpid() and _alive(pid):
            continue
        path = Path(folder) / name
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


# --------------------------------------------------------------------------- critical sections

_CRITICAL = threading.local()


def in_critical_section() -> bool:
    """True while the current thread is inside :func:`critical_section`."""
    return getattr(_CRITICAL, "depth", 0) > 0


def defer_interrupt() -> None:
    """Called by a signal handler inside a critical section: raise at its end instead."""
    _CRITICAL.pending = True


@contextmanager
def critical_section() -> Iterator[None]:
    """Run a block that a ``KeyboardInterrupt`` must not cut; a deferred one is raised after it."""
    _CRITICAL.depth = getattr(_CRITICAL, "depth", 0) + 1
    try:
        yield
    finally:
        _CRITICAL.depth -= 1
    if _CRITICAL.depth == 0 and getattr(_CRITICAL, "pending", False):
        _CRITICAL.pending = False
        raise KeyboardInterrupt


# --------------------------------------------------------------------------- transactions

_TXN = threading.local()


class Transaction:
    """Verified files of one unit of work (one batch photo), renamed together by :meth:`commit`.

    Use as ``with txn.active(): ...`` around the writers; files written there
    through :func:`write_verified` are staged. :meth:`abort` removes the staged
    temporary files (also done when the ``with`` block raises).
    """

    def __init__(self) -> None:
        self.staged: dict[Path, Path] = {}  # final path -> verified temporary file
        self.ever_staged: set[Path] = set()  # final paths staged at some point (kept after abort)

    @contextmanager
    def active(self) -> Iterator[Transaction]:
        previous = getattr(_TXN, "current", None)
        _TXN.current = self
        try:
            yield self
        except BaseException:
            self.abort()
            raise
        finally:
            _TXN.current = previous

    def stage(self, final: Path, tmp: Path) -> None:
        old = self.staged.pop(final, None)
        if old is not None:
            old.unlink(missing_ok=True)
        self.staged[final] = tmp
        self.ever_staged.add(final)

    def commit(self) -> list[Path]:
        """Rename every staged file to its final name (then fsync the folders); returns the names."""
        done: list[Path] = []
        with critical_section():
            for final, tmp in list(self.staged.items()):
                os.replace(tmp, final)
                del self.staged[final]
                done.append(final)
            for folder in dict.fromkeys(p.parent for p in done):
                _fsync_folder(folder)
        return done

    def abort(self) -> None:
        """Remove the staged temporary files; the final names are untouched."""
        for tmp in self.staged.values():
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
        self.staged.clear()


def current_transaction() -> Transaction | None:
    """The transaction open in this thread, if any."""
    return getattr(_TXN, "current", None)


@contextmanager
def outside_transaction() -> Iterator[None]:
    """Write files that take effect at once even while a transaction is open (the report)."""
    previous = getattr(_TXN, "current", None)
    _TXN.current = None
    try:
        yield
    finally:
        _TXN.current = previous


# --------------------------------------------------------------------------- the writer


def write_verified(
    path: str | os.PathLike[str],
    writer: Callable[[Path], Any],
    verify: Verifier | None = None,
    *,
    durable: bool = True,
) -> Path:
    """Write ``path`` so that it is either unchanged or complete and verified.

    Parameters
    ----------
    path : str or path-like
        Final file name; its folder must exist.
    writer : callable(Path)
        Writes the whole content to the temporary path it is given (same
        folder, same extension, so exporters that look at the extension work).
    verify : callable(Path) or None
        Raises :class:`IncompleteFile` for a file that is not whole; default:
        :func:`verifier_for` the extension (no check for unknown extensions
        beyond the file existing).
    durable : bool
        fsync the file and its folder so the result survives a power cut.

    Returns
    -------
    Path
        ``path`` (inside a :class:`Transaction`: staged, renamed at commit).

    Raises
    ------
    FaceFromPhotoError
        The folder is missing or not writable, the writer produced no file, or
        the file came out incomplete ("The disk is full ..." when it is).
        Other exceptions raised by ``writer`` propagate, except disk-full ones.
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise FaceFromPhotoError(
            f"The output folder '{folder}' does not exist; create it or choose another one."
        )
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(path.stem), suffix=f".partial{path.suffix}",
                                        dir=folder)
    except OSError as e:
        if e.errno in _DISK_FULL_ERRNOS:
            raise _disk_full(path, e.strerror) from None
        raise FaceFromPhotoError(
            f"Cannot write into the output folder '{folder}' ({e.strerror or e}); choose a writable folder."
        ) from None
    os.close(fd)
    tmp = Path(tmp_name)
    check = verify if verify is not None else verifier_for(path)
    txn = current_transaction()
    try:
        with critical_section():
            try:
                writer(tmp)
            except (OSError, RuntimeError) as e:
                # Blender operators turn an OSError into a multi-line RuntimeError.
                if _says_disk_full(e) or _probe_disk_full(folder, tmp) is not None:
                    raise _disk_full(path, _strerror(e)) from None
                raise
            if not tmp.is_file():
                raise FaceFromPhotoError(
                    f"Writing '{path.name}' produced no file; check the output settings."
                )
            _set_mode(tmp, path)
            try:
                if durable:
                    with open(tmp, "rb+") as f:
                        os.fsync(f.fileno())
                if check is not None:
                    check(tmp)
            except (OSError, IncompleteFile) as e:
                raise _incomplete(path, tmp, e) from None
            if txn is not None:
                txn.stage(path, tmp)
                return path
            os.replace(tmp, path)
            if durable:
                _fsync_folder(folder)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_bytes_verified(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> Path:
    """Write ``data`` with :func:`write_verified`; the check reads it back and compares SHA-256."""
    digest = hashlib.sha256(data).digest()

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()

    def same(tmp: Path) -> None:
        back = tmp.read_bytes()
        if hashlib.sha256(back).digest() != digest:
            raise IncompleteFile(f"{len(back)} of {len(data)} bytes read back")

    return write_verified(path, write, same, durable=durable)


def file_digest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"bytes": size, "sha256": hex}`` of a file (what a report records of each output)."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return {"bytes": size, "sha256": h.hexdigest()}


def _set_mode(tmp: Path, path: Path) -> None:
    # mkstemp makes the file private (0600); give it the mode a plain open() would
    # (0666 minus the umask), or keep the mode of the file it replaces.
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = 0o666 & ~_umask()
    os.chmod(tmp, mode)


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


def _fsync_folder(folder: Path) -> None:
    if hasattr(os, "O_DIRECTORY"):
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# --------------------------------------------------------------------------- diagnosis


def _says_disk_full(e: BaseException) -> bool:
    if isinstance(e, OSError) and e.errno in _DISK_FULL_ERRNOS:
        return True
    return any(w in str(e) for w in _DISK_FULL_WORDS)


def _strerror(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    text = str(e)
    for w in _DISK_FULL_WORDS[:3]:
        if w in text:
            return w
    return "no space left"


def _probe_disk_full(folder: Path, tmp: Path) -> OSError | None:
    """Try to write as many bytes as ``tmp`` holds plus 64 KiB next to it; the error when that fails.

    Blender's exporters say nothing when a write fails; this asks the file
    system directly whether the folder can still take a file of that size
    (a full disk, a quota or a file size limit all fail here).
    """
    try:
        size = tmp.stat().st_size + (64 << 10)
    except OSError:
        size = 64 << 10
    try:
        fd, name = tempfile.mkstemp(prefix=temp_prefix("probe"), suffix=".partial", dir=folder)
    except OSError as e:
        return e if e.errno in _DISK_FULL_ERRNOS else None
    try:
        block = b"\0" * (1 << 20)
        left = size
        while left > 0:
            left -= os.write(fd, block[: min(left, len(block))])
        os.fsync(fd)
    except OSError as e:
        return e if e.errno in _DISK_FULL_ERRNOS else None
    finally:
        os.close(fd)
        try:
            os.unlink(name)
        except OSError:
            pass
    return None


def _disk_full(path: Path, reason: str | None) -> FaceFromPhotoError:
    return FaceFromPhotoError(
        f"The disk is full ({(reason or 'no space left').rstrip('.')}), so '{path.name}' could not be "
        f"written completely in '{path.parent}'; free some space and run again (any earlier "
        f"'{path.name}' was left as it was)."
    )


def _incomplete(path: Path, tmp: Path, e: BaseException) -> FaceFromPhotoError:
    full = _probe_disk_full(path.parent, tmp) if not _says_disk_full(e) else e
    if full is not None:
        return _disk_full(path, _strerror(full))
    detail = str(e).rstrip(".") or type(e).__name__
    return FaceFromPhotoError(
        f"'{path.name}' came out incomplete ({detail}), so it was not saved; check that the disk in "
        f"'{path.parent}' has space and run again (any earlier '{path.name}' was left as it was)."
    )


# --------------------------------------------------------------------------- verifiers


def verify_nonempty(path: Path) -> None:
    """Any format: the file holds at least one byte."""
    if path.stat().st_size == 0:
        raise IncompleteFile("the file is empty")


def verify_glb(path: Path) -> None:
    """Binary glTF 2.0: header length equal to the file size, chunks that add up, JSON that parses."""
    data = path.read_bytes()
    if len(data) < 20:
        raise IncompleteFile(f"only {len(data)} bytes")
    magic, version, length = struct.unpack_from("<4sII", data, 0)
    if magic != b"glTF" or version != 2:
        raise IncompleteFile("no glTF 2.0 header")
    if length != len(data):
        raise IncompleteFile(f"{len(data)} of the {length} bytes its header declares")
    offset, first = 12, True
    while offset < length:
        if offset + 8 > length:
            raise IncompleteFile("a chunk header is cut")
        chunk_len, chunk_type = struct.unpack_from("<II", data, offset)
        end = offset + 8 + chunk_len
        if end > length:
            raise IncompleteFile("a chunk is cut")
        if first:
            if chunk_type != 0x4E4F534A:
                raise IncompleteFile("the first chunk is not JSON")
            try:
                json.loads(data[offset + 8:end])
            except ValueError:
                raise IncompleteFile("its JSON chunk does not parse") from None
            first = False
        offset = end


FBX_MAGIC = b"Kaydara FBX Binary  \x00\x1a\x00"
FBX_FOOTER_MAGIC = b"\xf8\x5a\x8c\x6a\xde\xf5\xd9\x7e\xec\xe9\x0c\xe3\x75\x8f\x29\x0b"


def verify_fbx(path: Path) -> None:
    """Binary FBX: header, top-level node records chained to the file's end, footer magic.

    Layout: 23-byte magic, ``version u32``; node records ``end_offset, n_props, props_len``
    (u64 from version 7500, else u32), ``name_len u8``, name, ...; a null record ends the
    top level; then the footer, whose last 16 bytes are a fixed magic. Each record's
    ``end_offset`` must lie past its start and inside the file.
    """
    data = path.read_bytes()
    size = len(data)
    if not data.startswith(FBX_MAGIC):
        raise IncompleteFile("no binary FBX header")
    if size < 27 + 160:
        raise IncompleteFile(f"only {size} bytes")
    (version,) = struct.unpack_from("<I", data, 23)
    wide = version >= 7500
    head = struct.Struct("<QQQB" if wide else "<IIIB")
    offset = 27
    while True:
        if offset + head.size > size:
            raise IncompleteFile("a node record is cut")
        end, n_props, props_len, name_len = head.unpack_from(data, offset)
        if end == 0 and n_props == 0 and props_len == 0 and name_len == 0:
            break  # the null record after the last top-level node
        if not offset < end <= size:
            raise IncompleteFile(f"a node record ends at byte {end} of {size}")
        offset = end
    if data[-16:] != FBX_FOOTER_MAGIC:
        raise IncompleteFile("the FBX ends before its footer")


def verify_png(path: Path) -> None:
    """PNG: signature, every chunk's CRC, and ``IEND`` as the last chunk."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise IncompleteFile("no PNG signature")
    offset = 8
    while offset + 12 <= len(data):
        n, kind = struct.unpack_from(">I4s", data, offset)
        end = offset + 12 + n
        if end > len(data):
            break
        (crc,) = struct.unpack_from(">I", data, end - 4)
        if zlib.crc32(data[offset + 4:end - 4]) & 0xFFFFFFFF != crc:
            raise IncompleteFile(f"the PNG chunk {kind.decode('latin-1')!r} has a wrong checksum")
        if kind == b"IEND":
            return
        offset = end
    raise IncompleteFile("the PNG data ends before its IEND chunk")


def verify_jpeg(path: Path) -> None:
    """JPEG: starts with SOI and ends with EOI."""
    data = path.read_bytes()
    if data[:2] != b"\xff\xd8" or data[-2:] != b"\xff\xd9":
        raise IncompleteFile("the JPEG data is cut before its end marker")


def verify_exr(path: Path) -> None:
    """OpenEXR: magic number and more than a header."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head[:4] != b"\x76\x2f\x31\x01" or path.stat().st_size < 64:
        raise IncompleteFile("no complete OpenEXR header")


_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_SEEK_TABLE_MAGIC = 0x8F92EAB1
_SKIPPABLE_MAGIC = 0x184D2A5E


def verify_blend(path: Path) -> None:
    """.blend: an uncompressed file ends with its ``ENDB`` block; a compressed one with a zstd seek table.

    Blender writes compressed files as zstd frames followed by a skippable
    frame holding the seek table (one ``(compressed, decompressed[, checksum])``
    row per frame, then ``frames u32, flags u8, 0x8F92EAB1 u32``); the file is
    whole when the frames' compressed sizes plus the table add up to its size.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if head.startswith(b"BLENDER"):
            f.seek(max(0, size - 64))
            if b"ENDB" not in f.read():
                raise IncompleteFile("the .blend ends before its ENDB block")
            return
        if not head.startswith(_ZSTD_MAGIC):
            raise IncompleteFile("no .blend header")
        if size < 17:
            raise IncompleteFile(f"only {size} bytes")
        f.seek(size - 9)
        frames, flags, magic = struct.unpack("<IBI", f.read(9))
        if magic != _SEEK_TABLE_MAGIC:
            raise IncompleteFile("the compressed .blend ends before its seek table")
        row = 12 if flags & 0x80 else 8
        table = frames * row + 9
        if size < table + 8:
            raise IncompleteFile("the compressed .blend's seek table is cut")
        f.seek(size - table - 8)
        skip_magic, skip_len = struct.unpack("<II", f.read(8))
        rows = f.read(frames * row)
    if skip_magic != _SKIPPABLE_MAGIC or skip_len != table:
        raise IncompleteFile("the compressed .blend's seek table is damaged")
    compressed = sum(struct.unpack_from("<I", rows, k * row)[0] for k in range(frames))
    if compressed + table + 8 != size:
        raise IncompleteFile(f"{size} bytes where its seek table needs {compressed + table + 8}")


_PLY_SIZES = {"char": 1, "uchar": 1, "int8": 1, "uint8": 1, "short": 2, "ushort": 2, "int16": 2,
              "uint16": 2, "int": 4, "uint": 4, "int32": 4, "uint32": 4, "float": 4, "float32": 4,
              "double": 8, "float64": 8}


def verify_ply(path: Path, *, vertices: int | None = None, faces: int | None = None) -> None:
    """PLY: the header's element counts match what follows it (binary: byte count; ASCII: line count)."""
    data = path.read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise IncompleteFile("no complete PLY header")
    header = data[:end].decode("ascii", "replace").splitlines()
    body = len(data) - end - len("end_header\n")
    binary = any(line.startswith("format binary") for line in header)
    elements: list[tuple[str, int, list[list[str]]]] = []
    for line in header:
        words = line.split()
        if words[:1] == ["element"] and len(words) == 3:
            elements.append((words[1], int(words[2]), []))
        elif words[:1] == ["property"] and elements:
            elements[-1][2].append(words[1:])
    counts = {name: n for name, n, _ in elements}
    for name, expected in (("vertex", vertices), ("face", faces)):
        if expected is not None and counts.get(name) != expected:
            raise IncompleteFile(f"{counts.get(name)} {name} rows where the mesh has {expected}")
    if not binary:
        rows = data[end + len("end_header\n"):].count(b"\n")
        if rows < sum(counts.values()):
            raise IncompleteFile(f"{rows} of {sum(counts.values())} rows")
        return
    offset = end + len("end_header\n")
    for _name, n, props in elements:
        if all(p[0] != "list" for p in props):
            offset += n * sum(_PLY_SIZES[p[0]] for p in props)
            continue
        for _ in range(n):  # lists: read each row's count
            for p in props:
                if p[0] == "list":
                    if offset + _PLY_SIZES[p[1]] > len(data):
                        raise IncompleteFile(f"{body} bytes after the header, cut inside the {_name} rows")
                    count = int.from_bytes(data[offset:offset + _PLY_SIZES[p[1]]], "little")
                    offset += _PLY_SIZES[p[1]] + count * _PLY_SIZES[p[2]]
                else:
                    offset += _PLY_SIZES[p[0]]
    if offset != len(data):
        raise IncompleteFile(f"{len(data)} bytes where its header needs {offset}")


def verify_obj(path: Path, *, vertices: int | None = None, faces: int | None = None) -> None:
    """OBJ: ends with a whole line, face indices within the vertex list, counts as expected.

    With ``vertices``/``faces`` (the evaluated mesh's vertex and triangle
    counts) a file cut at a line boundary is caught too.
    """
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        raise IncompleteFile("the OBJ ends inside a line")
    text = b"\n" + data
    n_v, n_f = text.count(b"\nv "), text.count(b"\nf ")
    if vertices is not None and n_v != vertices:
        raise IncompleteFile(f"{n_v} of {vertices} vertex lines")
    if faces is not None and n_f != faces:
        raise IncompleteFile(f"{n_f} of {faces} face lines")
    if vertices is None or faces is None:  # no counts to compare: face indices must stay within the vertices
        corners = b" " + b" ".join(re.findall(rb"\nf ([^\n]*)", text)).replace(b"/", b" /")
        max_index = max((int(c) for c in re.findall(rb"[ \t](\d+)", corners)), default=0)  # vertex indices
        if n_v == 0 or n_f == 0 or max_index > n_v:
            raise IncompleteFile(f"{n_v} vertex lines and {n_f} face lines, indices up to {max_index}")


def verify_mtl(path: Path) -> None:
    """MTL: non-empty text with a ``newmtl`` and a whole last line."""
    data = path.read_bytes()
    if b"newmtl" not in data or not data.endswith(b"\n"):
        raise IncompleteFile("the material file is empty or cut")


def verify_json(path: Path) -> None:
    """JSON: parses as UTF-8."""
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise IncompleteFile("it does not parse as JSON") from None


VERIFIERS: dict[str, Verifier] = {
    ".glb": verify_glb, ".png": verify_png, ".jpg": verify_jpeg, ".jpeg": verify_jpeg,
    ".exr": verify_exr, ".blend": verify_blend, ".ply": verify_ply, ".obj": verify_obj,
    ".mtl": verify_mtl, ".json": verify_json, ".fbx": verify_fbx,
}


def verifier_for(path: str | os.PathLike[str]) -> Verifier:
    """The check of :data:`VERIFIERS` for the file's extension (``verify_nonempty`` otherwise)."""
    return VERIFIERS.get(Path(path).suffix.lower(), verify_nonempty)
