# SPDX-License-Identifier: GPL-3.0-or-later
"""Square head crops from a photo, and the map from crop pixels back to the photo.

Coordinates are continuous pixel coordinates: pixel ``(i, j)`` covers
``[j, j + 1) x [i, i + 1)`` and its centre is ``(j + 0.5, i + 0.5)``; ``x``
runs along columns (right) and ``y`` along rows (down)::

      photo (W x H px)                      crop (S x S px)
      x ──►                                  u ──►
    y ┌──────────────────────┐            v ┌────────┐
    │ │   (x0, y0)           │            │ │        │   x = x0 + scale * u
    ▼ │     ┌────────┐       │     ◄──    ▼ │        │   y = y0 + scale * v
      │     │  head  │ side  │              └────────┘
      │     └────────┘       │              scale = side / S  (photo px per crop px)
      └──────────────────────┘

Parts of the square outside the photo are filled by replicating the border
(default) or with a constant grey, so a face cut by the photo's edge still
gives a full crop.

Framing (docs/conventions.md): the network sees the whole head, the crop side
about 1.3 x the head's extent, centred on the head. Training (training/synth)
frames each head by the bounding square of its projected skull; a photo has
only the detector's five landmarks (eyes, nose tip, mouth corners), so
:func:`crop_box_from_face` predicts that square from them in the face's own
frame (eyes-to-mouth axis and its perpendicular)::

    e, m   = eye midpoint, mouth-corner midpoint        L = |m - e|  (px)
    o      = (e + m) / 2                                 u_y = (m - e) / L,  u_x = u_y turned -90 deg
    nose   = ((n - o) . u_x, (n - o) . u_y) / L          (a turned head moves the nose off o)
    centre = o + L * (A1 * nose_x * u_x + (B0 + B1 * nose_y) * u_y)
    side   = K * sqrt(L * b)                             b = the detector box's side (px)

A head turned to one side has its centre behind the face, away from where the
nose points (A1 < 0); ``nose_x`` is clipped to +-NOSE_X_MAX, the range it was
fitted on. The constants were fitted by least squares on 185 synthetic val heads
(training/synth, 256 px, |yaw| up to 63 deg, the training crop known without
its jitter) that YuNet found: the predicted centre is off by 3.0 % (x) and
4.1 % (y) of the crop side (rms), the side by 9.0 % (rms of its log); the
box alone (``side = 1.70 b``) is off by 8.0 % and 4.5 % for the centre and
8.5 % for the side. Training jitters the crop by +-8 % (centre) and +-15 %
(side), so both errors lie inside what the network has seen. On the 199 real
dev photos (AFLW2000-3D) YuNet finds, the landmark framing gives a depth error
at the landmarks of 8.5 / 11.8 / 10.1 % at |yaw| 0-30 / 30-60 / 60-90 deg
against 8.6 / 12.1 / 11.0 % for the box-only framing: the centre is what
counts (the landmark centre with the box-only side gives 8.6 / 11.7 / 10.0 %;
the side uses both measures of the face's size, L alone being off by 10.1 %
on the synthetic heads). Without landmarks (a
:class:`~core.face_detect.FaceBox` built by hand) the box alone gives
``side = BOX_CROP_SCALE * b`` centred ``BOX_SHIFT_Y * b`` below the box centre.

Roll: the pipeline turns the square by the head's roll read from the landmarks
(:func:`face_roll`), so the face stands upright in the crop (training rolls its
heads by N(0, 9 deg), clipped at 25 deg). On the 199 dev photos this changes
the depth error by -0.20 +- 0.11 (0-30 deg of yaw), -0.29 +- 0.14 (30-60) and
+0.14 +- 0.21 (60-90) points, and by -0.52 +- 0.22 on the 66 photos whose
AFLW2000-3D roll exceeds 20 deg (paired means +- standard error). YuNet's
landmarks lean towards upright, so a large roll is only partly undone (the
sample photo turned by 30 deg reads as 24 deg).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .face_detect import FaceBox

# Landmark framing (see the module notes); offsets in units of the eye-to-mouth distance L.
A1 = -2.75  # crop centre along u_x per unit of the nose's sideways offset nose_x
B0, B1 = -0.319, -2.62  # crop centre along u_y (towards the mouth): offset, and per unit of nose_y
K = 2.86  # crop side / sqrt(L * detector box side)
NOSE_X_MAX = 0.5  # |nose_x| beyond this is clipped (the synthetic heads reach 0.48)
BOX_CROP_SCALE = 1.70  # square crop side / detector box side, for a box without landmarks
BOX_SHIFT_Y = -0.11  # crop centre minus box centre, in box sides along rows (negative = up)


@dataclass(frozen=True)
class CropTransform:
    """Affine map between crop pixels and photo pixels (continuous coordinates).

    Attributes
    ----------
    x0, y0 : float
        Photo coordinates (px) of the crop's top-left corner.
    scale : float
        Photo px per crop px (``side / size``).
    size : int
        Crop side S in px.
    photo_size : tuple[int, int]
        ``(width, height)`` of the photo the crop was taken from, px.
    angle : float
        Turn of the square about its centre, radians (0: upright; positive turns
        the crop's axes clockwise on screen, as x runs right and y down). ``x0,
        y0`` stay the corner of the upright square, ``centre - side / 2``.

    With centre ``c = (x0, y0) + side / 2`` and ``R`` the turn by ``angle``::

        photo = c + scale * R @ (crop - S / 2),   R = [[cos a, -sin a], [sin a, cos a]]
    """

    x0: float
    y0: float
    scale: float
    size: int
    photo_size: tuple[int, int]
    angle: float = 0.0

    @property
    def side(self) -> float:
        """Side of the cropped square in photo px."""
        return self.scale * self.size

    @property
    def center(self) -> tuple[float, float]:
        """Centre of the square ``(x, y)`` in photo px."""
        half = self.side / 2.0
        return (self.x0 + half, self.y0 + half)

    def to_photo(self, uv: np.ndarray) -> np.ndarray:
        """Crop coordinates ``(n, 2)`` (u along columns, v along rows, px) -> photo ``(n, 2)`` (x, y, px)."""
        uv = np.asarray(uv, dtype=np.float64)
        if self.angle == 0.0:
            return np.stack([self.x0 + self.scale * uv[..., 0], self.y0 + self.scale * uv[..., 1]], axis=-1)
        c, s = math.cos(self.angle), math.sin(self.angle)
        du, dv = uv[..., 0] - self.size / 2.0, uv[..., 1] - self.size / 2.0
        cx, cy = self.center
        return np.stack([cx + self.scale * (c * du - s * dv), cy + self.scale * (s * du + c * dv)], axis=-1)

    def to_crop(self, xy: np.ndarray) -> np.ndarray:
        """Photo coordinates ``(n, 2)`` (x, y, px) -> crop ``(n, 2)`` (u, v, px)."""
        xy = np.asarray(xy, dtype=np.float64)
        if self.angle == 0.0:
            return np.stack([(xy[..., 0] - self.x0) / self.scale, (xy[..., 1] - self.y0) / self.scale],
                            axis=-1)
        c, s = math.cos(self.angle), math.sin(self.angle)
        cx, cy = self.center
        dx, dy = xy[..., 0] - cx, xy[..., 1] - cy
        half = self.size / 2.0
        return np.stack([half + (c * dx + s * dy) / self.scale, half + (-s * dx + c * dy) / self.scale],
                        axis=-1)

    def photo_uv(self, ij: np.ndarray) -> np.ndarray:
        """Texture coordinates into the whole photo for crop pixel centres.

        Parameters
        ----------
        ij : (n, 2) int or float
            Crop pixel indices ``(i, j)`` (row, column).

        Returns
        -------
        (n, 2) float32
            ``(u, v)`` with ``u = x / W`` and ``v = 1 - y / H`` (Blender's UV
            convention, origin bottom-left); values outside [0, 1] lie in the
            padded border.
        """
        ij = np.asarray(ij, dtype=np.float64)
        xy = self.to_photo(np.stack([ij[..., 1] + 0.5, ij[..., 0] + 0.5], axis=-1))
        w, h = self.photo_size
        return np.stack([xy[..., 0] / w, 1.0 - xy[..., 1] / h], axis=-1).astype(np.float32)

    def resized(self, size: int) -> CropTransform:
        """The same square sampled at ``size`` px."""
        return CropTransform(self.x0, self.y0, self.side / size, size, self.photo_size, self.angle)


def crop_box_from_face(face: FaceBox) -> tuple[tuple[float, float], float]:
    """The training framing's crop square for a detected face.

    Parameters
    ----------
    face : core.face_detect.FaceBox
        Detected face in photo px; its ``landmarks5`` (5, 2) when present, else its box.

    Returns
    -------
    center : (float, float)
        Crop centre ``(x, y)`` in photo px.
    side : float
        Crop side in photo px (about 1.3 x the head's extent).
    """
    marks = face.landmarks5
    if marks is None:
        cx, cy = face.center
        return (cx, cy + BOX_SHIFT_Y * face.side), BOX_CROP_SCALE * face.side
    marks = np.asarray(marks, dtype=np.float64)
    e = (marks[0] + marks[1]) / 2.0
    m = (marks[3] + marks[4]) / 2.0
    o = (e + m) / 2.0
    length = float(np.hypot(*(m - e)))
    if not length > 0.0:  # degenerate landmarks: fall back to the box
        return crop_box_from_face(FaceBox(face.x, face.y, face.w, face.h, face.kind, face.score))
    u_y = (m - e) / length
    u_x = np.array([u_y[1], -u_y[0]])
    nose_x = float(np.clip((marks[2] - o) @ u_x / length, -NOSE_X_MAX, NOSE_X_MAX))
    nose_y = float((marks[2] - o) @ u_y) / length
    centre = o + length * (A1 * nose_x * u_x + (B0 + B1 * nose_y) * u_y)
    return (float(centre[0]), float(centre[1])), K * math.sqrt(length * face.side)


def face_roll(face: FaceBox) -> float:
    """The head's roll in the photo from its landmarks, radians (0 without landmarks).

    The face's downward axis ``v`` is the sum of the eye line turned by +90 deg
    and the eyes-to-mouth vector (each in px, so a foreshortened eye line of a
    turned head counts less); the roll is the angle from the photo's downward
    axis to ``v``, ``atan2(-v_x, v_y)``: the ``angle`` of :func:`crop_square`
    that makes the face upright in the crop (negative for a head tilted
    counter-clockwise on screen).
    """
    marks = face.landmarks5
    if marks is None:
        return 0.0
    marks = np.asarray(marks, dtype=np.float64)
    eye_line = marks[1] - marks[0]
    v = np.array([-eye_line[1], eye_line[0]]) + (marks[3] + marks[4] - marks[0] - marks[1]) / 2.0
    if not np.hypot(*v) > 0.0:
        return 0.0
    return float(math.atan2(-v[0], v[1]))


def crop_square(
    image: np.ndarray,
    center_xy: tuple[float, float],
    side: float,
    out_size: int,
    *,
    border: str = "replicate",
    angle: float = 0.0,
) -> tuple[np.ndarray, CropTransform]:
    """Cut a square around ``center_xy``, turned by ``angle``, and resample it to ``out_size`` px.

    Parameters
    ----------
    image : (H, W, C) uint8
        Photo (C = 3 for RGB; any channel count cv2 can warp).
    center_xy : (float, float)
        Square centre ``(x, y)`` in photo px (continuous coordinates).
    side : float
        Square side in photo px, > 0.
    out_size : int
        Side S of the result in px.
    border : {"replicate", "constant"}
        How to fill the parts of the square outside the photo: repeat the
        edge pixels, or neutral grey (128).
    angle : float
        Turn of the square in radians (see :class:`CropTransform`); 0 cuts it upright.

    Returns
    -------
    crop : (S, S, C) uint8
    transform : CropTransform
        Maps crop coordinates to photo coordinates.
    """
    import cv2

    if not (math.isfinite(side) and side > 0) or out_size < 1:
        raise ValueError(f"crop side must be > 0 and out_size >= 1, got side={side}, out_size={out_size}")
    if border not in ("replicate", "constant"):
        raise ValueError(f"border must be 'replicate' or 'constant', got {border!r}")
    h, w = image.shape[:2]
    scale = side / out_size
    x0 = center_xy[0] - side / 2.0
    y0 = center_xy[1] - side / 2.0
    transform = CropTransform(float(x0), float(y0), float(scale), int(out_size), (int(w), int(h)),
                              float(angle))
    cos_a, sin_a = math.cos(angle), math.sin(angle)

    # The part of the photo the (turned) square needs: its bounding box, clipped, one px of margin.
    reach = side / 2.0 * (abs(cos_a) + abs(sin_a))
    ax0 = int(np.clip(math.floor(center_xy[0] - reach) - 1, 0, w - 1))
    ay0 = int(np.clip(math.floor(center_xy[1] - reach) - 1, 0, h - 1))
    ax1 = int(np.clip(math.ceil(center_xy[0] + reach) + 1, ax0 + 1, w))
    ay1 = int(np.clip(math.ceil(center_xy[1] + reach) + 1, ay0 + 1, h))
    region = image[ay0:ay1, ax0:ax1]
    rh, rw = region.shape[:2]
    # Downsampling: average first (INTER_AREA) to about the crop's density, then warp.
    fx = fy = 1.0
    if scale > 1.5:
        pw, ph = max(1, round(rw / scale)), max(1, round(rh / scale))
        region = cv2.resize(np.ascontiguousarray(region), (pw, ph), interpolation=cv2.INTER_AREA)
        fx, fy = rw / pw, rh / ph
    # Inverse map for cv2 (pixel centres at integers): src = M @ [u, v, 1], from
    # photo = c + scale * R @ ((u, v) + 0.5 - S / 2) and region index = (photo - a) / f - 0.5.
    d = 0.5 - out_size / 2.0
    m = np.array(
        [
            [scale * cos_a / fx, -scale * sin_a / fx,
             (center_xy[0] - ax0 + scale * (cos_a - sin_a) * d) / fx - 0.5],
            [scale * sin_a / fy, scale * cos_a / fy,
             (center_xy[1] - ay0 + scale * (sin_a + cos_a) * d) / fy - 0.5],
        ]
    )
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    crop = cv2.warpAffine(
        np.ascontiguousarray(region), m, (out_size, out_size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=mode, borderValue=(128, 128, 128, 128),
    )
    if crop.ndim == 2 and image.ndim == 3:
        crop = crop[..., None]
    return crop, transform
