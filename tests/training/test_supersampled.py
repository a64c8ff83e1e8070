# SPDX-License-Identifier: GPL-3.0-or-later
"""Ground truth averaged over each pixel's footprint (training.synth.supersampled)."""

from __future__ import annotations

import numpy as np
import pytest

from training.normal_error_split import angular_error_deg
from training.synth import generator
from training.synth.supersampled import supersampled_normals

S = 32


@pytest.fixture(scope="module")
def heads():
    model = generator.get_head_model()
    verts, params = generator.block_vertices(model, "val", 0)
    return model, verts, params


def test_the_ground_truth_maps_do_not_depend_on_the_shading(heads):
    model, verts, params = heads
    full = generator.render_head(model, verts[1], params[1], "val", 1, S)
    bare = generator.render_head(model, verts[1], params[1], "val", 1, S, with_image=False)
    assert "image" in full and "image" not in bare
    for key in ("normals", "grad_mag", "mask", "depth", "corr", "occluder"):
        assert np.array_equal(full[key], bare[key]), key


def test_a_finer_render_sees_the_same_head_through_the_same_pixels(heads):
    """For K = 3 the middle sub-pixel of each 3 x 3 block has the coarse pixel's centre."""
    model, verts, params = heads
    coarse = generator.render_head(model, verts[2], params[2], "val", 2, S, with_image=False)
    fine = generator.render_head(model, verts[2], params[2], "val", 2, 3 * S, with_image=False)
    mid_mask = fine["mask"][1::3, 1::3]
    assert (mid_mask == coarse["mask"]).mean() > 0.995
    both = mid_mask & coarse["mask"]
    err = angular_error_deg(fine["normals"][1::3, 1::3][both], coarse["normals"][both])
    assert both.sum() > 100 and np.median(err) < 1e-3 and (err < 0.1).mean() > 0.99


def test_factor_one_is_the_generator_and_finer_factors_average(heads):
    model, verts, params = heads
    point = [generator.render_head(model, verts[k], params[k], "val", k, S, with_image=False) for k in (0, 3)]
    same, cover1 = supersampled_normals("val", [0, 3], S, factor=1)
    for k, p in enumerate(point):
        assert np.array_equal(cover1[k] > 0, p["mask"])
        assert np.allclose(same[k][p["mask"]], p["normals"][p["mask"]], atol=1e-6)
    avg, cover = supersampled_normals("val", [3, 0], S, factor=4)  # any order of indices
    for row, p in zip((1, 0), point, strict=True):
        seen = cover[row] > 0
        assert np.allclose(np.linalg.norm(avg[row][seen], axis=-1), 1.0, atol=1e-5)
        assert np.all(avg[row][~seen] == [0, 0, 1])
        inner = p["mask"] & (cover[row] == 1.0)
        err = angular_error_deg(avg[row][inner], p["normals"][inner])
        # close to the centre sample on the whole, yet not the same where the surface turns
        assert np.median(err) < 2.0 and err.max() > 5.0
        assert 0.0 < cover[row][p["mask"]].min() and cover[row].max() == 1.0
    with pytest.raises(ValueError, match="factor"):
        supersampled_normals("val", [0], S, factor=0)


def test_a_shard_folder_copy_has_the_averaged_normals_and_everything_else_unchanged(tmp_path):
    import json

    from training.synth.shards import write_shards
    from training.synth.supersampled import main

    write_shards("val", 3, str(tmp_path / "point"), resolution=S, start=1, per_shard=2)
    main(["--shards", str(tmp_path / "point"), "--out", str(tmp_path / "avg"), "--factor", "4"])
    index = json.loads((tmp_path / "avg" / "index.json").read_text())
    assert index["normals_supersample"] == 4 and index["count"] == 3
    files = sorted(p.name for p in (tmp_path / "point").glob("shard_*.npz"))
    assert files == sorted(p.name for p in (tmp_path / "avg").iterdir() if p.suffix == ".npz")
    for name in files:
        with np.load(tmp_path / "point" / name) as a, np.load(tmp_path / "avg" / name) as b:
            for key in a.files:
                if key != "normals":
                    assert np.array_equal(a[key], b[key]), key
            fine, _ = supersampled_normals("val", a["index"].tolist(), S, 4)
            m = a["mask"]
            assert np.allclose(b["normals"][m], fine[m], atol=2e-3)
            assert not np.allclose(b["normals"], a["normals"])
            assert np.array_equal(b["normals"][~m], a["normals"][~m])
