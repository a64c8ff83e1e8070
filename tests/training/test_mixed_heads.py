# SPDX-License-Identifier: GPL-3.0-or-later
"""The mixed anny / template training stream: which source each item comes from, and its items."""

import torch

from training.synth.mixed_heads import PERIOD, TEMPLATE_PER_PERIOD, MixedHeadDataset, template_items_before


def test_items_alternate_sources_and_each_source_reads_its_stream_in_order():
    ds = MixedHeadDataset("train", 64, length=3 * PERIOD)
    sources = [ds.source_of(i) for i in range(len(ds))]
    templates = [j for name, j in sources if name == "template"]
    annys = [j for name, j in sources if name == "anny"]
    assert len(templates) == 3 * TEMPLATE_PER_PERIOD and len(annys) == 3 * (PERIOD - TEMPLATE_PER_PERIOD)
    assert templates == list(range(len(templates))) and annys == list(range(len(annys)))
    counts = [sum(n == "template" for n, _ in sources[:i]) for i in range(len(ds))]
    assert [template_items_before(i) for i in range(len(ds))] == counts


def test_an_item_of_each_source_has_the_training_keys_and_corr_in_the_unit_box():
    ds = MixedHeadDataset("val", 64, length=PERIOD)
    for i in (0, PERIOD - 1):  # a template head, then an anny head
        item = ds[i]
        assert set(item) >= {"image", "normals", "mask", "depth", "corr"}
        assert item["image"].shape == (3, 64, 64) and item["corr"].shape == (3, 64, 64)
        inside = item["mask"][0] > 0.5
        assert inside.sum() > 200
        c = item["corr"][:, inside]
        assert torch.all((c >= 0) & (c <= 1)) and c.std() > 0.05
    a, b = ds[0], MixedHeadDataset("val", 64, length=PERIOD)[0]
    assert torch.equal(a["image"], b["image"])  # a pure function of (split, seed, i)
