# SPDX-License-Identifier: GPL-3.0-or-later
"""FACE_OT_reconstruct through bpy.ops: the object, its data, the live modifier stack, undo, errors.

Most tests replace the core call by analytic arrays (``use_fake_core``) so they
check the Blender side exactly and need no weights; ``test_real_photo_*`` runs
the whole pipeline and skips until the trained weights exist.
"""

from __future__ import annotations

import pytest

from tests.blender.ffp_run import NO_WEIGHTS, PHOTO, WEIGHTS, run_script

pytestmark = pytest.mark.blender

BUILD = """
ext = enable_from_source()
use_fake_core(ext, S=64, T=128)
scene = bpy.context.scene
scene.cursor.location = (1.0, 2.0, 3.0)
settings = scene.face_from_photo
settings.photo = "/photos/Jane Doe.jpg"
settings.smoothing_factor = 0.8
settings.smoothing_iterations = 4
settings.detail_strength = 0.003
before = counts()
result = bpy.ops.face_from_photo.reconstruct()
obj = bpy.context.view_layer.objects.active
me = obj.data
reco = fake_reconstruction("x", S=64, T=128)  # the same arrays the operator received

smoothing = importlib.import_module(MODULE + ".core.smoothing")
detail = importlib.import_module(MODULE + ".core.detail")

def evaluated(disable=()):
    for name in disable:
        obj.modifiers[name].show_viewport = False
    dg = bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(dg)
    m = ev.to_mesh()
    co = np.empty(3 * len(m.vertices), np.float32)
    m.vertices.foreach_get("co", co)
    nrm = np.empty(3 * len(m.vertices), np.float32)
    m.vertices.foreach_get("normal", nrm)
    ev.to_mesh_clear()
    for name in disable:
        obj.modifiers[name].show_viewport = True
    return co.reshape(-1, 3), nrm.reshape(-1, 3)

base = np.empty(3 * len(me.vertices), np.float32)
me.vertices.foreach_get("co", base)
base = base.reshape(-1, 3)
smoothed, _ = evaluated(disable=("FaceDetail",))
full, _ = evaluated()
ref_smooth = smoothing.laplacian_smooth(reco.mesh.vertices, reco.mesh.triangles, 0.8, 4)
ref_full = detail.apply_detail(ref_smooth, None, reco.mesh.uvs, reco.detail, 0.003,
                               triangles=reco.mesh.triangles)
uv = np.empty(2 * len(me.loops), np.float32)
me.uv_layers["Photo"].data.foreach_get("uv", uv)
loops = np.empty(len(me.loops), np.int32)
me.loops.foreach_get("vertex_index", loops)
poly_n = np.empty(3 * len(me.polygons), np.float32)
me.polygons.foreach_get("normal", poly_n)
tex_nodes = [n for n in obj.active_material.node_tree.nodes if n.type == 'TEX_IMAGE']
maps = json.loads(obj["face_from_photo_maps"])
emit({
    "result": sorted(result),
    "name": obj.name, "mesh": me.name, "location": list(obj.location),
    "n": len(me.vertices), "n_ref": len(reco.mesh.vertices), "faces": len(me.polygons),
    "base_err": float(np.abs(base - reco.mesh.vertices).max()),
    "uv_err": float(np.abs(uv.reshape(-1, 2) - reco.mesh.uvs[loops]).max()),
    "mean_normal": poly_n.reshape(-1, 3).mean(0).tolist(),
    "dimensions": list(obj.dimensions),
    "modifiers": [(m.type, m.name) for m in obj.modifiers],
    "smooth": [obj.modifiers["FaceSmooth"].factor, obj.modifiers["FaceSmooth"].iterations],
    "displace": [obj.modifiers["FaceDetail"].strength, obj.modifiers["FaceDetail"].direction,
                 obj.modifiers["FaceDetail"].texture_coords, obj.modifiers["FaceDetail"].uv_layer],
    "smooth_moved": float(np.abs(smoothed - base).max()),
    "smooth_err": float(np.abs(smoothed - ref_smooth).max()),
    "detail_moved": float(np.abs(full - smoothed).max()),
    "detail_err": float(np.abs(full - ref_full).max()),
    "material_image": [n.image.name for n in tex_nodes],
    "image_size": list(tex_nodes[0].image.size) if tex_nodes else None,
    "packed": [bpy.data.images[n].packed_file is not None for n in maps.values()],
    "maps": sorted(maps), "map_images": [n in bpy.data.images for n in maps.values()],
    "props": {k: obj[k] for k in ("face_from_photo_source", "face_from_photo_model_sha256")},
    "options": json.loads(obj["face_from_photo_options"]),
    "added": {k: counts()[k] - before[k] for k in before},
})
"""


def test_operator_builds_the_face_object(run_bpy) -> None:
    r = run_script(run_bpy, BUILD)
    assert r["result"] == ["FINISHED"]
    assert r["name"] == r["mesh"] == "Jane Doe"  # named after the photo
    assert r["location"] == pytest.approx([1.0, 2.0, 3.0])  # at the 3D cursor
    assert r["n"] == r["n_ref"] and r["faces"] > 1000
    assert r["base_err"] < 1e-7 and r["uv_err"] < 1e-7  # arrays went in unchanged
    nx, ny, nz = r["mean_normal"]
    assert ny < -0.5 and abs(nx) < 0.1 and abs(nz) < 0.1  # the face looks toward -Y
    assert 0.1 < max(r["dimensions"]) < 0.4  # metres
    assert [t for t, _ in r["modifiers"]] == ["SMOOTH", "SUBSURF", "DISPLACE"]
    assert r["smooth"] == [pytest.approx(0.8), 4]
    assert r["displace"] == [pytest.approx(0.006), "NORMAL", "UV", "Photo"]
    # modifiers are effective and reproduce the core reference functions
    assert r["smooth_moved"] > 1e-3 and r["smooth_err"] < 1e-6
    assert r["detail_moved"] > 1e-4 and r["detail_err"] < 1e-5
    assert r["material_image"] == ["Jane Doe photo"] and r["image_size"] == [128, 128]
    assert r["maps"] == ["depth", "detail", "grad_mag", "mask", "normals"] and all(r["map_images"])
    assert all(r["packed"])  # default preference: pack images
    assert r["props"]["face_from_photo_source"] == "/photos/Jane Doe.jpg"
    assert r["props"]["face_from_photo_model_sha256"] == "0" * 64
    assert r["options"]["smoothing_factor"] == pytest.approx(0.8) and r["options"]["lam"] == 0.1
    assert r["added"] == {"objects": 1, "meshes": 1, "images": 6, "materials": 1, "textures": 1,
                          "cameras": 0, "lights": 0, "worlds": 0, "scenes": 0}


ERRORS = """
ext = enable_from_source()
error_type = importlib.import_module(MODULE + ".core.errors").FaceFromPhotoError
out = {}
before = counts()

def attempt(label, **kwargs):
    try:
        res = bpy.ops.face_from_photo.reconstruct(**kwargs)
        out[label] = ["returned", sorted(res)]
    except RuntimeError as e:  # how bpy.ops hands an ERROR report to a script
        out[label] = ["error", str(e)]

# the real core: errors that need no weights
attempt("missing", filepath="/nonexistent/face.jpg")
attempt("empty", filepath="")
bad = pathlib.Path(tempfile.mkdtemp()) / "notes.jpg"
bad.write_text("not a photo")
attempt("text_as_jpg", filepath=str(bad))
out["after_core_errors"] = counts() == before

# a failure half-way through building (after mesh and images exist) leaves nothing behind
material = importlib.import_module(MODULE + ".blender.material")
use_fake_core(ext)
def broken(name, image):
    raise error_type("The material could not be made; this is a test.")
material.new_photo_material = broken
attempt("build_failure", filepath="/photos/face.png")
out["after_build_failure"] = counts() == before
out["counts"] = [before, counts()]
emit(out)
"""


def test_errors_are_one_sentence_and_leave_no_data(run_bpy) -> None:
    r = run_script(run_bpy, ERRORS)
    for label in ("missing", "empty", "text_as_jpg", "build_failure"):
        kind, message = r[label]
        assert kind == "error", (label, message)
        assert "Traceback" not in message and message.strip().endswith("."), (label, message)
        assert len(message.strip().splitlines()) == 1, (label, message)
    assert "pick a photo" in r["empty"][1]
    assert "test" in r["build_failure"][1]
    assert r["after_core_errors"] and r["after_build_failure"], r["counts"]


UNDO = """
ext = enable_from_source()
use_fake_core(ext)
bpy.ops.ed.undo_push(message="before")
before = counts()
# undo=True: push an undo step after the operator, as a click in the UI does
bpy.ops.face_from_photo.reconstruct('EXEC_DEFAULT', True, filepath="/photos/undo me.png")
made = "undo me" in bpy.data.objects
bpy.ops.ed.undo()
gone = "undo me" not in bpy.data.objects and "undo me" not in bpy.data.meshes
after_undo = counts()
bpy.ops.ed.redo()
back = "undo me" in bpy.data.objects
emit({"made": made, "gone": gone, "back": back, "before": before, "after_undo": after_undo})
"""


def test_undo_removes_the_result(run_bpy) -> None:
    r = run_script(run_bpy, UNDO)
    assert r["made"] and r["gone"] and r["back"]
    assert r["after_undo"] == r["before"]  # no image, material, texture or mesh left over


REAL = """
ext = enable_from_source()
bpy.ops.face_from_photo.reconstruct(filepath=sys.argv[1], output='relief')
obj = bpy.context.view_layer.objects.active
me = obj.data
poly_n = np.empty(3 * len(me.polygons), np.float32)
me.polygons.foreach_get("normal", poly_n)
area = np.empty(len(me.polygons), np.float32)
me.polygons.foreach_get("area", area)
n = (poly_n.reshape(-1, 3) * area[:, None]).sum(0)
emit({"name": obj.name, "faces": len(me.polygons), "dims": list(obj.dimensions),
      "normal": (n / np.linalg.norm(n)).tolist(), "sha": obj["face_from_photo_model_sha256"],
      "uv": me.uv_layers.active.name})
"""


@pytest.mark.skipif(not WEIGHTS.is_file(), reason=NO_WEIGHTS)
def test_real_photo_through_the_operator(run_bpy) -> None:
    r = run_script(run_bpy, REAL, args=[str(PHOTO)])
    assert r["name"] == "astronaut" and r["faces"] > 1000 and r["uv"] == "Photo"
    assert r["normal"][1] < -0.5  # area-weighted mean normal: the face looks toward -Y
    assert 0.12 < r["dims"][2] < 0.4 and max(r["dims"]) < 0.5  # a head, in metres
    assert len(r["sha"]) == 64


RUN_MODES = """
ext = enable_from_source()
use_fake_core(ext)
out = {}
# headless, 'INVOKE_DEFAULT' (a click) falls back to the blocking run; the import operator with a
# path (what a drop on the viewport or the file browser gives) runs the same way
out["invoke"] = sorted(bpy.ops.face_from_photo.reconstruct('INVOKE_DEFAULT', filepath="/p/a.png"))
out["import"] = sorted(bpy.ops.face_from_photo.import_photo(filepath="/p/b.jpg"))
out["names"] = sorted(o.name for o in bpy.data.objects if o.name in ("a", "b"))
props = bpy.ops.face_from_photo.reconstruct.get_rna_type().properties
out["redo_props"] = [p in props for p in
                     ("lam", "smoothing_factor", "smoothing_iterations", "detail_strength")]
handler = bpy.types.FACE_FH_photo
out["handler"] = [handler.bl_import_operator, ".jpg" in handler.bl_file_extensions]

# the worker thread used by the modal run: progress, result, cancel between stages
job = ext.blender.job
pipeline = importlib.import_module(MODULE + ".core.pipeline")
import threading, time
gate = threading.Event()
def slow_core(photo, options, progress=None, should_stop=None):
    progress(0.3, "Predicting")
    gate.wait(5)
    if should_stop():
        raise pipeline.Cancelled()
    return "result"
job.run_core = slow_core
w = job.Worker("/p/c.png", None)
w.start()
time.sleep(0.2)
mid = [w.done, w.fraction, w.message]
w.cancel(); gate.set(); w.join(5)
out["worker_cancel"] = mid + [w.done, type(w.error).__name__, job.is_cancel(w.error)]
gate.clear()
w2 = job.Worker("/p/d.png", None)
w2.start(); gate.set(); w2.join(5)
out["worker_ok"] = [w2.done, w2.result, w2.error]
emit(out)
"""


def test_run_modes_redo_options_and_worker(run_bpy) -> None:
    r = run_script(run_bpy, RUN_MODES)
    assert r["invoke"] == ["FINISHED"] and r["import"] == ["FINISHED"] and r["names"] == ["a", "b"]
    assert all(r["redo_props"])
    assert r["handler"] == ["face_from_photo.import_photo", True]
    assert r["worker_cancel"] == [False, 0.3, "Predicting", True, "Cancelled", True]
    assert r["worker_ok"] == [True, "result", None]
