# SPDX-License-Identifier: GPL-3.0-or-later
"""The artist's path: a clean environment with nothing but bpy installs the zip and uses it.

The environment (``.venv-artist/``, git-ignored) holds only ``bpy`` and what bpy
itself depends on: no torch, scipy or cv2. Everything the add-on needs must come
from the wheels bundled in the zip.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.blender]

ROOT = Path(__file__).resolve().parents[2]
ARTIST_VENV = ROOT / ".venv-artist"
BPY_PIN = "bpy==5.0.1"


def artist_python() -> Path:
    """Create (once) the bpy-only environment and return its interpreter."""
    python = ARTIST_VENV / "bin" / "python"
    stamp = ARTIST_VENV / ".stamp"
    want = hashlib.sha256(BPY_PIN.encode()).hexdigest()
    if not (python.exists() and stamp.exists() and stamp.read_text() == want):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(ARTIST_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", BPY_PIN],
            check=True, timeout=1200,
        )
        stamp.write_text(want)
    return python


ARTIST_SCRIPT = """
import sys, importlib.util
import bpy

def origin(name):
    spec = importlib.util.find_spec(name)
    return spec.origin if spec else None

before = {m: origin(m) for m in ("torch", "scipy", "cv2")}
result = bpy.ops.extensions.package_install_files(
    filepath=sys.argv[1], repo="user_default", enable_on_install=True)
module = "bl_ext.user_default.face_from_photo"
import torch, scipy, cv2
out = {
    "before": before, "result": sorted(result),
    "enabled": module in bpy.context.preferences.addons,
    "torch": torch.__file__, "torch_version": torch.__version__,
    "scipy": scipy.__file__, "cv2": cv2.__file__,
}
ext = importlib.import_module(module)
from pathlib import Path
detector = Path(ext.__file__).parent / "core" / "detector"
out["detector"] = sorted(p.name for p in detector.glob("*"))
api = getattr(ext, "api", None)
if api is not None and hasattr(api, "reconstruct"):
    obj = api.reconstruct(sys.argv[2])
    out["object"] = obj.name
    out["vertices"] = len(obj.data.vertices)
    out["faces"] = len(obj.data.polygons)
    out["dimensions"] = list(obj.dimensions)
emit(out)
"""


def test_clean_bpy_environment_installs_the_zip_and_uses_bundled_wheels(run_bpy, extension_zip: Path) -> None:
    python = artist_python()
    photo = ROOT / "examples" / "astronaut.png"
    proc, res = run_bpy(ARTIST_SCRIPT, python=python, args=[str(extension_zip), str(photo)], timeout=900)
    assert proc.returncode == 0 and res, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert res["before"] == {"torch": None, "scipy": None, "cv2": None}, "the artist env must be bpy-only"
    assert res["result"] == ["FINISHED"] and res["enabled"]
    for name in ("torch", "scipy", "cv2"):
        assert "/extensions/.local/" in res[name], f"{name} should come from the bundled wheels: {res[name]}"
    assert res["torch_version"].startswith("2.13.0")
    # The YuNet face detector ships inside the zip, with its licence and hash manifest.
    assert res["detector"] == ["LICENSE", "manifest.json", "yunet_n_320_320.onnx"]
    if "object" in res:
        assert res["faces"] > 1000
        assert 0.1 < max(res["dimensions"]) < 0.5  # metres: a head is ~0.22 m tall
