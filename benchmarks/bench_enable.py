# SPDX-License-Identifier: GPL-3.0-or-later
"""Time enabling the add-on in a warm Blender process (bpy module, background mode).

The extension is registered from this source tree through a user repository
that points at a temporary folder holding a ``face_from_photo`` symlink to the
repository root. The first enable goes through ``preferences.addon_enable``
and includes Blender's one-time installation of the bundled wheels into
``extensions/.local`` (``first_enable_s``, Blender's cost, paid once per
install). The reported ``enable_s`` is the median over the following enables
with the wheels already in place (``addon_utils.enable/disable`` with
``refresh_handled=True``, so Blender does not uninstall and reinstall the
wheels in between), with the add-on's modules purged from ``sys.modules`` so
its imports and registration re-run every time. Last line: one JSON object.

Usage: ``.venv/bin/python benchmarks/bench_enable.py [--repeats 7]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ffp-bench-enable-"))
    os.environ["BLENDER_USER_RESOURCES"] = str(tmp / "user")
    repo_dir = tmp / "repo"
    repo_dir.mkdir()
    (repo_dir / "face_from_photo").symlink_to(ROOT, target_is_directory=True)

    import bpy

    bpy.context.preferences.extensions.repos.new(
        name="bench", module="bench", custom_directory=str(repo_dir), source='USER'
    )
    module = "bl_ext.bench.face_from_photo"
    heavy = ("torch", "scipy", "cv2")
    heavy_before = {m for m in heavy if m in sys.modules}

    import addon_utils

    t0 = time.perf_counter()
    bpy.ops.preferences.addon_enable(module=module)
    first = time.perf_counter() - t0
    assert module in bpy.context.preferences.addons, "enable failed"
    heavy_loaded = sorted({m for m in heavy if m in sys.modules} - heavy_before)

    times = []
    for _ in range(args.repeats):
        addon_utils.disable(module, default_set=True, refresh_handled=True)
        for name in [n for n in sys.modules if n == module or n.startswith(module + ".")]:
            del sys.modules[name]
        t0 = time.perf_counter()
        mod = addon_utils.enable(module, default_set=True, refresh_handled=True)
        times.append(time.perf_counter() - t0)
        assert mod is not None and module in bpy.context.preferences.addons, "enable failed"
    print(f"first enable (with wheel install): {first:.2f} s; "
          f"warm enables (ms): {[round(t * 1000, 1) for t in times]}")
    print(f"heavy modules imported by enabling: {heavy_loaded or 'none'}")
    print(json.dumps({
        "enable_s": round(statistics.median(times), 4),
        "first_enable_with_wheel_install_s": round(first, 2),
        "repeats": args.repeats,
        "heavy_modules_imported": heavy_loaded,
    }))


if __name__ == "__main__":
    main()
