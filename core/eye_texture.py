# SPDX-License-Identifier: GPL-3.0-or-later
"""A procedural eye picture for the template head's eyeballs (sclera with a clear cornea, iris).

Each ICT-FaceKit eyeball is two nested spheres with radial UV layouts centred on
``(0.5, 0.5)`` of UV tile 0 (measured on the template's left eye; the right is the same),
r the UV distance from that centre and the angle measured from the gaze axis:

- the **sclera** sphere (outer, with the cornea bulge): r < 0.09 within 15 deg, r = 0.12
  at about 25 deg, r = 0.3 at about 60 deg, r > 0.4 behind the equator;
- the **iris** sphere (inner): r = 0.09 at its pupil hole, 0.1-0.12 up to 15 deg, 0.23
  at 18 deg, 0.38 at 25 deg, r > 0.5 behind (seen from the front through the pupil).

The picture is ``(S, 2S)`` RGBA for the head's UVs (blender/head.py): the left half is the
sclera (``u' = u / 2``), the right half the iris (``u' = 0.5 + u / 2``), both sampled
through the same UV map as the skin texture:

- left (sclera): white, with alpha 0 inside r = 0.11 rising to 1 at r = 0.135 (the clear
  cornea window through which the iris shows; its soft rim reads as the limbus);
- right (iris): the iris colour, darker toward the pupil, out to r = 0.45 (beyond the
  window it is hidden under the opaque sclera); near black beyond r = 0.45 (the inside of
  the eye, what the pupil shows).
"""

from __future__ import annotations

import numpy as np

DEFAULT_IRIS_RGB = (92, 64, 44)  # sRGB, brown
SCLERA_RGB = (225, 218, 208)  # sRGB
INSIDE_RGB = (6, 5, 5)  # sRGB, the eye's dark interior
CORNEA_RADII = (0.11, 0.135)  # UV radius where the sclera turns from clear to opaque
PUPIL_RADIUS = 0.09  # UV radius of the iris sphere's hole
IRIS_OUTER = 0.45  # UV radius beyond which the iris sphere is the eye's inside


def eye_picture(size: int = 512, iris_rgb: tuple[int, int, int] | None = None) -> np.ndarray:
    """The eye picture for the head's sclera and iris materials.

    Parameters
    ----------
    size : int
        Height S in px (the width is 2S).
    iris_rgb : (3,) int in 0..255 or None
        sRGB iris colour (e.g. measured in the photo); None uses a mid brown.

    Returns
    -------
    (S, 2S, 4) uint8
        RGBA, row 0 at v = 1 (image order).
    """
    iris = np.asarray(iris_rgb if iris_rgb is not None else DEFAULT_IRIS_RGB, dtype=np.float32)
    v = 1.0 - (np.arange(size, dtype=np.float32) + 0.5) / size  # (S,) v of each row
    u = ((np.arange(size, dtype=np.float32) + 0.5) / size)  # (S,) tile-0 u of each column of a half
    r = np.hypot(u[None, :] - 0.5, v[:, None] - 0.5)  # (S, S) UV radius from the eye's centre

    out = np.empty((size, 2 * size, 4), dtype=np.uint8)
    sclera, iris_half = out[:, :size], out[:, size:]

    c0, c1 = CORNEA_RADII
    sclera[..., :3] = SCLERA_RGB
    sclera[..., 3] = np.rint(255.0 * np.clip((r - c0) / (c1 - c0), 0.0, 1.0)).astype(np.uint8)

    t = np.clip((r - PUPIL_RADIUS) / 0.06, 0.0, 1.0)  # 0 at the pupil's edge, 1 a little outward
    rgb = iris[None, None, :] * (0.45 + 0.55 * t)[..., None]  # (S, S, 3) darker toward the pupil
    rgb[r >= IRIS_OUTER] = INSIDE_RGB
    rgb[r < PUPIL_RADIUS] = INSIDE_RGB
    iris_half[..., :3] = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    iris_half[..., 3] = 255
    return out


LASH_RGB = (28, 20, 16)  # sRGB, dark brown
LASH_BANDS = 6  # cards per v: bands 0-2 (v < 0.5) the lower lids' three cards, 3-5 the upper lids'
LASH_ROOT_V = 0.155  # v of the lid-side edge (the roots) within a band of height 1 / LASH_BANDS
LASH_TIP_V = 0.014  # v of the free edge (the tips) within a band
LASH_STRANDS = (48, 140)  # strands per card across u (both eyes: u < 0.5 right, u > 0.5 left): lower, upper
LASH_LENGTH = ((0.45, 0.85), (0.65, 1.0))  # strand length as a fraction of root -> tip: lower, upper
LASH_HALF_WIDTH_PX = (1.6, 0.4)  # px (of a 1024 px wide picture), half width at the root and at the tip


def lash_picture(width: int = 1024, height: int = 384, seed: int = 0,
                 rgb: tuple[int, int, int] | None = None) -> np.ndarray:
    """Eyelash cards' picture: tapered dark strands growing from each card's lid edge.

    The template's eyelash loops (UV tile 6, kept in [0, 1] by blender/head.py) hold six
    cards per eye (measured on the template): v in ``[k / 6, (k + 1) / 6)`` is card ``k``,
    0-2 on the lower lid, 3-5 on the upper; within a card the roots (on the lid) sit at
    ``v = k / 6 + LASH_ROOT_V`` and the free edge at ``k / 6 + LASH_TIP_V``; u runs along
    the lid (correlation with x: 0.99), the right eye in ``u < 0.5``, the left in ``u > 0.5``.

    Each card gets its own random strands (the three layers do not line up). A strand starts
    at a random ``u0`` on the root edge and runs a random fraction ``l`` of the way to the
    tip, leaning sideways by ``s t^2`` (t = 0 at the root, 1 at the strand's end); its
    alpha at distance ``d`` px from its centre line is

        a(d, t) = o (1 - 0.7 t) clip(1 - d / w(t), 0, 1),   w(t) = w0 + (w1 - w0) t

    (o: the strand's opacity, ``LASH_HALF_WIDTH_PX = (w0, w1)``, sampled at 4 points per
    pixel across u), and strands combine as ``1 - prod(1 - a_i)``. The lower cards hold
    half the strands of the upper ones and shorter strands.

    Parameters
    ----------
    width, height : int
        Picture size in px.
    seed : int
        Seed of the strands' layout.
    rgb : (3,) int in 0..255 or None
        The strands' sRGB colour (e.g. measured in the photo); None a dark brown.

    Returns
    -------
    (height, width, 4) uint8
        RGBA, row 0 at v = 1; the colour is ``rgb`` everywhere (alpha carries the strands).
    """
    rng = np.random.default_rng(seed)
    clear = np.ones((height, width), dtype=np.float64)  # prod(1 - a_i), row 0 at v = 1
    sub = 4  # samples per pixel across u
    w0, w1 = LASH_HALF_WIDTH_PX
    scale = width / 1024.0  # widths are given for a 1024 px picture
    for k in range(LASH_BANDS):
        upper = k >= LASH_BANDS // 2
        root_v = (k + LASH_ROOT_V * LASH_BANDS) / LASH_BANDS
        tip_v = (k + LASH_TIP_V * LASH_BANDS) / LASH_BANDS
        n = LASH_STRANDS[int(upper)]
        lo, hi = LASH_LENGTH[int(upper)]
        u0 = (np.arange(n) + rng.random(n)) / n * width  # (n,) px, one strand per u cell
        length = lo + (hi - lo) * rng.random(n)  # (n,) fraction of root -> tip
        lean = (rng.random(n) - 0.5) * 2.0 * (width / n)  # (n,) px sideways at the strand's end
        opacity = 0.75 + 0.25 * rng.random(n)  # (n,)
        rows = np.arange(int(np.floor((1.0 - root_v) * height)), int(np.ceil((1.0 - tip_v) * height)))
        v = 1.0 - (rows + 0.5) / height  # (R,) v of each row
        f = np.clip((root_v - v) / (root_v - tip_v), 0.0, 1.0)  # (R,) 0 at the roots, 1 at the tips
        t = f[:, None] / length[None, :]  # (R, n) along each strand
        on = t <= 1.0
        t = np.minimum(t, 1.0)
        centre = u0[None, :] + lean[None, :] * t**2  # (R, n) px
        half = scale * (w0 + (w1 - w0) * t)  # (R, n) px
        col = np.floor(centre)[..., None] + np.arange(-4, 5)  # (R, n, 9) px columns near the line
        # coverage of each column: the triangular profile's mean over ``sub`` samples across it
        x = col[..., None] + (np.arange(sub) + 0.5)[None, None, None, :] / sub  # (R, n, 9, sub)
        prof = np.clip(1.0 - np.abs(x - centre[..., None, None]) / half[..., None, None], 0.0, 1.0)
        a = (opacity[None, :] * (1.0 - 0.7 * t) * on)[..., None] * prof.mean(axis=-1)  # (R, n, 9)
        r = np.broadcast_to(rows[:, None, None], a.shape)
        c = col.astype(np.int64) % width
        np.multiply.at(clear, (r.ravel(), c.ravel()), 1.0 - a.ravel())
    out = np.empty((height, width, 4), dtype=np.uint8)
    out[..., :3] = rgb if rgb is not None else LASH_RGB
    out[..., 3] = np.rint(255.0 * np.clip(1.0 - clear, 0.0, 1.0)).astype(np.uint8)
    return out
