# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared fixtures: run scripts in a fresh bpy process, build the extension zip once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULT_MARKER = "@@RESULT@@"

# Prepended to every bpy script: `emit(obj)` hands a JSON result back to the test.
_PRELUDE = f"""
import json as _json, sys as _sys
def emit(obj):
    print({RESULT_MARKER!r} + _json.dumps(obj), flush=True)
"""


def run_python(
    script: str,
    *,
    python: str | Path = sys.executable,
    user_resources: Path,
    args: list[str] | None = None,
    timeout: float = 600,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], object]:
    """Run ``script`` in a fresh interpreter with its own ``BLENDER_USER_RESOURCES``.

    The script may ``import bpy`` (Blender runs in background mode as a module)
    and calls ``emit(obj)`` to return a JSON value. A crash of Blender fails
    only the calling test. Returns the finished process and the last emitted
    value (None when nothing was emitted).
    """
    user_resources.mkdir(parents=True, exist_ok=True)
    path = user_resources / "_script.py"
    path.write_text(_PRELUDE + textwrap.dedent(script))
    full_env = {**os.environ, "BLENDER_USER_RESOURCES": str(user_resources), "PYTHONUNBUFFERED": "1"}
    full_env.pop("PYTHONPATH", None)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [str(python), str(path), *(args or [])],
        capture_output=True, text=True, timeout=timeout, env=full_env, cwd=str(user_resources),
    )
    result = None
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            result = json.loads(line[len(RESULT_MARKER):])
    return proc, result


@pytest.fixture
def run_bpy(tmp_path: Path) -> Callable[..., tuple[subprocess.CompletedProcess[str], object]]:
    """Run a script in a fresh bpy process with a temporary user-resources folder."""
    counter = iter(range(1000))

    def _run(script: str, **kwargs: object) -> tuple[subprocess.CompletedProcess[str], object]:
        res = kwargs.pop("user_resources", None) or tmp_path / f"blender_user_{next(counter)}"
        return run_python(script, user_resources=res, **kwargs)  # type: ignore[arg-type]

    return _run


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The installable linux-x64 zip, built once per test session by the real build command."""
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_extension.py"), "--output-dir", str(out)],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return Path(proc.stdout.strip().splitlines()[-1])
