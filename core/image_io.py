# SPDX-License-Identifier: GPL-3.0-or-later
"""Photo loading with bounded memory: any common format in, upright 8-bit RGB out.

The loader reads the file's bytes, parses the image header itself (JPEG SOF,
PNG IHDR, BMP info header, TIFF IFD, WebP VP8/VP8L/VP8X) to learn the
dimensions *before* decoding, refuses decompression bombs, and decodes large
JPEGs at a reduced scale (libjpeg's DCT scaling) so a 24-megapixel photo never
exists at full size in memory when it does not need to. Decoding itself is
OpenCV's ``cv2.imdecode``; ``cv2`` is imported lazily inside the functions.

Every problem the artist can act on raises
:class:`~core.errors.FaceFromPhotoError` with one sentence.

Limits (module constants)
-------------------------
``MAX_PIXELS``
    Largest image (width x height, px) decoded at full size: 100 MP.
``MAX_JPEG_PIXELS``
    Largest JPEG: 200 MP; JPEGs are decoded at 1/2, 1/4 or 1/8 scale when
    large, so they may exceed ``MAX_PIXELS``.
``MAX_DECODED_BYTES``
    Largest full-size decoded buffer (pixels x channels x bytes per sample)
    for non-JPEG formats: 400 MB, so 16-bit and alpha images get a lower
    pixel limit.
``MIN_SIDE``
    Smallest accepted side: 32 px (a face cannot be found in less).
``MAX_WORKING_SIDE``
    Photos are downscaled (area averaging) so their longer side is at most
    3000 px (a 6000 x 4000 JPEG decodes directly at half scale).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import FaceFromPhotoError
from .photo_input import MAX_FILE_BYTES, read_photo_bytes

MAX_PIXELS = 100_000_000
MAX_JPEG_PIXELS = 200_000_000
MAX_DECODED_BYTES = 400_000_000
MIN_SIDE = 32
MAX_WORKING_SIDE = 3000
NEUTRAL_GREY = 128  # background (0..255) that transparent pixels are composited on

SUPPORTED = "JPEG, PNG, BMP, TIFF or WebP"


@dataclass(frozen=True)
class ImageHeader:
    """What the file's header declares, read without decoding the pixels.

    Attributes
    ----------
    format : str
        ``"jpeg"``, ``"png"``, ``"bmp"``, ``"tiff"`` or ``"webp"``.
    width, height : int
        Stored size in px (before any EXIF rotation).
    channels : int
        Samples per pixel after decoding (best estimate, 1..4).
    bytes_per_sample : int
        1 for 8-bit data, 2 for 16-bit, 4 for 32-bit float.
    orientation : int
        EXIF/TIFF orientation 1..8 when the loader applies it itself (TIFF), else 1.
    """

    format: str
    width: int
    height: int
    channels: int = 3
    bytes_per_sample: int = 1
    orientation: int = 1

    @property
    def pixels(self) -> int:
        """Number of pixels, ``width * height``."""
        return self.width * self.height


@dataclass(frozen=True)
class LoadedPhoto:
    """A decoded photo and how it relates to the file on disk.

    Attributes
    ----------
    image : (H, W, 3) uint8
        Upright RGB, downscaled so ``max(H, W) <= max_side``.
    original_size : tuple[int, int]
        ``(width, height)`` in px of the upright photo at full resolution.
    scale : float
        Working px per original px (``W / original width``), 1.0 when not downscaled.
    format : str
        Header format name, or ``"array"`` for in-memory images.
    """

    image: np.ndarray
    original_size: tuple[int, int]
    scale: float
    format: str


# --------------------------------------------------------------------------- errors


def _fail(sentence: str) -> FaceFromPhotoError:
    return FaceFromPhotoError(sentence)


def _damaged(name: str) -> FaceFromPhotoError:
    return _fail(
        f"'{name}' is damaged or incomplete (its image data could not be decoded); "
        "re-export or re-download the photo and try again."
    )


# --------------------------------------------------------------------------- header parsing

_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_header(data: bytes, name: str) -> tuple[ImageHeader, int]:
    """Walk JPEG marker segments to the frame header; return it and the SOS offset."""
    n = len(data)
    pos = 2
    header = None
    while True:
        pos = data.find(b"\xff", pos)  # tolerate junk between segments
        if pos < 0:
            raise _damaged(name)
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            raise _damaged(name)
        marker = data[pos]
        pos += 1
        if marker == 0xD8 or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue  # standalone markers
        if marker == 0xD9:
            raise _damaged(name)  # end of image before any scan
        if pos + 2 > n:
            raise _damaged(name)
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2 or pos + length > n:
            raise _damaged(name)
        if marker in _JPEG_SOF:
            if length < 8:
                raise _damaged(name)
            height, width = struct.unpack(">HH", data[pos + 3 : pos + 7])
            components = data[pos + 7]
            header = ImageHeader("jpeg", width, height, channels=max(3, components))
        if marker == 0xDA:
            if header is None:
                raise _damaged(name)
            return header, pos + length
        pos += length


def _png_header(data: bytes, name: str) -> ImageHeader:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise _damaged(name)
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    channels = {0: 1, 2: 3, 3: 4, 4: 2, 6: 4}.get(colour)
    if channels is None or depth not in (1, 2, 4, 8, 16):
        raise _damaged(name)
    if colour in (0, 2) and b"tRNS" in data[: min(len(data), 1 << 16)]:
        channels += 1
    return ImageHeader("png", width, height, channels, 2 if depth == 16 else 1)


def _bmp_header(data: bytes, name: str) -> ImageHeader:
    if len(data) < 26:
        raise _damaged(name)
    (dib_size,) = struct.unpack("<I", data[14:18])
    if dib_size == 12:
        width, height, _, bits = struct.unpack("<HHHH", data[18:26])
    else:
        if len(data) < 30:
            raise _damaged(name)
        width, height, _, bits = struct.unpack("<iiHH", data[18:30])
    return ImageHeader("bmp", abs(width), abs(height), 4 if bits == 32 else 3)


def _tiff_header(data: bytes, name: str) -> ImageHeader:
    end = "<" if data[:2] == b"II" else ">"
    (version,) = struct.unpack(end + "H", data[2:4])
    big = version == 43
    try:
        if big:
            (ifd,) = struct.unpack(end + "Q", data[8:16])
            (count,) = struct.unpack(end + "Q", data[ifd : ifd + 8])
            entry0, entry_size = ifd + 8, 20
        else:
            (ifd,) = struct.unpack(end + "I", data[4:8])
            (count,) = struct.unpack(end + "H", data[ifd : ifd + 2])
            entry0, entry_size = ifd + 2, 12
        sizes = {1: 1, 3: 2, 4: 4, 16: 8}  # BYTE, SHORT, LONG, LONG8
        formats = {1: "B", 3: "H", 4: "I", 16: "Q"}
        tags: dict[int, int] = {}
        for k in range(min(count, 4096)):
            at = entry0 + k * entry_size
            tag, typ = struct.unpack(end + "HH", data[at : at + 4])
            if typ not in sizes:
                continue
            value_at = at + (12 if big else 8)
            n_values = struct.unpack(end + ("Q" if big else "I"), data[at + 4 : value_at])[0]
            inline = 8 if big else 4
            if n_values * sizes[typ] > inline:  # value stored elsewhere: read the first one
                (value_at,) = struct.unpack(end + ("Q" if big else "I"), data[value_at : value_at + inline])
            (tags[tag],) = struct.unpack(end + formats[typ], data[value_at : value_at + sizes[typ]])
    except struct.error:
        raise _damaged(name) from None
    if 256 not in tags or 257 not in tags:
        raise _damaged(name)
    bits = tags.get(258, 8)
    return ImageHeader(
        "tiff", tags[256], tags[257], channels=max(3, min(4, tags.get(277, 3))),
        bytes_per_sample=max(1, (bits + 7) // 8), orientation=tags.get(274, 1),
    )


def _webp_header(data: bytes, name: str) -> ImageHeader:
    if len(data) < 30:
        raise _damaged(name)
    chunk = data[12:16]
    if chunk == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            raise _damaged(name)
        width, height = struct.unpack("<HH", data[26:30])
        return ImageHeader("webp", width & 0x3FFF, height & 0x3FFF, 3)
    if chunk == b"VP8L":
        if data[20] != 0x2F:
            raise _damaged(name)
        (bits,) = struct.unpack("<I", data[21:25])
        return ImageHeader("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 4)
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return ImageHeader("webp", width, height, 4)
    raise _damaged(name)


_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"mif1", b"msf1", b"avif", b"avis")


def _unsupported(data: bytes, name: str) -> FaceFromPhotoError:
    head = data[:32]
    if head[:6] in (b"GIF87a", b"GIF89a"):
        what = "a GIF image"
    elif head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        what = "a HEIC/AVIF image"
    elif head[:4] == b"%PDF":
        what = "a PDF document"
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _damaged(name)
    else:
        return _fail(
            f"'{name}' is not an image this add-on can read (expected {SUPPORTED}); "
            "choose a photo file or export it as JPEG or PNG."
        )
    return _fail(
        f"'{name}' is {what}, which this add-on cannot read; export it as JPEG or PNG and try again."
    )


def read_header(data: bytes, name: str = "photo") -> ImageHeader:
    """Parse the image header of ``data`` without decoding any pixels.

    Parameters
    ----------
    data : bytes
        The whole file (or at least its header; JPEG needs the bytes up to its
        first scan).
    name : str
        File name used in error sentences.

    Returns
    -------
    ImageHeader

    Raises
    ------
    FaceFromPhotoError
        If the bytes are not a supported image or the header is damaged.
    """
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg_header(data, name)[0]
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return _png_header(data, name)
    if data[:2] == b"BM" and len(data) >= 18:
        return _bmp_header(data, name)
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _tiff_header(data, name)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_header(data, name)
    raise _unsupported(data, name)


# --------------------------------------------------------------------------- conversion


def _downscale(image: np.ndarray, max_side: int | None) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return image
    f = max_side / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)


def _check_float_range(image: np.ndarray, name: str) -> None:
    """Refuse float pixels that mostly lie outside [0, 1] (a 0-255 float TIFF would read as white).

    A quarter or more of the finite samples above 1 (or below 0) means the
    image was not stored in the [0, 1] convention of float images; a few
    bright highlights above 1 (HDR) are fine and are clipped. At most about
    10^6 samples are inspected (a regular sub-grid).
    """
    step = max(1, int(np.sqrt(image.shape[0] * image.shape[1] / 1e6)))
    sample = np.asarray(image[::step, ::step], dtype=np.float32)
    finite = sample[np.isfinite(sample)]
    if finite.size == 0:
        raise FaceFromPhotoError(
            f"'{name}' holds no finite pixel values (all NaN or infinite); save the photo again as an "
            "8-bit JPEG or PNG."
        )
    over, under = float(np.mean(finite > 1.0)), float(np.mean(finite < 0.0))
    if over >= 0.25 or under >= 0.25:
        what = "over-exposed (white)" if over >= under else "black"
        lo, hi = float(finite.min()), float(finite.max())
        raise FaceFromPhotoError(
            f"'{name}' holds floating-point pixels from {lo:.3g} to {hi:.3g}, "
            f"outside the 0 to 1 range of float images, so it would read as {what}; scale its values to "
            "0 to 1 or save it as an 8-bit or 16-bit image."
        )


def _to_uint8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Scale any numeric dtype to uint8 (integers by their range, floats from [0, 1]).

    Float images whose values mostly lie outside [0, 1] are refused
    (:func:`_check_float_range`) rather than clipped to a white or black picture.
    """
    import cv2

    if image.dtype == np.uint8:
        return image
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255
    if np.issubdtype(image.dtype, np.floating):
        _check_float_range(image, name)
        out = np.nan_to_num(image.astype(np.float32, copy=False), nan=0.0, posinf=1.0, neginf=0.0)
        return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if image.dtype == np.uint16:
        return cv2.convertScaleAbs(image, alpha=255.0 / 65535.0)
    if np.issubdtype(image.dtype, np.integer):
        top = float(np.iinfo(image.dtype).max)
        return np.clip(image.astype(np.float32) * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
    raise FaceFromPhotoError("The image has an unsupported pixel type; save it as an 8-bit JPEG or PNG.")


def _composite(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Blend (H, W, 3) uint8 over neutral grey with (H, W) uint8 alpha."""
    a = alpha.astype(np.uint16)[..., None]
    out = rgb.astype(np.uint16) * a + NEUTRAL_GREY * (255 - a) + 127
    return (out // 255).astype(np.uint8)


def _normalise(image: np.ndarray, bgr: bool, name: str = "image") -> np.ndarray:
    """(H, W[, C]) any dtype, BGR(A) or RGB(A) order -> (H, W, 3) uint8 RGB."""
    import cv2

    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4):
        raise FaceFromPhotoError(
            f"The image has shape {tuple(image.shape)}, not (height, width) or "
            "(height, width, 1-4 channels); pass an RGB image."
        )
    c = image.shape[2]
    image = _to_uint8(image, name).reshape(image.shape)  # cv2 drops a single channel axis
    if c in (1, 2):
        rgb = cv2.cvtColor(np.ascontiguousarray(image[..., 0]), cv2.COLOR_GRAY2RGB)
    else:
        rgb = image[..., 2::-1] if bgr else image[..., :3]
    if c in (2, 4):
        alpha = image[..., -1]
        if alpha.min() < 255:
            rgb = _composite(rgb, alpha)
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def _apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an image stored with EXIF/TIFF orientation 1..8 upright."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: a.swapaxes(0, 1)[:, ::-1],
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
        8: lambda a: a.swapaxes(0, 1)[::-1],
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(image)) if op else image


def _check_size(width: int, height: int, name: str) -> None:
    if min(width, height) < MIN_SIDE:
        raise _fail(
            f"'{name}' is only {width} x {height} pixels, too small to find a face in; "
            f"use a photo at least {MIN_SIDE} pixels on each side (a few hundred is better)."
        )


def _refuse_large(header: ImageHeader, limit_px: int, name: str) -> None:
    if header.pixels <= limit_px:
        return
    depth = "" if header.bytes_per_sample == 1 else f", {8 * header.bytes_per_sample}-bit"
    raise _fail(
        f"'{name}' declares {header.width} x {header.height} pixels "
        f"({header.pixels / 1e6:.0f} megapixels{depth}), more than this add-on loads safely; "
        f"downscale it below {limit_px / 1e6:.0f} megapixels (8-bit) and try again."
    )


# --------------------------------------------------------------------------- public API


def decode_photo(data: bytes, name: str = "photo", *, max_side: int | None = MAX_WORKING_SIDE) -> LoadedPhoto:
    """Decode an encoded image held in memory into upright 8-bit RGB.

    Parameters
    ----------
    data : bytes
        Encoded JPEG, PNG, BMP, TIFF or WebP file contents.
    name : str
        File name used in error sentences.
    max_side : int or None
        Longer side of the result in px; larger photos are downscaled (JPEGs
        already while decoding). None keeps the full resolution.

    Returns
    -------
    LoadedPhoto
        ``image`` is ``(H, W, 3) uint8`` RGB; grey images are replicated to
        three channels, 16-bit data scaled to 8 bits, transparency composited
        on neutral grey (128), EXIF orientation applied (JPEG, TIFF).

    Raises
    ------
    FaceFromPhotoError
        Not an image, damaged or truncated, too small, or too large.
    """
    import cv2

    if len(data) == 0:
        raise _fail(f"'{name}' is empty (0 bytes); choose another photo or export this one again.")
    header = read_header(data, name)
    if header.width == 0 or header.height == 0:
        raise _damaged(name)
    _check_size(header.width, header.height, name)
    buf = np.frombuffer(data, dtype=np.uint8)

    if header.format == "jpeg":
        _refuse_large(header, MAX_JPEG_PIXELS, name)
        _, scan = _jpeg_header(data, name)
        if data.find(b"\xff\xd9", scan) < 0:  # no end-of-image marker after the first scan
            raise _fail(
                f"'{name}' is truncated (the JPEG data ends before the image is complete); "
                "re-export or re-download the photo and try again."
            )
        reduce = 1
        if max_side is not None:
            while reduce < 8 and max(header.width, header.height) / (2 * reduce) >= max_side:
                reduce *= 2
        flag = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2,
                4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}[reduce]
        decoded = _imdecode(buf, flag, name)
        # cv2 applied the EXIF orientation: the upright size follows the decoded aspect.
        swapped = (decoded.shape[1] > decoded.shape[0]) != (header.width > header.height) and (
            header.width != header.height
        )
        original = (header.height, header.width) if swapped else (header.width, header.height)
        image = _normalise(_downscale(decoded, max_side), bgr=True, name=name)
    else:
        limit = min(MAX_PIXELS, MAX_DECODED_BYTES // (header.channels * header.bytes_per_sample))
        _refuse_large(header, limit, name)
        decoded = _imdecode(buf, cv2.IMREAD_UNCHANGED, name)
        decoded = _apply_orientation(decoded, header.orientation)
        original = (decoded.shape[1], decoded.shape[0])
        image = _normalise(_downscale(decoded, max_side), bgr=True, name=name)
    del decoded
    _check_size(image.shape[1], image.shape[0], name)
    return LoadedPhoto(image, original, image.shape[1] / original[0], header.format)


def _imdecode(buf: np.ndarray, flag: int, name: str) -> np.ndarray:
    import cv2

    try:
        decoded = cv2.imdecode(buf, flag)
    except cv2.error:
        decoded = None
    if decoded is None or decoded.size == 0:
        raise _damaged(name)
    return decoded


def load_photo_info(path: str | os.PathLike[str], *, max_side: int | None = MAX_WORKING_SIDE) -> LoadedPhoto:
    """Read and decode a photo file; see :func:`decode_photo` for the conversions.

    Parameters
    ----------
    path : str or path-like
        Any path, including spaces and non-ASCII characters.
    max_side : int or None
        Longer side of the result in px (None: full resolution).

    Returns
    -------
    LoadedPhoto

    Raises
    ------
    FaceFromPhotoError
        Missing file, a folder, a FIFO or device (:func:`core.photo_input.read_photo_bytes`:
        only regular files are read, at most ``MAX_FILE_BYTES``), unreadable, empty, not an
        image, damaged, too small or too large.
    """
    p = Path(os.fspath(path))
    data = read_photo_bytes(p, limit=MAX_FILE_BYTES)
    name = p.name or str(p)
    return decode_photo(data, name, max_side=max_side)


def load_photo(path: str | os.PathLike[str], *, max_side: int | None = MAX_WORKING_SIDE) -> np.ndarray:
    """Load a photo file as upright RGB.

    Parameters
    ----------
    path : str or path-like
        JPEG, PNG, BMP, TIFF or WebP file; any path, including non-ASCII ones.
    max_side : int or None
        Longer side of the result in px; larger photos are downscaled early.

    Returns
    -------
    (H, W, 3) uint8
        RGB pixels, upright.

    Raises
    ------
    FaceFromPhotoError
        With one sentence saying what is wrong and what to do.
    """
    return load_photo_info(path, max_side=max_side).image


def as_photo(image: np.ndarray, *, max_side: int | None = MAX_WORKING_SIDE) -> LoadedPhoto:
    """Validate and convert an in-memory image to the loader's output format.

    Parameters
    ----------
    image : (H, W) or (H, W, C) array, C in 1..4
        RGB(A) or grey; uint8, uint16 (full range) or float in [0, 1].
    max_side : int or None
        Longer side of the result in px.

    Returns
    -------
    LoadedPhoto
        With ``format == "array"``.
    """
    if not isinstance(image, np.ndarray):
        raise FaceFromPhotoError("The photo must be a file path or a numpy image array; pass one of those.")
    if image.ndim not in (2, 3):
        raise FaceFromPhotoError(
            f"The image array has shape {tuple(image.shape)}, not (height, width[, channels]); "
            "pass an RGB image."
        )
    h, w = image.shape[:2]
    _check_size(w, h, "image array")
    if h * w > MAX_PIXELS:
        raise FaceFromPhotoError(
            f"The image array is {w} x {h} pixels, more than {MAX_PIXELS // 1_000_000} megapixels; "
            "downscale it first."
        )
    if image.dtype not in (np.uint8, np.uint16, np.float32):
        image = _to_uint8(image, "image array")
    out = _normalise(_downscale(image, max_side), bgr=False, name="image array")
    return LoadedPhoto(out, (w, h), out.shape[1] / w, "array")


def encode_jpeg(rgb: np.ndarray, quality: int = 95) -> bytes:
    """A picture as JPEG bytes (for textures packed into Blender and written to exports).

    Parameters
    ----------
    rgb : (H, W, 3) uint8
        RGB, row 0 at the top.
    quality : int
        libjpeg quality, 1..100 (95 keeps skin texture; a 4096 x 2048 texture encodes
        in about 30 ms, where PNG takes about 1 s).

    Returns
    -------
    bytes
    """
    import cv2

    a = np.asarray(rgb)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 picture, got {a.shape} {a.dtype}")
    bgr = cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("OpenCV could not encode the picture as JPEG")
    return buf.tobytes()


def encode_png(pixels: np.ndarray, compression: int = 1) -> bytes:
    """A picture as PNG bytes (lossless, with alpha when given).

    Parameters
    ----------
    pixels : (H, W, 3) or (H, W, 4) uint8
        RGB or RGBA, row 0 at the top.
    compression : int
        zlib level 0..9 (1: fast).

    Returns
    -------
    bytes
    """
    import cv2

    a = np.ascontiguousarray(pixels)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3|4) uint8 picture, got {a.shape} {a.dtype}")
    code = cv2.COLOR_RGBA2BGRA if a.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, buf = cv2.imencode(".png", cv2.cvtColor(a, code), [cv2.IMWRITE_PNG_COMPRESSION, int(compression)])
    if not ok:
        raise ValueError("OpenCV could not encode the picture as PNG")
    return buf.tobytes()
