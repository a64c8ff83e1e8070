# SPDX-License-Identifier: GPL-3.0-or-later
"""The headless batch command: formats, report, exit status, resume, and the bpy-module launcher."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.blender.ffp_run import PHOTO, ROOT, WEIGHTS, run_script, shared_user_resources

pytestmark = pytest.mark.blender


def photo_folder(tmp_path: Path) -> Path:
    """Two good photos and three broken files (text as .jpg, empty, truncated PNG)."""
    folder = tmp_path / "photos ü"
    folder.mkdir()
    shutil.copy(PHOTO, folder / "astronaut.png")
    shutil.copy(PHOTO, folder / "second face.png")
    (folder / "notes.jpg").write_text("this is not a photo")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.png").write_bytes(PHOTO.read_bytes()[:2000])
    (folder / "readme.txt").write_text("ignored: not a photo extension")
    return folder


CLI_FAKE = """
ext = enable_from_source()
use_fake_core(ext, fail_on=("notes", "empty", "truncated"), S=48, T=64)
args = sys.argv[1:]
first = ext.cli.main(["reconstruct", *args, "--format", "glb", "--format", "obj", "--format", "ply",
                      "--format", "blend", "--preview", "--quiet"])
report1 = json.loads((pathlib.Path(args[2]) / "report.json").read_text())
resumed = ext.cli.main(["reconstruct", *args, "--format", "glb", "--format", "obj", "--format", "ply",
                        "--format", "blend", "--preview", "--resume", "--quiet"])
report3 = json.loads((pathlib.Path(args[2]) / "report.json").read_text())
again = ext.cli.main(["reconstruct", *args, "--format", "glb", "--quiet"])  # no --overwrite, no --resume
report4 = json.loads((pathlib.Path(args[2]) / "report.json").read_text())
usage = ext.cli.main(["reconstruct", "/nonexistent-folder/*.jpg", "-o", args[2]])
objects_left = len(bpy.data.objects)

# the exported PLY holds the evaluated mesh: base arrays -> smoothing -> detail (core references)
out_dir = pathlib.Path(args[2])
reco = fake_reconstruction("x", S=48, T=64)
smoothing = importlib.import_module(MODULE + ".core.smoothing")
detail = importlib.import_module(MODULE + ".core.detail")
ref = detail.apply_detail(smoothing.laplacian_smooth(reco.mesh.vertices, reco.mesh.triangles, 0.5, 3),
                          None, reco.mesh.uvs, reco.detail, 0.001, triangles=reco.mesh.triangles)
bpy.ops.wm.ply_import(filepath=str(out_dir / "astronaut.ply"))
ply = bpy.context.view_layer.objects.active
co = np.empty(3 * len(ply.data.vertices), np.float32)
ply.data.vertices.foreach_get("co", co)
co = co.reshape(-1, 3)
def hausdorff(a, b):  # the PLY writer orders vertices its own way: compare point sets
    d = np.linalg.norm(np.asarray(a, np.float64)[:, None] - np.asarray(b, np.float64)[None], axis=-1)
    return float(max(d.min(0).max(), d.min(1).max()))
ply_vs_ref = hausdorff(co, ref) if co.shape == ref.shape else None
ply_vs_base = hausdorff(co, reco.mesh.vertices) if co.shape == ref.shape else None
bpy.ops.import_scene.gltf(filepath=str(out_dir / "astronaut.glb"))
glb = [o for o in bpy.context.scene.objects if o.type == 'MESH' and o != ply][0]
glb_info = {"vertices": len(glb.data.vertices), "dims": list(glb.dimensions),
            "images": [n.image.size[:] for n in glb.active_material.node_tree.nodes
                       if n.type == 'TEX_IMAGE' and n.image is not None]}

# the .blend holds only this face, with its live stack and packed images
bpy.ops.wm.open_mainfile(filepath=str(out_dir / "astronaut.blend"))
blend = {"objects": sorted(o.name for o in bpy.data.objects),
         "modifiers": [m.type for m in bpy.data.objects["astronaut"].modifiers],
         "packed": all(i.packed_file is not None for i in bpy.data.images if i.source != 'VIEWER')}
emit({"first": first, "again": again, "resumed": resumed, "usage": usage,
      "report1": report1, "report3": report3, "report4": report4, "objects_left": objects_left,
      "ply_vs_ref": ply_vs_ref, "ply_vs_base": ply_vs_base, "n_ref": len(ref), "glb": glb_info,
      "blend": blend})
"""


def test_cli_batch_mixed_folder_with_blender_side_outputs(run_bpy, tmp_path: Path) -> None:
    folder = photo_folder(tmp_path)
    out = tmp_path / "out"
    r = run_script(run_bpy, CLI_FAKE, args=[str(folder), "-o", str(out)], timeout=900)
    assert r["first"] == 1  # some photos failed
    rep = r["report1"]
    status = {Path(p["photo"]).name: p["status"] for p in rep["photos"]}
    assert status == {"astronaut.png": "ok", "second face.png": "ok", "notes.jpg": "failed",
                      "empty.jpg": "failed", "truncated.png": "failed"}
    for entry in rep["photos"]:
        if entry["status"] == "failed":
            assert entry["error"].endswith(".") and "\n" not in entry["error"]
        else:
            assert entry["vertices"] > 100 and entry["faces"] > 100 and "build" in entry["timings"]
    for stem in ("astronaut", "second face"):
        for ext_ in ("glb", "obj", "mtl", "ply", "blend", "preview.png"):
            f = out / f"{stem}.{ext_}"
            assert f.is_file() and f.stat().st_size > 0, f
    assert (out / "astronaut.glb").read_bytes()[:4] == b"glTF"
    assert (out / "astronaut.preview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"ply" in (out / "astronaut.ply").read_bytes()[:3]
    assert not [p.name for p in out.iterdir() if ".partial" in p.name or p.name.startswith(".")]
    assert r["again"] == 1  # existing outputs are never overwritten without --overwrite
    assert r["resumed"] == 1
    st3 = {Path(p["photo"]).name: p["status"] for p in r["report3"]["photos"]}
    assert st3["astronaut.png"] == "skipped" and st3["notes.jpg"] == "failed"
    st4 = {Path(p["photo"]).name: (p["status"], p["error"]) for p in r["report4"]["photos"]}
    assert st4["astronaut.png"][0] == "failed" and "--overwrite" in st4["astronaut.png"][1]
    assert r["usage"] == 2
    assert r["objects_left"] == 0  # each face is removed after export; the startup objects too
    # exported meshes have the modifier stack applied, as the core references predict
    assert r["ply_vs_ref"] is not None and r["ply_vs_ref"] < 1e-5 and r["ply_vs_base"] > 1e-4
    assert r["glb"]["vertices"] == r["n_ref"] and r["glb"]["images"] == [[64, 64]]
    assert 0.1 < max(r["glb"]["dims"]) < 0.4
    assert r["blend"] == {"objects": ["astronaut"], "modifiers": ["SMOOTH", "SUBSURF", "DISPLACE"],
                          "packed": True}


def make_test_weights(folder: Path) -> Path:
    """Untrained weights (mask head biased to 'head everywhere') + manifest the core accepts."""
    sys.path.insert(0, str(ROOT))
    from core.predict import write_untrained_weights

    return write_untrained_weights(folder)


def run_launcher(args: list[str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(shared_user_resources()), "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, str(ROOT / "tools" / "face_from_photo_cli.py"), *args],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=str(ROOT))


def test_launcher_runs_the_real_pipeline_over_a_mixed_folder(tmp_path: Path) -> None:
    """``python tools/face_from_photo_cli.py`` = the CLI without the Blender binary, real core.

    Uses the trained weights when they exist, else untrained ones (geometry
    is then meaningless, but every stage and the Blender side run).
    """
    folder = photo_folder(tmp_path)
    weights = WEIGHTS if WEIGHTS.is_file() else make_test_weights(tmp_path / "weights")
    out = tmp_path / "out"
    proc = run_launcher(["reconstruct", str(folder), "-o", str(out), "--format", "glb",
                         "--weights", str(weights), "--quiet"])
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    rep = json.loads((out / "report.json").read_text())
    status = {Path(p["photo"]).name: (p["status"], p["error"]) for p in rep["photos"]}
    assert status["astronaut.png"][0] == "ok", status
    assert status["second face.png"][0] == "ok", status
    for bad in ("notes.jpg", "empty.jpg", "truncated.png"):
        assert status[bad][0] == "failed" and status[bad][1].endswith("."), status[bad]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert (out / "astronaut.glb").is_file() and not (out / "notes.glb").exists()
    ok = next(p for p in rep["photos"] if p["status"] == "ok")
    assert {"load", "detect", "crop", "predict", "integrate", "mesh", "detail", "build"} <= set(ok["timings"])
    assert "2 ok, 3 failed" in proc.stdout
    startup = rep["startup"]  # imports and network load, once, before the first photo
    assert startup["state"] == "done" and startup["imports_s"] > 0 and startup["model_s"] > 0
    assert startup["head_s"] > 0  # the template head and its bake tables, loaded before the first photo
    assert startup["total_s"] == pytest.approx(startup["imports_s"] + startup["model_s"] + startup["head_s"],
                                               abs=3e-3)


NETWORK_OPTION = """
ext = enable_from_source()
prefs = bpy.context.preferences.addons[MODULE].preferences
def parse(*extra):
    args = ext.cli.build_parser().parse_args(["reconstruct", "a.png", "-o", "out", *extra])
    return ext.cli.option_values(args)
out = {"default": parse().get("weights"), "large": parse("--network", "large").get("weights")}
prefs.network = 'large'
out["pref_large"] = parse().get("weights")
out["pref_large_cli_standard"] = parse("--network", "standard").get("weights")
out["explicit"] = parse("--network", "large", "--weights", "/w/mine.pt").get("weights")
emit(out)
"""


def test_network_option_and_preference_choose_the_weights(run_bpy) -> None:
    r = run_script(run_bpy, NETWORK_OPTION)
    assert r["default"] is None and r["pref_large_cli_standard"] is None  # the standard network
    assert r["large"].endswith("large/face_net.pt") and r["pref_large"] == r["large"]
    assert r["explicit"] == "/w/mine.pt"  # --weights overrides --network
