# SPDX-License-Identifier: GPL-3.0-or-later
"""Add Photos and Re-fit: the head is swapped in place in one undo step, or left as it was.

One bpy process runs the real pipeline: a head from ``examples/astronaut.png`` (one photo),
placed, parented, in two collections, with a child; the operator adds a mirrored copy and a
noise picture (no face: left out with its sentence); undo brings the old head back; a moved
source photo or an added photo that is not used leaves everything as it was; then
``api.add_photos`` adds a half-size copy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.blender.ffp_run import NO_WEIGHTS, PHOTO, WEIGHTS, run_script

pytestmark = [pytest.mark.blender, pytest.mark.skipif(not WEIGHTS.is_file(), reason=NO_WEIGHTS)]

SCRIPT = """
import cv2, shutil

photo, work = sys.argv[1], pathlib.Path(sys.argv[2])
ext = enable_from_source()
astronaut, mirrored, small, noise = (work / n for n in ("astronaut.png", "mirrored.png", "small.png",
                                                        "noise.png"))
shutil.copy(photo, astronaut)
image = cv2.imread(photo)
cv2.imwrite(str(mirrored), image[:, ::-1])
cv2.imwrite(str(small), cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA))
cv2.imwrite(str(noise), np.random.default_rng(0).integers(0, 256, (200, 160, 3), dtype=np.uint8))
out = {}

def state(name="astronaut"):
    obj = bpy.data.objects[name]
    co = np.empty(3 * len(obj.data.vertices), np.float32)
    obj.data.vertices.foreach_get("co", co)
    layer = bpy.context.view_layer
    return {
        "sources": [pathlib.Path(s).name for s in json.loads(obj.get("face_from_photo_sources", "[]"))],
        "source": pathlib.Path(obj["face_from_photo_source"]).name,
        "warnings": json.loads(obj.get("face_from_photo_warnings", "[]")),
        "co_sum": round(float(np.abs(co).sum()), 3), "keys": len(obj.data.shape_keys.key_blocks),
        "location": [round(v, 5) for v in obj.location],
        "rotation": [round(v, 5) for v in obj.rotation_euler],
        "scale": [round(v, 5) for v in obj.scale], "parent": obj.parent.name if obj.parent else None,
        "children": sorted(c.name for c in obj.children),
        "collections": sorted(c.name for c in obj.users_collection),
        "selected": obj.select_get(), "active": layer.objects.active == obj,
        "maps_ok": all(n in bpy.data.images for n in json.loads(obj["face_from_photo_maps"]).values()),
        "mesh": obj.data.name,
    }

def leftovers():
    return sorted(d.name for coll in (bpy.data.objects, bpy.data.meshes, bpy.data.images, bpy.data.materials,
                                      bpy.data.textures) for d in coll if "re-fit" in d.name)

head = ext.api.reconstruct(str(astronaut), head_texture_size=1024)
rig = bpy.data.objects.new("Rig", None)
bpy.context.scene.collection.objects.link(rig)
extra = bpy.data.collections.new("Heads")
bpy.context.scene.collection.children.link(extra)
extra.objects.link(head)
head.parent = rig
head.location, head.rotation_euler, head.scale = (0.1, -0.2, 0.3), (0.0, 0.0, 0.5), (1.5, 1.5, 1.5)
hat = bpy.data.objects.new("Hat", None)
bpy.context.scene.collection.objects.link(hat)
hat.parent = head
for o in bpy.context.view_layer.objects:
    o.select_set(False)
head.select_set(True)
bpy.context.view_layer.objects.active = head
out["old"] = state()
before = counts()

bpy.ops.ed.undo_push(message="before")
# undo=True: an undo step after the operator, as a click in the UI pushes
files = [{"name": "mirrored.png"}, {"name": "noise.png"}]
out["result"] = sorted(bpy.ops.face_from_photo.add_photos('EXEC_DEFAULT', True, directory=str(work),
                                                          files=files))
out["new"] = state()
out["same_counts"] = counts() == before
out["leftovers"] = leftovers()
bpy.ops.ed.undo()
out["undone"] = state()
out["undone_counts"] = counts() == before

def refused(files, note):
    try:
        result = bpy.ops.face_from_photo.add_photos(directory=str(work), files=files)
        out[note] = {"result": sorted(result)}
    except RuntimeError as e:
        out[note] = {"error": str(e).strip().splitlines()[-1]}
    out[note]["unchanged"] = state() == out["old"] and counts() == before and not leftovers()

astronaut.rename(work / "moved.png")  # the head's photo was moved away
refused([{"name": "small.png"}], "missing")
(work / "moved.png").rename(astronaut)
refused([{"name": "noise.png"}], "none_kept")
refused([{"name": "astronaut.png"}], "nothing_new")

head = bpy.data.objects["astronaut"]
new = ext.api.add_photos(head, [str(small)])
out["api"] = state(new.name)
emit(out)
"""


@pytest.fixture(scope="module")
def refit_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from tests.conftest import run_python

    work = tmp_path_factory.mktemp("refit")

    def run_bpy(script: str, **kwargs: object) -> object:
        return run_python(script, timeout=1800, **kwargs)  # type: ignore[arg-type]

    return run_script(run_bpy, SCRIPT, args=[str(PHOTO), str(work)])  # type: ignore[arg-type]


def test_refit_replaces_the_head_in_place(refit_run: dict) -> None:
    old, new = refit_run["old"], refit_run["new"]
    assert refit_run["result"] == ["FINISHED"]
    assert old["source"] == "astronaut.png" and old["sources"] == []
    assert new["sources"] == ["astronaut.png", "mirrored.png"] and new["keys"] == old["keys"] == 54
    (warning,) = new["warnings"]
    assert "noise.png" in warning and "left out" in warning
    assert new["co_sum"] != old["co_sum"]  # fitted again
    for key in ("location", "rotation", "scale", "parent", "children", "collections", "selected", "active",
                "mesh"):
        assert new[key] == old[key], key
    assert old["parent"] == "Rig" and old["children"] == ["Hat"] and len(old["collections"]) == 2
    assert old["selected"] and old["active"] and new["maps_ok"]


def test_refit_leaves_nothing_behind_and_undo_restores_the_old_head(refit_run: dict) -> None:
    assert refit_run["same_counts"] and refit_run["leftovers"] == []
    assert refit_run["undone"] == refit_run["old"] and refit_run["undone_counts"]


def test_refit_refusals_change_nothing(refit_run: dict) -> None:
    missing = refit_run["missing"]
    assert "astronaut.png" in missing["error"] and "missing" in missing["error"], missing
    assert missing["error"].endswith("."), missing
    none_kept = refit_run["none_kept"]
    assert "None of the added photos" in none_kept["error"] and "noise.png" in none_kept["error"], none_kept
    assert "No new photo" in refit_run["nothing_new"]["error"]
    for note in ("missing", "none_kept", "nothing_new"):
        assert refit_run[note]["unchanged"], note


def test_api_add_photos(refit_run: dict) -> None:
    r = refit_run["api"]
    assert r["sources"] == ["astronaut.png", "small.png"] and r["warnings"] == []
    assert r["location"] == refit_run["old"]["location"] and r["parent"] == "Rig"
    assert Path(r["source"]).name in ("astronaut.png", "small.png")
