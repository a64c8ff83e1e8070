# SPDX-License-Identifier: GPL-3.0-or-later
"""The shipped networks by name (torch-free: the add-on's preferences read it on the main thread).

Each weights file has its ``manifest.json`` beside it (see :mod:`core.predict`).
"standard" (2.7 M parameters) trains from scratch in 3 h on a 2-core CPU
(``make train``) and is the default; "large" (5.1 M) was trained for 7 minutes
on one GPU (``make train-large``), gives finer relief in its normals (4.48 against
4.54 deg of fine-scale error) at a mean error 0.07 deg higher (7.75 against 7.68 deg
on the test set), is a little less accurate in depth, and is slower on a CPU.
"""

from __future__ import annotations

from pathlib import Path

from .errors import FaceFromPhotoError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "face_net.pt"
MODELS = {"standard": DEFAULT_WEIGHTS, "large": WEIGHTS_DIR / "large" / "face_net.pt"}


def model_weights(name: str) -> Path:
    """Weights file of the shipped network ``name`` (a key of :data:`MODELS`)."""
    if name not in MODELS:
        raise FaceFromPhotoError(f"Unknown network {name!r}; choose one of {', '.join(MODELS)}.")
    return MODELS[name]


def weights_option(name: str) -> str | None:
    """The core option ``weights`` for network ``name``: None (the default file) for "standard"."""
    path = model_weights(name)
    return None if path == DEFAULT_WEIGHTS else str(path)
