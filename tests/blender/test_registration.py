# SPDX-License-Identifier: GPL-3.0-or-later
"""Enabling is cheap (no torch/scipy/cv2), disabling removes everything, re-enabling works."""

from __future__ import annotations

import pytest

from tests.blender.ffp_run import run_script

pytestmark = pytest.mark.blender

SCRIPT = """
import sys
ext = enable_from_source()
heavy = sorted(m for m in ("torch", "scipy", "cv2") if m in sys.modules)

def has_op(name):
    try:
        getattr(bpy.ops.face_from_photo, name).get_rna_type()
        return True
    except KeyError:
        return False

def state():
    return {
        "operators": [has_op(name) for name in ("reconstruct", "import_photo", "reset_settings")],
        "file_handler": hasattr(bpy.types, "FACE_FH_photo"),
        "panel": hasattr(bpy.types, "FACE_PT_main"),
        "scene_settings": hasattr(bpy.types.Scene, "face_from_photo"),
        "import_menu": any(getattr(f, "__module__", "").startswith(MODULE)
                           for f in bpy.types.TOPBAR_MT_file_import._dyn_ui_initialize()),
        "cli_handle": ext.cli._handle is not None,
        "enabled": MODULE in bpy.context.preferences.addons,
    }

states = [state()]
cli = ext.cli
for _ in range(1):
    bpy.ops.preferences.addon_disable(module=MODULE)
    states.append({**state(), "cli_handle": cli._handle is not None})
    bpy.ops.preferences.addon_enable(module=MODULE)
    ext = importlib.import_module(MODULE)
    states.append(state())
settings = bpy.context.scene.face_from_photo
emit({"heavy": heavy, "states": states, "lam": settings.lam,
      "prefs": type(bpy.context.preferences.addons[MODULE].preferences).__name__,
      "api": callable(getattr(ext.api, "reconstruct", None))})
"""


def test_enable_disable_enable_is_clean(run_bpy) -> None:
    res = run_script(run_bpy, SCRIPT)
    assert res["heavy"] == [], "enabling must not import torch, scipy or cv2"
    on, off = res["states"][0], res["states"][1]
    assert all(on["operators"]) and on["file_handler"] and on["panel"] and on["scene_settings"]
    assert on["import_menu"] and on["cli_handle"] and on["enabled"]
    assert not any(off["operators"]) and not off["file_handler"] and not off["panel"]
    assert not off["scene_settings"] and not off["import_menu"]
    assert not off["cli_handle"] and not off["enabled"]
    assert res["states"][2] == on
    assert res["lam"] == pytest.approx(0.1)
    assert res["prefs"] == "FaceFromPhotoPreferences" and res["api"]
