# SPDX-License-Identifier: GPL-3.0-or-later
"""The synthetic splits as evaluation batches: the fixed test set, validation or training heads.

Shared by ``training.evaluate`` (the metrics) and ``training.calibrate`` (the mask threshold on
validation heads), which ``training.export`` runs; kept apart so that none of them imports another
in a circle.
"""

from __future__ import annotations

from training.synth.dataset import stacked_batches

SPLITS = ("test", "val", "train")


def split_batches(dataset: str | None, resolution: int, limit: int | None, split: str = "test",
                  batch_size: int = 16):
    """Yield dict batches of (B, C, S, S) tensors of a split (:func:`stacked_batches`).

    ``split="test"``: the fixed 200-image test set (``training.synth.test_set``);
    ``"val"`` / ``"train"``: the first ``limit`` (default 200) validation or training heads,
    rendered on the fly (the training heads are the first of the shards ``training.synth.shards``
    writes, so ``"train"`` against ``"val"`` measures the generalisation gap).
    ``dataset`` ('module:Class') replaces the synthetic heads for any split.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    if dataset or split != "test":
        if dataset:
            from training.train import load_dataset_class

            cls = load_dataset_class(dataset)
        else:
            from training.synth import SynthDataset as cls
        ds = cls(split=split, resolution=resolution, length=limit or 200, seed=0)
    else:
        from training.synth import test_set

        ds = test_set(resolution)
    n = len(ds) if limit is None else min(limit, len(ds))
    yield from stacked_batches(ds, n, batch_size)
