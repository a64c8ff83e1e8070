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


def lash_picture(width: int = 1024, height: int = 32, strands: int = 360, seed: int = 0,
                 rgb: tuple[int, int, int] | None = None) -> np.ndarray:
    """Eyelash cards' picture: thin dark strands across u, each with its own opacity.

    The template's eyelash loops (UV tile 6, kept in [0, 1] by blender/head.py) run along
    the lid with u (correlation with x: 0.97), so strands are columns; v is left uniform.
    ``rgb``: their sRGB colour (e.g. measured in the photo); None a dark brown.

    Returns
    -------
    (height, width, 4) uint8
        RGBA, row 0 at v = 1.
    """
    rng = np.random.default_rng(seed)
    x = (np.arange(width, dtype=np.float32) + 0.5) / width * strands  # strand coordinate
    k = np.floor(x).astype(np.int64)  # strand index of each column
    centre = 0.5 + 0.3 * (rng.random(strands) - 0.5)  # (strands,) strand centres within their cell
    opacity = 0.35 + 0.6 * rng.random(strands)
    core = np.clip(1.0 - np.abs(x - k - centre[k]) / 0.35, 0.0, 1.0)  # (width,) triangular profile
    alpha = np.rint(255.0 * opacity[k] * core).astype(np.uint8)
    out = np.empty((height, width, 4), dtype=np.uint8)
    out[..., :3] = rgb if rgb is not None else LASH_RGB
    out[..., 3] = alpha[None, :]
    return out
