# SPDX-License-Identifier: GPL-3.0-or-later
"""Choose the mask threshold the add-on uses, on validation heads (never the test set).

The mask decoder outputs logits; a pixel is head when its probability exceeds a
threshold p*. Precision and recall trade against each other through p*; the
shipped model has to meet two targets at once (precision >= 96 %, recall >=
98.5 % on the test set, issue 5; the normals paper reached 93.72 % / 98.40 %).
Export picks, on ``n`` heads of the ``"val"`` split, the p* that maximises the
smaller of the two margins

    m(p) = min(P(p) - P_target, R(p) - R_target)

so that it lies in the middle of the range meeting both targets when there is
one, and as close to both as the model allows when there is none. The network
runs as in the add-on (:func:`core.predict.run_network`, with the views the export ships).
"""

from __future__ import annotations

import numpy as np
import torch

from core.network import FaceNet
from core.predict import InferenceSettings, run_network

MASK_PRECISION_TARGET = 0.96  # issue 5, shipped-model target (paper: 0.9372)
MASK_RECALL_TARGET = 0.985  # issue 5, shipped-model target (paper: 0.9840)
LOGIT_GRID = np.linspace(-5.0, 5.0, 201)  # candidate thresholds, logits (p from 0.0067 to 0.9933)


def precision_recall(
    logits: np.ndarray, truth: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled precision and recall of ``logits > t`` for every t in ``thresholds`` (ascending).

    logits : (N,) float mask logits of all pixels; truth : (N,) bool ground-truth mask.
    Returns two (T,) float64 arrays (precision 1 where nothing is predicted).
    """
    edges = np.concatenate([[-np.inf], np.asarray(thresholds, np.float64), [np.inf]])
    pos = np.histogram(logits[truth], bins=edges)[0]
    neg = np.histogram(logits[~truth], bins=edges)[0]
    # pixels above threshold t_k are those in bins k+1 ... end
    tp = np.cumsum(pos[::-1])[::-1][1:]
    fp = np.cumsum(neg[::-1])[::-1][1:]
    precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 1.0)
    recall = tp / max(1, int(truth.sum()))
    return precision, recall


def choose_mask_threshold(
    logits: np.ndarray,
    truth: np.ndarray,
    precision_target: float = MASK_PRECISION_TARGET,
    recall_target: float = MASK_RECALL_TARGET,
) -> dict:
    """The threshold maximising min(P - P_target, R - R_target) over :data:`LOGIT_GRID`.

    Returns ``{"mask_threshold": p*, "logit", "precision", "recall", "margin"}``
    (p* a probability in (0, 1); precision, recall and margin at p*).
    """
    precision, recall = precision_recall(logits, truth, LOGIT_GRID)
    margin = np.minimum(precision - precision_target, recall - recall_target)
    k = int(np.argmax(margin))
    t = float(LOGIT_GRID[k])
    return {
        "mask_threshold": float(1.0 / (1.0 + np.exp(-t))),
        "logit": t,
        "precision": float(precision[k]),
        "recall": float(recall[k]),
        "margin": float(margin[k]),
    }


def validation_logits(model: FaceNet, n: int = 200, resolution: int = 128,
                      settings: InferenceSettings | None = None,
                      batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Mask logits and ground truth of ``n`` validation heads, each flattened to (n * S * S,).

    ``settings``: the views to average (:func:`core.predict.run_network`); default mirror only.
    """
    settings = settings or InferenceSettings()
    from training.evaluate import split_batches

    logits, truth = [], []
    for batch in split_batches(None, resolution, n, "val", batch_size):
        with torch.inference_mode():
            out = run_network(model, batch["image"], settings)
        logits.append(out["mask_logits"][:, 0].float().numpy().ravel())
        truth.append(batch["mask"][:, 0].numpy().ravel() > 0.5)
    return np.concatenate(logits), np.concatenate(truth)


def calibrate(model: FaceNet, n: int = 200, resolution: int = 128,
              settings: InferenceSettings | None = None) -> dict:
    """:func:`choose_mask_threshold` on ``n`` validation heads, the network run with ``settings``'
    views; adds ``n_images`` and the criterion."""
    logits, truth = validation_logits(model, n, resolution, settings)
    result = choose_mask_threshold(logits, truth)
    result.update(
        n_images=n,
        split="val",
        criterion=f"max min(P - {MASK_PRECISION_TARGET}, R - {MASK_RECALL_TARGET})",
    )
    return result
