# SPDX-License-Identifier: GPL-3.0-or-later
"""The built zip: contents, install the way an artist does, enable, disable, re-enable."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.blender]

# Runs inside a fresh bpy process. argv[1] = zip path.
INSTALL_AND_CYCLE = """
import sys, time
import bpy

HEAVY = ("torch", "scipy", "cv2")
MODULE = "bl_ext.user_default.face_from_photo"

def registered(pkg):
    import importlib
    ext = importlib.import_module(MODULE)
    classes = [*ext.operators.classes, *ext.panels.classes, *getattr(ext, "extra_classes", ())]
    return {c.__name__: bool(c.is_registered) for c in classes}

heavy_before = [m for m in HEAVY if m in sys.modules]
t0 = time.perf_counter()
result = bpy.ops.extensions.package_install_files(
    filepath=sys.argv[1], repo="user_default", enable_on_install=True)
install_s = time.perf_counter() - t0
enabled = MODULE in bpy.context.preferences.addons
after_enable = registered(MODULE)
heavy_after = [m for m in HEAVY if m in sys.modules]
ops = [name for name in dir(bpy.ops.face_from_photo)]
bpy.ops.preferences.addon_disable(module=MODULE)
after_disable = registered(MODULE)
disabled = MODULE not in bpy.context.preferences.addons
bpy.ops.preferences.addon_enable(module=MODULE)
after_reenable = registered(MODULE)
# The bundled wheels are importable once installed (the add-on imports them lazily).
import torch, scipy, cv2
emit({
    "result": sorted(result), "install_s": install_s, "enabled": enabled,
    "heavy_before": heavy_before, "heavy_after_enable": heavy_after, "ops": ops,
    "after_enable": after_enable, "after_disable": after_disable, "disabled": disabled,
    "after_reenable": after_reenable,
    "torch_file": torch.__file__, "cv2_file": cv2.__file__, "scipy_file": scipy.__file__,
})
"""


def test_zip_holds_the_add_on_and_wheels_but_no_training_tests_or_benchmarks(extension_zip: Path) -> None:
    names = zipfile.ZipFile(extension_zip).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    assert any(n.startswith("core/") for n in names)
    # The face detector (YuNet, Apache-2.0) with its licence and hash manifest.
    detector = {"core/detector/yunet_n_320_320.onnx", "core/detector/LICENSE", "core/detector/manifest.json"}
    assert detector <= set(names)
    for part in ("ict_head.npz", "manifest.json", "LICENSE", "CREDITS.md"):  # the template head, MIT
        assert f"core/template/{part}" in names
    assert any(n.startswith("wheels/torch-2.13.0") for n in names)
    assert any(n.startswith("wheels/scipy-") for n in names)
    assert any(n.startswith("wheels/opencv_python_headless-4.") for n in names)
    forbidden = ("training/", "tests/", "benchmarks/", ".ci/", ".venv", "tools/", "examples/")
    leaked = [n for n in names if n.startswith(forbidden) or "__pycache__" in n or n.endswith(".pyc")]
    assert not leaked, leaked[:20]


def test_zip_installs_enables_disables_and_reenables_in_real_bpy(run_bpy, extension_zip: Path) -> None:
    proc, res = run_bpy(INSTALL_AND_CYCLE, args=[str(extension_zip)])
    assert proc.returncode == 0 and res, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert res["result"] == ["FINISHED"] and res["enabled"]
    assert "reconstruct" in res["ops"]
    assert res["after_enable"] and all(res["after_enable"].values()), res["after_enable"]
    assert "FACE_PT_main" in res["after_enable"]
    assert res["disabled"] and not any(res["after_disable"].values()), res["after_disable"]
    assert all(res["after_reenable"].values()), res["after_reenable"]
    # Enabling stays light: torch, scipy and cv2 load only when a reconstruction runs.
    assert set(res["heavy_after_enable"]) <= set(res["heavy_before"]), res["heavy_after_enable"]
