# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks of a weights manifest's network description before any model is built.

The manifest's SHA-256 protects the weights file, not the manifest itself: a
manifest edited to absurd widths (``"widths": [100000, ...]``) but keeping
the file's true hash would otherwise make :class:`~core.network.FaceNet`
allocate gigabytes before ``load_state_dict`` could notice the mismatch. So,
in this order and before anything is allocated:

1. :func:`config_from_manifest`: the ``config`` block's types and ranges
   (every width a whole number from 1 to :data:`MAX_WIDTH`, 2 to
   :data:`MAX_LEVELS` levels, block counts, an odd kernel, a known
   upsampling), giving the :class:`~core.network.NetConfig`;
2. :func:`expected_state` builds the network on PyTorch's ``meta`` device
   (shapes only, no memory) and counts its parameters and buffers,
   N = sum of the products of the shapes; N must not exceed :data:`MAX_PARAMETERS`;
3. :func:`check_state` compares the loaded state dict's names and shapes (and
   so its count of values) with the expected ones, so the real model is only
   built when the weights fill it exactly.

Every problem raises :class:`ValueError` with the reason; ``core.predict``
turns it into the artist's sentence.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import torch

from .network import OUTPUT_CHANNELS, FaceNet, NetConfig

MAX_LEVELS = 8  # encoder levels (stride 2^(levels - 1))
MAX_WIDTH = 2048  # channels of any level (the shipped networks use at most 640)
MAX_BLOCKS = 32  # encoder_blocks and bottleneck_blocks each
MAX_KERNEL = 15  # px, odd
MAX_PARAMETERS = 100_000_000  # scalars in the state dict (the shipped networks: 2.8 M and 5.1 M)


def _whole(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not lo <= value <= hi:
        raise ValueError(f"{name} = {value!r} is not a whole number from {lo} to {hi}")
    return int(value)


def _widths(value: Any, name: str, levels: int | None, allow_empty: bool = False) -> list[int]:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{name} must be a list of channel counts, not {type(value).__name__}")
    if allow_empty and len(value) == 0:
        return []
    if levels is None:
        _whole(len(value), f"the number of levels in {name}", 2, MAX_LEVELS)
    elif len(value) != levels:
        raise ValueError(f"{name} has {len(value)} levels, widths has {levels}")
    return [_whole(w, f"{name}[{k}]", 1, MAX_WIDTH) for k, w in enumerate(value)]


def config_from_manifest(manifest: Mapping[str, Any]) -> NetConfig:
    """The manifest's ``config`` block as a :class:`NetConfig`, its types and ranges checked.

    Raises
    ------
    ValueError
        Naming the first entry that is missing, of the wrong type or out of range.
    """
    if not isinstance(manifest, Mapping):
        raise ValueError("the manifest is not a JSON object")
    block = manifest.get("config")
    if not isinstance(block, Mapping):
        raise ValueError("the manifest's 'config' entry is missing or not an object")
    known = {"widths", "decoder_widths", "normals_decoder_widths", "half_res_outputs", "encoder_blocks",
             "bottleneck_blocks", "kernel", "upsample"}
    unknown = sorted(set(block) - known)
    if unknown:
        raise ValueError(f"unknown config entries {unknown}")
    default = NetConfig()
    widths = _widths(block.get("widths", list(default.widths)), "widths", None)
    levels = len(widths)
    decoder = _widths(block.get("decoder_widths", list(default.decoder_widths)), "decoder_widths", levels)
    normals = _widths(block.get("normals_decoder_widths", []), "normals_decoder_widths", len(widths),
                      allow_empty=True)
    half = block.get("half_res_outputs", [])
    if not isinstance(half, (list, tuple)) or any(not isinstance(o, str) or o not in OUTPUT_CHANNELS
                                                     for o in half):
        raise ValueError(f"half_res_outputs = {half!r} must list outputs among {list(OUTPUT_CHANNELS)}")
    kernel = _whole(block.get("kernel", default.kernel), "kernel", 1, MAX_KERNEL)
    if kernel % 2 == 0:
        raise ValueError(f"kernel = {kernel} must be odd")
    upsample = block.get("upsample", default.upsample)
    if upsample not in ("nearest", "bilinear"):
        raise ValueError(f"upsample = {upsample!r} must be 'nearest' or 'bilinear'")
    blocks = {name: _whole(block.get(name, getattr(default, name)), name, 0, MAX_BLOCKS)
              for name in ("encoder_blocks", "bottleneck_blocks")}
    return NetConfig(
        widths=tuple(widths), decoder_widths=tuple(decoder), normals_decoder_widths=tuple(normals),
        half_res_outputs=tuple(dict.fromkeys(half)), kernel=kernel, upsample=upsample, **blocks,
    )


def expected_state(cfg: NetConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in the state dict of ``FaceNet(cfg)``, built on the meta device.

    Raises
    ------
    ValueError
        When the network would hold more than :data:`MAX_PARAMETERS` values.
    """
    with torch.device("meta"):
        net = FaceNet(cfg)
    shapes = {name: tuple(t.shape) for name, t in net.state_dict().items()}
    n = state_size(shapes)
    if n > MAX_PARAMETERS:
        raise ValueError(f"the network would hold {n:,} values, more than {MAX_PARAMETERS:,}")
    return shapes


def state_size(shapes: Mapping[str, tuple[int, ...]]) -> int:
    """Number of values N = sum over tensors of the product of their shape."""
    total = 0
    for shape in shapes.values():
        n = 1
        for d in shape:
            n *= int(d)
        total += n
    return total


def check_state(shapes: Mapping[str, tuple[int, ...]], state: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` unless ``state`` has exactly the expected tensor names and shapes."""
    missing = sorted(set(shapes) - set(state))
    extra = sorted(set(state) - set(shapes))
    if missing or extra:
        raise ValueError(f"{len(missing)} tensors missing and {len(extra)} unexpected in the weights")
    for name, shape in shapes.items():
        value = state[name]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"tensor {name} has shape {got}, the manifest's network needs {shape}")
