# SPDX-License-Identifier: GPL-3.0-or-later
"""Fit the template head (core.template_model) to the network's maps of one crop.

Camera: scaled orthographic (weak perspective) in the crop's pixel frame, the frame
the network's maps live in::

    Blender object frame          camera frame C = P R X          crop pixels
    X subject's left              x right    = X                  u (column) = s C_x + t_u
    Y away from the viewer        y up       = Z                  v (row)    = -s C_y + t_v
    Z up                          z toward the viewer = -Y        h (depth)  = s C_z + t_h

``R`` rotates the head about its origin (in Blender's frame), ``s`` is crop px per metre,
``t_u, t_v`` px and ``t_h`` px (the relief depth has an arbitrary offset). Pixel
coordinates are pixel-centre indices (column j, row i), as in the maps.

Data: each confident head pixel of the correspondence map ``corr`` names a point of the
synthetic generator's anny mean head; :func:`correspondences_from_maps` turns it into the
nearest template skin vertex (``TemplateHead.fit_anny01``), giving pixel <-> vertex
pairs, optionally with the relief depth at the pixel. Five detector landmarks
(``FaceBox.landmarks5``: eyes, nose tip, mouth corners) may be added.

Solver: Levenberg-Marquardt on all unknowns at once (rotation increment, ``s``,
``t_u, t_v, t_h``, identity ``a``, expression ``e``), iteratively reweighted for the
robust loss, with ``e`` projected onto [0, 1] after every step (bounded variables whose
step leaves the box are frozen for that step). Every step is a dense (7 + K + E)^2
linear solve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .template_model import TemplateHead

# Blender object frame -> camera frame (x right, y up, z toward the viewer).
TO_CAMERA = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
# Template vertices standing for FaceBox.landmarks5: pupils (front of the eyeballs), nose tip,
# mouth corners; subject's right first (it is on the image's left in a photo).
LANDMARK5_VERTICES = {"right_eye": 23028, "left_eye": 21458}
LANDMARK5_FROM_68 = {"nose_tip": 30, "right_mouth": 48, "left_mouth": 54}


@dataclass
class Correspondences:
    """Pixel <-> template vertex pairs of one crop.

    Attributes
    ----------
    pixels : (P, 2) float64
        ``(u, v)`` = (column, row) pixel-centre coordinates in the crop, px.
    vertices : (P,) int64
        Template vertex of each pixel.
    weights : (P,) float64
        Confidence in [0, 1] (1 - gap / max_gap).
    depth : (P,) float64 or None
        Relief depth at the pixel (px, toward the viewer, arbitrary offset).
    """

    pixels: np.ndarray
    vertices: np.ndarray
    weights: np.ndarray
    depth: np.ndarray | None = None


def correspondences_from_maps(
    corr: np.ndarray,
    mask: np.ndarray,
    template: TemplateHead,
    *,
    depth: np.ndarray | None = None,
    max_gap_m: float = 0.006,
    max_points: int = 1500,
) -> Correspondences:
    """Pixel <-> template vertex pairs from the network's correspondence map.

    Parameters
    ----------
    corr : (S, S, 3) float
        Canonical anny mean-head coordinates in [0, 1] (docs/conventions.md).
    mask : (S, S) bool
        Head pixels.
    template : TemplateHead
    depth : (S, S) float or None
        Relief depth, px (NaN outside the mask is fine).
    max_gap_m : float
        m; a pixel whose predicted point lies farther than this from every template skin
        vertex (after the alignment stored in the asset) is dropped.
    max_points : int
        Keep at most this many pairs (an even subsample of the pixels).

    Returns
    -------
    Correspondences
    """
    corr = np.asarray(corr, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if corr.ndim != 3 or corr.shape[2] != 3 or corr.shape[:2] != mask.shape:
        raise ValueError(f"corr must be (S, S, 3) matching mask {mask.shape}, got {corr.shape}")
    rows, cols = np.nonzero(mask)
    if len(rows) > max_points:
        keep = np.linspace(0, len(rows) - 1, max_points).round().astype(np.int64)
        rows, cols = rows[keep], cols[keep]
    extent = (template.anny_box[1] - template.anny_box[0]).astype(np.float64)  # (3,) m
    tree = _tree(template)
    gap, idx = tree.query(corr[rows, cols] * extent, distance_upper_bound=max_gap_m)
    ok = np.isfinite(gap)
    if depth is not None:
        d = np.asarray(depth, dtype=np.float64)[rows, cols]
        ok &= np.isfinite(d)
    rows, cols, gap, idx = rows[ok], cols[ok], gap[ok], idx[ok]
    return Correspondences(
        pixels=np.stack([cols, rows], axis=1).astype(np.float64),
        vertices=template.fit_vertices[idx].astype(np.int64),
        weights=np.clip(1.0 - gap / max_gap_m, 0.05, 1.0),
        depth=None if depth is None else np.asarray(depth, dtype=np.float64)[rows, cols],
    )


_TREES: dict[str, object] = {}


def prepare_fit(template: TemplateHead) -> None:
    """Build the fit's per-asset tables now (the add-on's warm-up calls it; core.warmup)."""
    _tree(template)


def _tree(template: TemplateHead):  # -> scipy.spatial.cKDTree
    """k-d tree of the template's fit vertices in anny's frame (m), built once per asset."""
    from scipy.spatial import cKDTree

    tree = _TREES.get(template.sha256)
    if tree is None:
        extent = (template.anny_box[1] - template.anny_box[0]).astype(np.float64)
        tree = cKDTree(template.fit_anny01.astype(np.float64) * extent)
        _TREES[template.sha256] = tree
    return tree


def landmark5_vertices(template: TemplateHead) -> np.ndarray:
    """(5,) int64 template vertices of FaceBox.landmarks5's order: right eye, left eye, nose tip,
    right mouth corner, left mouth corner (the subject's right and left)."""
    lm = template.landmark68
    return np.array([
        LANDMARK5_VERTICES["right_eye"], LANDMARK5_VERTICES["left_eye"], lm[LANDMARK5_FROM_68["nose_tip"]],
        lm[LANDMARK5_FROM_68["right_mouth"]], lm[LANDMARK5_FROM_68["left_mouth"]],
    ], dtype=np.int64)


def order_landmarks5(points: np.ndarray) -> np.ndarray:
    """(5, 2) detector points re-ordered so each pair runs subject's right -> left.

    The subject's right eye and mouth corner lie on the image's left in any photo that
    is not mirrored, whatever the detector calls them.
    """
    p = np.asarray(points, dtype=np.float64).reshape(5, 2).copy()
    for a, b in ((0, 1), (3, 4)):
        if p[a, 0] > p[b, 0]:
            p[[a, b]] = p[[b, a]]
    return p


@dataclass
class TemplateFit:
    """The fitted head and camera.

    Attributes
    ----------
    identity : (K,) float64, standard deviations
    expression : (E,) float64 in [0, 1], ``TemplateHead.expression_names`` order
    rotation : (3, 3) float64, Blender object frame, head about its origin
    scale : float, crop px per metre
    translation : (3,) float64, ``(t_u, t_v, t_h)`` px
    vertices : (N, 3) float32, fitted head in the template's frame (unposed), m
    energy : dict of str to float, the terms at the end (px^2 and sd^2)
    iterations : int
    """

    identity: np.ndarray
    expression: np.ndarray
    rotation: np.ndarray
    scale: float
    translation: np.ndarray
    vertices: np.ndarray
    energy: dict[str, float] = field(default_factory=dict)
    iterations: int = 0

    def project(self, points: np.ndarray) -> np.ndarray:
        """Template-frame points (n, 3) m -> crop ``(u, v, h)`` px (column, row, depth toward the viewer)."""
        c = np.asarray(points, dtype=np.float64) @ (TO_CAMERA @ self.rotation).T
        return np.stack([
            self.scale * c[:, 0] + self.translation[0],
            -self.scale * c[:, 1] + self.translation[1],
            self.scale * c[:, 2] + self.translation[2],
        ], axis=1)


def _rodrigues(w: np.ndarray) -> np.ndarray:
    theta = float(np.linalg.norm(w))
    if theta < 1e-12:
        return np.eye(3)
    k = w / theta
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + math.sin(theta) * kx + (1.0 - math.cos(theta)) * kx @ kx


def _initial_pose(
    x0: np.ndarray, pixels: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray]:
    """Rotation, scale and (t_u, t_v) of the weighted affine camera fit, made orthonormal."""
    w = weights[:, None]
    mx, mp = (w * x0).sum(0) / w.sum(), (w * pixels).sum(0) / w.sum()
    a, b = x0 - mx, pixels - mp
    b = b * np.array([1.0, -1.0])  # rows down -> y up
    m, *_ = np.linalg.lstsq(np.sqrt(w) * a, np.sqrt(w) * b, rcond=None)  # (3, 2): b ~ a @ m
    rows = m.T  # (2, 3): camera x and y axes in the object frame, times s
    s = float(np.linalg.norm(rows, axis=1).mean())
    u, _, vt = np.linalg.svd(rows, full_matrices=False)
    r2 = u @ vt  # nearest orthonormal rows
    r3 = np.cross(r2[0], r2[1])
    cam = np.stack([r2[0], r2[1], r3])  # = TO_CAMERA @ R
    rot = TO_CAMERA.T @ cam
    if np.linalg.det(rot) < 0:
        rot = TO_CAMERA.T @ np.stack([r2[0], r2[1], -r3])
    c = mx @ (TO_CAMERA @ rot).T
    t = np.array([mp[0] - s * c[0], mp[1] + s * c[1]])
    return rot, s, t


class ViewTerms:
    """The data terms of one photo: residuals, energy and Gauss-Newton normal equations.

    One photo's unknowns, in this order: its pose ``[omega (3), log s, t_u, t_v, (t_h)]``
    (``t_h`` only when the depth term is used) and the model coefficients ``[a (K), e (E)]``.
    :func:`fit_template` solves them for one photo; core.multiview_fit shares ``a`` between
    photos and sums the same normal equations. See :func:`fit_template` for the terms.
    """

    def __init__(
        self,
        template: TemplateHead,
        data: Correspondences,
        *,
        landmarks5: np.ndarray | None = None,
        sigma_px: float = 2.0,
        depth_weight: float = 0.0,
        landmark_weight: float = 1.0,
    ) -> None:
        verts = np.asarray(data.vertices, dtype=np.int64)
        pix = np.asarray(data.pixels, dtype=np.float64)
        self.wts = np.asarray(data.weights, dtype=np.float64)
        self.use_depth = depth_weight > 0 and data.depth is not None
        self.depth = None if data.depth is None else np.asarray(data.depth, dtype=np.float64)
        self.has_landmarks = landmarks5 is not None
        if landmarks5 is not None:
            verts = np.concatenate([verts, landmark5_vertices(template)])
            pix = np.concatenate([pix, order_landmarks5(landmarks5)])
        self.n_data = len(data.vertices)
        if self.n_data < 10:
            raise ValueError(f"need at least 10 correspondences, got {self.n_data}")
        x0, basis = template.basis_rows(verts)
        self.x0 = x0.astype(np.float64)
        # (3, P, K + E): axis, pair, mode
        self.basis = np.ascontiguousarray(basis.astype(np.float64).transpose(1, 0, 2))
        self.pix = pix
        self.n_verts = len(verts)
        self.sigma_px = sigma_px
        self.depth_weight = depth_weight
        self.n_p = float(self.wts.sum())
        self.lm_w = landmark_weight / 5.0
        self.n_pose = 7 if self.use_depth else 6

    def initial_pose(self) -> tuple[np.ndarray, float, np.ndarray, float]:
        """``(R, s, (t_u, t_v), t_h)`` of the mean head (see :func:`_initial_pose`)."""
        n = self.n_data
        rot, s, t_uv = _initial_pose(self.x0[:n], self.pix[:n], self.wts)
        t_h = 0.0
        if self.use_depth:
            c = self.x0[:n] @ (TO_CAMERA @ rot).T
            t_h = float(np.median(self.depth - s * c[:, 2]))
        return rot, s, t_uv, t_h

    def residuals(self, rot: np.ndarray, s: float, t_uv: np.ndarray, t_h: float, coeffs: np.ndarray):
        """Points ``x``, camera-frame points (both (P, 3)), residuals ``u, v`` (P,), ``h`` (n_data,) px."""
        x = self.x0 + (self.basis @ coeffs).T  # (P, 3)
        cam = x @ (TO_CAMERA @ rot).T
        u = s * cam[:, 0] + t_uv[0]
        v = -s * cam[:, 1] + t_uv[1]
        return x, cam, u - self.pix[:, 0], v - self.pix[:, 1], s * cam[: self.n_data, 2] + t_h

    def energy(self, ru: np.ndarray, rv: np.ndarray, rh: np.ndarray) -> dict[str, float]:
        """The data terms, px^2 (reprojection, then depth and landmarks when used)."""
        n, sig2 = self.n_data, self.sigma_px**2
        r2 = ru[:n] ** 2 + rv[:n] ** 2
        terms = {"reprojection": float((self.wts * sig2 * r2 / (r2 + sig2)).sum() / self.n_p)}
        if self.use_depth:
            rd = (rh - self.depth) ** 2
            terms["depth"] = float(self.depth_weight * (self.wts * sig2 * rd / (rd + sig2)).sum() / self.n_p)
        if self.has_landmarks:
            terms["landmarks"] = float(self.lm_w * (ru[n:] ** 2 + rv[n:] ** 2).sum())
        return terms

    def normal_equations(self, rot: np.ndarray, s: float, x: np.ndarray, cam: np.ndarray,
                         ru: np.ndarray, rv: np.ndarray, rh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """IRLS Gauss-Newton ``H = J^T W J`` and ``g = J^T W r`` over ``[pose, a, e]`` (no priors).

        Returns
        -------
        h : (n_pose + K + E, n_pose + K + E) float64
        g : (n_pose + K + E,) float64
        """
        n_data, sig2, n_pose = self.n_data, self.sigma_px**2, self.n_pose
        # IRLS weights of the Geman-McClure loss: w = (sigma^2 / (r^2 + sigma^2))^2
        r2 = ru[:n_data] ** 2 + rv[:n_data] ** 2
        w2d = self.wts * (sig2 / (r2 + sig2)) ** 2 / self.n_p
        wu = np.concatenate([w2d, np.full(self.n_verts - n_data, self.lm_w)])
        # Jacobian of the stacked residuals [u; v; (h)] w.r.t. [omega (3), log s, t_u, t_v, (t_h), coeffs]
        pr = TO_CAMERA @ rot  # (3, 3)
        y = x @ rot.T  # rotated points, Blender frame
        # d(cam)/d(omega_k) = TO_CAMERA @ (e_k x y)
        dcam_dw = np.stack([np.cross(np.eye(3)[j], y) @ TO_CAMERA.T for j in range(3)], axis=2)  # (P, 3, 3)
        basis = self.basis
        n_var = n_pose + basis.shape[2]
        rows = [0, 1, 2] if self.use_depth else [0, 1]
        sign = np.array([1.0, -1.0, 1.0])
        n_r = [self.n_verts, self.n_verts, n_data]
        jac = []
        for r in rows:
            n = n_r[r]
            j = np.zeros((n, n_var))
            j[:, 0:3] = sign[r] * s * dcam_dw[:n, r]
            j[:, 3] = sign[r] * s * cam[:n, r]
            j[:, 4 + r] = 1.0  # t_u, t_v, t_h
            j[:, n_pose:] = (sign[r] * s) * (
                pr[r, 0] * basis[0, :n] + pr[r, 1] * basis[1, :n] + pr[r, 2] * basis[2, :n]
            )
            jac.append(j)
        res = [ru, rv]
        wgt = [wu, wu]
        if self.use_depth:
            rd = rh - self.depth
            res.append(rd)
            wgt.append(self.depth_weight * self.wts * (sig2 / (rd**2 + sig2)) ** 2 / self.n_p)
        jm = np.concatenate(jac)
        rm = np.concatenate(res)
        wm = np.concatenate(wgt)
        jw = jm * wm[:, None]
        return jw.T @ jm, jw.T @ rm

    def moved(self, rot: np.ndarray, s: float, t_uv: np.ndarray, t_h: float,
              step: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, float]:
        """The pose after a step ``(n_pose,)`` of the pose unknowns."""
        return (_rodrigues(step[0:3]) @ rot, s * math.exp(step[3]), t_uv + step[4:6],
                t_h + (step[6] if self.use_depth else 0.0))


def solve_views(
    views: list[ViewTerms],
    n_identity: int,
    *,
    identity_prior: float,
    expression_prior: float,
    iterations: int,
    poses: list[tuple[np.ndarray, float, np.ndarray, float]] | None = None,
    identity: np.ndarray | None = None,
    expressions: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, list[np.ndarray], list[tuple], list[dict[str, float]], int]:
    """Levenberg-Marquardt over ``[pose_1 .. pose_n, a, e_1 .. e_n]`` (one identity, per-view
    pose and expression), with ``e`` kept in [0, 1]; see :func:`fit_template` for one view.

    Returns
    -------
    identity : (K,) ; expressions : list of (E,) ; poses : list of ``(R, s, t_uv, t_h)``;
    energies : list of dict, each view's data terms, the priors added to the first;
    iterations : int
    """
    k = n_identity
    n_e = views[0].basis.shape[2] - k
    n_views = len(views)
    offsets = np.cumsum([0] + [v.n_pose for v in views])
    n_all_pose = int(offsets[-1])
    n_var = n_all_pose + k + n_views * n_e
    index = [  # global index of each view's [pose, a, e]
        np.concatenate([np.arange(offsets[i], offsets[i + 1]), n_all_pose + np.arange(k),
                        n_all_pose + k + i * n_e + np.arange(n_e)])
        for i in range(n_views)
    ]
    coeffs = np.zeros(k + n_views * n_e)  # [a, e_1 .. e_n]
    if identity is not None:
        coeffs[:k] = identity
    if expressions is not None:
        for i, e in enumerate(expressions):
            coeffs[k + i * n_e: k + (i + 1) * n_e] = e
    pose_list = list(poses) if poses is not None else [v.initial_pose() for v in views]
    prior = np.concatenate([np.full(k, identity_prior), np.full(n_views * n_e, expression_prior)])

    def view_coeffs(c: np.ndarray, i: int) -> np.ndarray:
        return np.concatenate([c[:k], c[k + i * n_e: k + (i + 1) * n_e]])

    def evaluate(pose_list, c):
        res = [v.residuals(*pose_list[i], view_coeffs(c, i)) for i, v in enumerate(views)]
        terms = [v.energy(r[2], r[3], r[4]) for v, r in zip(views, res, strict=True)]
        terms[0]["identity_prior"] = float(identity_prior * (c[:k] ** 2).sum())
        terms[0]["expression_prior"] = float(expression_prior * (c[k:] ** 2).sum())
        return res, terms, sum(sum(t.values()) for t in terms)

    res, terms, current = evaluate(pose_list, coeffs)
    damping = 1e-3
    done = 0
    for step_index in range(iterations):
        done = step_index + 1
        if n_views == 1:
            (rot, s, *_), (x, cam, ru, rv, rh) = pose_list[0], res[0]
            h, g = views[0].normal_equations(rot, s, x, cam, ru, rv, rh)
        else:
            h, g = np.zeros((n_var, n_var)), np.zeros(n_var)
            for i, v in enumerate(views):
                (rot, s, *_), (x, cam, ru, rv, rh) = pose_list[i], res[i]
                h_i, g_i = v.normal_equations(rot, s, x, cam, ru, rv, rh)
                h[np.ix_(index[i], index[i])] += h_i
                g[index[i]] += g_i
        h[n_all_pose:, n_all_pose:] += np.diag(prior)
        g[n_all_pose:] += prior * coeffs
        # expressions at a bound whose gradient pushes them out stay frozen this step
        e = coeffs[k:]
        ge = g[n_all_pose + k:]
        frozen = np.zeros(n_var, dtype=bool)
        frozen[n_all_pose + k:] = ((e <= 0.0) & (ge > 0)) | ((e >= 1.0) & (ge < 0))
        free = ~frozen
        accepted = False
        for _ in range(6):
            a = h[np.ix_(free, free)] + damping * np.diag(np.diag(h)[free] + 1e-9)
            step = np.zeros(n_var)
            step[free] = -np.linalg.solve(a, g[free])
            poses_n = [v.moved(*pose_list[i], step[offsets[i]:offsets[i + 1]]) for i, v in enumerate(views)]
            c_n = coeffs + step[n_all_pose:]
            c_n[k:] = np.clip(c_n[k:], 0.0, 1.0)
            res_n, terms_n, e_n = evaluate(poses_n, c_n)
            if e_n <= current:
                pose_list, coeffs, res, terms, current = poses_n, c_n, res_n, terms_n, e_n
                damping = max(damping / 3.0, 1e-7)
                accepted = True
                break
            damping *= 4.0
        if not accepted:
            break
    expr = [coeffs[k + i * n_e: k + (i + 1) * n_e].copy() for i in range(n_views)]
    return coeffs[:k].copy(), expr, pose_list, terms, done


def head_yaw_deg(rotation: np.ndarray) -> float:
    """|yaw| in deg of a fitted head: the angle between the camera's axis and the head's
    forward direction ``R @ (0, -1, 0)`` (Blender frame, the head faces -Y) seen from above,
    ``|atan2(f_x, -f_y)|``; 0 facing the camera, 90 in profile."""
    f = np.asarray(rotation, dtype=np.float64) @ np.array([0.0, -1.0, 0.0])
    return abs(math.degrees(math.atan2(f[0], -f[1])))


def fit_template(
    template: TemplateHead,
    data: Correspondences,
    *,
    landmarks5: np.ndarray | None = None,
    sigma_px: float = 2.0,
    depth_weight: float = 0.0,
    landmark_weight: float = 1.0,
    landmarks_from_yaw_deg: float = 45.0,
    identity_prior: float = 0.02,
    expression_prior: float = 0.1,
    iterations: int = 12,
) -> TemplateFit:
    """Fit pose, identity and expression to pixel <-> vertex pairs.

    Energy (minimised; ``n_p = sum_p w_p`` normalises the data terms so the prior weights
    do not depend on how many pixels the head covers)::

        E = 1/n_p sum_p w_p rho(|pi(X_p) - x_p|)                        2-D reprojection, px^2
          + depth_weight / n_p sum_p w_p rho(h(X_p) - d_p)              relief depth, px^2
          + landmark_weight / 5 sum_k |pi(L_k) - l_k|^2                 detector landmarks, px^2
          + identity_prior |a|^2 + expression_prior |e|^2               priors, px^2 per sd^2 / per unit
        subject to 0 <= e <= 1

    with ``X = V0 + B a + E e`` the template vertices, ``pi`` the weak-perspective
    projection of the module notes, ``rho(r) = sigma^2 r^2 / (r^2 + sigma^2)``
    (Geman-McClure, quadratic near 0, saturating at ``sigma_px``) and ``d_p`` the relief
    depth with its unknown offset absorbed by ``t_h``.

    Parameters
    ----------
    template : TemplateHead
    data : Correspondences
    landmarks5 : (5, 2) float or None
        Detector points in crop px (column, row), any left/right naming (see
        :func:`order_landmarks5`).
    sigma_px : float
        px, scale of the robust loss: residuals well beyond it stop pulling.
    depth_weight : float
        Weight of the relief depth term, dimensionless (relative to the 2-D term); 0 ignores it.
    landmark_weight : float
        Weight of the detector landmarks, dimensionless. At 10 the fit passes through YuNet's
        five points exactly, whose eye and mouth-corner positions differ from the template's by a
        few % of the eye distance; on 60 real dev photos (20 per |yaw| band) the 2D NME read
        5.72 / 8.71 / 12.09 % at 10 and 5.55 / 8.25 / 11.81 % at 1 (4.56 / 6.85 / 16.26 % with no
        landmarks: they help only past 60 deg).
    landmarks_from_yaw_deg : float
        deg. The landmarks are kept only when the fit with them turns the head at least this far
        (:func:`head_yaw_deg`); below it the fit is solved again without them (about 90 ms more).
        On the 200 real dev photos (``make evaluate-real REAL_ARGS="--output head"``, with the
        expression prior of 0.1) the 2D NME per |yaw| band read 5.63 / 8.33 / 11.04 % with the
        landmarks always, 4.52 / 7.91 / 11.11 % from 45 deg and 4.52 / 7.52 / 11.20 % from 60 deg;
        the landmark depth error 6.5 / 7.0 / 7.9, 6.2 / 6.8 / 7.9 and 6.2 / 6.8 / 8.1 %. 0 keeps them
        always; ``inf`` never.
    identity_prior : float
        px^2 per sd^2.
    expression_prior : float
        px^2 per unit weight^2. 0.1 rather than 0.01: on 60 synthetic template heads the
        expression error fell from 0.117 to 0.066 (mean absolute weight) and the face error from
        5.53 to 5.35 mm; on the real dev photos the NME stayed 8.33 % (mean of the band means)
        and the landmark depth error fell from 6.6 / 7.2 / 8.4 to 6.5 / 7.0 / 7.9 %. 0.3 gave
        NME 8.39 %.
    iterations : int
        Levenberg-Marquardt steps.

    Returns
    -------
    TemplateFit
    """
    def solve(points: np.ndarray | None) -> tuple:
        view = ViewTerms(template, data, landmarks5=points, sigma_px=sigma_px,
                         depth_weight=depth_weight, landmark_weight=landmark_weight)
        return solve_views([view], template.n_identity, identity_prior=identity_prior,
                           expression_prior=expression_prior, iterations=iterations)

    solved = solve(landmarks5)
    if landmarks5 is not None and head_yaw_deg(solved[2][0][0]) < landmarks_from_yaw_deg:
        solved = solve(None)
    identity, (expression,), ((rot, s, t_uv, t_h),), (energy,), done = solved
    return TemplateFit(
        identity=identity,
        expression=expression,
        rotation=rot,
        scale=s,
        translation=np.array([t_uv[0], t_uv[1], t_h]),
        vertices=template.deform(identity, expression),
        energy=energy,
        iterations=done,
    )
