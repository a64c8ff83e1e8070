# SPDX-License-Identifier: GPL-3.0-or-later
"""The UV texture bake: photo colours land on the right texels, hidden skin is mirrored or filled
in the colour of the seen skin, no holes, and the iris takes the photo's eye colour."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from core.template_fit import LANDMARK5_VERTICES, TemplateFit
from core.template_model import load_template
from core.texture_bake import _eye_radius, _layout, bake_texture, texel_attributes, vertex_view
from core.zbuffer import depth_buffer

CROP = 128
IMAGE = 256
SIZE = 256
SKIN = (180, 120, 90)


@pytest.fixture(scope="module")
def tpl():
    return load_template()


def _fit(tpl, yaw_deg: float) -> TemplateFit:
    y = math.radians(yaw_deg)
    rot = np.array([[math.cos(y), -math.sin(y), 0.0], [math.sin(y), math.cos(y), 0.0], [0.0, 0.0, 1.0]])
    zeros = (np.zeros(tpl.n_identity), np.zeros(tpl.n_expression))
    return TemplateFit(*zeros, rot, 400.0, np.array([64.0, 70.0, 0.0]), tpl.deform())


def _texel_x(tpl) -> tuple[np.ndarray, np.ndarray]:
    """Template x (m, subject's left > 0) of each low-resolution texel (2, L, L), and the
    texels on a UV island."""
    values, _ = texel_attributes(tpl, SIZE, tpl.neutral[:, :1])
    low = values.shape[1]
    return values[..., 0], _layout(tpl, SIZE).inside.reshape(2, low, low)


def _low(a: np.ndarray, low: int) -> np.ndarray:
    """Tiles (2, T, T, ...) averaged down to (2, L, L, ...)."""
    return np.stack([cv2.resize(t, (low, low), interpolation=cv2.INTER_AREA) for t in a])


def test_zbuffer_interpolates_and_keeps_the_nearest():
    pts = np.array([[1, 1, 0], [9, 1, 10], [1, 9, 20], [1, 1, 5], [9, 1, 5], [1, 9, 5]], float)
    z = depth_buffer(pts, np.array([[0, 1, 2], [3, 5, 4]]), 12, 12)
    assert z[1, 9] == 10 and z[9, 1] == 20 and z[1, 1] == 5  # the nearer of the two at (1, 1)
    assert z[5, 3] == pytest.approx(12.5)  # b = (1/4, 1/4, 1/2) of (0, 10, 20)
    assert np.isneginf(z[10, 10])


def test_uniform_photo_gives_uniform_skin_without_holes(tpl):
    photo = np.empty((IMAGE, IMAGE, 3), np.uint8)
    photo[:] = SKIN
    bake = bake_texture(tpl, _fit(tpl, 20.0), photo, crop_size=CROP, size=SIZE)
    assert bake.tiles.shape == (2, SIZE, SIZE, 3) and bake.tiles.dtype == np.uint8
    assert bake.seen.shape == (2, SIZE, SIZE) and bake.seen.dtype == np.float32
    assert bake.mirrored.shape == (2, SIZE, SIZE) and bake.mirrored.dtype == bool
    # face, back of the head and the gutters between the islands: all skin, no zeros
    assert np.abs(bake.tiles.astype(int) - SKIN).max() <= 2
    assert (bake.seen[0] > 0).mean() > 0.2 and (bake.seen[1] > 0).mean() < (bake.seen[0] > 0).mean()


def test_each_side_takes_its_own_half_of_the_photo(tpl):
    photo = np.zeros((IMAGE, IMAGE, 3), np.uint8)
    photo[:, : IMAGE // 2] = (255, 0, 0)  # the image's left: the subject's right side (x < 0)
    photo[:, IMAGE // 2:] = (0, 0, 255)
    bake = bake_texture(tpl, _fit(tpl, 0.0), photo, crop_size=CROP, size=SIZE)
    x, inside = _texel_x(tpl)
    low = x.shape[1]
    seen = inside & (_low(bake.seen, low) > 0.9)
    colour = _low(bake.tiles, low).astype(int)
    right, left = seen & (x < -0.03), seen & (x > 0.03)
    assert right.sum() > 100 and left.sum() > 100
    assert (colour[right][:, 0] > 200).mean() > 0.95 and (colour[left][:, 2] > 200).mean() > 0.95


def test_hidden_side_is_mirrored_and_unseen_skin_takes_the_seen_colour(tpl):
    photo = np.zeros((IMAGE, IMAGE, 3), np.uint8)
    photo[..., 1] = np.linspace(40, 255, IMAGE).astype(np.uint8)[:, None]  # green grows down the image
    photo[..., 0] = 120
    bake = bake_texture(tpl, _fit(tpl, 70.0), photo, crop_size=CROP, size=SIZE)  # the left cheek turns away
    x, inside = _texel_x(tpl)
    low = x.shape[1]
    hidden = inside[0] & (x[0] > 0.05)
    seen = _low(bake.seen, low)[0]
    mirrored = _low(bake.mirrored.astype(np.float32), low)[0] > 0.5
    assert (seen[hidden] < 0.05).mean() > 0.8
    assert mirrored[hidden].mean() > 0.4 and not mirrored[inside[0] & (x[0] < -0.05)].any()
    # nothing is left black: every texel of both tiles holds a colour of the photo's range
    assert bake.tiles[..., 0].min() >= 110 and bake.tiles[..., 1].min() >= 30


def test_back_of_the_head_takes_the_tone_of_the_seen_skin(tpl):
    photo = np.zeros((IMAGE, IMAGE, 3), np.uint8)
    photo[:] = (40, 40, 200)  # background and hair: blue
    fit = _fit(tpl, 0.0)
    view = vertex_view(tpl, fit, crop_size=CROP, image_size=IMAGE)
    face = view.points[tpl.part_mask("face") & (view.weight > 0)]
    lo, hi = face[:, :2].min(axis=0), face[:, :2].max(axis=0)
    photo[int(lo[1]):int(hi[1]) + 1, int(lo[0]):int(hi[0]) + 1] = SKIN  # the whole visible face
    bake = bake_texture(tpl, fit, photo, crop_size=CROP, size=SIZE)
    x, inside = _texel_x(tpl)
    low = x.shape[1]
    unseen = inside[1] & (_low(bake.seen, low)[1] < 0.01)
    back = _low(bake.tiles, low)[1][unseen].astype(float)
    assert unseen.sum() > 1000
    # the unseen back of the head is a blend of what the photo shows around it, never black
    # the unseen back of the head takes the colour of the skin the photo shows (not black, not the
    # blue around the face), smoothly
    assert np.abs(back.mean(axis=0) - SKIN).max() < 15 and back[:, 0].min() > 120


def test_iris_colour_follows_the_photo_eyes(tpl):
    fit = _fit(tpl, 10.0)
    view = vertex_view(tpl, fit, crop_size=CROP, image_size=IMAGE)
    for colour in ((40, 150, 60), (60, 90, 200)):
        photo = np.empty((IMAGE, IMAGE, 3), np.uint8)
        photo[:] = SKIN
        for v in LANDMARK5_VERTICES.values():
            centre = tuple(int(round(c)) for c in view.points[v, :2])
            cv2.circle(photo, centre, 4, colour, -1)
        bake = bake_texture(tpl, fit, photo, crop_size=CROP, size=SIZE)
        assert np.abs(bake.iris_rgb.astype(int) - colour).max() <= 12, bake.iris_rgb
        assert bake.sclera_rgb.min() > 180 and bake.eyelash_rgb.max() < 60
        # the eye image: dark pupil, the iris colour around it, white sclera beyond the limbus
        r = _eye_radius(tpl)
        assert bake.eye.shape == (256, 256, 3) and bake.eye.dtype == np.uint8
        assert bake.eye[r < 0.001].max() < 40
        iris = bake.eye[(r > 0.0025) & (r < 0.0035)].astype(int)
        assert np.abs(np.median(iris, axis=0) - colour).max() <= 15
        assert bake.eye[r > 0.008].min() > 180


def test_a_collar_below_the_chin_does_not_paint_the_neck(tpl):
    photo = np.empty((IMAGE, IMAGE, 3), np.uint8)
    photo[:] = SKIN
    photo[int(IMAGE * 0.82):] = 0  # a black collar below the chin (at row 0.78 of the crop)
    bake = bake_texture(tpl, _fit(tpl, 0.0), photo, crop_size=CROP, size=SIZE)
    off = np.abs(bake.tiles.astype(int) - SKIN).max(axis=-1)
    assert (off <= 12).mean() > 0.999 and off.max() <= 40  # at most a faint line at the collar's edge


def test_pixels_off_the_head_mask_are_not_skin(tpl):
    photo = np.empty((IMAGE, IMAGE, 3), np.uint8)
    photo[:] = SKIN
    photo[:, : IMAGE // 2] = (0, 200, 0)  # the image's left half is something else
    mask = np.zeros((CROP, CROP), bool)
    mask[:, CROP // 2:] = True  # ... and the mask says so
    bake = bake_texture(tpl, _fit(tpl, 0.0), photo, crop_size=CROP, size=SIZE, mask=mask)
    off = np.abs(bake.tiles.astype(int) - SKIN).max(axis=-1)
    assert (off <= 12).mean() > 0.99 and bake.mirrored[0].mean() > 0.1  # the right side mirrored
    unmasked = bake_texture(tpl, _fit(tpl, 0.0), photo, crop_size=CROP, size=SIZE)
    assert (unmasked.tiles[..., 1] > 180).mean() > 0.05  # without the mask it is painted green


def _sample(tile: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(n, 3) bilinear colours of one tile (T, T, 3) at UVs within the tile."""
    t = tile.shape[0]
    x = (u * t - 0.5).astype(np.float32)
    y = ((1.0 - v) * t - 0.5).astype(np.float32)
    return cv2.remap(tile, x[None], y[None], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[0].astype(int)


def test_no_seam_between_the_face_and_the_back_of_the_head(tpl):
    photo = np.zeros((IMAGE, IMAGE, 3), np.uint8)
    rows, cols = np.mgrid[:IMAGE, :IMAGE]
    photo[..., 0] = 80 + cols * 150 // IMAGE
    photo[..., 1] = 60 + rows * 150 // IMAGE
    photo[..., 2] = 90
    bake = bake_texture(tpl, _fit(tpl, 30.0), photo, crop_size=CROP, size=512)
    # vertices on both skin tiles: the seam; compare the colours either side at their UVs
    tile_of_loop = np.floor(tpl.loop_uv[:, 0]).astype(int)
    skin = np.isin(tpl.polygon_material, [tpl.material_names.index(m) for m in ("M_Face", "M_BackHead")])
    starts, totals = tpl.loop_start[skin], tpl.loop_total[skin]
    skin_loops = np.concatenate([np.arange(s, s + n) for s, n in zip(starts, totals, strict=True)])
    first = {}
    for k in (0, 1):
        loops = skin_loops[tile_of_loop[skin_loops] == k]
        first[k] = dict(zip(tpl.loop_vertex[loops].tolist(), loops.tolist(), strict=True))
    seam = sorted(set(first[0]) & set(first[1]))
    assert len(seam) > 50
    l0 = np.array([first[0][v] for v in seam])
    l1 = np.array([first[1][v] for v in seam])
    c0 = _sample(bake.tiles[0], tpl.loop_uv[l0, 0], tpl.loop_uv[l0, 1])
    c1 = _sample(bake.tiles[1], tpl.loop_uv[l1, 0] - 1.0, tpl.loop_uv[l1, 1])
    gap = np.abs(c0 - c1).max(axis=1)
    assert np.median(gap) <= 2 and np.percentile(gap, 95) <= 6  # of 255
