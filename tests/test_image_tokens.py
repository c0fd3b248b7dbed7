"""An image's tokens by the provider's published formula, from its header's size."""

from __future__ import annotations

import struct

import pytest

from llmchat.core.image_tokens import anthropic_tokens, image_size, image_tokens, openai_tokens


def png(width: int, height: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + struct.pack(">II", width, height)


def jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + bytes(9)
    sof0 = b"\xff\xc0" + struct.pack(">HBHH", 17, 8, height, width) + bytes(10)
    return b"\xff\xd8" + app0 + sof0


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (png(1024, 768), (1024, 768)),
        (b"GIF89a" + struct.pack("<HH", 320, 200), (320, 200)),
        (jpeg(4032, 3024), (4032, 3024)),
        (
            b"RIFF\x00\x00\x00\x00WEBPVP8X"
            + bytes(8)
            + (639).to_bytes(3, "little")
            + (479).to_bytes(3, "little"),
            (640, 480),
        ),
    ],
    ids=["png", "gif", "jpeg", "webp"],
)
def test_the_size_is_read_from_the_header(data: bytes, size: tuple[int, int]) -> None:
    assert image_size(data) == size


@pytest.mark.family("limits")
@pytest.mark.parametrize(
    "data",
    [b"", b"\x89PNG\r\n\x1a\n", png(0, 10), b"\xff\xd8\xff\xe0\x00", b"RIFF....WEBPVP8Z"],
    ids=["empty", "png-cut", "png-zero", "jpeg-cut", "webp-unknown"],
)
def test_a_cut_or_odd_header_gives_no_size_rather_than_an_error(data: bytes) -> None:
    assert image_size(data) is None


def test_openai_counts_512_pixel_tiles_after_scaling() -> None:
    # OpenAI's worked examples: 1024×1024 → 768×768, 4 tiles; 2048×4096 → 768×1536, 6.
    assert openai_tokens(1024, 1024) == 765
    assert openai_tokens(2048, 4096) == 1105
    assert openai_tokens(300, 200) == 255  # small: one tile


def test_anthropic_divides_the_pixels_by_750_after_resizing() -> None:
    assert anthropic_tokens(1000, 1000) == 1334  # within the limits: 1,000,000 / 750
    assert anthropic_tokens(4032, 3024) <= 1534  # scaled to about 1.15 megapixels


def test_the_formula_follows_the_protocol() -> None:
    data = png(1024, 1024)
    assert image_tokens(data, "openai") == 765
    assert image_tokens(data, "anthropic") == anthropic_tokens(1024, 1024)
    assert image_tokens(b"not an image", "openai") is None
