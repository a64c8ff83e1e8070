# SPDX-License-Identifier: GPL-3.0-or-later
"""The bad-input corpus of issue 7, generated on the fly (no binary junk in the repository).

``CASES`` lists every case once: its test id, the row label of
``docs/bad_input.md``, what kind of input it breaks (``photo``, ``weights``
or ``output``) and what must happen (``"ok"``: a face object / output file;
otherwise words the one-sentence error must contain).
:func:`make_corpus` writes the files into a folder and returns, per case, the
photo path, the weights path and the output folder the entry points are given.

Photos are derived from the bundled sample (``examples/astronaut.png``, NASA,
public domain). Weights are untrained stand-ins with a manifest that passes
the integrity check (``make_weights``): the tests check what the artist sees,
not the quality of the geometry, so they do not need the trained model.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "astronaut.png"
PROFILE_YAW_DEG = 90.0


@dataclass(frozen=True)
class Case:
    """One corpus case: ``id`` (test id), ``label`` (table row), ``kind``, ``expect``."""

    id: str
    label: str
    kind: str  # "photo" | "weights" | "output"
    expect: str  # "ok", or words the error sentence contains


CASES: tuple[Case, ...] = (
    Case("zero_byte", "Zero-byte file (`empty.jpg`)", "photo", "is empty (0 bytes)"),
    Case("truncated_jpeg", "Truncated JPEG (first 40 % of the file)", "photo", "re-export or re-download"),
    Case("truncated_png", "Truncated PNG (first 40 % of the file)", "photo", "damaged or incomplete"),
    Case("text_as_jpg", "Text file named `.jpg`", "photo", "is not an image"),
    Case("tiny_1x1", "1 × 1 image", "photo", "too small"),
    Case("tiny_16x16", "16 × 16 image", "photo", "too small"),
    Case("png_16bit", "16-bit PNG", "photo", "ok"),
    Case("grayscale", "Grayscale JPEG", "photo", "ok"),
    Case("rgba_transparent", "RGBA PNG, transparent background", "photo", "ok"),
    Case("cmyk_jpeg", "CMYK JPEG", "photo", "ok"),
    Case("exif_rotated", "EXIF-rotated JPEG (orientation 6)", "photo", "ok"),
    Case("huge_12000", "12000 × 12000 JPEG", "photo", "ok"),
    Case("bomb_png", "Decompression-bomb PNG (60000 × 60000 declared, 40 kB file)", "photo",
         "downscale it below"),
    Case("png_12000", "12000 × 12000 PNG", "photo", "downscale it below"),
    Case("no_face", "No face (landscape noise)", "photo", "No face was found"),
    Case("two_faces", "Two faces", "photo", "ok"),
    Case("face_cut_by_border", "Face cut by the left border", "photo", "ok"),
    Case("extreme_profile", "Extreme profile (synthetic head, yaw 90°)", "photo", "No face was found"),
    Case("non_ascii_path", "Path with spaces and non-ASCII characters", "photo", "ok"),
    Case("missing_file", "Missing file", "photo", "does not exist"),
    Case("directory_as_file", "Folder given as the photo (`folder.jpg/`)", "photo", "is a folder"),
    Case("read_only_output", "Read-only output folder", "output", "choose a writable folder"),
    Case("weights_missing", "Weights file missing", "weights", "is missing"),
    Case("manifest_missing", "Weights manifest missing", "weights", "is missing"),
    Case("weights_truncated", "Weights truncated (manifest of the full file)", "weights",
         "do not match their manifest"),
    Case("weights_truncated_rehashed", "Weights truncated, manifest hash updated to match", "weights",
         "cannot be read"),
    Case("weights_tampered", "Weights tampered (one byte changed)", "weights", "do not match their manifest"),
    Case("weights_wrong_arch", "Weights of a different architecture (hash matches)", "weights",
         "do not fit the network architecture"),
    Case("weights_pickle_exploit", "Pickle with a malicious `__reduce__` as weights (hash matches)",
         "weights", "cannot be read"),
)

BY_ID = {c.id: c for c in CASES}


# --------------------------------------------------------------------------- images


def sample_rgb() -> np.ndarray:
    """The sample portrait as (512, 512, 3) uint8 RGB."""
    import cv2

    return np.ascontiguousarray(cv2.imread(str(SAMPLE), cv2.IMREAD_COLOR)[..., ::-1])


def _encode(path: Path, rgb_or_gray: np.ndarray, *params: int) -> Path:
    import cv2

    a = rgb_or_gray
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = np.ascontiguousarray(np.concatenate([a[..., 2::-1], a[..., 3:]], axis=2))
    ok, buf = cv2.imencode(path.suffix, a, list(params))
    assert ok, path
    path.parent.mkdir(parents=True, exist_ok=True)
    buf.tofile(str(path))
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_declaring(width: int, height: int) -> bytes:
    """A small PNG whose header declares ``width x height`` px: a decompression bomb."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = zlib.compress(b"\x00" * (4 * (1 + 3 * min(width, 4096))), 9)
    chunks = _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", raw) + _png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def exif_orientation_segment(orientation: int) -> bytes:
    """A JPEG APP1 'Exif' segment whose IFD0 holds only the Orientation tag."""
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8)
    tiff += struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def extreme_profile(resolution: int = 256) -> np.ndarray | None:
    """A synthetic head (training.synth) seen from the side (yaw 90°) as uint8 RGB, or None.

    None when the head model (``anny``) cannot be loaded here.
    """
    try:
        from training.synth import generator
    except Exception:  # noqa: BLE001 - the synthetic-data extras are optional for tests
        return None
    original = generator.sample_camera

    def side_view(rng: np.random.Generator) -> tuple[object, dict]:
        cam, info = original(rng)  # keep the sample's distance and offset, force the pose
        rotation = generator._rot(1, np.radians(PROFILE_YAW_DEG)) @ generator.MODEL_TO_CAMERA
        pose = {"yaw": float(np.radians(PROFILE_YAW_DEG)), "pitch": 0.0, "roll": 0.0}
        return generator.Camera(rotation, cam.translation, d0=cam.d0), {**info, **pose}

    generator.sample_camera = side_view  # type: ignore[assignment]
    try:
        sample = generator.generate_sample(0, "val", resolution)
    except Exception:  # noqa: BLE001
        return None
    finally:
        generator.sample_camera = original  # type: ignore[assignment]
    return (np.clip(sample["image"], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


PROFILE_CACHE = ROOT / "build" / "test-cache" / f"profile-yaw{PROFILE_YAW_DEG:.0f}.png"


def cached_profile(timeout_s: float = 90.0) -> tuple[np.ndarray | None, str]:
    """The extreme-profile photo (uint8 RGB) and how it was obtained, or None and why not.

    Rendering it loads the synthetic head model (~5 s), which has been seen to
    hang now and then on this machine, so it runs in a subprocess with a time
    limit and the result is cached in ``build/test-cache/`` (git-ignored).
    """
    import subprocess
    import sys

    import cv2

    if not PROFILE_CACHE.is_file():
        PROFILE_CACHE.parent.mkdir(parents=True, exist_ok=True)
        script = (
            "import sys, cv2; from tests.bad_input_corpus import extreme_profile; "
            "im = extreme_profile(); "
            "sys.exit(3) if im is None else cv2.imwrite(sys.argv[1], im[..., ::-1])"
        )
        tmp = PROFILE_CACHE.with_suffix(".partial.png")
        try:
            subprocess.run([sys.executable, "-c", script, str(tmp)], cwd=ROOT, timeout=timeout_s,
                           capture_output=True, check=True)
            tmp.replace(PROFILE_CACHE)
        except (subprocess.SubprocessError, OSError) as e:
            tmp.unlink(missing_ok=True)
            return None, f"the synthetic head could not be rendered here ({type(e).__name__})"
    image = cv2.imread(str(PROFILE_CACHE), cv2.IMREAD_COLOR)
    if image is None:
        return None, "the cached profile render is unreadable"
    return np.ascontiguousarray(image[..., ::-1]), "training.synth render"


def make_photos(folder: Path, profile: np.ndarray | None = None) -> dict[str, Path]:
    """Write every photo case into ``folder``; returns ``{case id: path}``."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rgb = sample_rgb()
    rng = np.random.default_rng(7)
    p: dict[str, Path] = {}

    (folder / "empty.jpg").write_bytes(b"")
    p["zero_byte"] = folder / "empty.jpg"
    jpeg = _encode(folder / "_full.jpg", rgb, cv2.IMWRITE_JPEG_QUALITY, 90).read_bytes()
    (folder / "_full.jpg").unlink()
    p["truncated_jpeg"] = folder / "truncated.jpg"
    p["truncated_jpeg"].write_bytes(jpeg[: int(0.4 * len(jpeg))])
    png = _encode(folder / "_full.png", rgb).read_bytes()
    (folder / "_full.png").unlink()
    p["truncated_png"] = folder / "truncated.png"
    p["truncated_png"].write_bytes(png[: int(0.4 * len(png))])
    p["text_as_jpg"] = folder / "notes.jpg"
    p["text_as_jpg"].write_text("Shopping list: eggs, milk, a new camera.\n" * 10)
    p["tiny_1x1"] = _encode(folder / "dot.png", rgb[:1, :1])
    p["tiny_16x16"] = _encode(folder / "tiny.png", cv2.resize(rgb, (16, 16), interpolation=cv2.INTER_AREA))
    p["png_16bit"] = _encode(folder / "deep16.png", rgb.astype(np.uint16) * 257)
    p["grayscale"] = _encode(folder / "grey.jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    # transparent everywhere but an ellipse around the head; the hidden pixels are garish green
    yy, xx = np.mgrid[0:512, 0:512]
    alpha = ((((xx - 230) / 150.0) ** 2 + ((yy - 150) / 190.0) ** 2) < 1.0).astype(np.uint8) * 255
    rgba = np.concatenate([np.where(alpha[..., None] > 0, rgb, (0, 255, 0)).astype(np.uint8),
                           alpha[..., None]], axis=2)
    p["rgba_transparent"] = _encode(folder / "cutout.png", rgba)
    p["cmyk_jpeg"] = folder / "cmyk.jpg"
    from PIL import Image  # tests only: OpenCV cannot write CMYK

    Image.fromarray(rgb).convert("CMYK").save(p["cmyk_jpeg"], "JPEG", quality=92)
    # stored turned 90° counter-clockwise; orientation 6 says "rotate 90° clockwise to display"
    turned = np.ascontiguousarray(np.rot90(rgb, 1))
    stored = _encode(folder / "rotated.jpg", turned, cv2.IMWRITE_JPEG_QUALITY, 92)
    data = stored.read_bytes()
    stored.write_bytes(data[:2] + exif_orientation_segment(6) + data[2:])
    p["exif_rotated"] = stored
    big = cv2.resize(rgb, (12000, 12000), interpolation=cv2.INTER_NEAREST)
    p["huge_12000"] = _encode(folder / "huge.jpg", big, cv2.IMWRITE_JPEG_QUALITY, 75)
    del big
    p["bomb_png"] = folder / "bomb.png"
    p["bomb_png"].write_bytes(png_declaring(60000, 60000))
    p["png_12000"] = folder / "big12k.png"
    p["png_12000"].write_bytes(png_declaring(12000, 12000))
    noise = rng.normal(0.0, 1.0, (48, 64, 3))
    noise = cv2.resize(noise, (640, 480), interpolation=cv2.INTER_CUBIC)
    p["no_face"] = _encode(folder / "landscape.png", np.clip(110 + 60 * noise, 0, 255).astype(np.uint8))
    small = cv2.resize(rgb, (384, 384), interpolation=cv2.INTER_AREA)
    canvas = np.full((512, 512 + 384, 3), 90, np.uint8)
    canvas[:, :512] = rgb
    canvas[64:448, 512:] = small
    p["two_faces"] = _encode(folder / "two faces.png", canvas)
    p["face_cut_by_border"] = _encode(folder / "cut.png", np.ascontiguousarray(rgb[:, 180:]))
    if profile is not None:
        p["extreme_profile"] = _encode(folder / "profile.png", profile)
    spaced = folder / "фото лица" / "mi foto ñ 写真.png"
    p["non_ascii_path"] = _encode(spaced, rgb)
    p["missing_file"] = folder / "gone" / "missing.jpg"
    p["directory_as_file"] = folder / "folder.jpg"
    p["directory_as_file"].mkdir()
    return p


# --------------------------------------------------------------------------- weights


def make_weights(folder: Path, *, seed: int = 0, **config: object) -> Path:
    """Untrained FaceNet weights + a matching manifest (mask head biased to 'head everywhere')."""
    from core.predict import write_untrained_weights

    return write_untrained_weights(folder, seed=seed, **config)


def write_manifest(weights: Path, config: dict, sha256: str | None = None) -> None:
    """``manifest.json`` next to ``weights`` with its hash (or the given one) and ``config``."""
    sha = sha256 or hashlib.sha256(weights.read_bytes()).hexdigest()
    (weights.parent / "manifest.json").write_text(json.dumps({"sha256": sha, "config": config}))


class MarkerPickle:
    """Unpickling this object creates ``path`` (stand-in for arbitrary code execution)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.path, "w"))


def malicious_weights(path: Path, marker: Path, *, torch_format: bool = True) -> Path:
    """A weights file whose unpickling would create ``marker`` (torch zip or raw pickle)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"decoders.mask_logits.head.bias": MarkerPickle(marker)}
    if torch_format:
        import torch

        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    return path


def make_weight_cases(folder: Path, good: Path) -> tuple[dict[str, Path], Path]:
    """One folder per weights case; returns ``({case id: weights path}, exploit marker path)``."""
    import shutil

    config = json.loads((good.parent / "manifest.json").read_text())["config"]
    w: dict[str, Path] = {}

    def copy(case: str) -> Path:
        d = folder / case
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(good, d / "face_net.pt")
        shutil.copy(good.parent / "manifest.json", d / "manifest.json")
        return d / "face_net.pt"

    w["weights_missing"] = copy("weights_missing")
    w["weights_missing"].unlink()
    w["manifest_missing"] = copy("manifest_missing")
    (w["manifest_missing"].parent / "manifest.json").unlink()
    data = good.read_bytes()
    w["weights_truncated"] = copy("weights_truncated")
    w["weights_truncated"].write_bytes(data[: len(data) // 2])
    w["weights_truncated_rehashed"] = copy("weights_truncated_rehashed")
    w["weights_truncated_rehashed"].write_bytes(data[: len(data) // 2])
    write_manifest(w["weights_truncated_rehashed"], config)
    w["weights_tampered"] = copy("weights_tampered")
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0xFF
    w["weights_tampered"].write_bytes(bytes(flipped))
    other = make_weights(folder / "other_arch", widths=(8, 16, 24, 32, 48))
    w["weights_wrong_arch"] = copy("weights_wrong_arch")
    w["weights_wrong_arch"].write_bytes(other.read_bytes())
    write_manifest(w["weights_wrong_arch"], config)  # the shipped config, another network's tensors
    marker = folder / "PWNED-marker"
    w["weights_pickle_exploit"] = malicious_weights(folder / "weights_pickle_exploit" / "face_net.pt", marker)
    write_manifest(w["weights_pickle_exploit"], config)
    return w, marker


# --------------------------------------------------------------------------- the whole corpus


def make_corpus(folder: Path, profile: np.ndarray | None = None) -> dict:
    """Write the corpus under ``folder``; returns the JSON-ready plan the entry points run.

    ``{"weights": good weights, "marker": exploit marker, "readonly": folder,
    "cases": {id: {"kind", "expect", "photo", "weights", "output"}}}``;
    photo cases use the good weights, weights cases the sample photo.
    """
    good = make_weights(folder / "weights")
    photos = make_photos(folder / "photos", profile)
    weights, marker = make_weight_cases(folder / "bad-weights", good)
    readonly = folder / "read-only out"
    readonly.mkdir()
    readonly.chmod(0o555)
    sample = photos["non_ascii_path"].parent.parent / "astronaut.png"
    _encode(sample, sample_rgb())
    cases = {}
    for case in CASES:
        if case.kind == "photo" and case.id not in photos:
            continue  # the extreme profile needs the synthetic head model
        cases[case.id] = {
            "kind": case.kind, "expect": case.expect,
            "photo": str(photos.get(case.id, sample)),
            "weights": str(weights.get(case.id, good)),
            "output": str(readonly if case.kind == "output" else folder / "out" / case.id),
        }
    return {"weights": str(good), "marker": str(marker), "readonly": str(readonly), "sample": str(sample),
            "cases": cases}
