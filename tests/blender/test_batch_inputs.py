# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 49, the input side, through the real batch command and API (bpy in background mode).

One bpy process runs ``cli.main`` and ``api.reconstruct`` with the real core
(untrained stand-in weights) over: a FIFO named ``x.jpg``, a symlink to
``/dev/zero``, a float TIFF holding 0..255, a non-UTF-8 file name, with stdout
a pipe whose reader has gone and then ``/dev/full``; ``--subdivide 11``;
``--report a.jpg b.jpg``; a folder standing where an output goes; a ``bytes``
path in the API. A second test pipes the launcher into "read one line and
close" (``| head -1``). Every failure is one sentence naming the photo, the
batch goes on, and nothing hangs (each process runs under a timeout).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.blender.ffp_run import PHOTO, ROOT, run_script, shared_user_resources

pytestmark = [pytest.mark.blender, pytest.mark.slow]

LATIN1_NAME = b"caf\xe9.png"  # not valid UTF-8

SCRIPT = r"""
import contextlib, io
ext = enable_from_source()
folder = pathlib.Path(sys.argv[1])
weights = make_test_weights(folder / "weights")
photos = folder / "photos"
cafe = os.fsdecode(os.path.join(os.fsencode(photos), b"caf\xe9.png"))

def cli(args, stdout=None, quiet=True):
    err, out = io.StringIO(), stdout or io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = ext.cli.main(["reconstruct", *args, "--format", "glb", "--device", "cpu", "--weights", weights,
                             "--output-kind", "relief",  # untrained stand-in weights give no head to fit
                             *(["--quiet"] if quiet else [])])
    return {"exit": code, "stderr": err.getvalue().strip(),
            "stdout": out.getvalue() if isinstance(out, io.StringIO) else None}

def entries(out_dir, report="report.json"):
    raw = (pathlib.Path(out_dir) / report).read_bytes()
    raw.decode("utf-8")  # the report is valid UTF-8 even for a non-UTF-8 photo name
    return {os.path.basename(os.fsencode(e["photo"])).decode("latin-1"): [e["status"], e["error"]]
            for e in json.loads(raw)["photos"]}  # keyed by file name; the non-UTF-8 one read as Latin-1

def listing(out_dir):
    return sorted(os.fsdecode(n).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                  for n in os.listdir(out_dir))

r = {}
# 1. odd inputs, stdout a pipe whose reader has gone, progress lines on
read_end, write_end = os.pipe()
os.close(read_end)
closed = open(write_end, "w", encoding="utf-8")
inputs = [str(photos / n) for n in ("fifo.jpg", "zero.jpg", "scan.tif", "astronaut.png")] + [cafe]
r["odd"] = cli([*inputs, "-o", str(folder / "out1")], stdout=closed, quiet=False)
closed.close()
r["odd"]["entries"] = entries(folder / "out1")
r["odd"]["files"] = listing(folder / "out1")

# 2. stdout on a full device
full = open("/dev/full", "w", encoding="utf-8")
r["full"] = cli([str(photos / "astronaut.png"), "-o", str(folder / "out2")], stdout=full, quiet=False)
full.close()
r["full"]["files"] = listing(folder / "out2")

# 3. options checked as the preferences and the API check them
for name, args in {"subdivide_11": ["--subdivide", "11"], "subdivide_-1": ["--subdivide", "-1"],
                   "face_index_-3": ["--face-index", "-3"], "lam_nan": ["--lam", "nan"]}.items():
    r[name] = cli([str(photos / "astronaut.png"), "-o", str(folder / ("out-" + name)), *args])
    r[name]["created"] = (folder / ("out-" + name)).exists()
a_before = (photos / "a.jpg").read_bytes()
r["report_photo"] = cli(["--report", str(photos / "a.jpg"), str(photos / "b.jpg"),
                         "-o", str(folder / "out4")])
r["report_photo"]["a_unchanged"] = (photos / "a.jpg").read_bytes() == a_before
r["report_is_input"] = cli(["--report", str(photos / "a.jpg"), str(photos / "a.jpg"),
                            "-o", str(folder / "out4")])
r["output_is_photo"] = cli([str(photos / "a.jpg"), "-o", str(photos / "a.jpg")])

# 4. a folder where an output goes: that photo fails, the next one is made
(folder / "out5" / "astronaut.glb").mkdir(parents=True)
r["folder_output"] = cli([str(photos / "astronaut.png"), str(photos / "b.jpg"), "-o", str(folder / "out5"),
                          "--overwrite"])
r["folder_output"]["entries"] = entries(folder / "out5")

# 5. the API: bytes paths, non-paths, odd files, the float TIFF
api = {}
obj = ext.api.reconstruct(os.fsencode(photos / "astronaut.png"), weights=weights, device="cpu",
                          output="relief")
api["bytes"] = {"name": obj.name, "source": obj["face_from_photo_source"]}
ext.api.remove(obj)
obj = ext.api.reconstruct(cafe, weights=weights, device="cpu", output="relief")
api["latin1"] = {"name": obj.name}
ext.api.remove(obj)
for key, value in {"int": 123, "fifo": str(photos / "fifo.jpg"), "zero": str(photos / "zero.jpg"),
                   "tiff": str(photos / "scan.tif")}.items():
    try:
        ext.api.reconstruct(value, weights=weights, device="cpu", output="relief")
        api[key] = "no error"
    except ext.api.FaceFromPhotoError as e:
        api[key] = str(e)
r["api"] = api
r["expanded"] = sorted(os.fsencode(p.name).decode("latin-1") for p in ext.cli.expand_photos([str(photos)]))
emit(r)
"""


def one_sentence(message: str) -> bool:
    return (message.endswith(".") and "\n" not in message and "Traceback" not in message
            and ". " not in message)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> dict:
    import cv2

    from tests.conftest import run_python

    folder = tmp_path_factory.mktemp("batch_inputs")
    photos = folder / "photos"
    photos.mkdir()
    shutil.copy(PHOTO, photos / "astronaut.png")
    shutil.copy(PHOTO, photos / "a.jpg")  # PNG bytes: the loader goes by content
    shutil.copy(PHOTO, photos / "b.jpg")
    with open(os.path.join(os.fsencode(photos), LATIN1_NAME), "wb") as f:
        f.write(PHOTO.read_bytes())
    os.mkfifo(photos / "fifo.jpg")
    (photos / "zero.jpg").symlink_to("/dev/zero")
    bgr = cv2.imread(str(PHOTO), cv2.IMREAD_COLOR).astype(np.float32)  # values 0..255 in a float TIFF
    assert cv2.imwrite(str(photos / "scan.tif"), bgr)
    return run_script(run_python, SCRIPT, args=[str(folder)], timeout=600)


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not Path("/dev/full").exists(), reason="POSIX devices")
def test_odd_inputs_and_a_closed_stdout_fail_one_photo_each_and_the_batch_goes_on(outcome: dict) -> None:
    odd = outcome["odd"]
    e = odd["entries"]
    assert odd["exit"] == 1 and odd["stderr"] == "", odd  # nothing about the closed pipe, no traceback
    assert e["astronaut.png"][0] == "ok" and e["café.png"][0] == "ok", e
    expected = {"fifo.jpg": "is a named pipe (FIFO), not a photo file",
                "zero.jpg": "links to a character device (/dev/zero), not a photo file",
                "scan.tif": "so it would read as over-exposed (white)"}
    for name, words in expected.items():
        status, error = e[name]
        assert status == "failed" and words in error and name in error and one_sentence(error), error
    assert odd["files"] == ["astronaut.glb", "café.glb", "report.json"], odd["files"]


def test_a_folder_argument_takes_odd_entries_named_like_photos(outcome: dict) -> None:
    # reported in one sentence each by the batch, never skipped unseen (a folder named x.jpg is skipped)
    assert outcome["expanded"] == ["a.jpg", "astronaut.png", "b.jpg", "café.png", "fifo.jpg", "scan.tif",
                                   "zero.jpg"], outcome["expanded"]


def test_stdout_on_a_full_device_fails_nothing(outcome: dict) -> None:
    full = outcome["full"]
    assert full["exit"] == 0 and full["stderr"] == "", full
    assert full["files"] == ["astronaut.glb", "report.json"], full


@pytest.mark.parametrize(("case", "words"), [
    ("subdivide_11", "The subdivision level 11 is out of range; use a whole number from 0 to 3"),
    ("subdivide_-1", "The subdivision level -1 is out of range"),
    ("face_index_-3", "The face index -3 is invalid"),
    ("lam_nan", "The option lam = nan is out of range"),
])
def test_options_are_refused_as_the_preferences_and_the_api_refuse_them(outcome: dict, case: str,
                                                                         words: str) -> None:
    r = outcome[case]
    assert r["exit"] == 2 and r["stderr"].startswith(words) and one_sentence(r["stderr"]), r
    assert not r["created"]  # refused before anything was written


def test_report_and_output_paths_never_take_a_photo(outcome: dict) -> None:
    r = outcome["report_photo"]  # `--report a.jpg b.jpg`
    assert r["exit"] == 2 and "a.jpg' is an existing file that is not a report" in r["stderr"], r
    assert r["a_unchanged"] and one_sentence(r["stderr"])
    r = outcome["report_is_input"]  # `--report a.jpg a.jpg`: the photo is also an input
    assert r["exit"] == 2 and "is one of the input photos; give --report a new .json file" in r["stderr"], r
    r = outcome["output_is_photo"]
    assert r["exit"] == 2 and "is one of the input photos; give -o a folder" in r["stderr"], r


def test_a_folder_in_place_of_an_output_fails_that_photo_only(outcome: dict) -> None:
    r = outcome["folder_output"]
    e = r["entries"]
    assert r["exit"] == 1 and e["b.jpg"][0] == "ok", r
    status, error = e["astronaut.png"]
    assert status == "failed" and "astronaut.glb' is a folder; remove or rename it" in error, error
    assert "IsADirectoryError" not in error and one_sentence(error)


def test_api_accepts_bytes_paths_and_says_what_else_is_wrong(outcome: dict) -> None:
    api = outcome["api"]
    assert api["bytes"]["name"] == "astronaut" and api["bytes"]["source"].endswith("astronaut.png"), api
    assert api["latin1"]["name"] == "café", api  # a valid Blender name for a non-UTF-8 file name
    assert api["int"].startswith("The photo must be a file path (str, bytes or pathlib.Path), not int")
    assert "is a named pipe (FIFO)" in api["fifo"] and "character device" in api["zero"], api
    assert "over-exposed" in api["tiff"] and "No face" not in api["tiff"], api
    assert all(one_sentence(api[k]) for k in ("int", "fifo", "zero", "tiff"))


def test_launcher_piped_into_a_reader_that_stops_after_one_line(tmp_path: Path) -> None:
    """``tools/face_from_photo_cli.py ... | head -1``: every photo is still made."""
    from tests.bad_input_corpus import make_weights

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("one.png", "two.png", "three.png"):
        shutil.copy(PHOTO, photos / name)
    weights = make_weights(tmp_path / "weights")
    out = tmp_path / "out"
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(shared_user_resources()), "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tools" / "face_from_photo_cli.py"), "reconstruct", str(photos), "-o",
         str(out), "--format", "glb", "--weights", str(weights), "--device", "cpu",
         "--output-kind", "relief"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(ROOT))
    assert proc.stdout is not None
    first = proc.stdout.readline()  # what `head -1` reads before it exits
    proc.stdout.close()
    try:
        _, stderr = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert first, stderr[-2000:]
    text = stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, text[-3000:]
    assert "BrokenPipeError" not in text and "Traceback" not in text and "Unexpected error" not in text, text
    report = json.loads((out / "report.json").read_text())
    assert [p["status"] for p in report["photos"]] == ["ok", "ok", "ok"]
    assert sorted(p.name for p in out.iterdir()) == ["one.glb", "report.json", "three.glb", "two.glb"]
