"""What an image costs in tokens, by the provider's published formula where one is known.

Both formulas work from the image's size in pixels, read here from the file's header
(PNG, GIF, JPEG, WebP) without decoding it. Where no formula is known (a llama-server's
projector decides) or the size cannot be read, the caller falls back to an estimate.
"""

from __future__ import annotations

import math
import struct

from llmchat.core.model_rules import Protocol


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from an image's header, or None if it cannot be read."""
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
        elif data[:6] in (b"GIF87a", b"GIF89a"):
            width, height = struct.unpack("<HH", data[6:10])
        elif data.startswith(b"\xff\xd8"):
            found = _jpeg_size(data)
            if found is None:
                return None
            width, height = found
        elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            found = _webp_size(data)
            if found is None:
                return None
            width, height = found
        else:
            return None
    except struct.error:
        return None
    return (width, height) if width > 0 and height > 0 else None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """The size in the first start-of-frame marker (SOF0–SOF15 but DHT, JPG, DAC)."""
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        at += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


def openai_tokens(width: int, height: int) -> int:
    """High detail: fit in 2048×2048, shortest side to 768, then 170 a 512-px tile + 85."""
    scale = min(1.0, 2048 / max(width, height))
    scale *= min(1.0, 768 / (min(width, height) * scale))
    tiles = math.ceil(width * scale / 512) * math.ceil(height * scale / 512)
    return 170 * tiles + 85


def anthropic_tokens(width: int, height: int) -> int:
    """width × height / 750, after scaling down to a long edge of 1,568 px and about
    1.15 megapixels (Anthropic's documented resizing)."""
    scale = min(1.0, 1568 / max(width, height), math.sqrt(1_150_000 / (width * height)))
    return math.ceil(width * scale * height * scale / 750)


def image_tokens(data: bytes, protocol: Protocol) -> int | None:
    """The image's tokens for the protocol's provider; None when not known."""
    size = image_size(data)
    if size is None:
        return None
    return anthropic_tokens(*size) if protocol == "anthropic" else openai_tokens(*size)
