# SPDX-License-Identifier: GPL-3.0-or-later
"""Synthetic training data: random anny heads rendered with exact ground truth.

``generate_sample(index, split, resolution)`` -> numpy dict (see ``generator``);
``SynthDataset`` / ``ShardDataset`` -> torch datasets of ``(C, S, S)`` float32 tensors;
``test_set(resolution)`` -> the fixed 200-sample test set.
Conventions (frames, units, depth definition) are in ``training/synth/generator.py``.
"""

from training.synth.dataset import KEYS, ShardDataset, SynthDataset, test_set
from training.synth.generator import generate_block, generate_sample

__all__ = ["KEYS", "ShardDataset", "SynthDataset", "generate_block", "generate_sample", "test_set"]
