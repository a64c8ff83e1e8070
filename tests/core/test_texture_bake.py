# SPDX-License-Identifier: GPL-3.0-or-later
"""The UV texture bake: photo colours land on the right texels, hidden skin is mirrored, no holes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.template_fit import TemplateFit
from core.template_model import load_template
from core.texture_bake import _uv_texels, bake_texture

CROP = 128
IMAGE = 256
SIZE = 256


@pytest.fixture(scope="module")
def tpl():
    return load_template()


def _fit(tpl, yaw_deg: float) -> TemplateFit:
    y = math.radians(yaw_deg)
    rot = np.array([[math.cos(y), -math.sin(y), 0.0], [math.sin(y), math.cos(y), 0.0], [0.0, 0.0, 1.0]])
    zeros = (np.zeros(tpl.n_identity), np.zeros(tpl.n_expression))
    return TemplateFit(*zeros, rot, 400.0, np.array([64.0, 70.0, 0.0]), tpl.deform())


def _face_texels_x(tpl) -> tuple[np.ndarray, np.ndarray]:
    """Flat texel indices of tile 0 and the template x (m, subject's left > 0) of each."""
    flat, corner, bary = _uv_texels(tpl, SIZE)[0]
    x = (bary * tpl.neutral[corner, 0]).sum(axis=0)  # corner-major (3, n)
    return flat, x


def test_uniform_photo_gives_uniform_skin_without_holes(tpl):
    photo = np.empty((IMAGE, IMAGE, 3), np.uint8)
    photo[:] = (180, 120, 90)
    bake = bake_texture(tpl, _fit(tpl, 20.0), photo, crop_size=CROP, size=SIZE)
    assert bake.tiles.shape == (2, SIZE, SIZE, 3)
    assert np.abs(bake.tiles.astype(int) - (180, 120, 90)).max() <= 2  # face, back of the head, gutters
    assert (bake.seen[0] > 0).mean() > 0.2 and (bake.seen[1] > 0).mean() < (bake.seen[0] > 0).mean()


def test_each_side_takes_its_own_half_of_the_photo(tpl):
    photo = np.zeros((IMAGE, IMAGE, 3), np.uint8)
    photo[:, : IMAGE // 2] = (255, 0, 0)  # the image's left: the subject's right side (x < 0)
    photo[:, IMAGE // 2:] = (0, 0, 255)
    bake = bake_texture(tpl, _fit(tpl, 0.0), photo, crop_size=CROP, size=SIZE)
    flat, x = _face_texels_x(tpl)
    seen = bake.seen[0].ravel()[flat] > 0.5
    colour = bake.tiles[0].reshape(-1, 3)[flat].astype(int)
    right, left = seen & (x < -0.03), seen & (x > 0.03)
    assert right.sum() > 100 and left.sum() > 100
    assert (colour[right, 0] > 200).mean() > 0.95 and (colour[left, 2] > 200).mean() > 0.95


def test_hidden_side_is_filled_from_the_mirror(tpl):
    photo = np.zeros((IMAGE, IMAGE, 3), np.uint8)
    photo[..., 1] = np.linspace(0, 255, IMAGE, dtype=np.uint8)[:, None]  # green grows down the image
    bake = bake_texture(tpl, _fit(tpl, 70.0), photo, crop_size=CROP, size=SIZE)  # the left cheek turns away
    flat, x = _face_texels_x(tpl)
    hidden = x > 0.05
    mirrored = bake.mirrored[0].ravel()[flat]
    assert (bake.seen[0].ravel()[flat][hidden] == 0).mean() > 0.8
    assert mirrored[hidden].mean() > 0.5 and not mirrored[x < -0.05].any()
