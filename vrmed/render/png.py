"""A dependency-free PNG writer (8-bit greyscale, RGB or RGBA) on the standard library."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

_COLOR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type (grey, RGB, RGBA)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(image: np.ndarray, *, level: int = 6) -> bytes:
    """Encode an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) uint8 array (top row first) as
    PNG bytes. Rows use filter type 0 (none); ``level`` is the zlib level (0-9)."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in _COLOR_TYPES or img.dtype != np.uint8:
        raise ValueError(f"expected an (H, W[, 1|3|4]) uint8 image, got shape {image.shape} dtype {image.dtype}")
    h, w, c = img.shape
    if h == 0 or w == 0:
        raise ValueError("cannot encode an empty image")
    raw = np.zeros((h, 1 + w * c), np.uint8)  # first byte of each row: filter type 0
    raw[:, 1:] = img.reshape(h, w * c)
    header = struct.pack(">IIBBBBB", w, h, 8, _COLOR_TYPES[c], 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw.tobytes(), level))
        + _chunk(b"IEND", b"")
    )


def write_png(path: str | Path, image: np.ndarray, *, level: int = 6) -> Path:
    """Write ``image`` (see :func:`encode_png`) to ``path``; returns the path."""
    path = Path(path)
    path.write_bytes(encode_png(image, level=level))
    return path
