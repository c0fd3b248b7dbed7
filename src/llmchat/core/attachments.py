"""Files attached to a message: read, told apart (text, image, other binary), and put
into the message.

A text file goes into the message itself, as a fenced block headed by its name, so the
model sees it, the gauge counts it and the session file keeps it like any text. An image
is recognised by its first bytes (PNG, JPEG, WebP, GIF), not by its name. Anything else
that is not UTF-8 text is refused with a message saying what it seems to be.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

TEXT_LIMIT_BYTES = 4 * 1024 * 1024
"""The largest text file attached (a bigger one would not fit any context window:
4 MB is about a million tokens)."""
IMAGE_LIMIT_BYTES = 20 * 1024 * 1024
"""The largest image attached (OpenAI's limit per image)."""
_SNIFF_BYTES = 8192
_BACKTICKS = re.compile("`+")

IMAGE_TYPES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


class AttachmentError(Exception):
    """A file that cannot be attached, with why (shown to the user as it is)."""


@dataclass(frozen=True, slots=True)
class TextFile:
    name: str
    """The file's name (no folders): it heads the block the model sees."""
    text: str

    @property
    def size(self) -> int:
        return len(self.text.encode())


@dataclass(frozen=True, slots=True)
class ImageFile:
    name: str
    media_type: str
    """"image/png", "image/jpeg", "image/webp" or "image/gif", from its first bytes."""
    data: bytes


Attachment = TextFile | ImageFile


def image_type(head: bytes) -> str | None:
    """The media type of an image from its first bytes, or None."""
    for magic, media_type in IMAGE_TYPES.items():
        if head.startswith(magic):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def read_attachment(path: Path) -> Attachment:
    """The file at `path`, as a text or an image. Raises AttachmentError for a file that
    cannot be read, is not a regular file, is too large, or is binary but no image."""
    shown = os.fspath(path)
    try:
        # Asked before opening: opening a named pipe would wait for a writer forever.
        if not S_ISREG(path.stat().st_mode):
            raise AttachmentError(f"{shown}: not a regular file")
        with path.open("rb") as file:
            stat = os.fstat(file.fileno())
            if not S_ISREG(stat.st_mode):
                raise AttachmentError(f"{shown}: not a regular file")
            head = file.read(_SNIFF_BYTES)
            media_type = image_type(head)
            limit = IMAGE_LIMIT_BYTES if media_type else TEXT_LIMIT_BYTES
            rest = file.read(limit + 1 - len(head))
    except AttachmentError:
        raise
    except OSError as exc:
        raise AttachmentError(f"{shown}: {exc.strerror or exc}") from exc
    data = head + rest
    if len(data) > limit:
        what = "an image" if media_type else "a text file"
        raise AttachmentError(
            f"{shown}: too large to attach ({_size(stat.st_size)}; "
            f"{what} may be {_size(limit)} at most)"
        )
    name = path.name
    if media_type is not None:
        return ImageFile(name, media_type, data)
    if b"\x00" in head:
        raise AttachmentError(
            f"{shown}: a binary file, not text or an image (PNG, JPEG, WebP, GIF)"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AttachmentError(
            f"{shown}: not UTF-8 text (byte {exc.start:,} cannot be read), and not an image"
        ) from exc
    return TextFile(name, text)


def with_files(text: str, files: Sequence[TextFile]) -> str:
    """The message as sent: each file as a fenced block headed by its name, then the
    user's text. The fence is longer than any run of backticks in the file, so a file
    holding Markdown code blocks cannot end it early."""
    blocks = [_block(file) for file in files]
    return "\n\n".join([*blocks, text] if text else blocks)


def _block(file: TextFile) -> str:
    longest = max(map(len, _BACKTICKS.findall(file.text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = file.text if file.text.endswith("\n") or not file.text else file.text + "\n"
    return f"{file.name}\n{fence}\n{body}{fence}"


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    return f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} bytes"
