# SPDX-License-Identifier: GPL-3.0-or-later
"""The UV displacement map: zero for a relief equal to the fitted head, a bump added to the
relief lands on the texels of the surface under it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.detail_bake import bake_detail, head_depth
from core.template_fit import TemplateFit
from core.template_model import load_template
from core.texture_bake import _layout, texel_attributes, vertex_view

CROP = 128
SIZE = 256


@pytest.fixture(scope="module")
def tpl():
    return load_template()


@pytest.fixture(scope="module")
def fit(tpl):
    y = math.radians(15.0)
    rot = np.array([[math.cos(y), -math.sin(y), 0.0], [math.sin(y), math.cos(y), 0.0], [0.0, 0.0, 1.0]])
    zeros = (np.zeros(tpl.n_identity), np.zeros(tpl.n_expression))
    return TemplateFit(*zeros, rot, 400.0, np.array([64.0, 70.0, 3.0]), tpl.deform())


def test_relief_equal_to_the_head_gives_no_detail(tpl, fit):
    relief = head_depth(tpl, fit, CROP) + 17.0  # any offset
    d = bake_detail(tpl, fit, relief, size=SIZE)
    assert d.shape == (2, SIZE, SIZE) and d.dtype == np.float32
    assert np.abs(d).max() < 1e-5


def test_a_bump_on_the_relief_lands_at_its_uv(tpl, fit):
    head = head_depth(tpl, fit, CROP)
    view = vertex_view(tpl, fit, crop_size=CROP, image_size=CROP)
    cheeks = np.flatnonzero(tpl.part_mask("face") & (tpl.neutral[:, 0] > 0.03) & (tpl.neutral[:, 1] < -0.06)
                            & (np.abs(tpl.neutral[:, 2]) < 0.01) & (view.weight > 0))
    cheek = int(cheeks[np.argmax(view.cos[cheeks])])  # the subject's left cheek, facing the camera
    u, v, _ = fit.project(tpl.neutral[cheek:cheek + 1].astype(np.float64))[0]
    rows, cols = np.mgrid[:CROP, :CROP]
    bump_px = 0.002 * fit.scale  # 2 mm
    relief = head + bump_px * np.exp(-((cols - u) ** 2 + (rows - v) ** 2) / (2 * 2.5**2))
    d = bake_detail(tpl, fit, relief, size=SIZE)
    pos, _ = texel_attributes(tpl, SIZE, tpl.neutral)  # surface point of each low texel
    low = pos.shape[1]
    inside = _layout(tpl, SIZE).inside.reshape(2, low, low)
    d_low = d.reshape(2, low, SIZE // low, low, SIZE // low).mean(axis=(2, 4))
    k, r, c = np.unravel_index(np.argmax(np.where(inside, d_low, -1.0)), d_low.shape)
    assert k == 0 and 0.0004 < d.max() < 0.0025, d.max()  # metres, outward, on the face tile
    # the surface point of the texel with the largest displacement lies at the cheek vertex
    p = pos[0, r, c]
    assert np.linalg.norm(p - tpl.neutral[cheek]) < 0.008
    # and the displacement is local: far from the bump (> 3 cm) it stays tiny
    far = np.linalg.norm(pos[0] - tpl.neutral[cheek], axis=-1) > 0.03
    assert np.abs(d_low[0][far & inside[0]]).max() < 0.2 * d.max()
