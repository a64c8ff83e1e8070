# SPDX-License-Identifier: GPL-3.0-or-later
"""The fixed 200-image test set regenerates bit-exactly: its SHA-256 at 128 px equals
a digest committed in training/synth/test_set_128.sha256 (one per CPU family) (``python -m
training.synth.checksum --write`` records a new one after a deliberate change)."""

from __future__ import annotations

import re

from training.synth import checksum


def test_recorded_digest_is_well_formed():
    digests = checksum.read_digests(128)
    assert digests and all(re.fullmatch(r"[0-9a-f]{64}", d) for d in digests)


def test_test_set_regenerates_to_the_recorded_digest():
    assert checksum.test_set_digest(128) in checksum.read_digests(128)
