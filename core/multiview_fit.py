# SPDX-License-Identifier: GPL-3.0-or-later
"""Fit one template head to several photos of one person (one identity, a pose and an
expression per photo), and tell which photos do not show the same person.

Each photo keeps its own weak-perspective camera in its own crop's pixels (core.template_fit),
so photos of any size, framing and orientation mix freely; only the identity ``a`` is shared.
The data terms and their Gauss-Newton normal equations are those of one photo
(``core.template_fit.ViewTerms``), summed by ``core.template_fit.solve_views``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .template_fit import Correspondences, TemplateFit, ViewTerms, solve_views
from .template_model import TemplateHead

DATA_TERMS = ("reprojection", "depth", "landmarks")


@dataclass
class MultiviewFit:
    """One head fitted to several photos.

    Attributes
    ----------
    identity : (K,) float64
        The shared identity coefficients, standard deviations.
    fits : list of TemplateFit
        One per photo, in the order given: its camera (crop px), its expression, the shared
        identity, and ``vertices`` = that photo's head (identity and its expression), m.
    neutral : (N, 3) float32
        The identity alone (expression 0), m.
    excess : (n,) float64
        Per photo, its dense data energy (reprojection and depth) under the joint fit minus
        under its own single-photo fit, px^2: large for a photo of someone else; zeros when no
        single-photo fits were given.
    iterations : int
    energy : dict of str to float
        Summed terms (px^2 and sd^2).
    """

    identity: np.ndarray
    fits: list[TemplateFit]
    neutral: np.ndarray
    excess: np.ndarray
    iterations: int = 0
    energy: dict[str, float] = field(default_factory=dict)


def dense_energy(energy: dict[str, float]) -> float:
    """The dense data terms of a fit's energy (reprojection and depth, not the landmarks, whose
    weight differs between the single-photo and the joint fit), px^2."""
    return float(energy.get("reprojection", 0.0) + energy.get("depth", 0.0))


def fit_multiview(
    template: TemplateHead,
    data: Sequence[Correspondences],
    *,
    landmarks5: Sequence[np.ndarray | None] | None = None,
    singles: Sequence[TemplateFit] | None = None,
    sigma_px: float = 2.0,
    depth_weight: float = 0.0,
    landmark_weight: float = 0.3,
    identity_prior: float = 0.02,
    # 0.01, not the single fit's 0.1: benchmarks/bench_multiview.py, 3 views, face error after rigid
    # alignment 1.58 mm at 0.01 against 1.81 mm at 0.1 (several photos constrain the expressions)
    expression_prior: float = 0.01,
    iterations: int = 12,
) -> MultiviewFit:
    """Fit one identity, and a pose and expression per photo, to every photo's pairs at once.

    Energy (minimised), with ``n`` photos, photo ``i``'s pairs ``p`` and its own
    normalisation ``n_p,i = sum_p w_p`` (every photo counts once, however many pixels its
    head covers)::

        E = sum_i [ 1/n_p,i sum_p w_p rho(|pi_i(X_i,p) - x_p|)             2-D reprojection, px^2
                  + depth_weight / n_p,i sum_p w_p rho(h_i(X_i,p) - d_p)  relief depth, px^2
                  + landmark_weight / 5 sum_k |pi_i(L_i,k) - l_i,k|^2 ]   detector landmarks, px^2
          + identity_prior |a|^2                                          one identity prior, px^2 per sd^2
          + expression_prior sum_i |e_i|^2                                px^2 per unit^2
        subject to 0 <= e_i <= 1

    with ``X_i = V0 + B a + E e_i`` (the shared identity ``a``, photo ``i``'s expression),
    ``pi_i, h_i`` photo ``i``'s weak-perspective camera ``(R_i, s_i, t_i)`` in its crop's px,
    and ``rho`` the Geman-McClure loss of ``core.template_fit.fit_template`` (the terms of one
    photo are exactly that function's). Levenberg-Marquardt over
    ``[pose_1 .. pose_n, a, e_1 .. e_n]``: each photo's normal equations
    (``ViewTerms.normal_equations``) are added into the blocks of its pose, ``a`` and its
    ``e_i``; one dense solve of ``7 n + K + E n`` unknowns per step.

    Parameters
    ----------
    template : TemplateHead
    data : sequence of Correspondences
        One per photo, pixels in that photo's crop.
    landmarks5 : sequence of (5, 2) float or None, or None
        Detector points per photo, crop px (None: no landmarks for that photo).
    singles : sequence of TemplateFit or None
        Each photo's own fit (core.template_fit.fit_template with the same weights): the
        start (its pose and expression, the mean of their identities), and the reference of
        ``MultiviewFit.excess``. None starts every photo from the mean head.
    landmark_weight : float
        Weight of each photo's detector landmarks, dimensionless. Lower than one photo's
        (1): the other photos now anchor what the landmarks anchor alone (pose at large yaw,
        core.template_fit), and their errors (a few % of the eye distance) bend the shared
        identity. On synthetic heads with 1 px landmark noise (benchmarks/bench_multiview.py,
        4 trials) the identity's face error read, for 1 / 2 / 3 / 5 views, 1.13 / 0.94 / 0.89 /
        0.75 mm at 1, 1.03 / 0.81 / 0.73 / 0.59 at 0.3 and 0.94 / 0.71 / 0.59 / 0.45 at 0
        (0.3 keeps some anchor for real photos, whose dense correspondences are poorer).
    sigma_px, depth_weight, identity_prior, expression_prior, iterations
        As in ``core.template_fit.fit_template``.

    Returns
    -------
    MultiviewFit
    """
    n = len(data)
    if n == 0:
        raise ValueError("need at least one photo's correspondences")
    lms = list(landmarks5) if landmarks5 is not None else [None] * n
    if len(lms) != n or (singles is not None and len(singles) != n):
        raise ValueError(f"landmarks5 and singles must have one entry per photo ({n})")
    views = [
        ViewTerms(template, d, landmarks5=lm, sigma_px=sigma_px, depth_weight=depth_weight,
                  landmark_weight=landmark_weight)
        for d, lm in zip(data, lms, strict=True)
    ]
    poses = identity = expressions = None
    if singles is not None:
        poses = [(f.rotation, f.scale, f.translation[:2].copy(), float(f.translation[2])) for f in singles]
        identity = np.mean([f.identity for f in singles], axis=0)
        expressions = [f.expression for f in singles]
    a, expr, poses, terms, done = solve_views(
        views, template.n_identity, identity_prior=identity_prior, expression_prior=expression_prior,
        iterations=iterations, poses=poses, identity=identity, expressions=expressions)
    fits = []
    for e, (rot, s, t_uv, t_h), t in zip(expr, poses, terms, strict=True):
        fits.append(TemplateFit(
            identity=a, expression=e, rotation=rot, scale=s, translation=np.array([t_uv[0], t_uv[1], t_h]),
            vertices=template.deform(a, e), energy={k: v for k, v in t.items() if k in DATA_TERMS},
            iterations=done,
        ))
    excess = np.zeros(n)
    if singles is not None:
        excess = np.array([dense_energy(f.energy) - dense_energy(s.energy)
                           for f, s in zip(fits, singles, strict=True)])
    total: dict[str, float] = {}
    for t in terms:
        for k, v in t.items():
            total[k] = total.get(k, 0.0) + v
    return MultiviewFit(identity=a, fits=fits, neutral=template.deform(a), excess=excess, iterations=done,
                        energy=total)


STRANGER_MM = 2.0  # mm, face-shape distance between two frontal photos above which they may differ in person
OBLIQUE_TOLERANCE = 1.0  # the allowance grows by this share of STRANGER_MM per unit of sin(view angle)
STRANGER_RATIO = 2.0  # and a stranger lies this many times farther than the other photos from each other
CLEAN_FIT_PX2 = 1.0  # px^2, residual of a clean single-photo fit; a worse fit's allowance grows as its RMS
COLOUR_ALLOWANCE = 1.0  # mean |log colour ratio| between two photos' face regions above which they may differ

FACE_REGIONS = ("brows", "eyes", "nose", "lips", "chin")
"""Face regions whose colour, relative to the photo's own cheek and forehead skin, :func:`face_colours`
reads: each face vertex belongs to the region of its nearest 68-point landmark (brows 17-26, eyes 36-47,
nose 27-35, lips 48-67, chin 5-11); the rest is the reference skin."""


@dataclass
class FaceColours:
    """What one photo shows of the face's colouring, independent of the light's strength and tint.

    Attributes
    ----------
    relative : (R, 3) float64, R = len(FACE_REGIONS)
        ``log(median colour of region / median colour of the skin)`` per RGB channel (the photo's
        gain and white balance cancel); NaN for a region the photo does not see.
    """

    relative: np.ndarray


_REGIONS: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _face_regions(template: TemplateHead) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face vertices (F,), the region of each (F,) int (-1 = skin, else index into FACE_REGIONS),
    the template's triangles."""
    got = _REGIONS.get(template.sha256)
    if got is None:
        from scipy.spatial import cKDTree

        face = np.flatnonzero(template.part_mask("face"))
        neutral = template.neutral.astype(np.float64)
        _, nearest = cKDTree(neutral[template.landmark68]).query(neutral[face])
        region = np.full(len(face), -1)
        for r, (lo, hi) in enumerate(((17, 26), (36, 47), (27, 35), (48, 67), (5, 11))):
            region[(nearest >= lo) & (nearest <= hi)] = r
        got = (face, region, template.triangles())
        _REGIONS[template.sha256] = got
    return got


def face_colours(
    template: TemplateHead, fit: TemplateFit, image: np.ndarray, *, min_cos: float = 0.3,
    min_vertices: int = 5,
) -> FaceColours:
    """The colouring of the face regions in one photo, relative to its own skin.

    The fitted head's face vertices that face the camera (normal cosine to the view axis above
    ``min_cos``) and fall inside the crop take the crop's colour ``c_v`` at
    their projection; per region ``r`` of :data:`FACE_REGIONS`::

        relative_r = log(median_{v in r} c_v) - log(median_{v in skin} c_v)     (per channel)

    so a gain or a tint of the whole photo cancels; brows, eyes, lips, a beard on the chin keep
    their contrast to the skin from photo to photo of one person, and differ between people.

    Parameters
    ----------
    template : TemplateHead
    fit : TemplateFit
        The photo's fit, its camera in the crop's px.
    image : (S, S, 3) uint8 or float
        The crop the fit was made in (``Reconstruction.crop``), RGB.
    min_cos : float
        Vertices seen more obliquely are not read.
    min_vertices : int
        A region with fewer seen vertices is NaN.

    Returns
    -------
    FaceColours
    """
    from .detail import vertex_normals
    from .template_fit import TO_CAMERA

    face, region, triangles = _face_regions(template)
    h, w = image.shape[:2]
    cos = (vertex_normals(fit.vertices, triangles)[face] @ (TO_CAMERA @ fit.rotation).T)[:, 2]
    uv = fit.project(fit.vertices[face])[:, :2]
    col, row = np.round(uv[:, 0]).astype(np.int64), np.round(uv[:, 1]).astype(np.int64)
    seen = (cos > min_cos) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
    col, row = np.clip(col, 0, w - 1), np.clip(row, 0, h - 1)
    scale = 255.0 if np.issubdtype(np.asarray(image).dtype, np.integer) else 1.0
    c = np.asarray(image, dtype=np.float64)[row, col, :3] / scale + 1.0 / 255.0  # (F, 3), no log(0)
    skin = seen & (region < 0)
    base = np.log(np.median(c[skin], axis=0)) if skin.sum() >= min_vertices else np.full(3, np.nan)
    relative = np.full((len(FACE_REGIONS), 3), np.nan)
    for r in range(len(FACE_REGIONS)):
        sel = seen & (region == r)
        if sel.sum() >= min_vertices:
            relative[r] = np.log(np.median(c[sel], axis=0)) - base
    return FaceColours(relative=relative)


def colour_distances(colours: Sequence[FaceColours]) -> np.ndarray:
    """(n, n) float64 distance between photos' face colourings (:func:`face_colours`)::

        c_ij = mean_{r seen in both, channel} |relative_i,r - relative_j,r|

    0 where the two photos see no region in common (they cannot be compared). The skin's own
    tone is not compared: the light's tint and the camera's white balance move it as much as
    it differs between people (on synthetic heads in random light, tests/core/test_intruders.py)."""
    n = len(colours)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            diff = np.abs(colours[i].relative - colours[j].relative)
            if np.isfinite(diff).any():  # (no skin seen: every region NaN)
                out[i, j] = out[j, i] = float(np.nanmean(diff))
    return out


def obliqueness(fit: TemplateFit) -> float:
    """``sin`` of the angle between the face's direction (the template's -Y) and the view axis,
    0 for a frontal photo, 1 for a profile."""
    from .template_fit import TO_CAMERA

    toward = float((TO_CAMERA @ fit.rotation @ np.array([0.0, -1.0, 0.0]))[2])
    return float(np.sqrt(max(0.0, 1.0 - min(1.0, toward) ** 2)))


def identity_distances(template: TemplateHead, identities: Sequence[np.ndarray]) -> np.ndarray:
    """(n, n) float64 mean distance, mm, between the face regions of the neutral heads of
    ``identities`` (expression 0) after the best similarity transform (scale is not observed
    by a weak-perspective photo, so it is not compared)."""
    face = template.part_mask("face")
    shapes = [template.deform(a)[face].astype(np.float64) for a in identities]
    n = len(shapes)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = similarity_error_mm(shapes[i], shapes[j])
    return out


def similarity_error_mm(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance, mm, from ``a`` (m, 3) to ``b`` after the best similarity transform (Umeyama)."""
    a, b = a - a.mean(0), b - b.mean(0)
    u, sig, vt = np.linalg.svd(b.T @ a / len(a))
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    s = np.trace(np.diag(sig) @ d) / (a**2).sum(1).mean()
    return float(np.linalg.norm(s * a @ (u @ d @ vt).T - b, axis=1).mean() * 1000.0)


def strangers_among(
    template: TemplateHead, fits: Sequence[TemplateFit], colours: Sequence[FaceColours] | None = None
) -> list[tuple[int, float, float]]:
    """:func:`find_strangers` over single-photo fits, the rule ``core.pipeline.reconstruct_person``
    applies: their faces' distances (:func:`identity_distances`), view angles (:func:`obliqueness`),
    residuals (:func:`dense_energy`) and, when given, colourings (:func:`colour_distances`)."""
    return find_strangers(
        identity_distances(template, [f.identity for f in fits]),
        np.array([obliqueness(f) for f in fits]),
        None if colours is None else colour_distances(colours),
        np.array([dense_energy(f.energy) for f in fits]),
    )


def find_strangers(
    distances: np.ndarray,
    oblique: np.ndarray | None = None,
    colours: np.ndarray | None = None,
    energies: np.ndarray | None = None,
    *,
    min_mm: float = STRANGER_MM,
    tolerance: float = OBLIQUE_TOLERANCE,
    ratio: float = STRANGER_RATIO,
    clean_px2: float = CLEAN_FIT_PX2,
    colour_allowance: float = COLOUR_ALLOWANCE,
) -> list[tuple[int, float, float]]:
    """Photos whose single-photo face does not agree with the others', worst first.

    A single photo's face is less certain the more it is turned away and the worse its own
    fit matches its photo, so each shape distance is measured against an allowance that grows
    with both photos' view angles and residuals; the colour distance, when given, adds its
    evidence in units of its own allowance::

        u_i  = (1 + tolerance o_i) sqrt(max(E_i, clean_px2) / clean_px2)   (o: obliqueness, E: residual)
        s_ij = d_ij / (min_mm (u_i + u_j) / 2)
        r_ij = sqrt(s_ij^2 + (c_ij / colour_allowance)^2)

    Repeatedly, photo ``i`` with the largest ``q_i = median_j r_ij`` (over the photos still
    kept) is left out when ``q_i > 1`` and ``q_i > ratio * m_i``, ``m_i`` the median ``r``
    among the other kept photos (with two photos left, ``m_i = 0`` and the second one is left
    out when they disagree: the first photo given is the reference).

    Measured: on synthetic template heads (benchmarks/bench_multiview.py's views, 8 sets of
    four views at 0, 45, -45 and 90 deg and a fifth person within 45 deg) the same person's
    single-photo faces lay 0.5-1.7 mm apart, another person's 2.3-5.2 mm; the residuals ``E`` of
    such fits (tests/core/test_multiview.py's photos, rendered template heads) are 0.4-0.9 px^2,
    so their allowance stays at its floor. On real dev photos
    (benchmarks/bench_intruder.py: a photo and its mirrored or re-framed copies) the network's
    single-photo face moved by 2.2 mm (median; 1.5 / 2.4 / 3.4 mm at |yaw| 0-30 / 30-60 / 60-90
    deg, up to 7 mm) between copies of one photo, while two people lay 3.9 mm apart (median;
    2.4 mm at the 10th percentile), and the residuals were 1.3-7 px^2 (median 2.5), larger where
    the face moved most: the shape alone tells people apart only roughly. The colouring tells
    them apart better (brows, eyes, lips, a beard against the skin: 0.12 between copies of a
    photo, 0.94 between people, medians; one look in other light on synthetic heads, up to
    0.56) and adds to the shape's evidence. On the real sets of benchmarks/bench_intruder.py
    (--seed 0, where the allowances were chosen; --seed 1; --seed 2, unseen until then) 0 of 214,
    1 of 210 and 1 of 207 same-person photos were left out (the second of two photos at 50-90 deg
    whose faces lay 6.5-7.7 mm apart), and 26 of 47, 37 of 48 and 29 of 46 intruders; by the
    shape alone at a fixed allowance, 5, 6 and 5 photos and 17, 17 and 22 intruders.

    Parameters
    ----------
    distances : (n, n) float, mm (:func:`identity_distances`)
    oblique : (n,) float in [0, 1] or None
        :func:`obliqueness` of each photo's fit (None: all frontal).
    colours : (n, n) float or None
        :func:`colour_distances` (None: the shape alone).
    energies : (n,) float or None
        Each photo's single-photo fit residual, px^2 (:func:`dense_energy` of its energy; None:
        every fit clean).

    Returns
    -------
    list of ``(index, q_i, m_i)``; ``q_i`` and ``m_i`` in units of the allowance
    """
    n = len(distances)
    o = np.zeros(n) if oblique is None else np.asarray(oblique, dtype=np.float64)
    e = np.zeros(n) if energies is None else np.asarray(energies, dtype=np.float64)
    u = (1.0 + tolerance * o) * np.sqrt(np.maximum(e, clean_px2) / clean_px2)
    r = np.asarray(distances, dtype=np.float64) / (min_mm * (u[:, None] + u[None, :]) / 2.0)
    if colours is not None:
        r = np.sqrt(r**2 + (np.asarray(colours, dtype=np.float64) / colour_allowance) ** 2)
    keep = list(range(n))
    out: list[tuple[int, float, float]] = []
    while len(keep) >= 2:
        sub = r[np.ix_(keep, keep)]
        q = np.array([np.median(np.delete(sub[i], i)) for i in range(len(keep))])
        if len(keep) == 2:
            worst, typical = 1, 0.0
        else:
            worst = int(np.argmax(q))
            others = np.delete(np.delete(sub, worst, 0), worst, 1)
            typical = float(np.median(others[np.triu_indices(len(others), 1)]))
        if q[worst] <= 1.0 or q[worst] <= ratio * typical:
            break
        out.append((keep[worst], float(q[worst]), typical))
        del keep[worst]
    return out
