# SPDX-License-Identifier: GPL-3.0-or-later
"""The Python API: ``<extension module>.api.reconstruct(path, **options) -> Object``."""

from __future__ import annotations

import json

import pytest

from tests.blender.ffp_run import NO_WEIGHTS, PHOTO, WEIGHTS, run_script

pytestmark = pytest.mark.blender

API = """
ext = enable_from_source()
out = {}
before = counts()
error_type = ext.api.FaceFromPhotoError
for label, call in {
    "missing": lambda: ext.api.reconstruct("/nonexistent/face.jpg"),
    "unknown_option": lambda: ext.api.reconstruct("/photos/a.png", lamda=0.3),
    "bad_value": lambda: ext.api.reconstruct("/photos/a.png", resolution=100),
}.items():
    try:
        call()
        out[label] = None
    except error_type as e:
        out[label] = str(e)
out["unchanged_after_errors"] = counts() == before

use_fake_core(ext)
coll = bpy.data.collections.new("Faces")
bpy.context.scene.collection.children.link(coll)
obj = ext.api.reconstruct("/photos/Ann.png", lam=0.25, collection=coll, location=(0, 1, 0), pack_images=False)
options = json.loads(obj["face_from_photo_options"])
img = bpy.data.images["Ann photo"]
out.update({
    "type": obj.type, "name": obj.name, "collection": [c.name for c in obj.users_collection],
    "location": list(obj.location), "lam": options["lam"], "device": options["device"],
    "packed": img.packed_file is not None,
    "image_file": pathlib.Path(bpy.path.abspath(img.filepath)).is_file(),
    "image_pixels_ok": img.has_data or img.size[0] > 0,
})
ext.api.remove(obj)
bpy.data.collections.remove(coll)
out["removed_all"] = counts() == before
emit(out)
"""


def test_api_reconstruct_options_errors_and_remove(run_bpy) -> None:
    r = run_script(run_bpy, API)
    assert "/nonexistent/face.jpg" in r["missing"] and r["missing"].endswith("."), r["missing"]
    assert r["unknown_option"].startswith("Unknown option lamda")
    assert "resolution" in r["bad_value"]
    assert r["unchanged_after_errors"]
    assert r["type"] == "MESH" and r["name"] == "Ann" and r["collection"] == ["Faces"]
    assert r["location"] == pytest.approx([0.0, 1.0, 0.0])
    assert r["lam"] == 0.25 and r["device"] == "auto"  # option given, default from the preferences
    assert not r["packed"] and r["image_file"] and r["image_pixels_ok"]  # referenced file, not packed
    assert r["removed_all"]


REAL = """
ext = enable_from_source()
obj = ext.api.reconstruct(sys.argv[1])
emit({"name": obj.name, "faces": len(obj.data.polygons), "dims": list(obj.dimensions)})
"""


@pytest.mark.skipif(not WEIGHTS.is_file(), reason=NO_WEIGHTS)
def test_api_with_the_shipped_weights(run_bpy) -> None:
    r = run_script(run_bpy, REAL, args=[str(PHOTO)])
    assert r["name"] == "astronaut" and r["faces"] > 1000 and 0.1 < max(r["dims"]) < 0.5


NETWORK = """
ext = enable_from_source()
prefs = bpy.context.preferences.addons[MODULE].preferences
prefs.network = 'large'
large = ext.api.reconstruct(sys.argv[1])
prefs.network = 'standard'
standard = ext.api.reconstruct(sys.argv[1])
emit({"large": large["face_from_photo_model_sha256"], "standard": standard["face_from_photo_model_sha256"],
      "options": json.loads(large["face_from_photo_options"]).get("weights")})
"""


@pytest.mark.skipif(not (WEIGHTS.parent / "large" / "face_net.pt").is_file(), reason=NO_WEIGHTS)
def test_the_network_preference_picks_the_weights(run_bpy) -> None:
    r = run_script(run_bpy, NETWORK, args=[str(PHOTO)])
    folders = {"standard": WEIGHTS.parent, "large": WEIGHTS.parent / "large"}
    manifests = {name: json.loads((folder / "manifest.json").read_text()) for name, folder in folders.items()}
    assert r["large"] == manifests["large"]["sha256"] and r["standard"] == manifests["standard"]["sha256"]
    assert r["options"].endswith("large/face_net.pt")
