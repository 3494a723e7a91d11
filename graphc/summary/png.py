"""PNG encoding of 8-bit images (the image summaries' format) with zlib and struct: no imaging library."""
from __future__ import annotations

import struct
import zlib

import numpy as np

# PNG colour type by channel count: grey, grey + alpha, RGB, RGBA
_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}
_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(pixels: np.ndarray) -> bytes:
    """One ``[height, width, channels]`` uint8 image (1 to 4 channels) as PNG bytes (8 bits per
    sample, no interlacing, every row unfiltered)."""
    height, width, channels = pixels.shape
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPE[channels], 0, 0, 0)
    rows = np.zeros((height, 1 + width * channels), np.uint8)  # a 0 byte first: filter "none"
    rows[:, 1:] = np.ascontiguousarray(pixels, np.uint8).reshape(height, width * channels)
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + _chunk(b"IEND", b"")
