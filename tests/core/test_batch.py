# SPDX-License-Identifier: GPL-3.0-or-later
"""core.batch: atomic writes, the report, overwrite/resume, and stopping on signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core.batch import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    BatchReport,
    GracefulStop,
    atomic_write,
    output_names,
    run_batch,
)
from core.errors import FaceFromPhotoError
from core.pipeline import Cancelled

ROOT = Path(__file__).resolve().parents[2]


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------- atomic_write


def test_atomic_write_replaces_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "mesh.glb"
    atomic_write(target, lambda tmp: tmp.write_bytes(b"first"))
    assert target.read_bytes() == b"first"

    def broken(tmp: Path) -> None:
        tmp.write_bytes(b"half a fi")
        raise RuntimeError("exporter crashed")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_bytes() == b"first"  # old content intact
    assert _files(tmp_path) == ["mesh.glb"]  # no temporary file left


def test_atomic_write_temp_file_keeps_the_extension_and_folder(tmp_path: Path) -> None:
    seen: list[Path] = []
    atomic_write(tmp_path / "a.blend", lambda tmp: (seen.append(tmp), tmp.write_bytes(b"x")))
    assert seen[0].parent == tmp_path and seen[0].suffix == ".blend" and seen[0].name.startswith(".")


def test_atomic_write_errors_are_sentences(tmp_path: Path) -> None:
    with pytest.raises(FaceFromPhotoError, match="does not exist"):
        atomic_write(tmp_path / "missing" / "a.glb", lambda tmp: tmp.write_bytes(b""))
    with pytest.raises(FaceFromPhotoError, match="produced no file"):
        atomic_write(tmp_path / "a.glb", lambda tmp: tmp.unlink())


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_read_only_output_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(FaceFromPhotoError, match="choose a writable folder"):
            atomic_write(folder / "a.glb", lambda tmp: tmp.write_bytes(b"x"))
    finally:
        folder.chmod(0o700)


def test_read_only_output_folder_even_as_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(FaceFromPhotoError) as info:
        atomic_write(tmp_path / "a.glb", lambda tmp: tmp.write_bytes(b"x"))
    assert str(info.value) == (
        f"Cannot write into the output folder '{tmp_path}' (Permission denied); choose a writable folder."
    )


# --------------------------------------------------------------------------- names and report


def test_output_names_are_unique_per_stem(tmp_path: Path) -> None:
    photos = ["b/face.jpg", "a/face.png", "a/Face.tif", "x/other.jpg"]
    names = output_names(photos, tmp_path, ["glb", "blend"])
    stems = {p: {fmt: path.name for fmt, path in outs.items()} for p, outs in names.items()}
    # Sorted full paths: a/Face.tif < a/face.png < b/face.jpg.
    assert stems[Path("a/Face.tif")]["glb"] == "Face.glb"
    assert stems[Path("a/face.png")]["glb"] == "face-2.glb"
    assert stems[Path("b/face.jpg")]["blend"] == "face-3.blend"
    assert stems[Path("x/other.jpg")] == {"glb": "other.glb", "blend": "other.blend"}
    assert list(names) == [Path("b/face.jpg"), Path("a/face.png"), Path("a/Face.tif"), Path("x/other.jpg")]


def _photos(tmp_path: Path, names: list[str]) -> list[Path]:
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"photo")
    return [folder / n for n in names]


def _process(calls: list[str], fail: set[str] = frozenset()):  # type: ignore[assignment]
    def process(photo: Path, outputs: dict[str, Path], should_stop) -> dict:
        calls.append(photo.name)
        if photo.stem in fail:
            raise FaceFromPhotoError(f"No face was found in '{photo.name}'.")
        for path in outputs.values():
            atomic_write(path, lambda tmp: tmp.write_text(photo.name))
        return {"vertices": 10, "faces": 16, "timings": {"predict": 0.01}}

    return process


def test_batch_continues_past_bad_photos_and_reports(tmp_path: Path) -> None:
    photos = _photos(tmp_path, ["a.jpg", "bad.jpg", "c.jpg"])
    out = tmp_path / "out"
    calls: list[str] = []
    report = run_batch(photos, out, ["glb", "obj"], _process(calls, {"bad"}), log=None)
    assert calls == ["a.jpg", "bad.jpg", "c.jpg"]
    assert report.exit_code() == EXIT_FAILED
    data = json.loads((out / "report.json").read_text())
    assert data["summary"] == {"ok": 2, "failed": 1, "skipped": 0, "cancelled": 0}
    bad = next(p for p in data["photos"] if p["photo"].endswith("bad.jpg"))
    assert bad["status"] == "failed" and bad["error"] == "No face was found in 'bad.jpg'."
    good = data["photos"][0]
    assert good["vertices"] == 10 and good["faces"] == 16 and "total" in good["timings"]
    assert _files(out) == ["a.glb", "a.obj", "c.glb", "c.obj", "report.json"]


def test_existing_outputs_are_not_overwritten_without_the_flag(tmp_path: Path) -> None:
    photos = _photos(tmp_path, ["a.jpg"])
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.glb").write_text("precious")
    calls: list[str] = []
    report = run_batch(photos, out, ["glb"], _process(calls), log=None)
    assert calls == [] and (out / "a.glb").read_text() == "precious"
    entry = report.entries[str(photos[0])]
    assert entry.status == "failed" and "--overwrite" in entry.error and "already exists" in entry.error
    report = run_batch(photos, out, ["glb"], _process(calls), overwrite=True, log=None)
    assert calls == ["a.jpg"] and (out / "a.glb").read_text() == "a.jpg" and report.exit_code() == EXIT_OK


def test_resume_skips_complete_photos_and_redoes_the_rest(tmp_path: Path) -> None:
    photos = _photos(tmp_path, ["a.jpg", "b.jpg", "c.jpg"])
    out = tmp_path / "out"
    calls: list[str] = []
    run_batch(photos, out, ["glb", "blend"], _process(calls, {"b"}), log=None)
    (out / "c.blend").unlink()  # c is incomplete now
    calls.clear()
    report = run_batch(photos, out, ["glb", "blend"], _process(calls), resume=True, log=None)
    assert calls == ["b.jpg", "c.jpg"]  # a skipped; b failed before; c lost an output
    assert [e.status for e in report.entries.values()] == ["skipped", "ok", "ok"]
    assert report.entries[str(photos[0])].vertices == 10  # carried over from the first run
    assert report.exit_code() == EXIT_OK


def test_a_failed_photo_leaves_none_of_its_outputs(tmp_path: Path) -> None:
    photos = _photos(tmp_path, ["a.jpg"])
    out = tmp_path / "out"

    def half(photo: Path, outputs: dict[str, Path], should_stop) -> dict:
        atomic_write(outputs["glb"], lambda tmp: tmp.write_text("ok"))
        raise FaceFromPhotoError("The exporter failed.")

    report = run_batch(photos, out, ["glb", "blend"], half, log=None)
    assert _files(out) == ["report.json"] and report.exit_code() == EXIT_FAILED


def test_unexpected_exception_is_reported_not_raised(tmp_path: Path) -> None:
    photos = _photos(tmp_path, ["a.jpg", "b.jpg"])

    def buggy(photo: Path, outputs: dict[str, Path], should_stop) -> dict:
        if photo.stem == "a":
            raise ZeroDivisionError("division by zero")
        return _process([])(photo, outputs, should_stop)

    report = run_batch(photos, tmp_path / "out", ["glb"], buggy, log=None)
    assert "ZeroDivisionError" in report.entries[str(photos[0])].error
    assert report.entries[str(photos[1])].status == "ok"


def test_report_load_tolerates_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text("{not json")
    assert BatchReport.load(path).entries == {}


def test_stop_request_cancels_the_current_photo_and_starts_no_other(tmp_path: Path) -> None:
    photos = _photos(tmp_path, ["a.jpg", "b.jpg", "c.jpg"])
    out = tmp_path / "out"
    stop = GracefulStop()
    calls: list[str] = []

    def process(photo: Path, outputs: dict[str, Path], should_stop) -> dict:
        calls.append(photo.name)
        if photo.stem == "b":
            atomic_write(outputs["glb"], lambda tmp: tmp.write_text("partial set"))
            stop.request(signal.SIGINT)  # the signal arrives mid-photo
            if should_stop():
                raise Cancelled()
        return _process([])(photo, outputs, should_stop)

    report = run_batch(photos, out, ["glb", "obj"], process, stop=stop, log=None)
    assert calls == ["a.jpg", "b.jpg"]
    assert report.interrupted and report.exit_code() == EXIT_INTERRUPTED
    assert [e.status for e in report.entries.values()] == ["ok", "cancelled"]
    assert _files(out) == ["a.glb", "a.obj", "report.json"]


def test_the_start_up_is_recorded_and_a_stop_during_it_starts_no_photo(tmp_path: Path) -> None:
    photos = _photos(tmp_path, ["a.jpg", "b.jpg"])
    calls: list[str] = []
    startup = {"state": "done", "imports_s": 1.5, "model_s": 0.25, "total_s": 1.75}
    report = run_batch(photos, tmp_path / "out", ["glb"], _process(calls), log=None, startup=startup)
    assert json.loads(report.path.read_text())["startup"] == startup and calls == ["a.jpg", "b.jpg"]

    stop = GracefulStop()

    def start_up() -> dict:  # the signal arrives while torch is being imported
        stop.request(signal.SIGINT)
        return startup

    report = run_batch(photos, tmp_path / "out2", ["glb"], _process(calls), log=None, stop=stop,
                       startup=start_up)
    saved = json.loads(report.path.read_text())
    assert saved["startup"] == startup and saved["interrupted"] and saved["photos"] == []
    assert report.exit_code() == EXIT_INTERRUPTED and calls == ["a.jpg", "b.jpg"]
    no_startup = run_batch(photos, tmp_path / "out3", ["glb"], _process([]), log=None)
    assert "startup" not in json.loads(no_startup.path.read_text())


_SIGNAL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from core.batch import atomic_write, run_batch
    from core.pipeline import Cancelled

    def process(photo, outputs, should_stop):
        for _ in range(40):  # a slow reconstruction that checks should_stop between stages
            if should_stop():
                raise Cancelled()
            time.sleep(0.05)
        for path in outputs.values():
            def writer(tmp):
                with open(tmp, "w") as f:
                    for k in range(5):
                        f.write("chunk %d\\n" % k)
                        f.flush()
                        time.sleep(0.02)
            atomic_write(path, writer)
        return {"vertices": 1, "faces": 1}

    photos = [Path(sys.argv[1]) / f"p{k}.jpg" for k in range(20)]
    report = run_batch(photos, sys.argv[2], ["glb", "obj"], process, log=lambda s: print(s, flush=True))
    sys.exit(report.exit_code())
    """
)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_batch_leaves_only_complete_files(tmp_path: Path, signum: int) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", _SIGNAL_SCRIPT, str(src), str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # Wait until at least one photo finished, then interrupt.
    deadline = time.time() + 60
    while time.time() < deadline and not (out / "p0.obj").exists():
        time.sleep(0.05)
    time.sleep(0.7)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, stdout + stderr
    data = json.loads((out / "report.json").read_text())
    assert data["interrupted"] is True
    done = [Path(p["photo"]).stem for p in data["photos"] if p["status"] == "ok"]
    assert done and len(done) < 20
    names = _files(out)
    assert not [n for n in names if n.startswith(".")], names  # no temporary files
    assert sorted(names) == sorted(["report.json", *(f"{s}.{e}" for s in done for e in ("glb", "obj"))])
    for s in done:
        assert (out / f"{s}.glb").read_text().count("chunk") == 5  # every file complete
