"""`inspect: latency` and `inspect: cache`: each reply's timings and cache use, turn by
turn, from what the replies recorded."""

from __future__ import annotations

import threading
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

from textual.app import App
from textual.widgets import Static

from llmchat.core.cache_explainer import ReuseDrop
from llmchat.core.messages import Message, Role, Timing, Usage
from llmchat.core.turn_history import cache_table, latency_table, turns
from llmchat.tui.screens.chat import ChatScreen
from llmchat.tui.screens.turn_history import WORKING, LatencyChart, TurnHistoryScreen
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import chat_app, wait_for_reply


def reply(prompt: int, cached: int, ttft: float, *, llama: bool = True) -> Message:
    timing = Timing(ttft_ms=ttft, tok_s=40.0, prefill_ms=ttft / 2)
    if llama:
        timing = replace(timing, prefill_tokens=prompt - cached, cache_tokens=cached)
    usage = Usage(prompt=prompt, completion=20, cached=0 if llama else cached)
    return Message(Role.ASSISTANT, "ok", usage=usage, timing=timing, model="m")


def thread(*replies: Message) -> list[Message]:
    out: list[Message] = []
    for r in replies:
        out += [Message(Role.USER, "q"), r]
    return out


def test_each_reply_is_a_turn_with_its_prompt_and_what_the_cache_served() -> None:
    rows = turns(thread(reply(100, 0, 80.0), reply(240, 100, 60.0), reply(400, 230, 70.0)))
    assert [(r.number, r.prompt, r.reused, r.processed) for r in rows] == [
        (1, 100, 0, 100),
        (2, 240, 100, 140),
        (3, 400, 230, 170),
    ]


def test_openai_cached_tokens_count_as_reused() -> None:
    [row] = turns(thread(reply(2048, 1024, 300.0, llama=False)))
    assert (row.reused, row.processed) == (1024, 1024)


def test_the_latency_table_has_a_row_and_a_bar_per_turn() -> None:
    lines = latency_table(turns(thread(reply(100, 0, 100.0), reply(900, 0, 400.0))))
    assert len(lines) == 3
    assert lines[2].count("█") > lines[1].count("█")  # the slower first token, the longer bar


def test_the_turns_whose_reuse_dropped_are_marked() -> None:
    rows = turns(thread(reply(300, 0, 1), reply(600, 290, 1), reply(650, 20, 1)))
    lines = cache_table(rows, dropped={3})
    assert [line.endswith("← reuse dropped") for line in lines] == [False, False, False, True]


def test_a_backend_that_reports_no_cache_use_says_so() -> None:
    plain = Message(Role.ASSISTANT, "ok", usage=Usage(prompt=10, completion=2), timing=Timing())
    [line] = cache_table(turns(thread(plain)))
    assert "reports no cache use" in line


async def test_both_views_open_from_the_palette_with_the_replies_of_the_session(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for question in ("one", "two"):
            app.screen.query_one("#prompt").text = question  # type: ignore[attr-defined]
            await pilot.press("enter")
            await wait_for_reply(app)
        for name in ("inspect: latency", "inspect: cache"):
            commands = {c.title: c for c in app.get_system_commands(app.screen)}
            await commands[name].callback()
            await pilot.pause()
            view = app.screen
            assert isinstance(view, TurnHistoryScreen)
            assert [r.number for r in view.rows] == [1, 2]
            await pilot.press("escape")
            await pilot.pause()


async def test_the_latency_view_draws_the_chart_above_the_table_at_40_columns(
    server: OpenAIServer, home: Path
) -> None:
    server.push(
        Script(prompt_tokens=100, timings=True),
        Script(prompt_tokens=400, cached_tokens=100, timings=True),
    )
    app = chat_app(server)
    async with app.run_test(size=(40, 50)) as pilot:
        await pilot.pause()
        for question in ("one", "two"):
            app.screen.query_one("#prompt").text = question  # type: ignore[attr-defined]
            await pilot.press("enter")
            await wait_for_reply(app)
        await app.screen.run_action("inspect_latency")
        await pilot.pause()
        chart = app.screen.query_one(LatencyChart)
        drawn = str(chart.render())
        assert "time to first token" in drawn and "400 prompt tokens" in drawn
        assert max(map(len, drawn.splitlines())) <= chart.content_size.width


async def test_the_cache_view_says_why_reuse_dropped_after_a_system_prompt_change(
    server: OpenAIServer, home: Path
) -> None:
    server.push(
        Script(prompt_tokens=100, timings=True),
        Script(prompt_tokens=200, cached_tokens=100, timings=True),
        Script(prompt_tokens=260, cached_tokens=0, timings=True),
    )
    app = chat_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        chat = app.screen
        assert isinstance(chat, ChatScreen)
        for question in ("one", "two", "three"):
            if question == "three":
                chat.conversation.set_system("Answer in French.")
            chat.query_one("#prompt").text = question  # type: ignore[attr-defined]
            await pilot.press("enter")
            await wait_for_reply(app)
        await chat.run_action("inspect_cache")
        await pilot.pause()
        view = app.screen
        assert isinstance(view, TurnHistoryScreen)
        await view.workers.wait_for_complete()
        await pilot.pause()
        [drop] = view.drops
        assert drop.turn == 3
        assert drop.causes == ("a system prompt was added",)
        shown = "\n".join(str(s.render()) for s in view.query(Static))
        assert "← reuse dropped" in shown and "Cause: a system prompt was added" in shown


class ScreenApp(App[None]):
    def __init__(self, screen: TurnHistoryScreen) -> None:
        super().__init__()
        self.view = screen

    def on_mount(self) -> None:
        self.push_screen(self.view)


def linked(*replies: Message) -> list[Message]:
    """A thread whose messages name their parents, as a session's do."""
    out = thread(*replies)
    for parent, child in pairwise(out):
        child.parent = parent.id
    return out


def shown(screen: TurnHistoryScreen) -> str:
    return "\n".join(str(s.render()) for s in screen.query(Static))


async def test_the_cache_view_opens_at_once_and_fills_in_why_reuse_dropped() -> None:
    """The explainer runs in a thread: the screen says it is working, then shows it."""
    go = threading.Event()
    drop = ReuseDrop(3, 290, 20, "The prompt starts as the one before did.", ("a cause",))

    def explain() -> list[ReuseDrop]:
        go.wait(10)
        return [drop]

    rows = linked(reply(300, 0, 1), reply(600, 290, 1), reply(650, 20, 1))
    screen = TurnHistoryScreen(rows, "cache", explain=explain)
    app = ScreenApp(screen)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        assert WORKING in shown(screen) and screen.drops == []
        go.set()
        await screen.workers.wait_for_complete()
        await pilot.pause()
        assert screen.drops == [drop]
        assert WORKING not in shown(screen)
        assert "Turn 3: 290 → 20 tokens reused." in shown(screen)
        assert "← reuse dropped" in shown(screen)


async def test_the_cache_view_says_so_when_reuse_never_dropped() -> None:
    screen = TurnHistoryScreen(linked(reply(300, 0, 1)), "cache", explain=list)
    async with ScreenApp(screen).run_test(size=(100, 40)) as pilot:
        await screen.workers.wait_for_complete()
        await pilot.pause()
        assert "Reuse did not drop on this thread." in shown(screen)


async def test_at_20_columns_the_chart_keeps_whole_lines_and_scrolls_sideways() -> None:
    rows = linked(*(reply(100 + 40 * n, 50, 10.0 + n) for n in range(5)))
    screen = TurnHistoryScreen(rows, "latency")
    async with ScreenApp(screen).run_test(size=(20, 40)) as pilot:
        await pilot.pause()
        chart = screen.query_one(LatencyChart)
        drawn = str(chart.render()).splitlines()
        assert chart.size.width >= 24 and chart.size.height == len(drawn)
        assert all(len(line) <= chart.size.width for line in drawn)
        assert drawn[-1].split() == ["100", "260"]  # the bottom axis is there
        assert screen.query_one("#turns").max_scroll_x > 0


async def test_the_sentence_said_instead_of_a_chart_is_wrapped_whole() -> None:
    screen = TurnHistoryScreen(linked(reply(100, 0, 10.0)), "latency")
    async with ScreenApp(screen).run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        chart = screen.query_one(LatencyChart)
        lines = [chart.render_line(y).text.strip() for y in range(chart.size.height)]
        assert " ".join(lines).startswith("The chart needs two turns")
        assert " ".join(lines).endswith("this thread has 1.")
