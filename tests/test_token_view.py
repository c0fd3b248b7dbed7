"""`inspect: tokens`: a text split as the model's tokenizer splits it."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmchat.backends.anthropic import AnthropicBackend
from llmchat.backends.openai import OpenAIBackend
from llmchat.core.tokens import load_encoder, load_pieces
from llmchat.gateway.gateway import Gateway
from llmchat.tui.screens.token_view import TokenView, coloured, split
from tests.support.openai_server import OpenAIServer
from tests.tui.helpers import chat_app, wait_for_reply


async def test_an_openai_model_is_split_by_tiktoken(server: OpenAIServer) -> None:
    assert load_pieces("cl100k_base") is not None  # the offline copy installed with llmchat
    gateway = Gateway(OpenAIBackend("o", server.base_url, "gpt-4"))
    try:
        pieces, source = await split("Hello, wörld!", gateway, "gpt-4")
    finally:
        await gateway.aclose()
    assert source == "tiktoken cl100k_base"
    encoder = load_encoder("cl100k_base")
    assert pieces is not None and encoder is not None
    assert "".join(pieces) == "Hello, wörld!"  # the text, cut at its tokens
    assert len(pieces) == encoder("Hello, wörld!")  # as many as the gauge counts
    assert server.requests == []  # counted here, not asked


async def test_a_model_nobody_here_can_split_says_so_with_an_estimate() -> None:
    gateway = Gateway(AnthropicBackend("claude", "http://127.0.0.1:1/v1", "claude-test"))
    pieces, source = await split("twelve characters", gateway, "claude-test")
    await gateway.aclose()
    assert pieces is None
    assert source == "no tokenizer for claude-test here: about 5 tokens (an estimate)"


@pytest.mark.family("escapes")
def test_pieces_are_shown_harmlessly_in_alternating_colours() -> None:
    text = coloured(["a", "\x1b[31m", "b"])
    assert "\x1b" not in text.plain and "␛[31m" in text.plain
    styles = [span.style for span in text.spans]
    assert styles[0] != styles[1] and styles[0] == styles[2]


async def test_the_view_opens_from_the_palette_on_the_last_message(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.screen.query_one("#prompt").text = "hello"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for_reply(app)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        await commands["inspect: tokens"].callback()
        await pilot.pause()
        view = app.screen
        assert isinstance(view, TokenView)
        await app.workers.wait_for_complete()
        await pilot.pause()
        counted = str(view.query_one("#token-count").render())
    assert counted.startswith("The last assistant message: ")
