# SPDX-License-Identifier: GPL-3.0-or-later
"""``--people DIR``: one head per sub-folder; a bad photo or a bad folder is reported, the batch goes on.

One bpy process runs the real pipeline through ``cli.main``: ``Ann/`` holds
``examples/astronaut.png``, a mirrored copy and a text file named ``.jpg`` (left out with its
sentence); ``Bad/`` holds only broken files (fails with one sentence); ``Empty/`` holds no
photo (fails with one sentence); a photo directly in the folder is not used (one line says
so); the output folder inside the people folder is not a person, also on ``--resume``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.blender.ffp_run import NO_WEIGHTS, PHOTO, WEIGHTS, run_script

pytestmark = [pytest.mark.blender, pytest.mark.skipif(not WEIGHTS.is_file(), reason=NO_WEIGHTS)]

SCRIPT = """
import contextlib, io, shutil
import cv2

photo, people = sys.argv[1], pathlib.Path(sys.argv[2])
ext = enable_from_source()
for name in ("Ann", "Bad", "Empty"):
    (people / name).mkdir(parents=True)
shutil.copy(photo, people / "Ann" / "astronaut.png")
cv2.imwrite(str(people / "Ann" / "mirrored.png"), cv2.imread(photo)[:, ::-1])
(people / "Ann" / "notes.jpg").write_text("not a photo")
(people / "Bad" / "notes.jpg").write_text("not a photo")
(people / "Bad" / "empty.jpg").write_bytes(b"")
(people / "Empty" / "readme.txt").write_text("no photos here")
shutil.copy(photo, people / "loose.png")
out_dir = people / "out"
out = {}

def run(*args):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = ext.cli.main(["reconstruct", *args])
    return code, err.getvalue()

base = ["--people", str(people), "-o", str(out_dir), "--head-texture-size", "1024", "--quiet"]
out["first"] = run(*base)
out["files"] = sorted(p.name for p in out_dir.iterdir())
out["report"] = json.loads((out_dir / "report.json").read_text())
out["resumed"] = run(*base, "--resume")
out["report_resumed"] = json.loads((out_dir / "report.json").read_text())
out["with_photos"] = run("--people", str(people), photo, "-o", str(out_dir))
out["with_person"] = run("--people", str(people), "--person", "Ann", "-o", str(out_dir))
out["missing"] = run("--people", str(people / "nobody"), "-o", str(out_dir))
out["relief"] = run("--people", str(people), "-o", str(out_dir), "--output-kind", "relief")
emit(out)
"""


@pytest.fixture(scope="module")
def people_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from tests.conftest import run_python

    people = tmp_path_factory.mktemp("people")

    def run_bpy(script: str, **kwargs: object) -> object:
        return run_python(script, timeout=1800, **kwargs)  # type: ignore[arg-type]

    return run_script(run_bpy, SCRIPT, args=[str(PHOTO), str(people)])  # type: ignore[arg-type]


def test_one_head_per_folder_and_bad_folders_reported(people_run: dict) -> None:
    code, err = people_run["first"]
    assert code == 1  # some items failed, the batch went on
    assert "1 photo(s) directly in" in err and "not used" in err
    assert "Ann.glb" in people_run["files"] and "out.glb" not in people_run["files"]
    assert not [n for n in people_run["files"] if n.startswith(("Bad", "Empty", ".")) or ".partial" in n]
    entries = {Path(e["photo"]).name: e for e in people_run["report"]["photos"]}
    assert sorted(entries) == ["Ann", "Bad", "Empty"]
    ann = entries["Ann"]
    assert ann["status"] == "ok" and ann["vertices"] > 20_000
    assert [Path(s).name for s in ann["sources"]] == ["astronaut.png", "mirrored.png"]
    assert len(ann["warnings"]) == 1 and "notes.jpg" in ann["warnings"][0]
    bad, empty = entries["Bad"], entries["Empty"]
    assert bad["status"] == "failed" and "None of the 2 photos gave a head" in bad["error"]
    assert empty["status"] == "failed" and "'Empty' holds no photos" in empty["error"]
    for entry in (bad, empty):
        assert entry["error"].endswith(".") and "\n" not in entry["error"]
    assert people_run["report"]["options"]["output"] == "head"


def test_resume_skips_the_finished_person_and_never_takes_the_output_folder(people_run: dict) -> None:
    code, _ = people_run["resumed"]
    assert code == 1
    entries = {Path(e["photo"]).name: e["status"] for e in people_run["report_resumed"]["photos"]}
    assert entries == {"Ann": "skipped", "Bad": "failed", "Empty": "failed"}


def test_people_usage_errors(people_run: dict) -> None:
    for note, words in (("with_photos", "leave out the photo arguments"), ("with_person", "--person"),
                        ("missing", "does not exist"), ("relief", "--output-kind relief")):
        code, err = people_run[note]
        assert code == 2 and words in err, (note, err)
