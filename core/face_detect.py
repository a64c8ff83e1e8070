# SPDX-License-Identifier: GPL-3.0-or-later
"""Face boxes in a photo with OpenCV's Haar cascades (frontal, then profiles).

The photo is searched at a reduced size (longer side ``DETECT_MAX_SIDE`` px)
for faces at least ``MIN_FACE_FRACTION`` of its shorter side: a face smaller
than that has too few pixels for the network's crop anyway, and the limit
removes most false detections in textured backgrounds. The frontal cascade
runs first; only when it finds nothing are the profile cascade and its mirror
image (the shipped cascade knows one facing direction) tried. Overlapping
boxes are merged, and the result is sorted largest first.

``cv2`` is imported lazily; the cascade files ship with opencv-python 4.x in
``cv2.data.haarcascades``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import FaceFromPhotoError

DETECT_MAX_SIDE = 320  # px, longer side of the image the cascades search
MIN_FACE_FRACTION = 0.08  # smallest face side as a fraction of the photo's shorter side
MIN_NEIGHBOURS = 5  # cascade votes needed for a detection
SCALE_STEP = 1.1  # image pyramid step between detection scales

_CASCADES: dict[str, object] = {}


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
        ``"frontal"``, ``"profile_left"`` (subject looks towards image left)
        or ``"profile_right"``.
    score : float
        Number of cascade detections merged into this box (higher is surer).
    """

    x: float
    y: float
    w: float
    h: float
    kind: str = "frontal"
    score: float = 0.0

    @property
    def center(self) -> tuple[float, float]:
        """Box centre ``(x, y)`` in px."""
        return (self.x + self.w / 2.0, self.y + self.h / 2.0)

    @property
    def side(self) -> float:
        """Side of the box in px (the cascades return squares; the larger side otherwise)."""
        return max(self.w, self.h)

    @property
    def area(self) -> float:
        """Area in px²."""
        return self.w * self.h


def _cascade(name: str):
    import cv2

    if name not in _CASCADES:
        classifier = cv2.CascadeClassifier(cv2.data.haarcascades + f"haarcascade_{name}.xml")
        if classifier.empty():
            raise FaceFromPhotoError(
                f"OpenCV's face detector data 'haarcascade_{name}.xml' is missing; reinstall the add-on."
            )
        _CASCADES[name] = classifier
    return _CASCADES[name]


def _detect(gray: np.ndarray, name: str, min_side: int) -> list[tuple[float, float, float, float, float]]:
    boxes, votes = _cascade(name).detectMultiScale2(
        gray, scaleFactor=SCALE_STEP, minNeighbors=MIN_NEIGHBOURS, minSize=(min_side, min_side)
    )
    return [
        (float(x), float(y), float(w), float(h), float(v))
        for (x, y, w, h), v in zip(boxes, votes, strict=False)
    ]


def _overlap(a: FaceBox, b: FaceBox) -> float:
    """Intersection area over the smaller box's area."""
    iw = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    ih = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / min(a.area, b.area)


def find_faces(image: np.ndarray) -> list[FaceBox]:
    """Find faces in an RGB photo, largest first.

    Parameters
    ----------
    image : (H, W, 3) uint8
        RGB photo (as returned by :func:`core.image_io.load_photo`).

    Returns
    -------
    list of FaceBox
        In photo pixels, sorted by area, largest first; empty when no face is found.
    """
    import cv2

    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    h, w = image.shape[:2]
    f = min(1.0, DETECT_MAX_SIDE / max(h, w))
    small = image if f == 1.0 else cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))),
                                              interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
    min_side = max(20, round(MIN_FACE_FRACTION * min(gray.shape)))
    found = [FaceBox(*b[:4], kind="frontal", score=b[4]) for b in _detect(gray, "frontalface_alt2", min_side)]
    if not found:
        profiles = _detect(gray, "profileface", min_side)
        found = [FaceBox(*b[:4], kind="profile_left", score=b[4]) for b in profiles]
        mirrored = np.ascontiguousarray(gray[:, ::-1])
        gw = gray.shape[1]
        for x, y, bw, bh, v in _detect(mirrored, "profileface", min_side):
            found.append(FaceBox(gw - x - bw, y, bw, bh, kind="profile_right", score=v))
    # Merge overlapping boxes, keeping the one with more votes.
    kept: list[FaceBox] = []
    for box in sorted(found, key=lambda b: -b.score):
        if all(_overlap(box, k) < 0.5 for k in kept):
            kept.append(box)
    faces = [FaceBox(b.x / f, b.y / f, b.w / f, b.h / f, b.kind, b.score) for b in kept]
    return sorted(faces, key=lambda b: -b.area)


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
            "(about a tenth of the picture's height or more), or give a crop box around the head."
        )
    if not 0 <= face_index < len(faces):
        count = f"{len(faces)} face" + ("s" if len(faces) != 1 else "")
        raise FaceFromPhotoError(
            f"Face number {face_index + 1} was asked for but only {count} found; "
            f"choose a face index from 0 to {len(faces) - 1}."
        )
    return faces[face_index]
