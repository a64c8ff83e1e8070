# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 49, output side: full disks, hard kills with --resume, damaged reports, signals at the edges.

The batch runs in a child process here (``_SCRIPT``) so it can get a file
size limit (RLIMIT_FSIZE with SIGXFSZ ignored: every write past the limit
fails with EFBIG, as on a full disk), a real full tmpfs (where this machine
lets a user namespace mount one), SIGKILL, and bursts of SIGINT.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import pytest

from core import safe_write
from core.batch import EXIT_INTERRUPTED, EXIT_OK, BatchReport, atomic_write, run_batch
from core.errors import FaceFromPhotoError
from core.safe_write import IncompleteFile, Transaction, write_verified

ROOT = Path(__file__).resolve().parents[2]
N_PHOTOS = 6
SIZE = 60_000  # bytes of each fake output


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------- format checks


def _glb(payload: bytes = b"\0" * 64) -> bytes:
    text = json.dumps({"asset": {"version": "2.0"}, "meshes": [{}]}).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), 0x4E4F534A) + text + struct.pack("<II", len(payload), 0x004E4942)
    body += payload
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\0" + b"\x80" * 3 * 8 for _ in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _ply() -> bytes:
    header = ("ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
              "property float z\nelement face 1\nproperty list uchar uint vertex_indices\nend_header\n")
    return header.encode() + struct.pack("<9f", *range(9)) + b"\x03" + struct.pack("<3I", 0, 1, 2)


def _obj() -> bytes:
    return b"mtllib a.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nf 1/1 2/1 3/1\n"


def _fbx() -> bytes:
    """Binary FBX 7.4 with one empty top-level node, the null record and Blender's footer."""
    out = safe_write.FBX_MAGIC + struct.pack("<I", 7400)
    name = b"FBXHeaderExtension"
    start = len(out)
    out += struct.pack("<IIIB", start + 13 + len(name) + 13, 0, 0, len(name)) + name + b"\0" * 13
    out += b"\0" * 13  # null record: end of the top level
    out += b"\xfa\xbc\xab\x09\xd0\xc8\xd4\x66\xb1\x76\xfb\x83\x1c\xf7\x26\x7e" + b"\0" * 4
    out += b"\0" * (((len(out) + 15) & ~15) - len(out) or 16)
    return out + struct.pack("<I", 7400) + b"\0" * 120 + safe_write.FBX_FOOTER_MAGIC


@pytest.mark.parametrize("suffix, good, cut", [
    (".glb", _glb(), 40), (".png", _png(), 30), (".ply", _ply(), 90), (".obj", _obj(), 30),
    (".mtl", b"newmtl skin\nKd 1 1 1\n", 0), (".json", b'{"a": [1, 2]}\n', 8),
    (".fbx", _fbx(), 60), (".fbx", _fbx(), len(_fbx()) - 1),
])
def test_each_format_check_accepts_the_whole_file_and_refuses_a_cut_one(
        tmp_path: Path, suffix: str, good: bytes, cut: int) -> None:
    path = tmp_path / f"a{suffix}"
    path.write_bytes(good)
    safe_write.verifier_for(path)(path)
    path.write_bytes(good[:cut])
    with pytest.raises(IncompleteFile):
        safe_write.verifier_for(path)(path)


def test_obj_check_counts_lines_against_the_mesh(tmp_path: Path) -> None:
    path = tmp_path / "a.obj"
    path.write_bytes(_obj())
    safe_write.verify_obj(path, vertices=3, faces=1)
    with pytest.raises(IncompleteFile, match="3 of 4 vertex lines"):
        safe_write.verify_obj(path, vertices=4, faces=1)  # cut at a line boundary


def test_compressed_blend_check_reads_the_seek_table(tmp_path: Path) -> None:
    frames = [b"\x28\xb5\x2f\xfd" + b"x" * 96, b"y" * 50]
    table = b"".join(struct.pack("<II", len(f), 1000) for f in frames) + struct.pack("<IBI", 2, 0, 0x8F92EAB1)
    data = b"".join(frames) + struct.pack("<II", 0x184D2A5E, len(table)) + table
    path = tmp_path / "a.blend"
    path.write_bytes(data)
    safe_write.verify_blend(path)
    path.write_bytes(data[:120])
    with pytest.raises(IncompleteFile):
        safe_write.verify_blend(path)
    path.write_bytes(b"BLENDER17-01v0500" + b"\0" * 100 + b"ENDB" + b"\0" * 28)
    safe_write.verify_blend(path)
    path.write_bytes(b"BLENDER17-01v0500" + b"\0" * 300)
    with pytest.raises(IncompleteFile, match="ENDB"):
        safe_write.verify_blend(path)


def test_a_file_that_fails_its_check_is_not_renamed(tmp_path: Path) -> None:
    target = tmp_path / "face.glb"
    target.write_bytes(_glb())
    before = target.read_bytes()
    with pytest.raises(FaceFromPhotoError) as info:
        write_verified(target, lambda tmp: tmp.write_bytes(_glb()[:50]))
    assert "came out incomplete" in str(info.value) and "was left as it was" in str(info.value)
    assert target.read_bytes() == before and _files(tmp_path) == ["face.glb"]


def test_a_transaction_renames_nothing_until_commit(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text('"old"')
    txn = Transaction()
    with txn.active():
        atomic_write(a, lambda tmp: tmp.write_text('"new"'))
        atomic_write(b, lambda tmp: tmp.write_text('"new"'))
    assert a.read_text() == '"old"' and not b.exists()
    txn.commit()
    assert a.read_text() == b.read_text() == '"new"' and _files(tmp_path) == ["a.json", "b.json"]
    with pytest.raises(RuntimeError), Transaction().active():
        atomic_write(a, lambda tmp: tmp.write_text('"third"'))
        raise RuntimeError("a later output failed")
    assert a.read_text() == '"new"' and _files(tmp_path) == ["a.json", "b.json"]


def test_stale_temporaries_of_dead_processes_are_swept(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    (tmp_path / f".face.ffp{dead}-abc.partial.glb").write_bytes(b"half")
    (tmp_path / f".ffp-obj-{dead}-xyz").mkdir()
    mine = tmp_path / f".face.ffp{os.getppid()}-def.partial.glb"  # a live process (pytest's parent)
    mine.write_bytes(b"in progress")
    (tmp_path / "face.glb").write_bytes(b"kept")
    safe_write.remove_stale_temporaries(tmp_path)
    assert _files(tmp_path) == sorted([mine.name, "face.glb"])


# --------------------------------------------------------------------------- the batch in a child process

_SCRIPT = textwrap.dedent(
    """
    import json, os, resource, signal, sys, time
    from pathlib import Path
    from core.batch import atomic_write, run_batch
    from core.pipeline import Cancelled

    src, out, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    size, slow = int(sys.argv[4]), float(sys.argv[5])
    flags = set(sys.argv[6:])
    for flag in flags:
        if flag.startswith("limit="):  # every file past this many bytes fails with EFBIG, as on a full disk
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (int(flag[6:]), resource.RLIM_INFINITY))

    def process(photo, outputs, should_stop):
        for _ in range(int(slow / 0.02)):
            if should_stop():
                raise Cancelled()
            time.sleep(0.02)
        for path in outputs.values():
            text = (photo.name + "\\n") * (int(sys.argv[4]) // (len(photo.name) + 1))

            def writer(tmp, text=text):
                # Like Blender's OBJ writer: write in chunks, ignore write errors, report success.
                with open(tmp, "w") as f:
                    for k in range(0, len(text), 4096):
                        try:
                            f.write(text[k:k + 4096])
                            f.flush()
                        except OSError:
                            pass
                        time.sleep(slow / 50)
                try:
                    f.close()
                except OSError:
                    pass

            def verify(tmp, n=len(text.encode())):
                from core.safe_write import IncompleteFile
                if tmp.stat().st_size != n:
                    raise IncompleteFile(f"{tmp.stat().st_size} of {n} bytes")

            atomic_write(path, writer, verify=verify)
        return {"vertices": 3, "faces": 1}

    # What tools/face_from_photo_cli.py does: a quiet handler outside the batch, exit 130 on a
    # KeyboardInterrupt (the batch raises one on the second signal, after cleaning up).
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    photos = sorted(src.iterdir())
    try:
        report = run_batch(photos, out, ["glb", "obj"], process, overwrite="overwrite" in flags,
                           resume="resume" in flags, log=lambda s: print(s, flush=True))
        code = report.exit_code()
    except KeyboardInterrupt:
        code = 130
    sys.stdout.flush()
    os._exit(code)  # like the launcher: no interpreter teardown, where a late signal would kill it
    """
)


def _batch(src: Path, out: Path, *flags: str, size: int = SIZE, slow: float = 0.0,
           wrap: list[str] | None = None) -> subprocess.Popen[str]:
    command = [*(wrap or []), sys.executable, "-c", _SCRIPT, str(src), str(out), "x", str(size), str(slow),
               *flags]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _photos(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    for k in range(N_PHOTOS):
        (src / f"p{k}.jpg").write_bytes(b"photo")
    return src


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def _check_complete(out: Path, size: int = SIZE) -> list[str]:
    """Every output whole, no temporary files, each photo with both outputs or none; the done stems."""
    names = _files(out)
    assert not [n for n in names if n.startswith(".")], names
    stems = sorted({n.rsplit(".", 1)[0] for n in names if n.endswith((".glb", ".obj"))})
    for stem in stems:
        for ext in ("glb", "obj"):
            text = (out / f"{stem}.{ext}").read_text()
            assert text == f"{stem}.jpg\n" * (size // (len(stem) + 5)), (stem, ext, len(text))
    return stems


def test_full_disk_keeps_earlier_outputs_and_says_so(tmp_path: Path) -> None:
    """RLIMIT_FSIZE below the output size: every photo fails with one sentence, earlier files intact."""
    src, out = _photos(tmp_path), tmp_path / "out"
    assert _batch(src, out).wait(timeout=120) == EXIT_OK
    before = {n: (out / n).read_bytes() for n in _files(out) if n != "report.json"}
    proc = _batch(src, out, "overwrite", f"limit={SIZE // 2}")
    stdout, stderr = proc.communicate(timeout=120)
    assert "Traceback" not in stderr
    data = _report(out)
    assert proc.returncode == 1 and data["summary"]["failed"] == N_PHOTOS, stdout
    for entry in data["photos"]:
        assert entry["error"].startswith("The disk is full (File too large), so '"), entry["error"]
        assert entry["error"].count(";") == 1 and entry["error"].endswith("was left as it was).")
    after = {n: (out / n).read_bytes() for n in _files(out) if n != "report.json"}
    assert after == before  # nothing lost, nothing overwritten, no partial files


def test_resume_after_a_full_disk_rebuilds_without_asking_for_overwrite(tmp_path: Path) -> None:
    """A photo that failed on a full disk keeps its earlier files, and the next --resume may rebuild them."""
    src, out = _photos(tmp_path), tmp_path / "out"
    assert _batch(src, out).wait(timeout=120) == EXIT_OK
    (out / "p2.obj").unlink()  # p2 must be redone
    proc = _batch(src, out, "resume", f"limit={SIZE // 2}")
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, stdout
    p2 = next(e for e in _report(out)["photos"] if e["photo"].endswith("p2.jpg"))
    assert p2["status"] == "failed" and p2["error"].startswith("The disk is full")
    assert list(p2["files"]) == [str(out / "p2.glb")]  # the earlier p2.glb, left as it was
    proc = _batch(src, out, "resume")  # space again
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_OK, stdout
    assert "already exists" not in stdout
    assert _check_complete(out) == [f"p{k}" for k in range(N_PHOTOS)]


def _unshare_tmpfs() -> list[str] | None:
    """A command prefix that runs the rest in a private mount namespace with a 1 MiB tmpfs on $FFP_FULL."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    probe = subprocess.run([unshare, "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True)
    if probe.returncode != 0:
        return None
    return [unshare, "-rm", "sh", "-c", 'mount -t tmpfs -o size=1m tmpfs "$FFP_FULL" && exec "$@"', "sh"]


_TMPFS_SCRIPT = textwrap.dedent(
    """
    import json, os, subprocess, sys
    from pathlib import Path
    full, src, script = Path(os.environ["FFP_FULL"]), sys.argv[1], sys.argv[2]
    out = full / "out"
    run = lambda *flags: subprocess.run([sys.executable, "-c", script, src, str(out), "x", "200000", "0",
                                         *flags], capture_output=True, text=True)
    first = run()  # 2 photos x 2 outputs x 200 kB fit in 1 MiB with the report
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "report.json"}
    filler = full / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:  # fill the disk to the last block
        while True:
            os.write(fd, b"\\0" * 4096)
    except OSError:
        pass
    os.close(fd)
    os.truncate(filler, max(0, filler.stat().st_size - 100_000))  # 100 kB free: less than one output
    second = run("overwrite")
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "report.json"}
    print(json.dumps({"first": first.returncode, "second": second.returncode, "stderr": second.stderr,
                      "report": json.loads((out / "report.json").read_text()), "same": before == after,
                      "names": sorted(after)}))
    """
)


def test_full_disk_on_a_real_tmpfs(tmp_path: Path) -> None:
    wrap = _unshare_tmpfs()
    if wrap is None:
        pytest.skip("this machine cannot mount a tmpfs in a user namespace")
    src = tmp_path / "in"
    src.mkdir()
    for k in range(2):
        (src / f"p{k}.jpg").write_bytes(b"photo")
    mount = tmp_path / "full"
    mount.mkdir()
    proc = subprocess.run([*wrap, sys.executable, "-c", _TMPFS_SCRIPT, str(src), _SCRIPT], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "FFP_FULL": str(mount)},
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["first"] == EXIT_OK and result["second"] == 1, result
    assert result["same"] and result["names"] == ["p0.glb", "p0.obj", "p1.glb", "p1.obj"], result
    assert "Traceback" not in result["stderr"]
    for entry in result["report"]["photos"]:
        assert entry["status"] == "failed"
        assert entry["error"].startswith("The disk is full (No space left on device), so '"), entry["error"]


def _photo_partial(name: str) -> bool:
    """A photo output's temporary file; report.json's own (written between photos) does not count."""
    return ".partial" in name and not name.startswith(".report")


@pytest.mark.parametrize("moment", ["between_photos", "mid_write"])
def test_resume_after_sigkill_finishes_the_batch(tmp_path: Path, moment: str) -> None:
    src, out = _photos(tmp_path), tmp_path / "out"
    proc = _batch(src, out, slow=0.3)
    deadline = time.time() + 60
    while time.time() < deadline:
        names = _files(out) if out.is_dir() else []
        if moment == "between_photos" and "p1.obj" in names:
            break
        if moment == "mid_write" and "p1.obj" in names and any(_photo_partial(n) for n in names):
            break
        time.sleep(0.005)
    proc.kill()  # SIGKILL: no clean-up runs
    proc.wait(timeout=30)
    if moment == "mid_write":
        assert any(_photo_partial(n) for n in _files(out))  # the kill did leave a photo's temporary file
    statuses = {Path(e["photo"]).stem: e["status"] for e in _report(out)["photos"]}
    if moment == "mid_write":
        assert "running" in statuses.values(), statuses  # the killed photo is journalled
    done = [s for s, st in statuses.items() if st == "ok"]

    proc = _batch(src, out, "resume")
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_OK, stdout + stderr
    data = _report(out)
    statuses = {Path(e["photo"]).stem: e["status"] for e in data["photos"]}
    assert statuses == {f"p{k}": ("skipped" if f"p{k}" in done else "ok") for k in range(N_PHOTOS)}, statuses
    assert _check_complete(out) == [f"p{k}" for k in range(N_PHOTOS)]


def test_resume_rebuilds_a_photo_killed_between_its_renames_and_its_entry(tmp_path: Path) -> None:
    """Outputs complete on disk, report entry still "running": rebuilt, not refused as 'already exists'."""
    src, out = _photos(tmp_path), tmp_path / "out"
    assert _batch(src, out).wait(timeout=120) == EXIT_OK
    data = _report(out)
    data["photos"][2]["status"] = "running"
    (out / "report.json").write_text(json.dumps(data))
    (out / "p3.obj").unlink()
    proc = _batch(src, out, "resume")
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_OK, stdout
    statuses = [e["status"] for e in _report(out)["photos"]]
    assert sorted(statuses) == ["ok", "ok", "skipped", "skipped", "skipped", "skipped"]


@pytest.mark.parametrize("damage", ["cut", "not_json", "wrong_types", "empty"])
def test_a_damaged_report_does_not_block_resume(tmp_path: Path, damage: str) -> None:
    src, out = _photos(tmp_path), tmp_path / "out"
    assert _batch(src, out).wait(timeout=120) == EXIT_OK
    text = (out / "report.json").read_text()
    damaged = {"cut": text[: len(text) // 2], "not_json": "\x00\x01 binary junk", "empty": "",
               "wrong_types": json.dumps({"photos": [{"photo": 3, "status": None}, "x"]})}[damage]
    (out / "report.json").write_text(damaged)
    (out / "p4.glb").unlink()
    proc = _batch(src, out, "resume")
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_OK, stdout + stderr
    assert "is damaged" in stdout and "Traceback" not in stderr
    assert (out / "report.json.damaged").read_text() == damaged  # kept, never lost
    data = _report(out)
    assert data["summary"]["ok"] == N_PHOTOS and data["summary"]["failed"] == 0
    (out / "report.json.damaged").unlink()
    assert _check_complete(out) == [f"p{k}" for k in range(N_PHOTOS)]


def test_a_tampered_output_is_rebuilt_on_resume(tmp_path: Path) -> None:
    """The report records each file's size and SHA-256: a changed output means the photo is redone."""
    photos = [tmp_path / f"{n}.jpg" for n in ("a", "b")]
    for p in photos:
        p.write_bytes(b"photo")
    out = tmp_path / "out"
    calls: list[str] = []

    def process(photo: Path, outputs: dict[str, Path], should_stop: object) -> dict:
        calls.append(photo.stem)
        for path in outputs.values():
            atomic_write(path, lambda tmp: tmp.write_text(photo.stem * 100))
        return {}

    run_batch(photos, out, ["glb"], process, log=None)
    (out / "b.glb").write_text("b" * 10)  # cut by something outside the batch
    calls.clear()
    report = run_batch(photos, out, ["glb"], process, resume=True, log=None)
    assert calls == ["b"] and (out / "b.glb").read_text() == "b" * 100 and report.exit_code() == EXIT_OK


def test_an_interrupted_resume_keeps_the_earlier_entries(tmp_path: Path) -> None:
    photos = [tmp_path / f"{n}.jpg" for n in ("a", "b", "c")]
    for p in photos:
        p.write_bytes(b"photo")
    out = tmp_path / "out"

    def process(photo: Path, outputs: dict[str, Path], should_stop: object) -> dict:
        for path in outputs.values():
            atomic_write(path, lambda tmp: tmp.write_text(photo.stem))
        return {}

    run_batch(photos, out, ["glb"], process, log=None)

    def interrupted(photo: Path, outputs: dict[str, Path], should_stop: object) -> dict:
        raise KeyboardInterrupt  # a second Ctrl+C while the first photo (a, rebuilt) runs

    (out / "a.glb").unlink()
    with pytest.raises(KeyboardInterrupt):
        run_batch(photos, out, ["glb"], interrupted, resume=True, log=None)
    report = BatchReport.load(out / "report.json")
    assert {Path(k).stem: e.status for k, e in report.entries.items()} == {
        "a": "cancelled", "b": "ok", "c": "ok"}
    calls: list[str] = []

    def again(photo: Path, outputs: dict[str, Path], should_stop: object) -> dict:
        calls.append(photo.stem)
        return process(photo, outputs, should_stop)

    assert run_batch(photos, out, ["glb"], again, resume=True, log=None).exit_code() == EXIT_OK
    assert calls == ["a"]


# --------------------------------------------------------------------------- signals at the edges


@pytest.mark.parametrize("first, delay", [
    (".report.", 0.0), (".p0.", 0.0), (".p0.", 0.05), (".p1.", 0.0), (".report.", 0.2), (".report.", 0.5)])
def test_sigint_bursts_at_any_moment_end_with_130_and_complete_files(
        tmp_path: Path, first: str, delay: float) -> None:
    """Ctrl+C 12 times, 30 ms apart, `delay` s after a temporary file starting with `first` appeared."""
    src, out = _photos(tmp_path), tmp_path / "out"
    proc = _batch(src, out, slow=0.5)
    deadline = time.time() + 60
    while time.time() < deadline and not (out.is_dir() and any(
            n.startswith(first) and ".partial" in n for n in _files(out))):
        time.sleep(0.002)
    time.sleep(delay)
    for _ in range(12):
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGINT)
        time.sleep(0.03)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, stdout + stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    data = _report(out)
    assert data["interrupted"] is True
    assert set(data["summary"]) <= {"ok", "failed", "skipped", "cancelled"}
    done = sorted(Path(e["photo"]).stem for e in data["photos"] if e["status"] == "ok")
    assert _check_complete(out) == done


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_hangup_stops_like_sigterm_and_resume_finishes(tmp_path: Path, signum: int) -> None:
    """Closing the terminal (SIGHUP) is a graceful stop, not a kill that leaves temporary files."""
    src, out = _photos(tmp_path), tmp_path / "out"
    proc = _batch(src, out, slow=0.3)
    deadline = time.time() + 60
    while time.time() < deadline and not (out / "p1.obj").exists():
        time.sleep(0.005)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED and "Traceback" not in stderr, stdout + stderr
    done = sorted(Path(e["photo"]).stem for e in _report(out)["photos"] if e["status"] == "ok")
    assert _check_complete(out) == done and 2 <= len(done) < N_PHOTOS
    assert _batch(src, out, "resume").wait(timeout=120) == EXIT_OK
    assert _check_complete(out) == [f"p{k}" for k in range(N_PHOTOS)]


def test_a_second_signal_inside_a_write_waits_for_the_write(tmp_path: Path) -> None:
    """The second signal's KeyboardInterrupt comes after the write, never inside it (no cut file)."""
    from core.batch import GracefulStop

    target = tmp_path / "face.glb"
    seen: list[str] = []

    def writer(tmp: Path) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # first: a stop request
        os.kill(os.getpid(), signal.SIGINT)  # second: would stop at once
        time.sleep(0.05)
        seen.append("write finished")
        tmp.write_bytes(_glb())

    with GracefulStop() as stop, pytest.raises(KeyboardInterrupt):
        write_verified(target, writer)
    assert stop.requested and seen == ["write finished"] and target.read_bytes() == _glb()


def test_resource_limit_helper_sanity() -> None:
    """The child's limit must not leak into this process."""
    assert resource.getrlimit(resource.RLIMIT_FSIZE)[0] == resource.RLIM_INFINITY
