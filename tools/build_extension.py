# SPDX-License-Identifier: GPL-3.0-or-later
"""Build the installable extension zip (linux-x64) with its bundled wheels.

Usage: ``python tools/build_extension.py [--output-dir dist]``

1. Downloads the runtime wheels pinned in ``tools/wheels.txt`` into ``wheels/``
   (skipped when every file the manifest names is already there).
2. Validates the manifest with Blender's own ``blender_ext.py``.
3. Builds ``dist/face_from_photo-<version>-linux_x64.zip``.

Prints the zip's path as its last line.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def blender_ext_script() -> Path:
    """Path of ``blender_ext.py`` inside the installed bpy wheel."""
    import importlib.util

    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None:
        raise SystemExit("bpy is not installed: run `make setup` first.")
    hits = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not hits:
        raise SystemExit("blender_ext.py not found inside the bpy package.")
    return hits[-1]


def manifest_wheels() -> list[Path]:
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    return [ROOT / w for w in manifest.get("wheels", [])]


def fetch_wheels() -> None:
    """Download the pinned runtime wheels for linux-x64 / CPython 3.11 into wheels/."""
    wanted = manifest_wheels()
    if all(w.is_file() for w in wanted):
        return
    pins = [
        line.strip()
        for line in (ROOT / "tools" / "wheels.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    cmd = [
        sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
        "--python-version", "3.11", "--implementation", "cp",
        "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
        "--platform", "manylinux2014_x86_64",
        "-d", str(ROOT / "wheels"), *pins,
    ]
    subprocess.run(cmd, check=True)
    missing = [w.name for w in wanted if not w.is_file()]
    if missing:
        raise SystemExit(f"wheels named in blender_manifest.toml were not downloaded: {missing}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=ROOT / "dist")
    args = parser.parse_args(argv)
    fetch_wheels()
    script = blender_ext_script()
    subprocess.run([sys.executable, str(script), "validate", str(ROOT)], check=True)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, str(script), "build", "--source-dir", str(ROOT),
         "--output-dir", str(args.output_dir), "--split-platforms"],
        check=True,
    )
    version = tomllib.loads((ROOT / "blender_manifest.toml").read_text())["version"]
    zip_path = args.output_dir / f"face_from_photo-{version}-linux_x64.zip"
    if not zip_path.is_file():
        raise SystemExit(f"expected {zip_path} after the build")
    print(zip_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
