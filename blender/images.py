# SPDX-License-Identifier: GPL-3.0-or-later
"""Blender images from numpy maps: the photo crop, the predicted maps, the detail map.

Image rows in numpy go down (row 0 = top); Blender's pixel buffer starts at
the bottom-left corner, so every map is flipped vertically on the way in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import bpy
import numpy as np

from ..core.safe_write import outside_transaction, write_verified


def _rgba(pixels: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, C) float -> (H, W, 4) float32, bottom row first."""
    a = np.asarray(pixels, dtype=np.float32)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"expected an (H, W) or (H, W, C<=4) map, got {a.shape}")
    h, w, c = a.shape
    out = np.ones((h, w, 4), dtype=np.float32)  # (H, W, 4) float32 RGBA
    if c == 1:
        out[:, :, :3] = a
    elif c == 2:
        out[:, :, :2] = a
        out[:, :, 2] = 0.0
    else:
        out[:, :, :c] = a
    return np.ascontiguousarray(out[::-1])


def new_image(
    name: str,
    pixels: np.ndarray,
    *,
    non_color: bool,
    float_buffer: bool,
) -> bpy.types.Image:
    """Create an image datablock holding ``pixels``.

    Parameters
    ----------
    pixels : (H, W) or (H, W, C) float in [0, 1] for colour images, any
        value for float data maps; row 0 is the top of the picture
    non_color : data map (no colour transform) rather than a picture
    float_buffer : keep 32-bit floats (data maps) instead of 8-bit
    """
    rgba = _rgba(pixels)
    h, w = rgba.shape[:2]
    img = bpy.data.images.new(name, width=w, height=h, alpha=True, float_buffer=float_buffer)
    try:
        if non_color:
            img.colorspace_settings.is_data = True
        cast(Any, img.pixels).foreach_set(rgba.ravel())  # stubs type pixels as float
        img.update()
    except BaseException:
        bpy.data.images.remove(img)
        raise
    return img


def store(img: bpy.types.Image, *, pack: bool, folder: Path | None) -> None:
    """Make a generated image survive saving the .blend.

    ``pack=True`` packs it into the .blend; otherwise it is written to
    ``folder`` (PNG for 8-bit pictures, OpenEXR for float maps) and the image
    then references that file.
    """
    if pack:
        img.pack()
        return
    if folder is None:
        raise ValueError("an image folder is needed when images are not packed")
    folder.mkdir(parents=True, exist_ok=True)
    is_float = bool(img.is_float)
    ext = ".exr" if is_float else ".png"
    path = folder / f"{bpy.path.clean_name(img.name)}{ext}"
    img.file_format = 'OPEN_EXR' if is_float else 'PNG'


    def write(tmp: Path) -> None:
        img.filepath_raw = str(tmp)
        img.save()

    with outside_transaction():  # the artist's image folder is not part of a batch photo
        write_verified(path, write)  # checked (PNG CRCs / EXR header), then renamed
    img.filepath_raw = str(path)
    img.source = 'FILE'
    img.reload()


def encoded_image(name: str, data: bytes, suffix: str, *, pack: bool, folder: Path | None) -> bpy.types.Image:
    """An image datablock from encoded file bytes (e.g. a JPEG from ``core.image_io.encode_jpeg``).

    ``pack=True`` packs the bytes unchanged into the .blend (no re-encoding, so building
    and exporting stay fast); otherwise they are written to ``folder/<name><suffix>``
    (checked, then renamed) and the image references that file.
    """
    if pack:
        img = bpy.data.images.new(name, 8, 8)  # size is a placeholder until the packed file loads
        try:
            img.pack(data=data, data_len=len(data))
            img.source = 'FILE'
            img.filepath_raw = f"{bpy.path.clean_name(name)}{suffix}"  # exporters name the file after it
        except BaseException:
            bpy.data.images.remove(img)
            raise
        return img
    if folder is None:
        raise ValueError("an image folder is needed when images are not packed")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{bpy.path.clean_name(name)}{suffix}"
    with outside_transaction():
        write_verified(path, lambda tmp: tmp.write_bytes(data))
    img = bpy.data.images.load(str(path), check_existing=False)
    img.name = name
    return img
