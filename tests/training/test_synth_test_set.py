# SPDX-License-Identifier: GPL-3.0-or-later
"""The fixed 200-image test set regenerates: every per-sample, per-channel mean and std
is within 1e-3 of the channel's scale of the statistics committed in
training/synth/test_set_128.stats.json (``python -m training.synth.checksum --write``
records new ones after a deliberate change). Bit-exactness is not asserted: it holds
on one CPU family, not across them (see training/synth/checksum.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from training.synth import checksum
from training.synth.dataset import TEST_SET_SIZE
from training.synth.dataset import test_set as fixed_test_set  # not a test: pytest collects test_*


@pytest.fixture(scope="module")
def samples():
    return fixed_test_set(128)


def test_recorded_records_are_well_formed():
    digests = checksum.read_digests(128)
    assert digests and all(re.fullmatch(r"[0-9a-f]{64}", d) for d in digests)
    names, stats = checksum.read_stats(128)
    assert stats.shape == (TEST_SET_SIZE, len(names), 2) == (TEST_SET_SIZE, 12, 2)
    assert np.isfinite(stats).all() and (stats[:, :, 1] >= 0).all()


def test_test_set_regenerates_within_tolerance_of_the_recorded_statistics(samples):
    ok, why = checksum.check(samples, 128)
    assert ok, why


def test_the_check_fails_on_a_visible_change(samples):
    """1 % brighter on one image, or two samples swapped, is caught; float32 rounding noise is not."""
    brighter = [dict(s) for s in samples]
    brighter[7]["image"] = np.clip(samples[7]["image"] * 1.01, 0.0, 1.0)
    assert not checksum.check(brighter, 128)[0]

    swapped = list(samples)
    swapped[3], swapped[4] = swapped[4], swapped[3]
    assert not checksum.check(swapped, 128)[0]

    rng = np.random.default_rng(0)
    noisy = [dict(s) for s in samples]
    for s in noisy:
        for k in ("image", "normals", "depth"):
            a = s[k]
            s[k] = (a + rng.uniform(-5e-7, 5e-7, a.shape) * np.maximum(np.abs(a), 1.0)).astype(a.dtype)
    assert checksum.check(noisy, 128)[0]
