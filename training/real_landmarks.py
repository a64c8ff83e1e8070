# SPDX-License-Identifier: GPL-3.0-or-later
"""Real photos with 68 ground-truth 3D landmarks (AFLW2000-3D layout) and the scores measured on them.

A folder holds ``NAME.jpg`` + ``NAME.mat`` pairs; the ``.mat`` has ``pt3d_68`` (3 x 68) and ``Pose_Para``
(1 x 7: pitch, yaw, roll in radians, translation, scale). An ``index.csv`` with ``name`` and ``yaw_deg``
columns is used when present; otherwise the yaw comes from ``Pose_Para``.

Frames: landmark positions are kept in the project's continuous photo coordinates (core.crop: pixel
``(i, j)`` has its centre at ``(x, y) = (j + 0.5, i + 0.5)``, x right, y down), so MATLAB's 1-based pixel
centres move by ``-0.5``; ``z`` is in the same pixel scale with an arbitrary offset, larger = nearer::

      x ──►        z: toward the camera (out of the photo)
    y ┌────────┐   pt3d_68[0] - 0.5, pt3d_68[1] - 0.5, pt3d_68[2]
    ▼ │  face  │
      └────────┘

Scores (in % of the 3D outer-eye distance ``e = |P36 - P45|``, or of the landmark box for the NME):

- depth error at landmarks: over the scored landmarks ``k`` (:func:`scored_landmarks`),
  ``r_k = d_k - z_k``, ``r_k <- r_k - median(r)``, ``100 sqrt(mean r_k^2) / e``;
- the flat plane: the same with ``d_k`` constant;
- depth slope: least squares ``z_k ~ a d_k + b``, ``a = cov(d, z) / var(d)`` (``a > 1``: our depth too flat);
- 2D NME: ``100 mean_k |x̂_k - x_k| / sqrt(w h)``, ``w, h`` the ground-truth landmarks' 2D box.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BANDS: tuple[tuple[str, float, float], ...] = (
    ("0-30", 0.0, 30.0), ("30-60", 30.0, 60.0), ("60-90", 60.0, 90.0),
)
"""|yaw| bands in degrees: ``lo <= |yaw| < hi`` (the last band includes 90)."""

INNER = np.arange(17, 68)
"""The inner landmarks (brows, nose, eyes, mouth); the jaw outline 0..16 is never scored."""

EYE_OUTER = (36, 45)
"""Outer eye corners; their 3D distance is the unit of the depth errors."""

OCCLUSION_TOLERANCE = 0.05
"""A landmark counts as occluded when the ground-truth landmark surface in front of it is nearer by more
than this many outer-eye distances."""


@dataclass(frozen=True)
class LandmarkPhoto:
    """One photo of the folder and its ground truth.

    Attributes
    ----------
    name : str
        File stem, e.g. ``"image00006"``.
    image_path : Path
        The ``.jpg``.
    landmarks : (68, 3) float64
        Ground-truth ``(x, y, z)``: continuous photo px (see the module notes), z larger = nearer.
    yaw_deg : float
        Yaw folded into [-90, 90] degrees.
    """

    name: str
    image_path: Path
    landmarks: np.ndarray
    yaw_deg: float

    @property
    def band(self) -> str:
        """The |yaw| band this photo belongs to (:data:`BANDS`)."""
        return yaw_band(self.yaw_deg)


def fold_yaw(yaw_rad: float) -> float:
    """Yaw in radians (possibly wrapped) -> degrees in [-90, 90].

    Wraps into (-180, 180], then mirrors ``y -> ±180 - y`` past ±90 (a head turned by 120 degrees
    shows the same profile as one turned by 60), as index.csv does.
    """
    y = (math.degrees(yaw_rad) + 180.0) % 360.0 - 180.0
    if y > 90.0:
        return 180.0 - y
    if y < -90.0:
        return -180.0 - y
    return y


def yaw_band(yaw_deg: float) -> str:
    """Name of the :data:`BANDS` band holding ``|yaw_deg|``."""
    a = abs(float(yaw_deg))
    for name, lo, hi in BANDS:
        if lo <= a < hi or (hi == BANDS[-1][2] and a == hi):
            return name
    raise ValueError(f"|yaw| = {a} degrees lies outside 0..90")


def load_folder(folder: str | Path, limit: int | None = None) -> list[LandmarkPhoto]:
    """Every ``NAME.jpg`` with a ``NAME.mat`` in ``folder``, sorted by name.

    Parameters
    ----------
    folder : str or Path
        AFLW2000-3D layout (see the module notes).
    limit : int or None
        Keep the first ``limit`` photos of each band (sorted by name), so a short run still spans the
        poses; None keeps all.

    Raises
    ------
    FileNotFoundError
        When the folder does not exist or holds no jpg + mat pair.
    """
    from scipy.io import loadmat

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"the photo folder {folder} does not exist")
    yaws: dict[str, float] = {}
    index = folder / "index.csv"
    if index.is_file():
        with index.open(newline="") as f:
            yaws = {row["name"]: float(row["yaw_deg"]) for row in csv.DictReader(f) if row.get("yaw_deg")}
    photos = []
    for jpg in sorted(folder.glob("*.jpg")):
        mat_path = jpg.with_suffix(".mat")
        if not mat_path.is_file():
            continue
        mat = loadmat(str(mat_path))
        pts = np.asarray(mat["pt3d_68"], dtype=np.float64)
        if pts.shape != (3, 68):
            raise ValueError(f"{mat_path}: pt3d_68 must be 3 x 68, got {pts.shape}")
        landmarks = pts.T.copy()
        landmarks[:, :2] -= 0.5  # MATLAB 1-based pixel centres -> continuous coordinates
        yaw = yaws.get(jpg.stem)
        if yaw is None:
            yaw = fold_yaw(float(np.ravel(mat["Pose_Para"])[1]))
        photos.append(LandmarkPhoto(jpg.stem, jpg, landmarks, float(yaw)))
    if not photos:
        raise FileNotFoundError(f"the folder {folder} holds no .jpg with a .mat beside it")
    if limit is not None:
        kept: list[LandmarkPhoto] = []
        for name, _, _ in BANDS:
            kept += [p for p in photos if p.band == name][:limit]
        photos = sorted(kept, key=lambda p: p.name)
    return photos


def eye_distance(landmarks: np.ndarray) -> float:
    """3D distance between the outer eye corners (landmarks 36 and 45), px."""
    return float(np.linalg.norm(landmarks[EYE_OUTER[0]] - landmarks[EYE_OUTER[1]]))


def _face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit axes of the face: across the eyes, up (chin to nose bridge), and out (toward the nose tip)."""
    across = landmarks[45] - landmarks[36]
    across /= np.linalg.norm(across)
    up = landmarks[27] - landmarks[8]
    up -= across * (up @ across)
    up /= np.linalg.norm(up)
    out = np.cross(across, up)
    if out @ (landmarks[30] - landmarks.mean(axis=0)) < 0:
        out = -out
    return across, up, out


def _triangulate(landmarks: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Delaunay triangles (m, 3) of the landmarks ``index`` seen from the front of the face."""
    from scipy.spatial import Delaunay

    across, up, _ = _face_frame(landmarks)
    q = landmarks[index] - landmarks[index].mean(axis=0)
    return index[Delaunay(np.stack([q @ across, q @ up], axis=1)).simplices]


def scored_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Inner landmarks the face does not hide itself, judged from the ground truth alone.

    The rule: the 68 landmarks are triangulated as a surface (Delaunay in the face's own frontal plane,
    axes from the eye corners and the chin-to-nose-bridge line, so the same triangles at every pose).
    An inner landmark is hidden when

    1. *occluded*: a triangle not touching it covers its ``(x, y)`` in the photo and is nearer there by
       more than ``OCCLUSION_TOLERANCE`` outer-eye distances (e.g. the far eye behind the nose), or
    2. *back-facing*: its normal on the surface of the inner landmarks alone (area-weighted mean of the
       triangles around it, oriented out of the face) points away from the camera (``n_z < 0``).

    Parameters
    ----------
    landmarks : (68, 3) float
        Ground truth, x right, y down, z larger = nearer, px.

    Returns
    -------
    (68,) bool
        True for the scored landmarks (inner and visible); the jaw 0..16 is always False.
    """
    p = np.asarray(landmarks, dtype=np.float64)
    tol = OCCLUSION_TOLERANCE * eye_distance(p)
    tri = _triangulate(p, np.arange(68))
    a, b, c = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]  # (m, 3) corners
    e0, e1 = b[:, :2] - a[:, :2], c[:, :2] - a[:, :2]
    den = e0[:, 0] * e1[:, 1] - e0[:, 1] * e1[:, 0]  # (m,) twice the signed 2D area
    ok = np.abs(den) > 1e-9
    occluded = np.zeros(68, dtype=bool)
    for k in INNER:
        rel = p[k, :2] - a[:, :2]
        with np.errstate(divide="ignore", invalid="ignore"):
            l1 = (rel[:, 0] * e1[:, 1] - rel[:, 1] * e1[:, 0]) / den
            l2 = (e0[:, 0] * rel[:, 1] - e0[:, 1] * rel[:, 0]) / den
        l0 = 1.0 - l1 - l2
        covers = ok & (l0 >= 0) & (l1 >= 0) & (l2 >= 0) & ~(tri == k).any(axis=1)
        z = l0 * a[:, 2] + l1 * b[:, 2] + l2 * c[:, 2]
        occluded[k] = bool(np.any(covers & (z > p[k, 2] + tol)))

    _, _, out = _face_frame(p)
    tri_in = _triangulate(p, INNER)
    a, b, c = p[tri_in[:, 0]], p[tri_in[:, 1]], p[tri_in[:, 2]]
    face_n = np.cross(b - a, c - a)  # (m, 3), length = twice the area
    face_n *= np.sign(face_n @ out)[:, None]
    vertex_n = np.zeros((68, 3))
    for corner in range(3):
        np.add.at(vertex_n, tri_in[:, corner], face_n)
    back = vertex_n[:, 2] < 0

    scored = np.zeros(68, dtype=bool)
    scored[INNER] = True
    return scored & ~occluded & ~back


def depth_error(pred_z: np.ndarray, gt_z: np.ndarray, eye: float) -> float:
    """RMS depth error after removing the median offset, in % of ``eye``.

    ``r = pred_z - gt_z``, ``r <- r - median(r)``, ``100 sqrt(mean(r^2)) / eye``.

    Parameters
    ----------
    pred_z, gt_z : (n,) float
        Depths at the scored landmarks, px, larger = nearer.
    eye : float
        Outer-eye distance, px.
    """
    r = np.asarray(pred_z, dtype=np.float64) - np.asarray(gt_z, dtype=np.float64)
    r -= np.median(r)
    return float(100.0 * np.sqrt(np.mean(r**2)) / eye)


def flat_error(gt_z: np.ndarray, eye: float) -> float:
    """:func:`depth_error` of a constant depth (the flat-plane baseline), % of ``eye``."""
    return depth_error(np.zeros_like(np.asarray(gt_z, dtype=np.float64)), gt_z, eye)


def depth_slope(pred_z: np.ndarray, gt_z: np.ndarray) -> float:
    """Least-squares slope ``a`` of ``gt_z ~ a pred_z + b``: ``cov(d, z) / var(d)``; NaN when d is constant.

    ``a > 1`` means the prediction is flatter than the ground truth (it must be stretched by ``a``).
    """
    d = np.asarray(pred_z, dtype=np.float64)
    z = np.asarray(gt_z, dtype=np.float64)
    var = float(np.mean((d - d.mean()) ** 2))
    if var <= 1e-12:
        return float("nan")
    return float(np.mean((d - d.mean()) * (z - z.mean())) / var)


#: The 68-point markup's parts (0-based index ranges), for :func:`nme_by_part`.
LANDMARK_PARTS = {"jaw": (0, 17), "brows": (17, 27), "nose": (27, 36), "eyes": (36, 48), "mouth": (48, 68)}


def nme_by_part(pred_xy: np.ndarray, gt_xy: np.ndarray) -> dict[str, float]:
    """:func:`nme_2d` restricted to each part of :data:`LANDMARK_PARTS`, same normaliser, in %.

    ``100 mean_{k in part} |pred_k - gt_k| / sqrt(w h)``; the overall NME is the mean of the parts
    weighted by their sizes (17, 10, 9, 12, 20 points).
    """
    err = _normalised_errors(pred_xy, gt_xy)
    return {name: float(100.0 * err[a:b].mean()) for name, (a, b) in LANDMARK_PARTS.items()}


def _normalised_errors(pred_xy: np.ndarray, gt_xy: np.ndarray) -> np.ndarray:
    """(68,) ``|pred_k - gt_k| / sqrt(w h)``, ``w, h`` the ground-truth landmarks' 2D box."""
    pred = np.asarray(pred_xy, dtype=np.float64)[:, :2]
    gt = np.asarray(gt_xy, dtype=np.float64)[:, :2]
    if pred.shape != (68, 2) or gt.shape != (68, 2):
        raise ValueError(f"landmarks must be (68, 2), got {pred.shape} and {gt.shape}")
    w, h = gt.max(axis=0) - gt.min(axis=0)
    return np.linalg.norm(pred - gt, axis=1) / math.sqrt(w * h)


def nme_2d(pred_xy: np.ndarray, gt_xy: np.ndarray) -> float:
    """AFLW2000-3D 2D NME over the 68 landmarks, in %.

    ``100 mean_k |pred_k - gt_k| / sqrt(w h)`` with ``w, h`` the size of the ground-truth landmarks'
    2D bounding box.

    Parameters
    ----------
    pred_xy, gt_xy : (68, 2) float
        Photo px in the same frame.
    """
    return float(100.0 * _normalised_errors(pred_xy, gt_xy).mean())
