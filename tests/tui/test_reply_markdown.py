"""How a reply's Markdown is split into blocks and drawn, links and streaming included."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from textual.widgets import Static

from llmchat.tui.widgets.reply_markdown import block_spans, render_block
from llmchat.tui.widgets.reply_view import ReplyBody
from tests.support.openai_server import OpenAIServer, Script
from tests.support.replies import markdown_reply, split_tokens
from tests.tui.helpers import chat_app, wait_for_reply


def drawn(source: str, width: int = 80) -> tuple[str, list[object]]:
    """The text a block draws, and the link styles of its segments."""
    console = Console(width=width, color_system=None, record=False)
    lines = console.render_lines(render_block(source, dark=True), console.options)
    segments = [segment for line in lines for segment in line]
    text = "\n".join("".join(segment.text for segment in line).rstrip() for line in lines)
    links = [s.style.link for s in segments if s.style is not None and s.style.link]
    return text, links


def test_a_link_shows_its_real_target_and_is_not_clickable() -> None:
    text, links = drawn("See [the docs](ftp://example.org/pub) and [home](https://example.com).")
    assert "the docs (ftp://example.org/pub)" in text
    assert "home (https://example.com)" in text
    assert links == []


def test_script_and_file_links_are_not_even_links() -> None:
    for target in ("javascript:alert(1)", "file:///etc/passwd", "vbscript:x"):
        text, links = drawn(f"[click]({target})")
        assert f"[click]({target})" in text
        assert links == []


def test_headings_are_left_aligned() -> None:
    text, _ = drawn("# Title")
    assert text.splitlines()[0].startswith("Title")


def test_each_top_level_block_is_one_span() -> None:
    source = "# Head\n\npara one\nstill one\n\n- a\n- b\n  - c\n\n```\ncode\n```\n"
    # a list takes in the blank line after it
    assert list(block_spans(source)) == [(0, 1), (2, 4), (5, 9), (9, 12)]


async def test_a_streamed_reply_shows_the_same_blocks_as_the_whole_text(
    server: OpenAIServer, home: Path
) -> None:
    reply = markdown_reply(300)
    server.push(Script(reply=reply, tokens_per_chunk=1))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.press("q", "enter")
        await wait_for_reply(app)
        await pilot.pause()
        body = app.screen.query(ReplyBody).last()
        streamed = [str(static.render()) for static in body.query(Static)]
        assert body.source == reply
    whole = ReplyBody(reply)
    expected_blocks = len(list(block_spans(reply)))
    assert len(streamed) == expected_blocks
    assert len(split_tokens(reply)) >= 300
    assert whole.source == reply
