# SPDX-License-Identifier: GPL-3.0-or-later
"""Faces in a photo, with five landmarks each, from the YuNet detector (ONNX in ``core/detector/``).

YuNet (Wu et al. 2023, libfacedetection; Apache-2.0, ``core/detector/LICENSE``)
runs in OpenCV's ``cv2.FaceDetectorYN``. The photo is resized so that its longer
side is ``DETECT_SIDE`` px (the input size is set per photo), detections below
``SCORE_THRESHOLD`` are dropped, boxes that mostly cover one another are merged
(the surer one kept), and the faces are returned largest first in photo pixels.

Measured on 200 real photos (AFLW2000-3D, 450 x 450, a third each at |yaw|
0-30, 30-60 and 60-90 deg): the largest face was the photographed one in
70/70, 65/65 and 64/65 (the Haar cascades used before: 57, 50 and 29; they
found the face in none of the photos YuNet missed, so they are gone), and no
face is reported on the project's no-face cases (noise, blurred noise). The
choices behind the constants, on the same photos: ``yunet_n`` over ``yunet_s``
(the same real-photo rate, 185 against 179 of 192 synthetic val heads found,
about 20 % slower); a 480 px side found 200 of 200 but takes twice the time
of 320 px; a score threshold of 0.7 loses a face at 60-90 deg, 0.5 keeps more
second boxes. Faces down to about 4 % of the photo's height are found.

The model file is checked against the SHA-256 in ``core/detector/manifest.json``
(written by ``tools/vendor_yunet.py``) before OpenCV reads it; ``cv2`` is
imported lazily.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import FaceFromPhotoError

DETECTOR_DIR = Path(__file__).resolve().parent / "detector"
MANIFEST_NAME = "manifest.json"
DETECT_SIDE = 320  # px, longer side of the image the detector searches
SCORE_THRESHOLD = 0.6  # YuNet face score in [0, 1] a detection needs
NMS_THRESHOLD = 0.3  # YuNet's own non-maximum suppression (intersection over union)
MERGE_OVERLAP = 0.5  # boxes overlapping more (intersection / smaller area) are one face
TOP_K = 100  # most candidates YuNet keeps before its NMS

_DETECTORS: dict[Path, object] = {}
_LOCK = threading.Lock()  # setInputSize + detect on a shared detector must not interleave


@dataclass(frozen=True)
class FaceBox:
    """One detected face, in photo pixels.

    Attributes
    ----------
    x, y : float
        Top-left corner (px; x along columns to the right, y along rows down).
    w, h : float
        Width and height (px).
    kind : str
        ``"frontal"`` when the nose tip lies between the eyes and between the
        mouth corners along x, else ``"profile_left"`` (subject looks towards
        image left) or ``"profile_right"``.
    score : float
        Detector confidence in [0, 1].
    landmarks5 : (5, 2) float64 or None
        ``(x, y)`` px of, in YuNet's order, the subject's right eye, left eye,
        nose tip, right mouth corner and left mouth corner (for a face looking
        at the camera the subject's right eye is on the image's left). None for
        a box given without landmarks. Not part of equality.
    """

    x: float
    y: float
    w: float
    h: float
    kind: str = "frontal"
    score: float = 0.0
    landmarks5: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def center(self) -> tuple[float, float]:
        """Box centre ``(x, y)`` in px."""
        return (self.x + self.w / 2.0, self.y + self.h / 2.0)

    @property
    def side(self) -> float:
        """The larger side of the box in px."""
        return max(self.w, self.h)

    @property
    def area(self) -> float:
        """Area in px²."""
        return self.w * self.h


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def load_detector(path: str | Path | None = None):
    """YuNet as a ``cv2.FaceDetectorYN`` after checking the file against ``manifest.json`` beside it.

    Parameters
    ----------
    path : str or Path, optional
        The ONNX file; default the one ``core/detector/manifest.json`` names.

    Returns
    -------
    cv2.FaceDetectorYN
        Cached per path; its input size is set per photo by :func:`find_faces`.

    Raises
    ------
    FaceFromPhotoError
        The model or its manifest is missing, unreadable, or altered.
    """
    import cv2

    folder = Path(path).parent if path is not None else DETECTOR_DIR
    manifest_path = folder / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text())
        model = Path(path) if path is not None else folder / manifest["file"]
        expected = manifest["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FaceFromPhotoError(
            f"The face detector's manifest {manifest_path} is missing or unreadable; reinstall the extension."
        ) from exc
    if model in _DETECTORS:
        return _DETECTORS[model]
    if not model.is_file():
        raise FaceFromPhotoError(f"The face detector model {model} is missing; reinstall the extension.")
    if file_sha256(model) != expected:
        raise FaceFromPhotoError(
            f"The face detector model {model} does not match its manifest (damaged or altered file); "
            "reinstall the extension."
        )
    try:
        detector = cv2.FaceDetectorYN.create(
            str(model), "", (DETECT_SIDE, DETECT_SIDE), SCORE_THRESHOLD, NMS_THRESHOLD, TOP_K
        )
    except cv2.error as exc:
        raise FaceFromPhotoError(
            f"The face detector model {model} cannot be read by OpenCV; reinstall the extension."
        ) from exc
    _DETECTORS[model] = detector
    return detector


def _kind(landmarks5: np.ndarray) -> str:
    """``"frontal"``, ``"profile_left"`` or ``"profile_right"`` from where the nose tip lies along x."""
    xs = landmarks5[:, 0]
    nose = xs[2]
    if min(xs[0], xs[1]) <= nose <= max(xs[0], xs[1]) and min(xs[3], xs[4]) <= nose <= max(xs[3], xs[4]):
        return "frontal"
    return "profile_left" if nose < min(xs[0], xs[1]) else "profile_right"


def _overlap(a: FaceBox, b: FaceBox) -> float:
    """Intersection area over the smaller box's area."""
    iw = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    ih = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / min(a.area, b.area)


def find_faces(image: np.ndarray, *, model: str | Path | None = None) -> list[FaceBox]:
    """Find faces in an RGB photo, largest first.

    Parameters
    ----------
    image : (H, W, 3) uint8
        RGB photo (as returned by :func:`core.image_io.load_photo`).
    model : str or Path, optional
        YuNet ONNX file (with its ``manifest.json`` beside it); default the shipped one.

    Returns
    -------
    list of FaceBox
        In photo pixels, with ``landmarks5`` and ``score``, sorted by area,
        largest first; empty when no face is found.
    """
    import cv2

    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    detector = load_detector(model)
    h, w = image.shape[:2]
    f = DETECT_SIDE / max(h, w)  # detector px per photo px
    size = (max(1, round(w * f)), max(1, round(h * f)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA if f < 1.0 else cv2.INTER_LINEAR)
    bgr = np.ascontiguousarray(small[..., ::-1])
    with _LOCK:
        detector.setInputSize(size)
        _, rows = detector.detect(bgr)
    if rows is None:
        return []
    # rows: (n, 15) float32 -- x, y, w, h, five (x, y) landmarks, score; detector px.
    sx, sy = w / size[0], h / size[1]
    found = []
    for row in np.asarray(rows, dtype=np.float64):
        marks = row[4:14].reshape(5, 2) * (sx, sy)
        found.append(FaceBox(row[0] * sx, row[1] * sy, row[2] * sx, row[3] * sy,
                             kind=_kind(marks), score=float(row[14]), landmarks5=marks))
    kept: list[FaceBox] = []
    for box in sorted(found, key=lambda b: -b.score):
        if all(_overlap(box, k) < MERGE_OVERLAP for k in kept):
            kept.append(box)
    return sorted(kept, key=lambda b: -b.area)


def select_face(image: np.ndarray, face_index: int = 0) -> FaceBox:
    """The ``face_index``-th largest face, or a clear error.

    Parameters
    ----------
    image : (H, W, 3) uint8
        RGB photo.
    face_index : int
        0 for the largest face, 1 for the next, ...

    Returns
    -------
    FaceBox

    Raises
    ------
    FaceFromPhotoError
        No face found, or fewer faces than ``face_index + 1``.
    """
    faces = find_faces(image)
    if not faces:
        raise FaceFromPhotoError(
            "No face was found in the photo; use a photo where the face is clearly visible and not tiny "
            "(about a twentieth of the picture's height or more), or give a crop box around the head."
        )
    if not 0 <= face_index < len(faces):
        count = f"{len(faces)} face" + ("s" if len(faces) != 1 else "")
        raise FaceFromPhotoError(
            f"Face number {face_index + 1} was asked for but only {count} found; "
            f"choose a face index from 0 to {len(faces) - 1}."
        )
    return faces[face_index]
