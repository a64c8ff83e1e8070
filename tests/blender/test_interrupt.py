# SPDX-License-Identifier: GPL-3.0-or-later
"""Interrupting the real batch command (``tools/face_from_photo_cli.py``) and resuming it.

The launcher runs the whole product (bpy module, extension enabled from
source, the real core with untrained stand-in weights) over a folder of
photos writing glb and obj (+ .mtl and texture). Once the first photo's
report entry appears, the test sends SIGINT (or SIGTERM) and checks what is
left: exit 130, only complete and parsable files, a report listing exactly
what finished, and ``--resume`` doing the rest.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bad_input_corpus import make_weights
from tests.blender.ffp_run import PHOTO, ROOT, shared_user_resources

pytestmark = [pytest.mark.blender, pytest.mark.slow]

STEMS = [f"face {k}" for k in range(1, 6)]


def launcher(args: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(shared_user_resources()), "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)
    command = [sys.executable, str(ROOT / "tools" / "face_from_photo_cli.py"), *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=str(ROOT))


def report(out: Path) -> dict:
    try:
        return json.loads((out / "report.json").read_text())
    except (OSError, ValueError):
        return {}


def check_glb(path: Path) -> None:
    data = path.read_bytes()
    magic, version, length = struct.unpack("<4sII", data[:12])
    assert magic == b"glTF" and version == 2 and length == len(data), path
    chunk_len, chunk_type = struct.unpack("<II", data[12:20])
    assert chunk_type == 0x4E4F534A  # "JSON"
    gltf = json.loads(data[20:20 + chunk_len])
    assert gltf["meshes"] and gltf["images"], path


def check_obj(path: Path) -> set[str]:
    """Parse the OBJ; returns the names of the side files it needs (mtl + textures)."""
    vertices, max_index, mtl = 0, 0, None
    for line in path.read_text().splitlines():
        if line.startswith("v "):
            vertices += 1
            assert len(line.split()) == 4
        elif line.startswith("f "):
            max_index = max(max_index, *(int(p.split("/")[0]) for p in line.split()[1:]))
        elif line.startswith("mtllib "):
            mtl = line[len("mtllib "):].strip()
    assert vertices > 100 and 0 < max_index <= vertices, path
    assert mtl is not None and (path.parent / mtl).is_file(), path
    needed = {mtl}
    for line in (path.parent / mtl).read_text().splitlines():
        if line.strip().startswith("map_Kd "):
            texture = line.strip().split(" ", 1)[1]
            assert (path.parent / texture).is_file(), texture
            needed.add(texture)
    return needed


def check_outputs(out: Path, done: list[str]) -> None:
    names = sorted(p.name for p in out.iterdir())
    assert not [n for n in names if n.startswith(".") or ".partial" in n], names  # no temporary files
    expected = {"report.json"}
    for stem in done:
        check_glb(out / f"{stem}.glb")
        expected |= {f"{stem}.glb", f"{stem}.obj"} | check_obj(out / f"{stem}.obj")
    assert set(names) == expected, names  # nothing of the photos that did not finish


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_batch_keeps_only_complete_files_and_resumes(tmp_path: Path, signum: int) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for stem in STEMS:
        shutil.copy(PHOTO, photos / f"{stem}.png")
    weights = make_weights(tmp_path / "weights")
    out = tmp_path / "out"
    args = ["reconstruct", str(photos), "-o", str(out), "--format", "glb", "--format", "obj",
            "--weights", str(weights), "--device", "cpu", "--output-kind", "relief"]
    proc = launcher(args)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if any(e["status"] == "ok" for e in report(out).get("photos", [])):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the batch ended before it could be interrupted"
        proc.send_signal(signum)
        output, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output[-3000:]
    assert "Traceback" not in output and "interrupted" in output
    data = report(out)
    assert data["interrupted"] is True
    statuses = {Path(e["photo"]).stem: e["status"] for e in data["photos"]}
    done = [s for s in STEMS if statuses.get(s) == "ok"]
    assert 1 <= len(done) < len(STEMS), statuses
    assert set(statuses.values()) <= {"ok", "cancelled"}, statuses  # the rest never started
    for entry in data["photos"]:
        if entry["status"] == "ok":
            assert sorted(Path(p).name for p in entry["outputs"]) == sorted(
                f"{Path(entry['photo']).stem}.{e}" for e in ("glb", "obj"))
    check_outputs(out, done)
    if signum != signal.SIGINT:
        return  # resume is the same after either signal; run it once

    proc = launcher([*args, "--resume"])
    output, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, output[-3000:]
    data = report(out)
    statuses = {Path(e["photo"]).stem: e["status"] for e in data["photos"]}
    assert data["interrupted"] is False
    assert statuses == {s: ("skipped" if s in done else "ok") for s in STEMS}, statuses
    check_outputs(out, STEMS)
