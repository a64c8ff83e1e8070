# SPDX-License-Identifier: GPL-3.0-or-later
"""The head's see-through parts: the eyelash cards' strand alpha in Blender and through the exports.

No network is needed: the head is built from the template's mean face (identity and
expression 0, no photo texture), so the parts and their materials are the real ones.
"""

from __future__ import annotations

import pytest

from tests.blender.ffp_run import ROOT, SUPPORT, shared_user_resources
from tests.conftest import run_python

pytestmark = pytest.mark.blender

SCRIPT = """
import struct, types
out_dir = pathlib.Path(tempfile.mkdtemp(prefix="ffp-lashes-"))
ext = enable_from_source()
job = ext.blender.job
template = importlib.import_module(MODULE + ".core.template_model").load_template()
head = types.SimpleNamespace(identity=np.zeros(template.n_identity),
                             expression=np.zeros(template.n_expression), texture=None, detail_map=None)
reco = types.SimpleNamespace(head=head, options=types.SimpleNamespace(), source="lashes.png", model_sha256="")
obj = job.build_result(reco, collection=bpy.context.scene.collection,
                       choices=job.BlenderChoices(store_maps=False))
me = obj.data
slots = np.empty(len(me.polygons), np.int32)
me.polygons.foreach_get("material_index", slots)
lash_polys = np.asarray(template.polygon_material) == template.material_names.index("M_EyeLashes")
lash_slots = sorted(set(slots[lash_polys].tolist()))
mat = me.materials[lash_slots[0]]
lash_name = mat.name
tree = mat.node_tree
bsdf = next(n for n in tree.nodes if n.type == 'BSDF_PRINCIPLED')
link = bsdf.inputs["Alpha"].links[0] if bsdf.inputs["Alpha"].is_linked else None
img = link.from_node.image if link is not None and link.from_node.type == 'TEX_IMAGE' else None
alpha = None
if img is not None:
    px = np.empty(img.size[0] * img.size[1] * 4, np.float32)
    img.pixels.foreach_get(px)
    alpha = px.reshape(-1, 4)[:, 3]
out["lashes"] = {
    "slots": lash_slots, "others_use_it": bool(np.isin(slots[~lash_polys], lash_slots).any()),
    "name": mat.name, "alpha_from": [link.from_node.type, link.from_socket.name] if link else None,
    "method": mat.surface_render_method, "backface_culling": mat.use_backface_culling,
    "clear": float((alpha < 0.02).mean()) if alpha is not None else None,
    "solid": float((alpha > 0.5).mean()) if alpha is not None else None,
    "colour": [float(c) for c in bsdf.inputs["Base Color"].default_value[:3]] if not
              bsdf.inputs["Base Color"].is_linked else "image",
    "mean_rgb": [float(c) for c in px.reshape(-1, 4)[alpha > 0.5, :3].mean(0)] if alpha is not None else None,
}
scene_bounces = bpy.context.scene.cycles.transparent_max_bounces

# the preview's clay stand-in: shares the mesh, each slot's clay keeps that part's transparency
preview = importlib.import_module(MODULE + ".blender.preview")
before = counts()
own = [m.name for m in me.materials]
made = []
stand = preview.clay_stand_in(obj, made)
def clay_of(slot):
    alpha, image, uv_map = preview.clay_alpha(slot.material)
    return {"alpha": alpha, "image": image.name if image is not None else None, "uv": uv_map,
            "link": slot.link}
out["clay"] = {"shares_mesh": stand.data == me, "slots": {own[i]: clay_of(s) for i, s in
                                                          enumerate(stand.material_slots)},
               "all_clay": all(s.material.name.startswith("FFP preview clay") for s in stand.material_slots),
               "own_untouched": [m.name for m in me.materials] == own
                                and [s.material.name for s in obj.material_slots] == own}
for block in reversed(made):
    (bpy.data.objects if isinstance(block, bpy.types.Object) else bpy.data.materials).remove(block)
out["clay"]["left_nothing"] = counts() == before

# exports: the glb's material says how it blends; OBJ's .mtl and FBX's reimport say what they keep
export = importlib.import_module(MODULE + ".blender.export")
for fmt in ("glb", "fbx", "obj"):
    export.export(obj, out_dir / f"lashes.{fmt}", fmt)
raw = (out_dir / "lashes.glb").read_bytes()
n = struct.unpack_from("<I", raw, 12)[0]
gltf = json.loads(raw[20:20 + n])
out["glb_materials"] = {m["name"]: {"alphaMode": m.get("alphaMode", "OPAQUE"),
                                    "alphaCutoff": m.get("alphaCutoff")} for m in gltf["materials"]}
mtl = (out_dir / "lashes.mtl").read_text()
key = "newmtl " + lash_name.replace(" ", "_")
block = mtl.split(key)[1].split("newmtl")[0] if key in mtl else ""
out["mtl_lashes"] = [line.strip() for line in block.splitlines() if line.strip()]
out["cycles_bounces"] = scene_bounces

imported = {}
for fmt in ("glb", "fbx"):
    bpy.ops.wm.read_homefile(use_empty=True)
    if fmt == "glb":
        bpy.ops.import_scene.gltf(filepath=str(out_dir / "lashes.glb"))
    else:
        bpy.ops.import_scene.fbx(filepath=str(out_dir / "lashes.fbx"))
    o = next(o for o in bpy.data.objects if o.type == 'MESH')
    m = next((m for m in o.data.materials if m is not None and m.name.startswith(lash_name)), None)
    b = next((n for n in m.node_tree.nodes if n.type == 'BSDF_PRINCIPLED'), None) if m is not None else None
    a = b.inputs["Alpha"] if b is not None else None
    feeds = []
    if a is not None and a.is_linked:
        node = a.links[0].from_node
        feeds.append(node.type)
        while node.inputs and any(s.is_linked for s in node.inputs) and len(feeds) < 5:
            node = next(s for s in node.inputs if s.is_linked).links[0].from_node
            feeds.append(node.type)
    imported[fmt] = {"found": m is not None, "method": m.surface_render_method if m is not None else None,
                     "alpha_linked": bool(a is not None and a.is_linked), "alpha_chain": feeds,
                     "alpha_value": float(a.default_value) if a is not None else None}
out["imported"] = imported
emit(out)
"""


@pytest.fixture(scope="module")
def lashes(tmp_path_factory: pytest.TempPathFactory) -> dict:
    proc, result = run_python(SUPPORT + "\nout = {}\n" + SCRIPT, user_resources=shared_user_resources(),
                              env={"FFP_REPO": str(ROOT)}, timeout=600)
    assert proc.returncode == 0 and isinstance(result, dict), (
        f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
    return result


def test_the_lash_faces_get_a_strand_alpha_material(lashes: dict) -> None:
    lash = lashes["lashes"]
    assert len(lash["slots"]) == 1 and not lash["others_use_it"]  # every lash face, and only them
    assert lash["name"].endswith("eyelashes")
    assert lash["alpha_from"] == ["TEX_IMAGE", "Alpha"]  # the strands' alpha drives the BSDF's Alpha
    assert lash["clear"] > 0.6 and lash["solid"] > 0.01  # mostly see-through, with solid strands
    assert max(lash["mean_rgb"]) < 0.15  # dark strands (sRGB values)
    assert lash["method"] == "BLENDED" and not lash["backface_culling"]  # EEVEE blends, both sides


def test_cycles_sees_through_every_layer_at_the_eye_corner(lashes: dict) -> None:
    # six lash cards and three clear eye shells overlap at the inner corner: Cycles' default of
    # 8 transparent bounces turned that corner black
    assert lashes["cycles_bounces"] >= 16


def test_the_glb_keeps_the_lash_alpha(lashes: dict) -> None:
    name = lashes["lashes"]["name"]
    assert lashes["glb_materials"][name]["alphaMode"] == "BLEND"
    glb = lashes["imported"]["glb"]
    assert glb["found"] and glb["alpha_linked"] and glb["alpha_chain"][0] == "TEX_IMAGE"
    assert glb["method"] == "BLENDED"


def test_what_obj_and_fbx_keep(lashes: dict) -> None:
    # OBJ: the .mtl names the strand picture as the alpha map (map_d); FBX: the texture's alpha comes
    # back linked to the BSDF's Alpha (FBX has no blend mode: Blender's default, dithered, on import)
    assert any(line.startswith("map_d ") for line in lashes["mtl_lashes"]), lashes["mtl_lashes"]
    fbx = lashes["imported"]["fbx"]
    assert fbx["found"] and fbx["alpha_linked"] and fbx["alpha_chain"][0] == "TEX_IMAGE", fbx


def test_the_preview_clay_keeps_the_clear_eye_shells_clear(lashes: dict) -> None:
    # a view-layer override made every part opaque clay: the shells and lash cards hid the eyeballs
    clay = lashes["clay"]
    assert clay["shares_mesh"] and clay["all_clay"] and clay["own_untouched"] and clay["left_nothing"]
    slots = clay["slots"]
    assert all(s["link"] == "OBJECT" for s in slots.values())  # on the stand-in, not on the mesh
    assert slots["lashes eye wetness"]["alpha"] == 0.0  # lacrimal fluid, eye blend, occlusion: unseen
    lash = slots["lashes eyelashes"]
    assert lash["image"] == "lashes eyelashes" and lash["uv"] == "UVMap"  # the strands keep their alpha
    assert slots["lashes sclera"]["image"] == "lashes eyes"  # the cornea window shows the iris behind
    assert slots["lashes skin"] == {"alpha": 1.0, "image": None, "uv": "", "link": "OBJECT"}
