"""`inspect: request`: the exact body the last turn sent, what it left out, and the same
request as a curl command that reads the key from its variable."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from llmchat.backends.anthropic import AnthropicBackend
from llmchat.backends.openai import OpenAIBackend
from llmchat.core.events import RequestSent
from llmchat.core.params import SamplingParams
from llmchat.core.request import ChatRequest, WireMessage
from llmchat.core.request_view import (
    PRETTY_LINES,
    SHOWN_CHARS,
    SentBody,
    curl_command,
    folded,
    key_variable,
    plan_summary,
)
from llmchat.tui.screens.request_inspector import RequestInspector
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import chat_app, wait_for_reply

KEY = "sk-test-inspector-0123456789"


def test_the_key_comes_from_the_variable_the_config_named() -> None:
    assert key_variable("environment variable GROQ_KEY") == "GROQ_KEY"
    assert key_variable("environment variable GROQ_KEY (--api-key-env)") == "GROQ_KEY"
    assert key_variable("GROQ_KEY") == "GROQ_KEY"


def test_no_variable_is_guessed_for_a_key_that_came_from_none() -> None:
    assert key_variable(None) is None
    assert key_variable("api_key in [backends.work] of the config file") is None


def prepared(backend: OpenAIBackend) -> RequestSent:
    request = ChatRequest(messages=(WireMessage("user", "hi"),), params=SamplingParams())
    return asyncio.run(backend.prepared(request))


def curl_of(sent: RequestSent) -> str:
    return curl_command(SentBody.of(sent), sent.headers, sent.backend)


def test_curl_sends_the_body_as_sent_and_never_the_key() -> None:
    body = '{"model":"m","messages":[{"role":"user","content":"it\'s \\"JSON\\"\\nJSON"}]}'
    headers = (("Content-Type", "application/json"), ("Authorization", "Bearer $OPENAI_API_KEY"))
    sent = SentBody.of(RequestSent("POST", "http://127.0.0.1:8000/v1/chat/completions", body))
    command = curl_command(sent, headers)
    assert command.startswith("curl -sS -N -X POST http://127.0.0.1:8000/v1/chat/completions")
    assert "'Authorization: Bearer '\"$OPENAI_API_KEY\"" in command
    head, rest = command.split("\n", 1)
    end = head.rsplit("<<'", 1)[1].rstrip("'")
    assert rest == f"{body}\n{end}\n"  # the body, exactly, in a here-document


def test_curl_reads_the_key_from_the_variable_the_request_was_sent_with() -> None:
    backend = OpenAIBackend(
        "groq", "https://h.example/v1", "m", KEY, api_key_hint="environment variable GROQ_KEY"
    )
    command = curl_of(prepared(backend))
    assert "'Authorization: Bearer '\"$GROQ_KEY\"" in command
    assert KEY not in command and "OPENAI_API_KEY" not in command


def test_curl_of_a_request_sent_without_a_key_sends_no_key() -> None:
    # A keyless llama-server over plain http: no one's OpenAI key may go there.
    backend = OpenAIBackend("local", "http://127.0.0.1:8080/v1", "m")
    command = curl_of(prepared(backend))
    assert "Authorization" not in command and "API_KEY" not in command


def test_curl_of_a_key_from_the_config_file_asks_for_it_and_never_guesses_a_variable() -> None:
    backend = OpenAIBackend(
        "work", "https://h.example/v1", "m", KEY, api_key_hint="api_key in [backends.work]"
    )
    command = curl_of(prepared(backend))
    assert '"${LLMCHAT_API_KEY:?set LLMCHAT_API_KEY to the key for work}"' in command
    assert KEY not in command and "OPENAI_API_KEY" not in command


def test_anthropic_curl_uses_its_own_headers_whatever_the_session_speaks() -> None:
    backend = AnthropicBackend(
        "claude",
        "https://api.anthropic.com",
        "claude-test",
        KEY,
        api_key_hint="environment variable ANTHROPIC_API_KEY",
    )
    sent = prepared(backend)
    assert sent.protocol == "anthropic" and sent.backend == "claude"
    command = curl_of(sent)
    assert "'x-api-key: '\"$ANTHROPIC_API_KEY\"" in command
    assert "anthropic-version: 2023-06-01" in command
    assert "Authorization" not in command and KEY not in command


def test_the_shell_cannot_be_steered_by_a_backend_name() -> None:
    backend = OpenAIBackend("a}$(rm -rf x)", "https://h.example/v1", "m", KEY)
    command = curl_of(prepared(backend))
    assert "$(" not in command and KEY not in command


@pytest.mark.parametrize("key", ["json", "application", "llmchat", "POST", "text"])
def test_a_short_key_is_replaced_only_in_the_header_that_carries_it(key: str) -> None:
    headers = dict(prepared(OpenAIBackend("x", "http://h.example/v1", "m", key)).headers)
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "text/event-stream"
    assert headers["User-Agent"].startswith("llmchat/")
    assert headers["Authorization"] == "Bearer •••"


def test_the_plan_says_what_was_left_out_and_the_dials() -> None:
    request = ChatRequest(
        messages=(WireMessage("system", "Be brief."), WireMessage("user", "hi")),
        params=SamplingParams(temperature=0.2, top_p=0.9, max_tokens=256),
    )
    summary = "\n".join(plan_summary(request, skipped=6, reserve_clipped=True))
    assert "The system prompt and the new message are in it." in summary
    assert "6 older messages left out by the window policy" in summary
    assert "temperature 0.2, top-p 0.9, max tokens 256" in summary
    assert "reserve was lowered" in summary
    alone = ChatRequest(messages=(WireMessage("user", "hi"),), params=SamplingParams())
    assert plan_summary(alone, 0, False)[0] == "The new message is in it."
    three = ChatRequest(
        messages=(
            WireMessage("system", "s"),
            WireMessage("user", "a"),
            WireMessage("assistant", "b"),
            WireMessage("user", "c"),
        ),
        params=SamplingParams(),
    )
    assert plan_summary(three, 0, False)[0] == (
        "The system prompt, 2 messages of history and the new message are in it."
    )


async def test_the_inspector_shows_the_bytes_sent_and_copies_them_as_curl(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server, env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url})
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.screen.query_one("#prompt").text = "What is a monad?"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for_reply(app)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        await commands["inspect: request"].callback()
        await pilot.pause()
        inspector = app.screen
        assert isinstance(inspector, RequestInspector)
        shown = "\n".join(str(s.render()) for s in inspector.query("Static"))
        [asked] = server.chat_requests
        assert f"{len(asked.raw):,} bytes" in shown
        assert '"content": "What is a monad?"' in shown  # pretty-printed
        assert KEY not in shown
        await pilot.press("c")
        await pilot.pause()
        copied = app.clipboard
    assert KEY not in copied and "$OPENAI_API_KEY" in copied
    assert asked.raw.decode() in copied  # the bytes the server received


async def test_the_inspector_shows_headers_masked_and_the_reply_side(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply="one \x1b]52;c;aGk=\x07 two three four five six seven eight"))
    app = chat_app(server, env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url})
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.screen.query_one("#prompt").text = "hi"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for_reply(app)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        await commands["inspect: request"].callback()
        await pilot.pause()
        shown = "\n".join(str(s.render()) for s in app.screen.query("Static"))
    assert "Authorization: Bearer $OPENAI_API_KEY" in shown
    assert KEY not in shown
    assert "the first 3 and the last 3" in shown
    assert "data: [DONE]" in shown
    assert "Usage as received: 12 prompt tokens" in shown
    assert "\x1b" not in shown and "\x07" not in shown  # the raw events shown harmless


async def test_n_shows_the_request_the_draft_would_make_without_sending_it(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server, env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url})
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.screen.query_one("#prompt").text = "first"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for_reply(app)
        app.screen.query_one("#prompt").text = "the draft [b]typed[/b]"  # type: ignore[attr-defined]
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        await commands["inspect: request"].callback()
        await pilot.pause()
        inspector = app.screen
        assert isinstance(inspector, RequestInspector)
        await pilot.press("n")
        await inspector.workers.wait_for_complete()
        await pilot.pause()
        shown = "\n".join(str(s.render()) for s in inspector.query("Static"))
        await pilot.press("c")
        await pilot.pause()
        copied = app.clipboard
    assert "The next request" in shown
    assert '"content": "the draft [b]typed[/b]"' in shown
    assert '"content": "first"' in shown
    assert "Authorization: Bearer $OPENAI_API_KEY" in shown
    assert len(server.chat_requests) == 1  # nothing more was sent
    assert '"the draft [b]typed[/b]"' in copied and KEY not in copied


def test_a_huge_body_is_shown_cut_to_what_a_screen_can_hold_and_says_the_copy_is_whole() -> None:
    one_line = '{"content":"' + "word " * 200_000 + '"}'  # a megabyte on one line
    shown = folded(one_line)
    assert len(shown) < SHOWN_CHARS + 100
    assert shown.startswith(one_line[:1000])
    assert f"{len(one_line) - SHOWN_CHARS:,} more characters not shown (the copy is whole)" in shown
    many_lines = "line\n" * 10_000
    assert folded(many_lines).count("\n") == PRETTY_LINES
    assert folded("small") == "small"


async def test_the_inspector_shows_a_huge_body_cut_and_copies_it_whole(home: Path) -> None:
    from textual.app import App

    from llmchat.engine.events import RequestPlanned
    from llmchat.engine.turn_request import TurnRequest

    draft = "word " * 200_000
    body = '{"model":"m","messages":[{"role":"user","content":"' + draft + '"}]}'
    request = ChatRequest(messages=(WireMessage("user", draft),), params=SamplingParams())
    url = "http://127.0.0.1:9/v1/chat/completions"
    last = TurnRequest(RequestPlanned(request, 0, False), sent=(RequestSent("POST", url, body),))
    app: App[None] = App()
    async with app.run_test(size=(100, 30)) as pilot:
        await app.push_screen(RequestInspector(last))
        await pilot.pause()
        shown = "\n".join(str(s.render()) for s in app.screen.query("Static"))
        await pilot.press("c")
        await pilot.pause()
        copied = app.clipboard
    assert "more characters not shown (the copy is whole)" in shown
    assert len(shown) < 2 * SHOWN_CHARS
    assert body in copied


def test_a_count_the_tokenizer_made_with_images_is_labelled_an_estimate() -> None:
    from llmchat.engine.events import RequestPlanned
    from llmchat.engine.turn_request import TurnRequest

    request = ChatRequest(messages=(WireMessage("user", "hi"),), params=SamplingParams())
    for exact, label in ((True, "The prompt is 12 tokens"), (False, "The prompt is ≈12 tokens")):
        planned = RequestPlanned(request, 0, False, 12, "tiktoken o200k_base", exact)
        shown = RequestInspector(TurnRequest(planned))._request(TurnRequest(planned))
        text = "\n".join(str(s.render()) for s in shown)
        assert f"{label} (counted by tiktoken o200k_base)" in text


async def test_keys_pressed_while_the_next_request_compiles_never_show_it_twice() -> None:
    from textual.app import App

    async def upcoming() -> str:
        await asyncio.sleep(0.05)
        return "Not sent: the draft is empty in this test."

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(RequestInspector(None, upcoming))

    app = Host()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("n")
        for _ in range(20):  # redraws racing the compile's own
            await pilot.press("m")
            await pilot.pause(0.005)
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        shown = [str(s.render()) for s in app.screen.query("Static")]
    assert sum("Not sent: the draft is empty" in text for text in shown) == 1
