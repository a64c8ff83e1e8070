# SPDX-License-Identifier: GPL-3.0-or-later
"""One skin texture from several photos of the same head (each with its own fitted camera).

Each photo is baked on its own by core.texture_bake (its direct share ``seen``, mirrored side
and fill), then the bakes are blended per texel of the skin tiles. On the low-resolution
texel grid of core.texture_bake (``L = T / 4``), photo ``i`` weighs::

    q_i = seen_i * w_d,i * (r_i / max_j r_j) * sqrt(k_i / max_j k_j)   how well photo i sees the texel
    q_i <- q_i * (1 - m)  for every photo but the reference    (m: eyes and mouth, below)
    b_i = G_sigma(q_i^p + eps [i = ref]) (1 - m [i != ref]), normalised to sum 1 over the photos

with ``seen_i`` the bake's direct share (the head mask and collar tests included), ``w_d,i``
the per-vertex view weight of core.texture_bake.vertex_view (visibility and ``cos^2`` to the
camera, not clamped, so the more frontal photo wins), ``r_i`` the photo's resolution on the
head (texture px per metre), ``k_i`` its sharpness (:func:`sharpness`: a blurred or heavily
compressed photo has less fine detail than its resolution promises; the square root as
it also varies a little with the content), ``p = SELECT_POWER``
(the best photo takes most of the texel), ``G_sigma`` a Gaussian of ``BLEND_TEXELS`` low
texels in UV space (so photos cross-fade over a band instead of meeting at a step) and
``eps`` letting the reference photo's fill cover the skin no photo sees. ``m`` is 1 within
``EYE_RADIUS_M`` of the eye landmarks and ``MOUTH_RADIUS_M`` of the mouth landmarks (on the
neutral template), fading out over as much again: those regions come from the reference
photo (the most frontal) alone, so expressions that differ between photos do not smear them.

Two bands (a two-level Laplacian pyramid): each bake's low-resolution copy (its colours on the
``L`` grid) is blended with ``b_i`` as above, its detail (the bake minus that copy, upsampled)
with the same weights blurred by ``DETAIL_TEXELS`` instead, so that the tone cross-fades
over a wide band while fine features switch photos within a few texels and do not double
up.

Before blending, each photo's colours are scaled by a per-channel gain ``g_i`` matching its
mean colour on the texels it shares with the photos already placed (reference first, then the
others by overlap), clipped to [0.5, 2]: a photo taken in other light meets the others with
no step in brightness. Texel colour ``= sum_i g_i (b_i c_i,low + b'_i (c_i - c_i,low))`` with
``c_i`` photo ``i``'s bake and ``b'_i`` the narrow weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .template_fit import TemplateFit
from .template_model import TemplateHead
from .texture_bake import TextureBake, bake_texture, texel_attributes, vertex_view

SELECT_POWER = 4.0  # sharpens the choice of the best photo per texel
BLEND_TEXELS = 3.0  # low texels (T / 4), sigma of the colours' weights' blur in UV space
DETAIL_TEXELS = 0.75  # low texels, sigma of the detail band's weights' blur
EYE_RADIUS_M = 0.016  # m around the eye landmarks taken from the reference photo
MOUTH_RADIUS_M = 0.012  # m around the mouth landmarks
OVERLAP_SEEN = 0.5  # both photos' direct share above this: the texel is shared (gain matching)
MIN_OVERLAP = 50  # low texels; fewer shared texels leave the gain at 1


def expression_regions(template: TemplateHead) -> np.ndarray:
    """(N,) float32 in [0, 1]: 1 at the eyes and mouth (module notes), fading to 0."""
    v = template.neutral.astype(np.float64)
    lm = v[template.landmark68]
    out = np.zeros(len(v))
    for points, radius in ((lm[36:48], EYE_RADIUS_M), (lm[48:68], MOUTH_RADIUS_M)):
        d = np.min(np.linalg.norm(v[:, None, :] - points[None], axis=2), axis=1)
        out = np.maximum(out, np.clip(2.0 - d / radius, 0.0, 1.0))
    return out.astype(np.float32)


def sharpness(image: np.ndarray, mask: np.ndarray | None, px_per_m: float, common_px_per_m: float) -> float:
    """How sharp a photo's head is, independent of its content's contrast and of its resolution.

    The grey photo is resized to ``common_px_per_m`` (the lowest resolution of the set) and
    ``k = mean |g - G_1 g| / mean |G_1 g - G_2 g|`` taken over the head mask (``G_s`` a
    Gaussian of ``s`` px): the finest band's energy relative to the next band's, lower when the
    photo is blurred (defocus, motion, upscaling) whatever the lighting's contrast; 1 for a
    flat head.

    Parameters
    ----------
    image : (T, T, 3) uint8
    mask : (S, S) bool or None
        Head pixels of the same square (None: the whole square).
    px_per_m, common_px_per_m : float
        The photo's and the common resolution on the head, px per metre.
    """
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    zoom = min(1.0, common_px_per_m / px_per_m)
    side = max(16, round(grey.shape[0] * zoom))
    g = cv2.resize(grey, (side, side), interpolation=cv2.INTER_AREA)
    g1 = cv2.GaussianBlur(g, (0, 0), 1.0)
    g2 = cv2.GaussianBlur(g, (0, 0), 2.0)
    m = np.ones((side, side), bool) if mask is None else cv2.resize(
        np.asarray(mask, np.uint8), (side, side), interpolation=cv2.INTER_NEAREST) > 0
    m = cv2.erode(m.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    coarse = float(np.abs(g1 - g2)[m].mean()) if m.sum() >= 16 else 0.0
    if coarse < 0.05:  # grey levels: a flat head (or none) tells nothing
        return 1.0
    return float(np.abs(g - g1)[m].mean() / coarse)


def most_frontal(fits: Sequence[TemplateFit]) -> int:
    """Index of the fit whose face (the template's -Y) points most toward its camera."""
    from .template_fit import TO_CAMERA

    toward = [float((TO_CAMERA @ f.rotation @ np.array([0.0, -1.0, 0.0]))[2]) for f in fits]
    return int(np.argmax(toward))


def fuse_textures(
    template: TemplateHead,
    fits: Sequence[TemplateFit],
    images: Sequence[np.ndarray],
    *,
    crop_sizes: Sequence[int],
    masks: Sequence[np.ndarray | None],
    size: int = 2048,
    reference: int | None = None,
) -> TextureBake:
    """Bake every photo and blend the bakes (module notes).

    Parameters
    ----------
    template : TemplateHead
    fits : sequence of TemplateFit
        One per photo, the same head (identity) with each photo's camera and expression.
    images : sequence of (T_i, T_i, 3) uint8
        Each photo's texture square (``Reconstruction.texture``).
    crop_sizes : sequence of int
        Side S of each photo's network crop (its fit's camera), px.
    masks : sequence of (S, S) bool or None
        Each photo's head mask (see core.texture_bake.bake_texture).
    size : int
        Side of each tile, px.
    reference : int or None
        Photo whose eyes, mouth, eye image and iris colour are kept; None: the most frontal.

    Returns
    -------
    TextureBake
        ``seen`` is the largest direct share over the photos; ``mirrored`` the texels that are
        mirrored in every photo's bake.
    """
    import cv2

    n = len(fits)
    if not (len(images) == len(crop_sizes) == len(masks) == n) or n == 0:
        raise ValueError("fits, images, crop_sizes and masks must have one entry per photo")
    ref = most_frontal(fits) if reference is None else int(reference)
    bakes = [bake_texture(template, f, img, crop_size=cs, size=size, mask=m)
             for f, img, cs, m in zip(fits, images, crop_sizes, masks, strict=True)]
    if n == 1:
        return bakes[0]
    resolution = np.array([f.scale * img.shape[0] / cs for f, img, cs in zip(fits, images, crop_sizes,
                                                                            strict=True)])
    keen = np.array([sharpness(img, m, r, resolution.min())
                     for img, m, r in zip(images, masks, resolution, strict=True)])
    views = [vertex_view(template, f, crop_size=cs, image_size=cs).weight
             for f, cs in zip(fits, crop_sizes, strict=True)]
    attrs = np.stack(views + [expression_regions(template)], axis=1)
    tex, band = texel_attributes(template, size, attrs)  # (2, L, L, n + 1)
    low = tex.shape[1]

    def to_low(image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, (low, low), interpolation=cv2.INTER_AREA)

    seen = np.stack([[to_low(b.seen[k]) for k in range(2)] for b in bakes])  # (n, 2, L, L)
    colour = np.stack([[to_low(b.tiles[k]).astype(np.float32) for k in range(2)] for b in bakes])
    region = np.clip(tex[..., n], 0.0, 1.0)
    view_weight = np.clip(np.moveaxis(tex[..., :n], -1, 0), 0.0, None)  # (n, 2, L, L)
    q = seen * view_weight * (resolution / resolution.max() * np.sqrt(keen / keen.max()))[:, None, None, None]
    others = np.arange(n) != ref
    q[others] *= 1.0 - region
    q = q**SELECT_POWER
    q[ref] += 1e-6

    # gains: reference first, then the others by how much they share with what is placed
    gain = np.ones((n, 3), dtype=np.float32)
    placed = [ref]
    todo = [i for i in range(n) if i != ref]
    while todo:
        shared = [int(((seen[i] > OVERLAP_SEEN) & (seen[placed].max(0) > OVERLAP_SEEN)).sum()) for i in todo]
        i = todo.pop(int(np.argmax(shared)))
        overlap = (seen[i] > OVERLAP_SEEN) & (seen[placed].max(0) > OVERLAP_SEEN)
        if overlap.sum() >= MIN_OVERLAP:
            w = seen[placed] * (seen[placed] > OVERLAP_SEEN)
            target = (w[..., None] * gain[placed][:, None, None, None] * colour[placed]).sum(0) / np.maximum(
                w.sum(0), 1e-6)[..., None]
            gain[i] = np.clip((target[overlap].mean(0) + 4.0) / (colour[i][overlap].mean(0) + 4.0), 0.5, 2.0)
        placed.append(i)

    def weights(sigma: float) -> np.ndarray:
        """(n, 2, L, L) the photos' blend weights, ``q`` blurred by ``sigma`` low texels, summing to 1."""
        b = np.empty_like(q)
        for i in range(n):
            for k in range(2):
                b[i, k] = cv2.GaussianBlur(q[i, k], (0, 0), sigma)
        b[others] *= 1.0 - region  # again after the blur: nothing leaks into the eyes and mouth
        b[ref] += 1e-12
        return b / b.sum(0, keepdims=True)

    wide, narrow = weights(BLEND_TEXELS), weights(DETAIL_TEXELS)
    tiles = np.empty((2, size, size, 3), dtype=np.uint8)
    for k in range(2):
        # two bands: the low-resolution colours cross-fade over the wide weights, the detail
        # (the tile minus its low-resolution copy) over the narrow ones, so fine features from
        # two photos do not double up in the cross-fade
        acc = np.zeros((size, size, 3), dtype=np.float32)
        for i in range(n):
            keep = (1.0 - band[k]) * (i == ref)  # off the islands' band the reference's bake alone
            w_low, w_high = (cv2.resize(np.ascontiguousarray(w[i, k] * band[k] + keep, dtype=np.float32),
                                        (size, size)) for w in (wide, narrow))
            base = cv2.resize(np.ascontiguousarray(colour[i, k]), (size, size))  # (T, T, 3) the low band
            detail = cv2.subtract(bakes[i].tiles[k], base, dtype=cv2.CV_32F)
            g = gain[i]
            acc += cv2.multiply(base, cv2.merge([w_low * g[c] for c in range(3)]))
            acc += cv2.multiply(detail, cv2.merge([w_high * g[c] for c in range(3)]))
        tiles[k] = np.clip(acc + 0.5, 0, 255).astype(np.uint8)
    r = bakes[ref]
    return TextureBake(
        tiles=tiles, seen=np.max([b.seen for b in bakes], axis=0),
        mirrored=np.all([b.mirrored for b in bakes], axis=0), eye=r.eye, iris_rgb=r.iris_rgb,
        sclera_rgb=r.sclera_rgb, eyelash_rgb=r.eyelash_rgb,
    )
