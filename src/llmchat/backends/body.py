"""A response body read in small decoded pieces, whatever its compression.

httpx decompresses each network read in one call: 64 KB of a gzip "comment bomb"
become 64 MB in memory at once, and the loop reading them holds the event loop for as
long as they take to parse. Here the raw bytes are inflated at most `PIECE_BYTES` at a
time, so memory stays bounded and the reader can yield between pieces (Esc wins).

Only what llmchat asks for is read (`ACCEPT_ENCODING`); a body in another encoding is
refused with `BodyDecodeError` rather than read as garbage.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncGenerator

import httpx

PIECE_BYTES = 64 * 1024
"""Decoded bytes handed on at a time."""
ACCEPT_ENCODING = "gzip, deflate"


class BodyDecodeError(ValueError):
    """The body's Content-Encoding is unknown, or its compressed bytes are corrupt."""


class _Inflater:
    """gzip or deflate (zlib-wrapped, or raw as some servers send it), bounded output."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding in ("gzip", "x-gzip")
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS)
        self._first = True

    def decode(self, data: bytes, limit: int) -> bytes:
        """At most `limit` decoded bytes; the input left over is in `tail`."""
        try:
            out = self._zlib.decompress(data, limit)
        except zlib.error:
            if not (self._first and not self._gzip):
                raise
            # "deflate" sent raw, without its zlib header (as httpx also accepts).
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._zlib.decompress(data, limit)
        self._first = False
        return out

    @property
    def tail(self) -> bytes:
        """Compressed bytes not yet inflated because the last piece was full."""
        return self._zlib.unconsumed_tail

    def flush(self) -> bytes:
        return self._zlib.flush()


async def decoded_pieces(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    """The body, decoded, in pieces of at most `PIECE_BYTES`.

    Raises `BodyDecodeError` for an encoding llmchat did not ask for or corrupt data,
    and httpx's errors for the transport.
    """
    encodings = [
        part.strip().lower()
        for part in response.headers.get("content-encoding", "").split(",")
        if part.strip() and part.strip().lower() != "identity"
    ]
    if not encodings:
        async for raw in response.aiter_raw():
            for start in range(0, len(raw), PIECE_BYTES):
                yield raw[start : start + PIECE_BYTES]
        return
    if len(encodings) > 1 or encodings[0] not in ("gzip", "x-gzip", "deflate"):
        raise BodyDecodeError(f"the body is in an encoding llmchat does not read ({encodings})")
    inflater = _Inflater(encodings[0])
    try:
        async for raw in response.aiter_raw():
            data = raw
            while data:
                out = inflater.decode(data, PIECE_BYTES)
                if out:
                    yield out
                data = inflater.tail
        rest = inflater.flush()
    except zlib.error as exc:
        raise BodyDecodeError(f"the compressed body is corrupt ({exc})") from exc
    for start in range(0, len(rest), PIECE_BYTES):
        yield rest[start : start + PIECE_BYTES]
