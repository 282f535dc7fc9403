"""Reads QR codes back as a phone's scanner would (zxing-cpp), from the PNG files the bot writes."""

from __future__ import annotations

import png
import zxingcpp

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def decoded(image: bytes) -> list[str]:
    """The texts of the QR codes in a PNG image."""
    assert image.startswith(PNG_SIGNATURE)
    width, height, rows, _ = png.Reader(bytes=image).asDirect()
    grey = bytearray()
    for row in rows:  # segno writes one bit per pixel: 0 black, 1 white
        grey += bytes(255 if value else 0 for value in row)
    pixels = memoryview(bytes(grey)).cast("B", (height, width))
    return [code.text for code in zxingcpp.read_barcodes(pixels) if code.format == zxingcpp.BarcodeFormat.QRCode]
