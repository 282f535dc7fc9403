"""A small valid PNG for tests that send an image but are not about its content."""

from __future__ import annotations

import struct
import zlib


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def one_pixel_png() -> bytes:
    """A 1x1 white PNG, chunk by chunk as the PNG specification lays it out."""
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # width, height, 8 bits, truecolour
    pixels = zlib.compress(b"\x00\xff\xff\xff")  # one scanline: filter type 0, then RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
