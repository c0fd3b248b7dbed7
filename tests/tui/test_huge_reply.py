"""Replies of any size and any line separators on screen: a huge reply ends, is stored
exactly, is folded with its end in view and shows every line on request; quitting while
one streams keeps what came; U+2028 and friends never hide text, streamed or resumed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Static

from llmchat import paths
from llmchat.config import Config
from llmchat.core.conversation import Conversation, SessionInfo
from llmchat.core.messages import Message, Role, Status
from llmchat.core.params import SamplingParams
from llmchat.store import SessionFile
from llmchat.tui.app import LlmChatApp
from llmchat.tui.widgets.reply_lines import ReplyLines
from llmchat.tui.widgets.reply_markdown import blocks
from llmchat.tui.widgets.reply_text import display_text, lines_of
from llmchat.tui.widgets.reply_view import ReplyBody
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import chat_app, cli_app, latest, only_session, wait_for_reply

SEPARATORS = "AAA\u2028BBB\u2029CCC\x85DDD\x0bEEE\x0cFFF\x1cGGG\r\nHHH"
"""Every character Python's splitlines breaks at, and markdown-it does not (or does)."""


def huge_reply(lines: int) -> str:
    """Numbered lines of prose in paragraphs, the last one easy to find."""
    body = [
        f"line {n} of the reply, with some words to fill it out" + ("\n" if n % 5 else "\n\n")
        for n in range(lines)
    ]
    return "".join(body) + "THE VERY END"


UNBOUNDED = Config(sampling=SamplingParams(max_tokens=10_000_000))
"""The loopback server stops at max_tokens, as real ones do."""


def drawn(widget: Widget) -> str:
    """Every row the widget draws (not only those in the viewport), as text."""
    rows = []
    for child in widget.query(Static).results() if not isinstance(widget, Static) else [widget]:
        rows += [Static.render_line(child, y).text.rstrip() for y in range(child.size.height)]
    return "\n".join(rows)


def body_of(app: LlmChatApp) -> ReplyBody:
    return app.screen.query(ReplyBody).last()


async def until(pilot: Pilot[None], condition: Callable[[], bool]) -> None:
    for _ in range(400):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("never happened")


@pytest.mark.family("limits")
async def test_a_multi_megabyte_reply_ends_stored_exactly_and_folded(
    server: OpenAIServer, home: Path
) -> None:
    reply = huge_reply(60_000)  # 3.5 MB, 60,000 lines
    server.push(Script(reply=reply, tokens_per_chunk=400))
    app = chat_app(server, config=UNBOUNDED)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("q", "enter")
        await wait_for_reply(app)
        await pilot.pause()
        body = body_of(app)
        assert body.folded
        shown = drawn(body)
        assert "folded here" in shown
        assert "line 0 of the reply" in shown
        assert "THE VERY END" in shown
        assert "line 30000 of" not in shown
        assert len(body.children) == 3  # the start, the notice, the end
    stored = only_session().messages[-1]
    assert stored.content == reply
    assert stored.status is Status.COMPLETE


@pytest.mark.family("limits")
async def test_show_all_draws_every_line_of_a_folded_reply(
    server: OpenAIServer, home: Path
) -> None:
    reply = huge_reply(30_000)
    server.push(Script(reply=reply, tokens_per_chunk=400))
    app = chat_app(server, config=UNBOUNDED)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("q", "enter")
        await wait_for_reply(app)
        await pilot.press("ctrl+up")
        await pilot.pause()
        await pilot.press("enter")
        await until(pilot, lambda: bool(app.screen.query(ReplyLines)))
        lines = app.screen.query_one(ReplyLines)
        await pilot.pause()
        assert lines.line_count == reply.count("\n") + 1
        rows = [lines.render_line(y).text.rstrip() for y in range(lines.size.height)]
        assert rows[-1] == "THE VERY END"
        assert rows[0] == "line 0 of the reply, with some words to fill it out"
        assert "line 17000 of the reply, with some words to fill it out" in rows


def write_session(server: OpenAIServer, reply: str) -> None:
    info = SessionInfo(backend="openai", kind="openai", model="test-model")
    info.base_url = server.base_url
    conversation = Conversation(info)
    file = SessionFile.create(paths.sessions_dir(), info)
    conversation.attach(file)
    conversation.add_user("say everything", tokens=3)
    conversation.add_reply(Message(Role.ASSISTANT, reply, tokens=12))
    file.close()


@pytest.mark.family("limits")
async def test_a_session_whose_last_reply_is_huge_opens_folded_with_its_end_shown(
    server: OpenAIServer, home: Path
) -> None:
    reply = huge_reply(100_000)  # 5.8 MB
    write_session(server, reply)
    app = cli_app(session=latest())
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: bool(app.screen.query(ReplyBody)) and body_of(app).folded)
        await pilot.pause()
        shown = drawn(body_of(app))
        assert "THE VERY END" in shown
        assert "folded here" in shown


@pytest.mark.family("sessions")
async def test_quitting_while_a_reply_streams_saves_what_came(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply=huge_reply(2_000), rate=200))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.press("q", "enter")
        await until(pilot, lambda: "line 3 of" in body_of(app).source)
        await pilot.press("ctrl+q")
    stored = only_session().messages[-1]
    assert stored.role is Role.ASSISTANT
    assert stored.content.startswith("line 0 of the reply")
    assert stored.status in (Status.CANCELLED, Status.INTERRUPTED)


@pytest.mark.family("escapes")
@pytest.mark.parametrize("chunk", [1, 3, 1000])
async def test_line_separators_in_a_streamed_reply_hide_nothing(
    server: OpenAIServer, home: Path, chunk: int
) -> None:
    reply = f"Intro paragraph.\n\n{SEPARATORS}\n\n- item {SEPARATORS}\n\nafter"
    server.push(Script(reply=reply, tokens_per_chunk=chunk))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.press("q", "enter")
        await wait_for_reply(app)
        await pilot.pause()
        shown = drawn(body_of(app))
    for word in ("Intro", "AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH", "after"):
        assert shown.count(word) >= 1, word
    assert shown.count("BBB") == 2 and shown.count("HHH") == 2
    assert only_session().messages[-1].content == reply


@pytest.mark.family("escapes")
async def test_line_separators_in_a_resumed_reply_hide_nothing(
    server: OpenAIServer, home: Path
) -> None:
    reply = f"# Title\u2028more title\n\n{SEPARATORS}\n\n```\ncode\u2029{SEPARATORS}\n```\n\nend"
    write_session(server, reply)
    app = cli_app(session=latest())
    async with app.run_test() as pilot:
        await until(pilot, lambda: bool(app.screen.query(ReplyBody)))
        await pilot.pause()
        shown = drawn(body_of(app))
    for word in ("Title", "more title", "code", "end"):
        assert word in shown, word
    for word in ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH"):
        assert shown.count(word) == 2, word


@pytest.mark.family("escapes")
def test_displayed_text_breaks_lines_only_at_newline() -> None:
    shown = display_text(SEPARATORS)
    assert shown.count("\n") == 1
    assert len(lines_of(shown)) == 2
    assert "⟨U+2028⟩" in shown and "⟨U+2029⟩" in shown
    # per character: any chunking gives the same text
    assert "".join(display_text(c) for c in SEPARATORS) == shown


async def test_a_long_code_block_streamed_is_drawn_whole_and_as_code(
    server: OpenAIServer, home: Path
) -> None:
    code = "".join(f"value_{n} = compute({n})  # step {n}\n" for n in range(400))
    reply = f"Here:\n\n```python\n{code}```\n\nDone."
    server.push(Script(reply=reply, tokens_per_chunk=2))
    app = chat_app(server, config=UNBOUNDED)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("q", "enter")
        await wait_for_reply(app)
        await pilot.pause()
        body = body_of(app)
        shown = drawn(body)
        assert not body.folded
    assert "```" not in shown  # a block cut while it grew is still drawn as code
    for n in range(400):
        assert f"value_{n} = compute({n})" in shown
    assert "Done." in shown


def test_an_unclosed_fence_is_known_by_its_opening_line() -> None:
    assert blocks("a\n\n```py\nx\n")[-1][2] == "```py"
    assert blocks("a\n\n```py\nx\n```\n")[-1][2] is None
    assert blocks("a\n\n- x\n")[-1][2] is None
