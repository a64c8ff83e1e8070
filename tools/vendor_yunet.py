# SPDX-License-Identifier: GPL-3.0-or-later
"""Copy the YuNet face detector (ONNX, Apache-2.0) into ``core/detector/`` and record its SHA-256.

Usage: ``python tools/vendor_yunet.py [--source ../shared/third_party/yunet] [--variant s]``

Copies ``yunet_<variant>_320_320.onnx`` and its ``LICENSE`` verbatim from the
source folder (upstream: ShiqiYu/libfacedetection.train, folder ``onnx/``) and
writes ``core/detector/manifest.json`` with the file name, its SHA-256 and the
source, which :func:`core.face_detect.load_detector` checks on every load.
Prints the SHA-256 as its last line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.face_detect import DETECTOR_DIR, MANIFEST_NAME, file_sha256  # noqa: E402

UPSTREAM = "ShiqiYu/libfacedetection.train commit 0047ac24afb1a50a0c6105001c89d1b5b805dbf1, onnx/"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "third_party" / "yunet")
    parser.add_argument("--variant", choices=("n", "s"), default="n")
    args = parser.parse_args(argv)
    name = f"yunet_{args.variant}_320_320.onnx"
    src = args.source / name
    if not src.is_file() or not (args.source / "LICENSE").is_file():
        raise SystemExit(f"{src} or its LICENSE is missing; give --source the folder that holds both.")
    DETECTOR_DIR.mkdir(parents=True, exist_ok=True)
    for old in DETECTOR_DIR.glob("yunet_*.onnx"):
        old.unlink()
    shutil.copyfile(src, DETECTOR_DIR / name)
    shutil.copyfile(args.source / "LICENSE", DETECTOR_DIR / "LICENSE")
    digest = file_sha256(DETECTOR_DIR / name)
    manifest = {"file": name, "sha256": digest, "license": "Apache-2.0", "source": UPSTREAM}
    (DETECTOR_DIR / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    print(digest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
