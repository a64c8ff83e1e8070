# SPDX-License-Identifier: GPL-3.0-or-later
"""Run Face from Photo's command line with the ``bpy`` Python package (no Blender binary).

Usage, from anywhere::

    python tools/face_from_photo_cli.py reconstruct examples/astronaut.png -o out/ --format glb --preview
    python -m tools.face_from_photo_cli ...        (from the repository root)
    python tools/face_from_photo_cli.py --zip dist/face_from_photo-0.1.0-linux_x64.zip reconstruct ...

The repository folder is not named ``face_from_photo``, so the launcher makes
a temporary folder holding a ``face_from_photo`` symlink to it, registers that
folder as an extension repository of this Blender session
(``preferences.extensions.repos.new``) and enables the extension from there;
with ``--zip`` it installs a built zip into a temporary repository instead.
Then it calls the same ``cli.main`` that ``blender -b -c face_from_photo``
runs. Nothing is written to the user's Blender preferences: unless
``BLENDER_USER_RESOURCES`` is set, Blender's user folder is
``build/blender-user/`` in the repository (git-ignored), where Blender
installs the extension's bundled wheels on the first run (slow once).
"""

from __future__ import annotations

import signal

# A Ctrl+C (or SIGTERM/SIGHUP) before the batch installs its own handler - while
# bpy imports, which swallows a KeyboardInterrupt, or the extension is enabled -
# is recorded here and handed to the batch, so it is never lost.
_EARLY: list[int] = []
_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))
for _sig in _SIGNALS:
    signal.signal(_sig, lambda signum, frame: _EARLY.append(signum))

import importlib  # noqa: E402 - after the handlers, on purpose
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXTENSION_ID = "face_from_photo"
REPO_MODULE = "ffp_cli_source"


def enable_from_source(bpy: object, base: Path) -> str:
    """Enable the extension from this checkout; returns its module name."""
    (base / EXTENSION_ID).symlink_to(ROOT, target_is_directory=True)
    prefs = bpy.context.preferences  # type: ignore[attr-defined]
    prefs.extensions.repos.new(name="Face from Photo (source)", module=REPO_MODULE,
                               custom_directory=str(base), source='USER')
    module = f"bl_ext.{REPO_MODULE}.{EXTENSION_ID}"
    bpy.ops.preferences.addon_enable(module=module)  # type: ignore[attr-defined]
    return module


def enable_from_zip(bpy: object, base: Path, zip_path: Path) -> str:
    """Install and enable a built extension zip in a temporary repository."""
    prefs = bpy.context.preferences  # type: ignore[attr-defined]
    prefs.extensions.repos.new(name="Face from Photo (zip)", module=REPO_MODULE,
                               custom_directory=str(base), source='USER')
    bpy.ops.extensions.package_install_files(  # type: ignore[attr-defined]
        filepath=str(zip_path), repo=REPO_MODULE, enable_on_install=True)
    return f"bl_ext.{REPO_MODULE}.{EXTENSION_ID}"


def main(argv: list[str]) -> int:
    zip_path = None
    if argv[:1] == ["--zip"]:
        if len(argv) < 2:
            print("--zip needs the path of a built extension zip.", file=sys.stderr)
            return 2
        zip_path, argv = Path(argv[1]).resolve(), argv[2:]
    os.environ.setdefault("BLENDER_USER_RESOURCES", str(ROOT / "build" / "blender-user"))
    import bpy

    with tempfile.TemporaryDirectory(prefix="ffp-cli-") as tmp:
        base = Path(tmp)
        module = enable_from_zip(bpy, base, zip_path) if zip_path else enable_from_source(bpy, base)
        if module not in bpy.context.preferences.addons:
            print(f"Could not enable the extension ({module}).", file=sys.stderr)
            return 1
        ext = importlib.import_module(module)
        batch = importlib.import_module(module + ".core.batch")
        with batch.GracefulStop() as stop:  # takes over from the early handlers
            if _EARLY:
                stop.request(_EARLY[0])
            code = int(ext.cli.main(argv, stop))
        sys.stdout.flush()
    return code


def _run(argv: list[str]) -> int:
    """``main`` with exit 130 and one line, never a traceback, for a Ctrl+C at any moment."""
    try:
        code = main(argv)
    except KeyboardInterrupt:
        code = 130
    if code == 130:
        for sig in _SIGNALS:
            signal.signal(sig, signal.SIG_IGN)  # the process is ending; no tracebacks from here on
    return code


if __name__ == "__main__":
    code = _run(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip bpy's slow, occasionally noisy interpreter teardown
