"""The SSE decoder: whole events out of bytes in any chunking, framing or encoding."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmchat.backends.sse import SSEDecoder, SSEError, SSEEvent

pytestmark = pytest.mark.family("streams")


def decode(*chunks: bytes, max_bytes: int = 1 << 20) -> list[SSEEvent]:
    decoder = SSEDecoder(max_bytes=max_bytes)
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.finish()


def one_byte_pieces(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def chat_stream(deltas: list[str], *, eol: str, comments: bool, named: bool, done: str) -> bytes:
    """An OpenAI-style stream of `deltas` with the chosen framing."""
    lines: list[str] = []
    for text in deltas:
        if comments:
            lines.append(": keep-alive" + eol)
        if named:
            lines.append("event: message" + eol)
        chunk = {"choices": [{"index": 0, "delta": {"content": text}}]}
        lines.append(f"data: {json.dumps(chunk, ensure_ascii=False)}{eol}{eol}")
    lines.append("data: [DONE]" + done.replace("\n", eol))
    return "".join(lines).encode()


def text_of(events: list[SSEEvent]) -> str:
    parts = []
    for event in events:
        if event.data != "[DONE]":
            parts.append(json.loads(event.data)["choices"][0]["delta"]["content"])
    return "".join(parts)


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.sets(st.integers(0, len(data)), max_size=40)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]


@settings(deadline=None, max_examples=300)
@given(
    deltas=st.lists(st.text(min_size=1), max_size=8),
    eol=st.sampled_from(["\n", "\r\n", "\r"]),
    comments=st.booleans(),
    named=st.booleans(),
    done=st.sampled_from(["\n\n", "\n", ""]),
    data=st.data(),
)
def test_any_chunking_of_a_valid_stream_gives_the_concatenated_deltas(
    deltas: list[str], eol: str, comments: bool, named: bool, done: str, data: st.DataObject
) -> None:
    stream = chat_stream(deltas, eol=eol, comments=comments, named=named, done=done)
    events = decode(*data.draw(chunked(stream)))
    assert text_of(events) == "".join(deltas)
    assert events[-1].data == "[DONE]"


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_every_line_ending_frames_events(eol: str) -> None:
    stream = f"data: one{eol}{eol}data: two{eol}{eol}".encode()
    assert [e.data for e in decode(*one_byte_pieces(stream))] == ["one", "two"]


def test_crlf_split_between_chunks_is_one_line_end_not_two() -> None:
    events = decode(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n")
    assert events == [SSEEvent("a\nb")]


def test_multibyte_utf8_split_across_chunks_decodes_intact() -> None:
    stream = 'data: {"t": "héllo 🙂 世界"}\n\n'.encode()
    assert decode(*one_byte_pieces(stream)) == [SSEEvent('{"t": "héllo 🙂 世界"}')]


def test_comment_lines_are_skipped() -> None:
    assert decode(b": keep-alive\n:\ndata: x\n\n: bye\n\n") == [SSEEvent("x")]


def test_event_field_names_the_event() -> None:
    assert decode(b"event: ping\ndata: {}\n\n") == [SSEEvent("{}", event="ping")]


def test_event_name_does_not_leak_into_the_next_event() -> None:
    events = decode(b"event: ping\ndata: 1\n\ndata: 2\n\n")
    assert [e.event for e in events] == ["ping", "message"]


def test_event_without_data_is_not_dispatched() -> None:
    assert decode(b"data:\n\nevent: ping\n\nid: 3\nretry: 10\n\n") == []


def test_multiple_data_lines_join_with_newlines() -> None:
    assert decode(b"data: a\ndata:\ndata: b\n\n") == [SSEEvent("a\n\nb")]


def test_only_one_space_after_the_colon_is_removed() -> None:
    assert decode(b"data:x\n\ndata:  y\n\n") == [SSEEvent("x"), SSEEvent(" y")]


def test_line_without_colon_is_a_field_name_and_ignored() -> None:
    assert decode(b"data\nnonsense\ndata: z\n\n") == [SSEEvent("\nz")]


def test_done_without_trailing_blank_line_is_dispatched_at_the_end() -> None:
    assert decode(b"data: [DONE]\n") == [SSEEvent("[DONE]")]
    assert decode(b"data: [DONE]") == [SSEEvent("[DONE]")]


def test_leading_byte_order_mark_is_ignored() -> None:
    assert decode(b"\xef\xbb\xbfdata: x\n\n") == [SSEEvent("x")]


def test_old_llama_error_line_becomes_an_error_event() -> None:
    payload = '{"code":500,"message":"boom","type":"server_error"}'
    events = decode(f"data: {{}}\n\nerror: {payload}\n\n".encode())
    assert events == [SSEEvent("{}"), SSEEvent(payload, event="error")]


def test_old_llama_error_line_without_blank_line_is_dispatched_at_the_end() -> None:
    assert decode(b"error: {}\n") == [SSEEvent("{}", event="error")]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert decode(b"data: a\xffb\n\n") == [SSEEvent("a\ufffdb")]


def test_events_are_returned_by_the_chunk_that_completes_them() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\ndata: b") == [SSEEvent("a")]
    assert decoder.feed(b"\n\n") == [SSEEvent("b")]


def test_a_line_over_the_limit_raises_even_in_small_pieces() -> None:
    decoder = SSEDecoder(max_bytes=1024)
    with pytest.raises(SSEError, match="longer than 1 KiB"):
        for _ in range(100):
            decoder.feed(b"data: " + b"x" * 64)


def test_a_complete_line_over_the_limit_raises() -> None:
    with pytest.raises(SSEError):
        decode(b"data: " + b"x" * 2048 + b"\n\n", max_bytes=1024)


def test_an_event_whose_data_lines_add_up_over_the_limit_raises() -> None:
    with pytest.raises(SSEError, match="an event"):
        decode(b"data: " + b"x" * 600 + b"\n" + b"data: " + b"y" * 600 + b"\n", max_bytes=1024)
