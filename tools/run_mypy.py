# SPDX-License-Identifier: GPL-3.0-or-later
"""Type-check the bpy side of the extension with mypy and fake-bpy-module stubs.

The repository root is the extension package itself, so it is exposed to mypy
under its real name through a symlink in a temporary folder (outside the tree,
so nothing walks into it twice) and
checked with ``mypy -p face_from_photo``; core/ and training/ are followed
for types but reported on by their own tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="ffp-mypy-") as tmp:
        base = Path(tmp)
        (base / "face_from_photo").symlink_to(ROOT, target_is_directory=True)
        env = {**os.environ, "MYPYPATH": str(base)}
        cmd = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
               "--cache-dir", str(ROOT / ".mypy_cache"), "-p", "face_from_photo", *sys.argv[1:]]
        return subprocess.run(cmd, cwd=base, env=env).returncode


if __name__ == "__main__":
    raise SystemExit(main())
