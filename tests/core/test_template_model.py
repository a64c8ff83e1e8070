# SPDX-License-Identifier: GPL-3.0-or-later
"""The shipped template head: faithful to ICT-FaceKit, linear, landmarks in place, checked on load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.errors import FaceFromPhotoError
from core.template_model import TEMPLATE_DIR, load_template, read_template

SOURCE = Path(__file__).resolve().parents[2].parent / "shared" / "third_party" / "ict-facekit"
# float16 millimetres: the build measures 0.004 mm per identity mode and 0.016 mm per
# expression at most; a tpl made of ~60 modes at up to 1.5 sd stays well under this.
TOLERANCE_M = 1e-4

needs_source = pytest.mark.skipif(not SOURCE.is_dir(), reason="ICT-FaceKit source not present")


@pytest.fixture(scope="module")
def tpl():
    return load_template()


def _upstream(identity: np.ndarray | None = None, expression: np.ndarray | None = None) -> np.ndarray:
    """Upstream vertices (cm, y up, face toward +z) turned into Blender metres."""
    with np.load(SOURCE / "ict_facekit_shapes.npz") as z:
        names = [str(n) for n in z["names"]]
        neutral = z["neutral"].astype(np.float64)
        v = neutral.copy()
        if identity is not None:
            for k, a in enumerate(identity):
                v += a * (z["shapes"][names.index(f"identity{k:03d}")] - neutral)
        if expression is not None:
            order = json.loads((SOURCE / "vertex_indices.json").read_text())["expressions"]
            for name, w in zip(order, expression, strict=True):
                if w:
                    v += w * (z["shapes"][names.index(name)] - neutral)
    return np.stack([v[:, 0], -v[:, 2], v[:, 1]], axis=1) / 100.0


def test_counts(tpl):
    assert tpl.n_vertices == 26719
    assert len(tpl.loop_start) == 26384
    assert tpl.loop_total.min() == 3 and tpl.loop_total.max() == 4
    assert tpl.loop_uv.shape == (len(tpl.loop_vertex), 2)
    # upstream UV tiles (UDIM style): u's integer part is the tile, face in tile 0, back of the head in 1
    assert 0.0 <= tpl.loop_uv.min() and tpl.loop_uv[:, 1].max() <= 1.0 and tpl.loop_uv[:, 0].max() < 7.0
    face_loops = np.repeat(tpl.polygon_material, tpl.loop_total) == tpl.material_names.index("M_Face")
    assert tpl.loop_uv[face_loops].max() <= 1.0
    assert len(tpl.expression_names) == 53 and "jawOpen" in tpl.expression_names
    assert "cheekRaiser_L" not in tpl.expression_names
    assert tpl.identity_basis.shape == (3 * 26719, tpl.n_identity)
    assert tpl.part_mask("face").sum() == 9409 and tpl.part_mask().all()
    assert (TEMPLATE_DIR / "LICENSE").is_file() and (TEMPLATE_DIR / "CREDITS.md").is_file()


@needs_source
def test_reproduces_upstream_neutral_and_sample_identity(tpl):
    assert np.abs(tpl.deform() - _upstream()).max() < 1e-6
    sample = json.loads((SOURCE / "sample_identity_coeffs.json").read_text())
    a = np.asarray(sample["identity_coefficients"][: tpl.n_identity])
    e = np.asarray(sample["expression_coefficients"])
    e[tpl.expression_names.index("jawOpen")] = 0.7
    e[tpl.expression_names.index("mouthSmile_L")] = 1.0
    got = tpl.deform(a, e)
    assert np.abs(got - _upstream(a, e)).max() < TOLERANCE_M


def test_deform_is_linear(tpl):
    rng = np.random.default_rng(0)
    a1, a2 = rng.normal(size=(2, tpl.n_identity))
    e1, e2 = rng.uniform(size=(2, tpl.n_expression))
    v0 = tpl.deform()
    lhs = tpl.deform(a1 + 2 * a2, e1 + e2) - v0
    rhs = (tpl.deform(a1, e1) - v0) + 2 * (tpl.deform(a2) - v0) + (tpl.deform(None, e2) - v0)
    assert np.abs(lhs - rhs).max() < 1e-6


def test_frame_and_landmarks(tpl):
    v = tpl.neutral
    lm = v[tpl.landmark68]
    skin = v[tpl.part_mask("face", "head_and_neck")]
    height = skin[:, 2].max() - skin[:, 2].min()
    assert 0.30 < height < 0.37  # metres, crown to neck cut
    assert np.argmin(lm[:, 1]) in (30, 31, 32, 33, 34, 35)  # the nose is the front-most landmark
    assert lm[30, 1] < skin[:, 1].mean() - 0.05  # in front of the tpl (toward -Y)
    assert lm[36:42, 0].mean() < 0 < lm[42:48, 0].mean()  # subject's right eye at -X
    assert lm[8, 2] == lm[:, 2].min()  # chin lowest
    assert lm[36:48, 2].mean() > lm[48:68, 2].mean()  # eyes above mouth


def test_polygons_wind_outward(tpl):
    tri = tpl.triangles()
    skin = tpl.part_mask("face", "head_and_neck")
    tri = tri[skin[tri].all(1)]
    p = tpl.neutral[tri].astype(np.float64)
    n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    out = p.mean(1) - tpl.neutral[skin].mean(0)
    flux = np.einsum("ij,ij->i", n, out)  # area-weighted: concave spots (eyes, lips) point inward
    assert flux[flux > 0].sum() > 5 * -flux[flux < 0].sum()


def test_correspondence_lookup_covers_the_face(tpl):
    assert len(tpl.fit_vertices) > 5000
    assert np.isin(tpl.landmark68[17:], tpl.fit_vertices).mean() > 0.8
    assert (tpl.fit_anny01 > -0.1).all() and (tpl.fit_anny01 < 1.1).all()


@pytest.mark.parametrize("damage", ["flip", "missing", "manifest"])
def test_damaged_asset_is_one_sentence(tmp_path, damage):
    folder = tmp_path / "template"
    shutil.copytree(TEMPLATE_DIR, folder)
    asset = folder / "ict_head.npz"
    if damage == "flip":
        data = bytearray(asset.read_bytes())
        data[len(data) // 2] ^= 0xFF
        asset.write_bytes(bytes(data))
    elif damage == "missing":
        asset.unlink()
    else:
        (folder / "manifest.json").write_text("{")
    with pytest.raises(FaceFromPhotoError) as err:
        read_template(folder)
    text = str(err.value)
    assert text.endswith(".") and text.count(". ") == 0 and "reinstall" in text
