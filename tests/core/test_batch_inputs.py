# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 49, the input side: odd files, hostile paths, tampered manifests, messages and printing.

Each case ends with one sentence naming the photo (or file) and what to do,
the batch going on with the next photo, never a hang: whatever could block
(a FIFO, ``/dev/zero``) runs in a child process under a timeout.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from core.batch import output_names, run_batch, write_json_atomic
from core.batch_paths import InputSet, check_output_folder, check_report_path, is_report, output_problem
from core.console import Console, printable, safe_name
from core.errors import FaceFromPhotoError
from core.image_io import as_photo, load_photo_info
from core.messages import error_sentence
from core.photo_input import read_photo_bytes

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "astronaut.png"
HANG_TIMEOUT_S = 120  # a child that has not finished by then is stuck: the test fails instead of hanging


def one_sentence(message: str) -> bool:
    """Ends with a full stop, one line, no traceback, no second sentence."""
    return (message.endswith(".") and "\n" not in message and "Traceback" not in message
            and message.count(". ") == 0)


def run_child(body: str, *args: str) -> dict:
    """Run ``body`` in a fresh interpreter (repository on the path); returns its last JSON line."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(body), *args], capture_output=True,
                          text=True, timeout=HANG_TIMEOUT_S, cwd=str(ROOT),
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def float_tiff(path: Path, scale: float) -> Path:
    """The sample photo as a float32 TIFF with values 0..scale."""
    import cv2

    bgr = cv2.imread(str(SAMPLE), cv2.IMREAD_COLOR).astype(np.float32) * (scale / 255.0)
    assert cv2.imwrite(str(path), bgr)
    return path


# --------------------------------------------------------------------------- class 2: not regular files

BATCH_OVER_ODD_FILES = """
import json, sys
from pathlib import Path
from core.batch import run_batch
from core.image_io import load_photo_info

def process(photo, outputs, should_stop):
    loaded = load_photo_info(photo)  # the real loader: this is where a FIFO or /dev/zero would hang
    for path in outputs.values():
        path.write_bytes(b"mesh")
    return {"vertices": int(loaded.image.shape[0]), "faces": 1}

folder = Path(sys.argv[1])
photos = [folder / n for n in ("fifo.jpg", "zero.jpg", "urandom.png", "astronaut.png", "dangling.jpg")]
report = run_batch(photos, folder / "out", ["glb"], process, log=None)
print(json.dumps({"exit": report.exit_code(),
                  "entries": {Path(k).name: [e.status, e.error] for k, e in report.entries.items()}}))
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_fifo_and_device_links_fail_with_a_sentence_and_the_batch_goes_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.jpg")  # nobody ever writes to it: a plain open() would wait forever
    (tmp_path / "zero.jpg").symlink_to("/dev/zero")  # a plain read() would never end
    (tmp_path / "urandom.png").symlink_to("/dev/urandom")
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "gone.jpg")
    (tmp_path / "astronaut.png").write_bytes(SAMPLE.read_bytes())
    r = run_child(BATCH_OVER_ODD_FILES, str(tmp_path))
    e = r["entries"]
    assert r["exit"] == 1 and e["astronaut.png"][0] == "ok", r  # the good photo after the odd ones
    expected = {"fifo.jpg": "is a named pipe (FIFO), not a photo file",
                "zero.jpg": "links to a character device (/dev/zero), not a photo file",
                "urandom.png": "links to a character device (/dev/urandom), not a photo file",
                "dangling.jpg": "is a link to a file that does not exist"}
    for name, words in expected.items():
        status, error = e[name]
        assert status == "failed" and words in error and name in error and one_sentence(error), (name, error)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["astronaut.glb", "report.json"]


def test_size_limit_holds_for_the_bytes_actually_read(tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff" * 5000)
    with pytest.raises(FaceFromPhotoError, match="'big.jpg' is more than 0 MB|'big.jpg' is 0 MB"):
        read_photo_bytes(big, limit=4096)
    assert read_photo_bytes(big, limit=5000) == b"\xff" * 5000
    proc_file = Path("/proc/self/maps")  # a regular file whose stat size is 0 but which yields kBs
    if proc_file.is_file() and proc_file.stat().st_size == 0:
        with pytest.raises(FaceFromPhotoError) as info:
            read_photo_bytes(proc_file, limit=64)
        assert "larger than the" in str(info.value) and one_sentence(str(info.value))


def test_a_folder_given_as_a_photo_is_named(tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").mkdir()
    with pytest.raises(FaceFromPhotoError, match="is a folder, not a photo; choose an image file"):
        load_photo_info(tmp_path / "photo.jpg")


# ----------------------------------------------------------------- class 3: paths that would destroy files


def test_report_path_that_is_a_photo_or_a_foreign_file_is_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    a.write_bytes(SAMPLE.read_bytes())
    b.write_bytes(SAMPLE.read_bytes())
    inputs = InputSet([a, b])
    cases = {
        a: "is one of the input photos",  # `--report a.jpg b.jpg`
        Path(os.path.relpath(a)): "is one of the input photos",  # the same file, spelt differently
        tmp_path / "new.jpg": "does not end in .json",
        tmp_path: "is a folder",
    }
    notes = tmp_path / "notes.json"
    notes.write_text('{"shopping": ["milk"]}')
    cases[notes] = "is an existing file that is not a report of this add-on"
    cases[tmp_path / "c.jpg"] = "is an existing file that is not a report"  # a photo not in this batch
    (tmp_path / "c.jpg").write_bytes(SAMPLE.read_bytes())
    for path, words in cases.items():
        with pytest.raises(FaceFromPhotoError) as info:
            check_report_path(path, inputs)
        assert words in str(info.value) and one_sentence(str(info.value)), (path, str(info.value))
    assert notes.read_text() == '{"shopping": ["milk"]}' and a.read_bytes() == SAMPLE.read_bytes()
    assert (tmp_path / "c.jpg").read_bytes() == SAMPLE.read_bytes()
    # an earlier report, complete or cut short by a kill, may be replaced
    done = tmp_path / "done.json"
    write_json_atomic(done, {"version": 1, "photos": []})
    cut = tmp_path / "cut.json"
    cut.write_bytes(done.read_bytes()[:20])
    assert is_report(done) and is_report(cut)
    assert check_report_path(done, inputs) == done and check_report_path(cut, inputs) == cut
    assert check_report_path(tmp_path / "fresh.json", inputs) == tmp_path / "fresh.json"
    with pytest.raises(FaceFromPhotoError, match="is one of the input photos; give -o a folder"):
        check_output_folder(a, inputs)
    latin1 = tmp_path / os.fsdecode(b"sortie-\xe9t\xe9")
    with pytest.raises(FaceFromPhotoError, match=r"sortie-\\xe9t\\xe9' has a name that is not valid UTF-8"):
        check_output_folder(latin1, inputs)
    assert check_output_folder(tmp_path / "sortie-été", inputs) == tmp_path / "sortie-été"


def test_an_output_that_is_an_input_photo_or_a_folder_fails_that_photo_only(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("face.png", "face.preview.png", "other.png"):
        (photos / name).write_bytes(SAMPLE.read_bytes())
    (photos / "other.glb").mkdir()  # a folder where other.png's output goes
    ran: list[str] = []

    def process(photo: Path, outputs: dict[str, Path], should_stop: object) -> dict:
        ran.append(photo.name)
        for path in outputs.values():
            path.write_bytes(b"x")
        return {}

    listed = [photos / "face.png", photos / "face.preview.png", photos / "other.png"]
    report = run_batch(listed, photos, ["preview.png"], process, overwrite=True, log=None)
    entries = {Path(k).name: e for k, e in report.entries.items()}
    # face.png's preview would be the input photo face.preview.png: refused even with --overwrite
    face = entries["face.png"]
    assert face.status == "failed" and "is one of the input photos" in face.error
    assert (photos / "face.preview.png").read_bytes() == SAMPLE.read_bytes()
    assert entries["face.preview.png"].status == "ok"
    report = run_batch([photos / "other.png"], photos, ["glb"], process, overwrite=True, log=None,
                       report_path=tmp_path / "r2.json")
    error = report.entries[str(photos / "other.png")].error
    assert "is a folder; remove or rename it" in error and one_sentence(error), error
    assert ran == ["face.preview.png", "other.png"]  # the second run wrote nothing for other.png
    assert output_problem({"glb": tmp_path / "free.glb"}, InputSet(listed)) is None


# --------------------------------------------------------------------------- class 4: names and printing


def test_printable_and_safe_names() -> None:
    raw = os.fsdecode(b"caf\xe9 \x81\nx")  # Latin-1 bytes, a C1 byte, a newline
    assert printable(raw) == "caf\\xe9 \\x81\\nx"
    assert safe_name(raw) == "café __x"
    assert printable("plain ü name.jpg") == "plain ü name.jpg"
    assert printable("\x1b[31mred") == "\\x1b[31mred"


@pytest.mark.parametrize("target", ["closed pipe", "/dev/full"])
def test_console_survives_a_closed_pipe_and_a_full_device(target: str) -> None:
    if target == "/dev/full" and not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    if target == "closed pipe":
        r, w = os.pipe()
        os.close(r)
        stream = open(w, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    else:
        stream = open("/dev/full", "w", encoding="utf-8")  # noqa: SIM115
    console = Console(lambda: stream)
    for k in range(3):
        console.line(f"[{k}/3] {os.fsdecode(b'caf' + bytes([0xE9]))}.jpg: ok")  # never raises
    assert console.failed is not None and ("Broken pipe" in console.failed or "No space" in console.failed)
    stream.close()  # the descriptor now points at the null device: closing flushes without error


def test_non_utf8_file_name_goes_through_a_batch_and_its_report(tmp_path: Path) -> None:
    if sys.platform == "win32":
        pytest.skip("Windows file names are UTF-16")
    folder = os.fsencode(tmp_path)
    name = b"caf\xe9.png"
    try:
        with open(os.path.join(folder, name), "wb") as f:
            f.write(SAMPLE.read_bytes())
    except OSError:
        pytest.skip("this file system refuses non-UTF-8 names")
    photo = Path(os.fsdecode(os.path.join(folder, name)))
    lines: list[str] = []

    def process(p: Path, outputs: dict[str, Path], should_stop: object) -> dict:
        loaded = load_photo_info(p)
        for path in outputs.values():
            path.write_bytes(b"x")
        return {"vertices": loaded.image.shape[0]}

    report = run_batch([photo], tmp_path / "out", ["glb"], process, log=lines.append)
    assert report.exit_code() == 0
    assert output_names([photo], tmp_path / "out", ["glb"])[photo]["glb"].name == "café.glb"
    assert (tmp_path / "out" / "café.glb").is_file()
    raw = (tmp_path / "out" / "report.json").read_bytes()
    raw.decode("utf-8")  # valid UTF-8 ...
    data = json.loads(raw)
    assert os.fsencode(data["photos"][0]["photo"]) == os.path.join(folder, name)  # ... and the path is kept
    assert printable(lines[0]).startswith("[1/1] caf\\xe9.png: ok")


# --------------------------------------------------------------------------- class 8: messages by cause


def test_float_tiff_with_0_255_values_says_out_of_range_not_no_face(tmp_path: Path) -> None:
    with pytest.raises(FaceFromPhotoError) as info:
        load_photo_info(float_tiff(tmp_path / "scan.tif", 255.0))
    message = str(info.value)
    assert "'scan.tif' holds floating-point pixels" in message and "over-exposed" in message, message
    assert "No face" not in message and one_sentence(message)
    good = load_photo_info(float_tiff(tmp_path / "unit.tif", 1.0))  # the float convention: 0..1
    assert good.image.dtype == np.uint8 and 60 < good.image.mean() < 200
    hdr = np.full((64, 64, 3), 0.5, np.float32)
    hdr[:8, :8] = 4.0  # a few highlights above 1 are clipped, not refused
    assert as_photo(hdr).image[40, 40, 0] == 128
    with pytest.raises(FaceFromPhotoError, match="'image array' holds floating-point pixels"):
        as_photo(np.full((64, 64, 3), 200.0, np.float32))


def test_error_sentences_blame_the_cause_on_one_line() -> None:
    full = OSError(errno.ENOSPC, "No space left on device", "/out/a.glb")
    exporter = RuntimeError("Error: Could not write file\nNo space left on device\n")
    folder = IsADirectoryError(errno.EISDIR, "Is a directory", "/out/a.glb")
    other = ValueError("first line\nsecond line")
    sentences = {e: error_sentence(e) for e in (full, exporter, folder, other)}
    assert sentences[full].startswith("The disk is full ('/out/a.glb'); free some space")
    assert sentences[exporter].startswith("The disk is full;")
    assert sentences[folder].startswith("A folder is in the way of a file to be written ('/out/a.glb')")
    assert sentences[other] == "Unexpected error (ValueError: first line); please report this bug."
    assert all("\n" not in s and s.endswith(".") for s in sentences.values())
    assert error_sentence(FaceFromPhotoError("The photo is fine.")) == "The photo is fine."


def test_a_full_disk_inside_a_photo_is_one_line_and_the_batch_goes_on(tmp_path: Path) -> None:
    def process(photo: Path, outputs: dict[str, Path], should_stop: object) -> dict:
        if photo.name == "first.png":
            raise RuntimeError("Error: Cannot write 'first.glb'\nNo space left on device\n")
        for path in outputs.values():
            path.write_bytes(b"x")
        return {}

    report = run_batch([tmp_path / "first.png", tmp_path / "second.png"], tmp_path / "out", ["glb"], process,
                       log=None)
    first, second = report.entries.values()
    assert first.status == "failed" and first.error.startswith("The disk is full")
    assert one_sentence(first.error)
    assert second.status == "ok"
