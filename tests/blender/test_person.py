# SPDX-License-Identifier: GPL-3.0-or-later
"""Several photos of one person -> one head: ``api.reconstruct([...])`` and ``--person NAME``.

One bpy process runs the real pipeline (``core.pipeline.reconstruct_person``) on
``examples/astronaut.png`` with a mirrored copy, then with a noise picture as the intruder
(no face: left out with a sentence naming it), through the API and the batch command line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.blender.ffp_run import NO_WEIGHTS, PHOTO, WEIGHTS, run_script

pytestmark = [pytest.mark.blender, pytest.mark.skipif(not WEIGHTS.is_file(), reason=NO_WEIGHTS)]

SCRIPT = """
import cv2

photo, work = sys.argv[1], pathlib.Path(sys.argv[2])
ext = enable_from_source()
error_type = ext.api.FaceFromPhotoError
image = cv2.imread(photo)
mirrored, noise = work / "mirrored.png", work / "noise.png"
cv2.imwrite(str(mirrored), image[:, ::-1])
cv2.imwrite(str(noise), np.random.default_rng(0).integers(0, 256, (200, 160, 3), dtype=np.uint8))
out = {}

def described(obj):
    keys = obj.data.shape_keys
    return {"name": obj.name, "output": obj.get("face_from_photo_output"),
            "keys": len(keys.key_blocks) - 1 if keys else 0,
            "sources": json.loads(obj["face_from_photo_sources"]),
            "warnings": json.loads(obj["face_from_photo_warnings"]),
            "source": obj["face_from_photo_source"]}

before = counts()
obj = ext.api.reconstruct([photo, str(mirrored)], head_texture_size=1024)
out["two"] = described(obj)
ext.api.remove(obj)
obj = ext.api.reconstruct((photo, str(noise)), head_texture_size=1024, name="Ann")
out["intruder"] = described(obj)
ext.api.remove(obj)
out["removed_all"] = counts() == before
try:
    ext.api.reconstruct([str(noise), str(noise) + ".missing.png"], head_texture_size=1024)
    out["none"] = None
except error_type as e:
    out["none"] = str(e)
out["none_left_nothing"] = counts() == before

# File > Import with several files: one person (default), or one object per photo
import shutil
shutil.copy(photo, work / "astronaut.png")
files = [{"name": n} for n in ("astronaut.png", "noise.png", "mirrored.png")]
names_before = set(bpy.data.objects.keys())
result = bpy.ops.face_from_photo.import_photo(directory=str(work), files=files, head_texture_size='1024')
made = [bpy.data.objects[n] for n in set(bpy.data.objects.keys()) - names_before]
out["import_person"] = {"result": sorted(result), "objects": [described(o) for o in made]}
for o in made:
    ext.api.remove(o)
names_before = set(bpy.data.objects.keys())
result = bpy.ops.face_from_photo.import_photo(directory=str(work), files=files, one_person=False,
                                              head_texture_size='1024')
made = [bpy.data.objects[n] for n in set(bpy.data.objects.keys()) - names_before]
out["import_each"] = {"result": sorted(result), "names": sorted(o.name for o in made),
                      "selected": sorted(o.name for o in bpy.context.selected_objects)}

cli_out = work / "cli"
out["bad_name"] = ext.cli.main(["reconstruct", photo, "-o", str(cli_out), "--person", "a/b"])
out["code"] = ext.cli.main(["reconstruct", photo, str(noise), "-o", str(cli_out), "--person", "Ann.Smith",
                            "--head-texture-size", "1024", "--quiet"])
out["files"] = sorted(p.name for p in cli_out.iterdir())
out["report"] = json.loads((cli_out / "report.json").read_text())
out["resumed"] = ext.cli.main(["reconstruct", photo, str(noise), "-o", str(cli_out), "--person", "Ann.Smith",
                               "--head-texture-size", "1024", "--quiet", "--resume"])
out["report_resumed"] = json.loads((cli_out / "report.json").read_text())
emit(out)
"""


@pytest.fixture(scope="module")
def person_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from tests.conftest import run_python

    work = tmp_path_factory.mktemp("person")

    def run_bpy(script: str, **kwargs: object) -> object:
        return run_python(script, timeout=1800, **kwargs)  # type: ignore[arg-type]

    return run_script(run_bpy, SCRIPT, args=[str(PHOTO), str(work)])  # type: ignore[arg-type]


def test_api_makes_one_head_from_two_photos(person_run: dict) -> None:
    two = person_run["two"]
    assert two["name"] == "astronaut" and two["output"] == "head" and two["keys"] == 53
    assert [Path(s).name for s in two["sources"]] == ["astronaut.png", "mirrored.png"]
    assert two["warnings"] == [] and Path(two["source"]).name in ("astronaut.png", "mirrored.png")


def test_api_leaves_out_a_photo_without_a_face(person_run: dict) -> None:
    r = person_run["intruder"]
    assert r["name"] == "Ann" and r["keys"] == 53
    assert [Path(s).name for s in r["sources"]] == ["astronaut.png"]
    assert len(r["warnings"]) == 1 and "noise.png" in r["warnings"][0] and "left out" in r["warnings"][0]
    assert person_run["removed_all"]


def test_api_fails_cleanly_when_no_photo_gives_a_head(person_run: dict) -> None:
    assert person_run["none"] is not None and person_run["none"].endswith(".")
    assert person_run["none_left_nothing"]


def test_cli_person_writes_one_head_and_one_report_entry(person_run: dict) -> None:
    assert person_run["bad_name"] == 2
    assert person_run["code"] == 0
    assert "Ann.Smith.glb" in person_run["files"]
    assert not [n for n in person_run["files"] if n.startswith(".") or ".partial" in n]
    (entry,) = person_run["report"]["photos"]
    assert entry["photo"] == "Ann.Smith" and entry["status"] == "ok" and entry["vertices"] > 20_000
    assert [Path(s).name for s in entry["sources"]] == ["astronaut.png"]
    assert len(entry["warnings"]) == 1 and "noise.png" in entry["warnings"][0]
    assert person_run["report"]["options"]["output"] == "head"
    assert person_run["resumed"] == 0
    (again,) = person_run["report_resumed"]["photos"]
    assert again["status"] == "skipped" and again["sources"] == entry["sources"]


def test_import_several_files_makes_one_person_head_or_one_object_each(person_run: dict) -> None:
    p = person_run["import_person"]
    assert p["result"] == ["FINISHED"]
    (head,) = p["objects"]
    assert head["name"] == "astronaut" and head["keys"] == 53
    assert [Path(s).name for s in head["sources"]] == ["astronaut.png", "mirrored.png"]
    assert len(head["warnings"]) == 1 and "noise.png" in head["warnings"][0]
    e = person_run["import_each"]
    assert e["result"] == ["FINISHED"] and e["names"] == ["astronaut", "mirrored"]
    assert e["selected"] == ["astronaut", "mirrored"]
