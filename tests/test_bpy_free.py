# SPDX-License-Identifier: GPL-3.0-or-later
"""core/ and training/ never need bpy: every module imports with bpy unavailable."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BPY_FREE_PACKAGES = ("core", "training")


def _modules() -> list[str]:
    names = []
    for package in BPY_FREE_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if parts[-1] == "__main__":
                continue
            names.append(".".join(parts))
    return names


def test_there_are_modules_to_check() -> None:
    names = _modules()
    assert "core" in names and "core.errors" in names and "training" in names


def test_every_core_and_training_module_imports_without_bpy() -> None:
    names = _modules()
    script = (
        "import importlib, sys\n"
        "sys.modules['bpy'] = None  # any `import bpy` now raises ImportError\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print('imported', len(" + repr(names) + "))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"imported {len(names)}" in proc.stdout


def test_no_source_file_in_core_or_training_mentions_bpy_imports() -> None:
    offenders = []
    for package in BPY_FREE_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    mods = [node.module or ""]
                else:
                    continue
                if any(m == "bpy" or m.startswith(("bpy.", "bmesh", "mathutils")) for m in mods):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, f"bpy imported in bpy-free code: {offenders}"
