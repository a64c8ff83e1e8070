# SPDX-License-Identifier: GPL-3.0-or-later
"""A training stream that interleaves anny heads and template heads.

Item ``i`` of :class:`MixedHeadDataset` is a template head (``training.synth.template_heads``)
when ``i mod PERIOD < TEMPLATE_PER_PERIOD``, else an anny head (``training.synth.SynthDataset``).
Each source reads its own items in order: the anny item is number
``i - t(i)`` of the anny stream and the template item number ``t(i)`` of the template stream,
where ``t(i) = (i // PERIOD) * k + min(i mod PERIOD, k)`` counts the template items before
``i`` (``k = TEMPLATE_PER_PERIOD``). So the anny generator keeps its fast path (consecutive
heads come from one block) and the stream is a pure function of (split, seed, i), as
``training.train`` needs for an exact resume.

Both sources give ``training.synth.dataset.to_tensors`` dicts with the same keys; the template
heads' ``corr`` is in the anny frame (``corr_anny``), the frame the shipped correspondence
decoder predicts, so one loss serves both.
"""

from __future__ import annotations

from training.synth.dataset import SynthDataset
from training.synth.template_heads import TemplateHeadDataset

PERIOD = 10
TEMPLATE_PER_PERIOD = 6  # 60 % template heads: they carry the correspondences to learn


def template_items_before(i: int, k: int = TEMPLATE_PER_PERIOD, period: int = PERIOD) -> int:
    """t(i): how many of items 0 .. i-1 are template heads."""
    q, r = divmod(int(i), period)
    return q * k + min(r, k)


class MixedHeadDataset:
    """Anny and template heads interleaved, ``TEMPLATE_PER_PERIOD`` of every ``PERIOD`` items template.

    Parameters
    ----------
    split : "train" | "val" | "test"
    resolution : crop side S in px
    length : number of items
    seed : offset of both index streams (as in the datasets it mixes)
    """

    def __init__(self, split: str = "train", resolution: int = 128, length: int = 10000, seed: int = 0):
        self.length = int(length)
        n_template = template_items_before(self.length)
        self.template = TemplateHeadDataset(split, resolution, max(1, n_template), seed)
        self.anny = SynthDataset(split, resolution, max(1, self.length - n_template), seed)

    def __len__(self) -> int:
        return self.length

    def source_of(self, i: int) -> tuple[str, int]:
        """("template" | "anny", index within that source) of item i."""
        if not 0 <= i < self.length:
            raise IndexError(i)
        t = template_items_before(i)
        if i % PERIOD < TEMPLATE_PER_PERIOD:
            return "template", t
        return "anny", i - t

    def __getitem__(self, i: int) -> dict:
        name, j = self.source_of(i)
        return (self.template if name == "template" else self.anny)[j]
