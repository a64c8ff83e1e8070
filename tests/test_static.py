# SPDX-License-Identifier: GPL-3.0-or-later
"""Lint (ruff, whole tree) and types (mypy, bpy side with fake-bpy-module stubs)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_is_clean_on_the_bpy_side() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "run_mypy.py"), "--no-incremental"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success" in proc.stdout


def test_mypy_uses_stubs_for_the_blender_version_we_test() -> None:
    import importlib.metadata as md

    bpy_version = md.version("bpy")  # e.g. 5.0.1
    major_minor = "-".join(bpy_version.split(".")[:2])
    stubs = f"fake-bpy-module-{major_minor}"
    reqs = (ROOT / "tools" / "requirements.txt").read_text()
    assert stubs in reqs, f"{stubs} should be in tools/requirements.txt to match bpy {bpy_version}"
    md.version(stubs)  # installed


def test_manifest_validates_with_blenders_own_tool() -> None:
    import importlib.util

    spec = importlib.util.find_spec("bpy")
    assert spec and spec.origin
    script = next(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    proc = subprocess.run(
        [sys.executable, str(script), "validate", str(ROOT)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success" in proc.stdout


def test_manifest_facts() -> None:
    m = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    assert m["schema_version"] == "1.0.0"
    assert m["id"] == "face_from_photo" and m["name"] == "Face from Photo" and m["type"] == "add-on"
    assert m["license"] == ["SPDX:GPL-3.0-or-later"]
    assert m["blender_version_min"] == "4.2.0"
    # The wheels are CPython 3.11 builds; Blender 5.1 moved to Python 3.13.
    assert tuple(int(x) for x in m["blender_version_max"].split(".")) <= (5, 1, 0)
    assert isinstance(m["permissions"], dict) and "files" in m["permissions"]
    excluded = " ".join(m["build"]["paths_exclude_pattern"])
    for folder in ("training", "tests", "benchmarks", ".ci", "__pycache__"):
        assert folder in excluded
    wheels = [Path(w).name.lower() for w in m["wheels"]]
    pins = [
        line.split("==")[0].strip().lower().replace("-", "_")
        for line in (ROOT / "tools" / "wheels.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for pin in pins:
        assert any(w.startswith(pin + "-") for w in wheels), f"no wheel for {pin} in the manifest"
    assert not any(w.startswith("numpy") for w in wheels), "Blender ships numpy"
    assert not (ROOT / "wheels").exists() or not _tracked("wheels"), "wheels/ must never be committed"


def _tracked(path: str) -> bool:
    proc = subprocess.run(["git", "ls-files", path], cwd=ROOT, capture_output=True, text=True)
    return bool(proc.stdout.strip())
