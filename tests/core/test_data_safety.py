# SPDX-License-Identifier: GPL-3.0-or-later
"""Data and weights safety (issue 7): output permissions, OBJ side files, malicious weights."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import pytest

from core.batch import add_side_file, atomic_write, run_batch
from core.errors import FaceFromPhotoError
from tests.bad_input_corpus import make_weights, malicious_weights, write_manifest


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_write_respects_the_umask(tmp_path: Path, umask: int, expected: int) -> None:
    old = os.umask(umask)
    try:
        out = atomic_write(tmp_path / "face.glb", lambda tmp: tmp.write_bytes(b"glTF"))
        plain = tmp_path / "plain.txt"
        plain.write_text("what open() gives")
    finally:
        os.umask(old)
    assert _mode(out) == expected == _mode(plain)


def test_atomic_write_keeps_the_mode_of_the_file_it_replaces(tmp_path: Path) -> None:
    target = tmp_path / "face.ply"
    target.write_bytes(b"old")
    target.chmod(0o640)
    atomic_write(target, lambda tmp: tmp.write_bytes(b"new"))
    assert target.read_bytes() == b"new" and _mode(target) == 0o640


def _photos(tmp_path: Path, names: list[str]) -> list[Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    for n in names:
        (folder / n).write_bytes(b"x")
    return [folder / n for n in names]


def test_obj_side_files_go_when_a_later_format_of_the_photo_fails(tmp_path: Path) -> None:
    """The OBJ writer registers .mtl and texture; a failing .blend removes them with the .obj."""

    def process(photo: Path, outputs: dict[str, Path], should_stop) -> dict:
        for fmt, path in outputs.items():
            if fmt == "obj":
                for side in (path.with_suffix(".mtl"), path.with_name(f"{path.stem} photo.png")):
                    add_side_file(side)
                    side.write_text("side")
                atomic_write(path, lambda tmp: tmp.write_text("v 0 0 0\n"))
            elif photo.stem == "bad":
                raise FaceFromPhotoError("The .blend could not be written; this is a test.")
            else:
                atomic_write(path, lambda tmp: tmp.write_text("blend"))
        return {}

    out = tmp_path / "out"
    report = run_batch(_photos(tmp_path, ["bad.jpg", "good.jpg"]), out, ["obj", "blend"], process, log=None)
    assert [e.status for e in report.entries.values()] == ["failed", "ok"]
    assert sorted(p.name for p in out.iterdir()) == [
        "good photo.png", "good.blend", "good.mtl", "good.obj", "report.json"]


def test_side_files_go_when_the_batch_is_interrupted_hard(tmp_path: Path) -> None:
    def process(photo: Path, outputs: dict[str, Path], should_stop) -> dict:
        side = outputs["obj"].with_suffix(".mtl")
        add_side_file(side)
        side.write_text("side")
        raise KeyboardInterrupt  # the second Ctrl+C while writing

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_batch(_photos(tmp_path, ["a.jpg"]), out, ["obj"], process, log=None)
    assert sorted(p.name for p in out.iterdir()) == ["report.json"]


def test_add_side_file_outside_a_batch_does_nothing(tmp_path: Path) -> None:
    side = tmp_path / "keep.mtl"
    side.write_text("kept")
    add_side_file(side)
    assert side.read_text() == "kept"


# --------------------------------------------------------------------------- malicious weights


def test_the_exploit_is_live(tmp_path: Path) -> None:
    """Sanity check of the test payload: plain unpickling does run its code."""
    marker = tmp_path / "ran"
    path = malicious_weights(tmp_path / "evil.pkl", marker, torch_format=False)
    pickle.loads(path.read_bytes())  # noqa: S301 - the point of the check
    assert marker.exists()


@pytest.mark.parametrize("torch_format", [True, False], ids=["torch_zip", "raw_pickle"])
def test_malicious_pickle_as_weights_never_runs(tmp_path: Path, torch_format: bool) -> None:
    from core.predict import load_model

    good = make_weights(tmp_path / "weights")
    marker = tmp_path / "PWNED"
    malicious_weights(good, marker, torch_format=torch_format)  # replaces face_net.pt, manifest kept
    with pytest.raises(FaceFromPhotoError, match="do not match their manifest"):
        load_model(good, device="cpu")
    assert not marker.exists()
    # Even an attacker who also rewrites the manifest's hash gets no code run: weights_only=True.
    config = make_weights(tmp_path / "ref").parent / "manifest.json"
    import json

    write_manifest(good, json.loads(config.read_text())["config"])
    with pytest.raises(FaceFromPhotoError, match="cannot be read") as info:
        load_model(good, device="cpu")
    assert "reinstall the extension" in str(info.value)
    assert not marker.exists()
