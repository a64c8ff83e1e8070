# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the Blender-side tests: run a script after ffp_support.py in a fresh bpy process."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = Path(__file__).with_name("ffp_support.py").read_text()
WEIGHTS = ROOT / "core" / "weights" / "face_net.pt"
PHOTO = ROOT / "examples" / "astronaut.png"
NO_WEIGHTS = f"needs the trained weights {WEIGHTS.relative_to(ROOT)}, which are not exported yet"


_SHARED: list[Path] = []


def shared_user_resources() -> Path:
    """One temporary BLENDER_USER_RESOURCES for all Blender tests of this session.

    Enabling the extension from source makes Blender install the manifest's
    wheels (torch, scipy, OpenCV) into ``<user resources>/extensions/.local``,
    ~15 s on this machine; sharing the folder pays that once. Every test still
    runs in a fresh process, and nothing is written to ~/.config/blender.
    """
    if not _SHARED:
        path = Path(tempfile.mkdtemp(prefix="ffp-blender-user-"))
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        _SHARED.append(path)
    return _SHARED[0]


def run_script(run_bpy: Callable[..., Any], body: str, **kwargs: Any) -> Any:
    """Run ``body`` (after the support code) in a fresh bpy process; returns what it emitted."""
    env = {"FFP_REPO": str(ROOT), **kwargs.pop("env", {})}
    kwargs.setdefault("user_resources", shared_user_resources())
    proc, result = run_bpy(SUPPORT + "\n" + textwrap.dedent(body), env=env, **kwargs)
    assert proc.returncode == 0 and result is not None, (
        f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
    )
    return result
