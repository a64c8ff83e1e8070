# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared fixtures for the core tests: the sample photo and image files written on the fly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_PHOTO = ROOT / "examples" / "astronaut.png"


@pytest.fixture(scope="session")
def sample_photo() -> Path:
    """examples/astronaut.png: NASA portrait, public domain."""
    return SAMPLE_PHOTO


@pytest.fixture(scope="session")
def sample_rgb(sample_photo: Path) -> np.ndarray:
    """The sample photo as (512, 512, 3) uint8 RGB, read with cv2 directly."""
    import cv2

    return np.ascontiguousarray(cv2.imread(str(sample_photo), cv2.IMREAD_COLOR)[..., ::-1])


@pytest.fixture
def write_image(tmp_path: Path) -> Callable[..., Path]:
    """``write_image(name, array, *params, rgb=True)``: encode with cv2 by extension and write bytes.

    Works with non-ASCII names (bytes are written with ``ndarray.tofile``).
    ``rgb=True`` treats 3/4-channel arrays as RGB(A) and swaps to cv2's BGR(A).
    """

    def _write(name: str, array: np.ndarray, *params: int, rgb: bool = True) -> Path:
        import cv2

        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        a = array
        if rgb and a.ndim == 3 and a.shape[2] in (3, 4):
            a = np.ascontiguousarray(np.concatenate([a[..., 2::-1], a[..., 3:]], axis=2))
        ok, buf = cv2.imencode(path.suffix, a, list(params))
        assert ok, f"cv2 could not encode {name}"
        buf.tofile(str(path))
        return path

    return _write
