# SPDX-License-Identifier: GPL-3.0-or-later
"""The head output in Blender: the object, its shape keys, UVs, texture, exports, undo, failures.

One real reconstruction of ``examples/astronaut.png`` with ``output="head"`` (the slow part)
runs once in one bpy process; the operator, the API and the batch CLI then get that same
result from their core call (``job.run_core`` answers with it and records the options it
was asked for), so every path builds from real arrays without running the network again.
The tests below check parts of what that one script emits.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.blender.ffp_run import NO_WEIGHTS, PHOTO, ROOT, SUPPORT, WEIGHTS, shared_user_resources
from tests.conftest import run_python

pytestmark = [pytest.mark.blender, pytest.mark.skipif(not WEIGHTS.is_file(), reason=NO_WEIGHTS)]

SCRIPT = """
photo, out_dir = sys.argv[1], pathlib.Path(sys.argv[2])
ext = enable_from_source()
job = ext.blender.job
template = importlib.import_module(MODULE + ".core.template_model").load_template()
error_type = importlib.import_module(MODULE + ".core.errors").FaceFromPhotoError
out = {}

# the option flows through settings, preferences, the redo panel, the CLI and core's validation
scene = bpy.context.scene
prefs = bpy.context.preferences.addons[MODULE].preferences
props = bpy.ops.face_from_photo.reconstruct.get_rna_type().properties
args = ext.cli.build_parser().parse_args(["reconstruct", "a.png", "-o", "out", "--output-kind", "head",
                                          "--head-texture-size", "1024", "--format", "fbx"])
try:
    job.make_options({"output": "sculpture"})
    bad_output = None
except error_type as e:
    bad_output = str(e)
out["options"] = {
    "scene": scene.face_from_photo.output, "prefs": prefs.output, "redo": "output" in props,
    "cli": {k: v for k, v in ext.cli.option_values(args).items() if k in ("output", "head_texture_size")},
    "cli_formats": args.formats, "bad_output": bad_output,
}

# a bad photo through the real core with output='head' leaves nothing behind
bad = pathlib.Path(tempfile.mkdtemp()) / "notes.jpg"
bad.write_text("not a photo")
before = counts()
try:
    bpy.ops.face_from_photo.reconstruct(filepath=str(bad), output='head')
    out["bad_photo"] = None
except RuntimeError as e:
    out["bad_photo"] = str(e)
out["bad_photo_left_nothing"] = counts() == before

# the one real reconstruction; every later core call answers with it
real_run_core = job.run_core
reco = real_run_core(photo, job.make_options({"output": "head"}))
asked = []
def cached_core(path, options, progress=None, should_stop=None):
    asked.append(options.output)
    import dataclasses
    return dataclasses.replace(reco, options=options)  # the same arrays, the options asked for
job.run_core = cached_core
head = reco.head
out["timings"] = {k: float(v) for k, v in reco.timings.items()}

# undo removes the head and everything built with it (operator as a click: undo step pushed after)
bpy.ops.ed.undo_push(message="before")
before = counts()
bpy.ops.face_from_photo.reconstruct('EXEC_DEFAULT', True, filepath=photo, output='head')
made = "astronaut" in bpy.data.objects and bpy.data.objects["astronaut"].data.shape_keys is not None
bpy.ops.ed.undo()
out["undo"] = {"made": made, "gone": "astronaut" not in bpy.data.objects,
               "same_counts": counts() == before, "shape_keys": len(bpy.data.shape_keys)}

# a failure half-way through building leaves nothing behind
material = importlib.import_module(MODULE + ".blender.material")
good_material = material.new_photo_material
def broken(*args, **kwargs):
    raise error_type("The material could not be made; this is a test.")
material.new_photo_material = broken
before = counts()
try:
    bpy.ops.face_from_photo.reconstruct(filepath=photo, output='head')
    out["build_failure"] = None
except RuntimeError as e:
    out["build_failure"] = str(e)
out["build_failure_left_nothing"] = counts() == before and len(bpy.data.shape_keys) == 0
material.new_photo_material = good_material

# with no output given the API asks for the preferences' default
default_obj = ext.api.reconstruct(photo, pack_images=False)  # images written to files, referenced
out["default_output"] = asked[-1]
files = [pathlib.Path(bpy.path.abspath(n.image.filepath)) for m in default_obj.data.materials
         for n in m.node_tree.nodes if n.type == 'TEX_IMAGE' and n.image is not None]
out["unpacked"] = {"n": len(files), "exist": all(f.is_file() for f in files),
                   "packed": any(i.packed_file is not None for i in bpy.data.images
                                 if i.name.startswith("astronaut"))}
ext.api.remove(default_obj)

# the API builds the head at the 3D cursor (undo replaced the scene: look it up again)
scene = bpy.context.scene
scene.cursor.location = (0.5, 1.0, 1.5)
before = counts()
obj = ext.api.reconstruct(photo, output="head")
me = obj.data
added = {k: counts()[k] - before[k] for k in before}

def evaluated():
    # the shape keys' result: the modifiers (Subdivision, the detail's Displace) are off for the read
    shown_before = [m.show_viewport for m in obj.modifiers]
    for m in obj.modifiers:
        m.show_viewport = False
    dg = bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(dg)
    m = ev.to_mesh()
    co = np.empty(3 * len(m.vertices), np.float32)
    m.vertices.foreach_get("co", co)
    ev.to_mesh_clear()
    for m, shown_flag in zip(obj.modifiers, shown_before):
        m.show_viewport = shown_flag
    return co.reshape(-1, 3)

basis = np.empty(3 * len(me.vertices), np.float32)
me.vertices.foreach_get("co", basis)
basis = basis.reshape(-1, 3)
keys = me.shape_keys.key_blocks
values = np.array([k.value for k in keys[1:]])
shown = evaluated()
loops = np.empty(len(me.loops), np.int32)
me.loops.foreach_get("vertex_index", loops)
uv = np.empty(2 * len(me.loops), np.float32)
me.uv_layers["UVMap"].data.foreach_get("uv", uv)
uv = uv.reshape(-1, 2)
skin_loops = np.isin(np.repeat(np.asarray(template.polygon_material),
                               np.diff(np.append(template.loop_start, len(template.loop_vertex)))),
                     [template.material_names.index("M_Face"), template.material_names.index("M_BackHead")])
tex_nodes = [n for n in me.materials[0].node_tree.nodes if n.type == 'TEX_IMAGE']
nose, chin = template.landmark68[30], template.landmark68[8]
out["head"] = {
    "name": obj.name, "type": obj.type, "location": list(obj.location), "added": added,
    "n_vertices": len(me.vertices), "n_template": int(template.n_vertices),
    "n_polygons": len(me.polygons), "n_template_polygons": len(template.loop_start),
    "loops_equal": bool(np.array_equal(loops, template.loop_vertex)),
    "key_names": [k.name for k in keys], "template_names": list(template.expression_names),
    "relative": me.shape_keys.use_relative,
    "values_err": float(np.abs(values - head.expression).max()),
    "values_range": [float(values.min()), float(values.max())],
    "nonzero_values": int((values > 0.01).sum()),
    "basis_err": float(np.abs(basis - template.deform(head.identity, None)).max()),
    "shown_err": float(np.abs(shown - head.vertices).max()),
    "expression_moves": float(np.abs(shown - basis).max()),
    "nose_in_front": float(basis[nose, 1] - basis[:, 1].mean()),
    "chin_below_nose": float(basis[chin, 2] - basis[nose, 2]),
    "dims": list(obj.dimensions),
    "uv_layers": [l.name for l in me.uv_layers], "uv_range": [float(uv.min()), float(uv.max())],
    "skin_uv_err": float(np.abs(uv[skin_loops, 0] - 0.5 * template.loop_uv[skin_loops, 0]).max()),
    "materials": [m.name for m in me.materials],
    "material_image": [list(n.image.size) for n in tex_nodes if n.image is not None],
    "packed": [n.image.packed_file is not None for n in tex_nodes if n.image is not None],
    "texture_size": int(head.texture.tiles.shape[1]),
    "smooth": all(p.use_smooth for p in me.polygons[:200]),
    "modifiers": [(m.type, getattr(m, "vertex_group", "")) for m in obj.modifiers],
    "skin_group": len([v for v in me.vertices if v.groups]),
    "output_prop": obj.get("face_from_photo_output"),
    "options_output": json.loads(obj["face_from_photo_options"])["output"],
}

# Neutral Expression: every key to 0 gives the person's neutral face; Photo Expression restores the fit
bpy.context.view_layer.objects.active = obj
res_neutral = bpy.ops.face_from_photo.neutral_expression()
neutral_values = [k.value for k in keys[1:]]
neutral_err = float(np.abs(evaluated() - template.deform(head.identity, None)).max())
res_photo = bpy.ops.face_from_photo.photo_expression()
out["neutral"] = {"result": sorted(res_neutral), "max_value": max(neutral_values), "err": neutral_err,
                  "photo": sorted(res_photo),
                  "restored_err": float(np.abs(np.array([k.value for k in keys[1:]])
                                               - head.expression).max())}

# exports: the API's writer, each checked before its rename
export = importlib.import_module(MODULE + ".blender.export")
times = {}
for fmt in ("glb", "fbx", "obj", "blend"):
    t0 = time.perf_counter()
    export.export(obj, out_dir / f"astronaut.{fmt}", fmt)
    times[fmt] = time.perf_counter() - t0
out["export_times"] = times
out["files"] = sorted(p.name for p in out_dir.iterdir())
ext.api.remove(obj)
out["removed"] = {"objects": "astronaut" not in bpy.data.objects, "shape_keys": len(bpy.data.shape_keys)}

# a UV displacement map in the result (HeadResult.detail_map: two (T, T) tiles, m along the normal)
# drives a Displace through the UVs on the skin only; the Detail option scales it (0.001 m: as measured)
before = counts()
head.detail_map = np.clip(np.random.default_rng(0).normal(0.0, 0.001, (2, 64, 64)), -0.003, 0.003)
head.detail_map = head.detail_map.astype(np.float32)
peak = float(np.abs(head.detail_map).max())
dobj = ext.api.reconstruct(photo, output="head", detail_strength=0.002)
def shown_co(o, disable=()):
    for name in disable:
        o.modifiers[name].show_viewport = False
    ev = o.evaluated_get(bpy.context.evaluated_depsgraph_get())
    m = ev.to_mesh()
    co = np.empty(3 * len(m.vertices), np.float32)
    m.vertices.foreach_get("co", co)
    ev.to_mesh_clear()
    for name in disable:
        o.modifiers[name].show_viewport = True
    return co.reshape(-1, 3)
moved = np.linalg.norm(shown_co(dobj) - shown_co(dobj, disable=("FaceDetail",)), axis=1)
eyes = template.part_mask("eyeball_left", "eyeball_right", "teeth")
skin = template.part_mask("face", "head_and_neck")
disp = dobj.modifiers["FaceDetail"]
out["detail"] = {"modifiers": [m.type for m in dobj.modifiers], "group": disp.vertex_group,
                 "coords": disp.texture_coords, "uv": disp.uv_layer, "strength": disp.strength,
                 "peak": peak, "skin_moved": float(moved[skin].max()),
                 "others_moved": float(moved[eyes].max())}
ext.api.remove(dobj)
del head.detail_map
out["detail"]["removed_all"] = counts() == before

# the bake's painted eye (TextureBake.eye, iris_rgb, eyelash_rgb) replaces the procedural eye picture
tex = head.texture
tex.eye = np.full((64, 64, 3), 200, np.uint8)
tex.iris_rgb, tex.eyelash_rgb = np.array([40, 90, 160], np.uint8), np.array([30, 20, 10], np.uint8)
eobj = ext.api.reconstruct(photo, output="head")
def image_of(m):
    return next(n.image for n in m.node_tree.nodes if n.type == 'TEX_IMAGE')
sclera = eobj.data.materials[1]
eye_img = image_of(sclera)
px = np.empty(eye_img.size[0] * eye_img.size[1] * 4, np.float32)
eye_img.pixels.foreach_get(px)
px = px.reshape(eye_img.size[1], eye_img.size[0], 4)
out["painted_eye"] = {"size": list(eye_img.size), "alpha_linked": sclera.node_tree.nodes["Principled BSDF"]
                      .inputs["Alpha"].is_linked, "left": px[32, 10, :3].round(3).tolist(),
                      "right": (px[32, 100, :3] * 255).round().tolist()}
ext.api.remove(eobj)
del tex.eye, tex.iris_rgb, tex.eyelash_rgb

# the batch CLI asks core for the head
cli_out = out_dir / "cli"
asked.clear()
code = ext.cli.main(["reconstruct", photo, "-o", str(cli_out), "--output-kind", "head", "--format", "glb",
                     "--format", "fbx", "--format", "obj", "--quiet"])
report = json.loads((cli_out / "report.json").read_text())
out["cli"] = {"code": code, "asked": list(asked), "files": sorted(p.name for p in cli_out.iterdir()),
              "status": [p["status"] for p in report["photos"]],
              "vertices": [p.get("vertices") for p in report["photos"]]}

# re-import: glb and fbx keep the UVs, the texture and the 53 shape keys with their values
imported = {}
for fmt in ("glb", "fbx"):
    bpy.ops.wm.read_homefile(use_empty=True)
    if fmt == "glb":
        bpy.ops.import_scene.gltf(filepath=str(out_dir / "astronaut.glb"))
    else:
        bpy.ops.import_scene.fbx(filepath=str(out_dir / "astronaut.fbx"))
    meshes = [o for o in bpy.data.objects if o.type == 'MESH']
    o = meshes[0]
    k = o.data.shape_keys
    images = [n.image for m in o.data.materials if m is not None and m.node_tree is not None
              for n in m.node_tree.nodes if n.type == 'TEX_IMAGE' and n.image is not None]
    imported[fmt] = {
        "objects": len(meshes), "keys": [b.name for b in k.key_blocks] if k else [],
        "values_err": float(np.abs(np.array([b.value for b in k.key_blocks[1:]]) - head.expression).max())
                      if k else None,
        "uv_layers": len(o.data.uv_layers),
        "images": [[list(i.size), i.has_data or i.packed_file is not None] for i in images],
        "dims": list(o.dimensions),
    }
out["imported"] = imported
emit(out)
"""


@pytest.fixture(scope="module")
def head_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Runs the script once (one real reconstruction); each test checks a part of what it emitted."""
    out = tmp_path_factory.mktemp("head_out")  # (run_bpy is function-scoped: run_python directly)
    proc, result = run_python(SUPPORT + "\nimport time\n" + textwrap.dedent(SCRIPT),
                              user_resources=shared_user_resources(), args=[str(PHOTO), str(out)],
                              env={"FFP_REPO": str(ROOT)}, timeout=900)
    assert proc.returncode == 0 and result is not None, (
        f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
    assert isinstance(result, dict)
    result["out_dir"] = str(out)
    return result


def test_the_output_option_flows_from_every_entry_point(head_run: dict) -> None:
    o = head_run["options"]
    assert o["scene"] == o["prefs"] == "head" and o["redo"]  # Head is the default
    assert head_run["default_output"] == "head"
    assert head_run["unpacked"] == {"n": 4, "exist": True, "packed": False}  # skin, sclera, iris, lashes
    assert o["cli"] == {"output": "head", "head_texture_size": 1024} and o["cli_formats"] == ["fbx"]
    assert "sculpture" in o["bad_output"] and "'head'" in o["bad_output"] and o["bad_output"].endswith(".")
    assert head_run["cli"]["asked"] == ["head"]


def test_the_head_object(head_run: dict) -> None:
    h = head_run["head"]
    assert h["name"] == "astronaut" and h["type"] == "MESH"
    assert h["location"] == pytest.approx([0.5, 1.0, 1.5])  # at the 3D cursor
    assert h["added"]["objects"] == 1 and h["added"]["meshes"] == 1  # one object holds every part
    assert h["n_vertices"] == h["n_template"] == 26719
    assert h["n_polygons"] == h["n_template_polygons"] and h["loops_equal"]
    assert h["nose_in_front"] < -0.05 and h["chin_below_nose"] < -0.03  # faces -Y, Z up, metres
    assert 0.15 < h["dims"][2] < 0.45 and max(h["dims"]) < 0.5
    assert h["smooth"] and h["output_prop"] == "head" and h["options_output"] == "head"
    assert h["modifiers"] in ([["SUBSURF", ""]], [["SUBSURF", ""], ["DISPLACE", "Skin"]])
    assert h["skin_group"] > 10_000


def test_shape_keys_carry_the_fitted_expression(head_run: dict) -> None:
    h = head_run["head"]
    assert h["key_names"][0] == "Basis" and h["key_names"][1:] == h["template_names"]
    assert len(h["key_names"]) == 54 and h["relative"]
    assert "jawOpen" in h["key_names"] and "eyeBlink_L" in h["key_names"]
    assert h["values_err"] < 1e-6 and 0.0 <= h["values_range"][0] and h["values_range"][1] <= 1.0
    assert h["nonzero_values"] > 0
    assert h["basis_err"] < 1e-6  # identity in the base shape
    assert h["shown_err"] < 1e-5 and h["expression_moves"] > 1e-3  # the photo's expression, as fitted
    n = head_run["neutral"]
    assert n["result"] == ["FINISHED"] and n["max_value"] == 0.0 and n["err"] < 1e-6
    assert n["photo"] == ["FINISHED"] and n["restored_err"] < 1e-6


def test_uvs_and_texture(head_run: dict) -> None:
    h = head_run["head"]
    assert h["uv_layers"] == ["UVMap"] and 0.0 <= h["uv_range"][0] and h["uv_range"][1] <= 1.0
    assert h["skin_uv_err"] < 1e-5  # tile 0 on the left half, tile 1 on the right half
    assert h["materials"][0] == "astronaut skin" and len(h["materials"]) == 7
    t = h["texture_size"]
    assert h["material_image"] == [[2 * t, t]] and h["packed"] == [True]


def test_undo_and_failures_leave_nothing(head_run: dict) -> None:
    u = head_run["undo"]
    assert u["made"] and u["gone"] and u["same_counts"] and u["shape_keys"] == 0
    assert head_run["bad_photo"] is not None and head_run["bad_photo"].strip().endswith(".")
    assert head_run["bad_photo_left_nothing"]
    assert "test" in head_run["build_failure"] and head_run["build_failure_left_nothing"]
    assert head_run["removed"] == {"objects": True, "shape_keys": 0}


def test_a_uv_detail_map_displaces_the_skin_only(head_run: dict) -> None:
    d = head_run["detail"]
    assert d["modifiers"] == ["SUBSURF", "DISPLACE"] and d["group"] == "Skin"
    assert d["coords"] == "UV" and d["uv"] == "UVMap"
    assert d["strength"] == pytest.approx(2 * d["peak"] * 2, rel=1e-5)  # 2 max|d|, times 0.002 / 0.001
    assert 1e-4 < d["skin_moved"] <= 2 * d["peak"] + 1e-6 and d["others_moved"] == 0.0
    assert d["removed_all"]


def test_the_bakes_painted_eye_is_used_when_present(head_run: dict) -> None:
    e = head_run["painted_eye"]
    assert e["size"] == [128, 64] and not e["alpha_linked"]  # opaque: the iris is painted on the sclera
    assert e["left"][0] == pytest.approx(e["left"][1]) and e["left"][0] > 0.5  # the grey painted eye
    assert e["right"][2] > e["right"][0]  # the iris mesh behind it: the measured blue


def test_exports_keep_shape_keys_uvs_and_texture(head_run: dict) -> None:
    files = set(head_run["files"])
    assert {"astronaut.glb", "astronaut.fbx", "astronaut.obj", "astronaut.mtl", "astronaut.blend",
            "astronaut_texture.jpg"} <= files
    out = Path(head_run["out_dir"])
    assert (out / "astronaut.fbx").read_bytes()[:18] == b"Kaydara FBX Binary"
    assert b"map_Kd astronaut_texture.jpg" in (out / "astronaut.mtl").read_bytes()
    for fmt in ("glb", "fbx"):
        imp = head_run["imported"][fmt]
        assert imp["objects"] == 1, fmt
        assert len(imp["keys"]) == 54 and imp["keys"][1:] == head_run["head"]["template_names"], fmt
        assert imp["values_err"] < 1e-3, fmt
        assert imp["uv_layers"] >= 1, fmt
        assert imp["images"] and all(ok for _size, ok in imp["images"]), fmt  # texture embedded
        assert 0.15 < imp["dims"][1] < 0.45 or 0.15 < imp["dims"][2] < 0.45, fmt
    cli = head_run["cli"]
    assert cli["code"] == 0 and cli["status"] == ["ok"] and cli["vertices"] == [26719]
    assert {"astronaut.glb", "astronaut.fbx", "astronaut.obj", "astronaut.mtl", "astronaut_texture.jpg",
            "astronaut_eyes.png", "astronaut_eyelashes.png", "report.json"} <= set(cli["files"])
    assert not [n for n in cli["files"] if n.startswith(".") or ".partial" in n]
    json.dumps(head_run["export_times"])
