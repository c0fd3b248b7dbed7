"""The session browser (F3, `llmchat --resume`): filter, open, rename, delete, undo."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from llmchat import paths
from llmchat.core.conversation import Conversation, SessionInfo
from llmchat.core.messages import Message, Role
from llmchat.store import SessionFile, list_sessions, load_session, session_index, session_list
from llmchat.store.session_trash import trash_dir
from llmchat.tui.app import LlmChatApp
from llmchat.tui.screens.chat import ChatScreen
from llmchat.tui.screens.session_browser import FIRST_ROWS, SessionBrowser
from llmchat.tui.screens.text_line import TextLineScreen
from llmchat.tui.widgets.reply_view import UserView
from tests.support.openai_server import OpenAIServer
from tests.tui.helpers import chat_app
from tests.tui.test_long_conversation import until
from tests.tui.test_sampling import burst

T0 = 1_780_000_000  # fixed mtimes, one a minute apart; nothing here waits for a clock


def saved(
    server: OpenAIServer,
    title: str,
    *texts: str,
    model: str = "test-model",
    cost: float | None = None,
    minute: int = 0,
    session_id: str | None = None,
) -> Path:
    """A session written by the real writer: a question and a reply per text."""
    info = SessionInfo(title=title, backend="openai", kind="openai", model=model)
    if session_id is not None:
        info.id = session_id
    info.base_url = server.base_url
    conversation = Conversation(info)
    file = SessionFile.create(paths.sessions_dir(), info)
    conversation.attach(file)
    for text in texts:
        conversation.add_user(text)
        conversation.add_reply(Message(Role.ASSISTANT, f"re: {text}", model=model, cost_usd=cost))
    file.close()
    os.utime(file.path, (T0 + 60 * minute, T0 + 60 * minute))
    return file.path


async def browsing(app: LlmChatApp, pilot: Pilot[None]) -> SessionBrowser:
    """Until the browser shows the listing."""
    await app.workers.wait_for_complete()
    await pilot.pause()
    assert isinstance(app.screen, SessionBrowser)
    return app.screen


async def settle(app: LlmChatApp, pilot: Pilot[None]) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


def column(app: LlmChatApp, name: str) -> list[str]:
    table = app.screen.query_one(DataTable)
    at = [str(c.label) for c in table.columns.values()].index(name)
    cells = [table.get_row_at(n)[at] for n in range(table.row_count)]
    assert all(isinstance(cell, Text) for cell in cells)
    return [cell.plain for cell in cells]


def toasts(app: LlmChatApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


# -- what it shows --------------------------------------------------------------------


async def test_sessions_are_shown_newest_first_with_their_facts(
    server: OpenAIServer, home: Path
) -> None:
    saved(server, "Older", "first question\nsecond line", minute=1)
    saved(server, "Newer", "about llamas", "more", model="llama-3", cost=0.25, minute=2)
    app = chat_app(server, session="")
    async with app.run_test(size=(200, 30)) as pilot:
        await browsing(app, pilot)
        assert column(app, "Title") == ["Newer", "Older"]
        assert column(app, "Model") == ["llama-3", "test-model"]
        assert column(app, "Msgs") == ["4", "2"]
        assert column(app, "Cost") == ["$0.50", "–"]
        assert column(app, "First line") == ["about llamas", "first question"]


@pytest.fixture
def tokyo() -> Iterator[None]:
    """The local time zone is Tokyo's (no daylight saving: the same offset all year)."""
    was = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"
    time.tzset()
    yield
    if was is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = was
    time.tzset()


@pytest.mark.usefixtures("tokyo")
async def test_dates_are_shown_in_local_time(server: OpenAIServer, home: Path) -> None:
    saved(server, "Dated", "hi", minute=0)  # 2026-05-28 20:26:40 UTC
    app = chat_app(server, session="")
    async with app.run_test(size=(200, 30)) as pilot:
        await browsing(app, pilot)
        assert column(app, "Date") == ["2026-05-29 05:26"]


async def test_hostile_titles_and_lines_are_shown_literally(
    server: OpenAIServer, home: Path
) -> None:
    saved(server, "[@click=app.quit]x[/] \x1b[31mred", "[bold]not bold\x07")
    app = chat_app(server, session="")
    async with app.run_test(size=(200, 30)) as pilot:
        await browsing(app, pilot)
        [title] = column(app, "Title")
        [first] = column(app, "First line")
        assert "[@click=app.quit]x[/]" in title and "\x1b" not in title
        assert first.startswith("[bold]not bold") and "\x07" not in first
        await pilot.press("enter")  # still running: nothing ran from the title
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)


@pytest.mark.parametrize("size", [(40, 12), (250, 70)])
async def test_the_browser_fits_small_and_large_terminals(
    server: OpenAIServer, home: Path, size: tuple[int, int]
) -> None:
    for n in range(30):
        saved(server, f"Session {n}", f"question {n}", minute=n)
    app = chat_app(server, session="")
    async with app.run_test(size=size) as pilot:
        browser = await browsing(app, pilot)
        table, box = browser.query_one(DataTable), browser.query_one(Input)
        width, height = size
        assert box.region.height == 1 and box.region.width >= width - 2
        assert table.region.height >= height - 6  # heading, filter, a gap, the footer
        assert table.region.bottom <= height - 1
        await pilot.press(*"session 2")
        assert column(app, "Title")[0] == "Session 29"


# -- the filter -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("LLAMA", ["About llamas"]),  # the title, any case
        ("how do", ["Untitled one"]),  # the first line
        ("qwen", ["Qwen talk"]),  # the model
        ("abc12", ["Qwen talk"]),  # the start of the id
        ("zzz", []),
        ("", ["Qwen talk", "Untitled one", "About llamas"]),
    ],
)
async def test_typing_filters_at_once(
    server: OpenAIServer, home: Path, query: str, found: list[str]
) -> None:
    saved(server, "About llamas", "hi", minute=1)
    saved(server, "Untitled one", "How do magnets work?", minute=2)
    saved(server, "Qwen talk", "hello", model="qwen-7b", minute=3, session_id="abc123def")
    app = chat_app(server, session="")
    async with app.run_test(size=(120, 30)) as pilot:
        await browsing(app, pilot)
        await pilot.press(*query)
        assert column(app, "Title") == found


async def test_the_id_matches_only_from_its_start(server: OpenAIServer, home: Path) -> None:
    saved(server, "Qwen talk", "hello", minute=3, session_id="abc123def")
    app = chat_app(server, session="")
    async with app.run_test(size=(120, 30)) as pilot:
        await browsing(app, pilot)
        await pilot.press(*"123")
        assert column(app, "Title") == []


async def test_enter_opens_the_highlighted_session(server: OpenAIServer, home: Path) -> None:
    saved(server, "Wanted", "the wanted one", minute=1)
    saved(server, "Other", "another", minute=2)
    app = chat_app(server, session="")
    async with app.run_test(size=(120, 30)) as pilot:
        await browsing(app, pilot)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)
        assert [v.message.content for v in app.screen.query(UserView)] == ["the wanted one"]


async def test_enter_opens_the_first_session_the_filter_leaves(
    server: OpenAIServer, home: Path
) -> None:
    saved(server, "Wanted", "the wanted one", minute=1)
    saved(server, "Other", "another", minute=2)
    app = chat_app(server, session="")
    async with app.run_test(size=(120, 30)) as pilot:
        await browsing(app, pilot)
        await pilot.press(*"want", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)
        assert app.screen.conversation.info.title == "Wanted"


async def test_escape_clears_the_filter_then_closes_the_browser(
    server: OpenAIServer, home: Path
) -> None:
    saved(server, "One", "hi")
    app = chat_app(server)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("f3")
        await browsing(app, pilot)
        await pilot.press(*"nothing like it")
        assert column(app, "Title") == []
        await pilot.press("escape")
        assert column(app, "Title") == ["One"]
        assert isinstance(app.screen, SessionBrowser)
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)


async def test_typing_in_the_list_goes_to_the_filter(server: OpenAIServer, home: Path) -> None:
    saved(server, "Alpha", "hi", minute=1)
    saved(server, "Beta", "hi", minute=2)
    app = chat_app(server, session="")
    async with app.run_test(size=(120, 30)) as pilot:
        browser = await browsing(app, pilot)
        await pilot.press("tab")
        assert isinstance(browser.focused, DataTable)
        await pilot.press(*"alp")
        assert browser.query_one(Input).value == "alp"
        assert column(app, "Title") == ["Alpha"]


# -- delete and undo ------------------------------------------------------------------


async def test_ctrl_d_moves_the_session_to_the_trash_and_ctrl_z_brings_it_back(
    server: OpenAIServer, home: Path
) -> None:
    gone = saved(server, "Doomed", "bye", minute=2)
    saved(server, "Kept", "hi", minute=1)
    app = chat_app(server, session="")
    async with app.run_test(size=(120, 30)) as pilot:
        await browsing(app, pilot)
        await pilot.press("ctrl+d")
        await settle(app, pilot)
        assert column(app, "Title") == ["Kept"]
        assert not gone.exists()
        assert (trash_dir(paths.sessions_dir()) / gone.name).exists()
        assert [s.title for s in list_sessions(paths.sessions_dir())] == ["Kept"]
        await pilot.press("ctrl+z")
        await settle(app, pilot)
        assert column(app, "Title") == ["Doomed", "Kept"]
        assert load_session(gone).messages[0].content == "bye"


async def test_after_a_delete_the_next_session_is_highlighted(
    server: OpenAIServer, home: Path
) -> None:
    for minute, title in enumerate(["Third", "Second", "First"]):
        saved(server, title, "hi", minute=minute)
    app = chat_app(server, session="")
    async with app.run_test(size=(120, 30)) as pilot:
        browser = await browsing(app, pilot)
        await pilot.press("down", "ctrl+d")
        await settle(app, pilot)
        assert column(app, "Title") == ["First", "Third"]
        assert browser.highlighted is not None and browser.highlighted.title == "Third"


async def test_in_the_list_delete_deletes_and_u_undoes(server: OpenAIServer, home: Path) -> None:
    gone = saved(server, "Doomed", "bye", minute=2)
    saved(server, "Kept", "hi", minute=1)
    app = chat_app(server, session="")
    async with app.run_test(size=(120, 30)) as pilot:
        await browsing(app, pilot)
        await pilot.press("tab", "delete")
        await settle(app, pilot)
        assert column(app, "Title") == ["Kept"]
        await pilot.press("u")
        await settle(app, pilot)
        assert column(app, "Title") == ["Doomed", "Kept"]
        assert gone.exists()


async def test_delete_in_the_filter_edits_the_filter(server: OpenAIServer, home: Path) -> None:
    saved(server, "Kept", "hi")
    app = chat_app(server, session="")
    async with app.run_test(size=(120, 30)) as pilot:
        browser = await browsing(app, pilot)
        await pilot.press(*"kex", "left", "delete")
        await settle(app, pilot)
        assert browser.query_one(Input).value == "ke"
        assert column(app, "Title") == ["Kept"]


async def test_the_open_session_cannot_be_deleted(server: OpenAIServer, home: Path) -> None:
    mine = saved(server, "Mine", "hi")
    app = chat_app(server, session=load_session(mine).info.id)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("f3")
        await browsing(app, pilot)
        await pilot.press("ctrl+d")
        await settle(app, pilot)
        assert column(app, "Title") == ["Mine"]
        assert mine.exists()
        assert any("cannot be deleted while it is open here" in t for t in toasts(app))


async def test_a_session_another_llmchat_holds_cannot_be_deleted(
    server: OpenAIServer, home: Path
) -> None:
    held = saved(server, "Held", "hi")
    app = chat_app(server, session="")
    async with app.run_test(size=(120, 30)) as pilot:
        await browsing(app, pilot)
        with SessionFile(held):  # the other llmchat's lock
            await pilot.press("ctrl+d")
            await settle(app, pilot)
        assert column(app, "Title") == ["Held"]
        assert held.exists()
        assert any("open in another llmchat" in t for t in toasts(app))


async def test_undo_refuses_to_overwrite_a_file_that_took_the_name(
    server: OpenAIServer, home: Path
) -> None:
    gone = saved(server, "Doomed", "bye")
    app = chat_app(server, session="")
    async with app.run_test(size=(120, 30)) as pilot:
        await browsing(app, pilot)
        await pilot.press("ctrl+d")
        await settle(app, pilot)
        gone.write_bytes(b"")  # something new under that name
        await pilot.press("ctrl+z")
        await settle(app, pilot)
        assert gone.read_bytes() == b""
        assert (trash_dir(paths.sessions_dir()) / gone.name).exists()
        assert any("is there again" in t for t in toasts(app))


async def test_undo_with_nothing_deleted_says_so(server: OpenAIServer, home: Path) -> None:
    saved(server, "Kept", "hi")
    app = chat_app(server, session="")
    async with app.run_test(size=(120, 30)) as pilot:
        await browsing(app, pilot)
        await pilot.press("ctrl+z")
        await settle(app, pilot)
        assert column(app, "Title") == ["Kept"]
        assert any("Nothing deleted" in t for t in toasts(app))


# -- rename ---------------------------------------------------------------------------


async def test_f2_renames_the_highlighted_session(server: OpenAIServer, home: Path) -> None:
    path = saved(server, "Old name", "hi")
    app = chat_app(server, session="")
    async with app.run_test(size=(120, 30)) as pilot:
        await browsing(app, pilot)
        await pilot.press("f2")
        assert isinstance(app.screen, TextLineScreen)
        await pilot.press("ctrl+a", "ctrl+k", *"New name", "enter")
        await settle(app, pilot)
        assert column(app, "Title") == ["New name"]
    assert load_session(path).title == "New name"


async def test_the_open_session_is_renamed_through_its_chat(
    server: OpenAIServer, home: Path
) -> None:
    path = saved(server, "Old name", "hi")
    app = chat_app(server, session=load_session(path).info.id)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("f3")
        await browsing(app, pilot)
        await pilot.press("f2", "ctrl+a", "ctrl+k", *"Renamed here", "enter")
        await settle(app, pilot)
        assert column(app, "Title") == ["Renamed here"]
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)
        assert app.screen.conversation.info.title == "Renamed here"
    assert load_session(path).title == "Renamed here"


async def test_a_session_another_llmchat_holds_is_not_renamed(
    server: OpenAIServer, home: Path
) -> None:
    held = saved(server, "Held", "hi")
    app = chat_app(server, session="")
    async with app.run_test(size=(120, 30)) as pilot:
        await browsing(app, pilot)
        with SessionFile(held):
            await pilot.press("f2", "ctrl+a", "ctrl+k", *"Mine", "enter")
            await settle(app, pilot)
        assert column(app, "Title") == ["Held"]
        assert any(
            "cannot be renamed while it is open in another llmchat" in t for t in toasts(app)
        )
    assert load_session(held).title == "Held"


# -- many sessions, and search ----------------------------------------------------------


async def test_with_a_warm_index_the_browser_reads_no_session_file(
    server: OpenAIServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_index, "_RACY_NS", 0)
    monkeypatch.setattr(SessionFile, "_sync", lambda self, fd: None)  # 1,000 fsyncs: slow
    for n in range(1000):
        saved(server, f"Session {n:04}", f"question {n}", minute=n)
    list_sessions(paths.sessions_dir())  # warms the index
    reads: list[Path] = []
    load = session_list.load_session
    monkeypatch.setattr(session_list, "load_session", lambda p: reads.append(p) or load(p))
    app = chat_app(server, session="")
    async with app.run_test(size=(120, 30)) as pilot:
        await browsing(app, pilot)
        table = app.screen.query_one(DataTable)
        assert table.row_count >= FIRST_ROWS  # at once: a screenful, and more
        await until(pilot, lambda: table.row_count == 1000, "every session listed")
        assert column(app, "Title")[0] == "Session 0999"
        assert column(app, "Title")[-1] == "Session 0000"
    assert reads == []


async def test_typing_while_a_long_list_fills_shows_only_the_matches(
    server: OpenAIServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SessionFile, "_sync", lambda self, fd: None)
    for n in range(400):
        saved(server, f"Session {n:03}", "hi", minute=n)
    app = chat_app(server, session="")
    async with app.run_test(size=(120, 30)) as pilot:
        await browsing(app, pilot)
        await pilot.press(*"session 00")
        await until(pilot, lambda: len(column(app, "Title")) == 10, "the ten matches")
        await pilot.pause(0.2)  # no batch of the whole list comes after them
        assert column(app, "Title") == [f"Session {n:03}" for n in reversed(range(10))]


@dataclass(frozen=True)
class Hit:
    session_id: str
    message_id: str
    line: str


async def test_search_hits_join_the_list_and_open_at_their_message(
    server: OpenAIServer, home: Path
) -> None:
    path = saved(server, "Plain title", "alpha", "the needle is here", "omega", minute=1)
    saved(server, "Other", "nothing", minute=2)
    loaded = load_session(path)
    needle = loaded.messages[2]
    asked: list[str] = []

    def search(query: str) -> list[Hit]:
        asked.append(query)
        if "needle" not in query:
            return []
        return [Hit(loaded.info.id, needle.id, "the needle is here")]

    app = chat_app(server)
    async with app.run_test(size=(120, 30)) as pilot:
        app.push_screen(SessionBrowser(paths.sessions_dir(), search=search))
        await browsing(app, pilot)
        await pilot.press(*"needle")
        await settle(app, pilot)
        assert column(app, "Title") == ["Plain title"]
        assert column(app, "First line") == ["the needle is here"]
        assert asked[-1] == "needle"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)
        chat = app.screen.query_one("#conversation")
        for _ in range(100):
            if chat.focused_message is not None:  # type: ignore[attr-defined]
                break
            await pilot.pause(0.02)
        assert chat.focused_message.id == needle.id  # type: ignore[attr-defined]


async def test_f3_searches_every_message_and_opens_an_old_session_at_the_match(
    server: OpenAIServer, home: Path
) -> None:
    """The real index: a word said once, deep in an old session, is found from F3."""
    path = saved(server, "Plain title", "alpha", "we spoke of a quokka once", "omega", minute=1)
    for minute in range(2, 8):
        saved(server, f"Newer {minute}", "nothing to see", minute=minute)
    # The question and its reply ("re: …") both hold the word: the newest is the hit.
    needle = load_session(path).messages[3]
    assert "quokka" in needle.content
    app = chat_app(server)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        app.action_resume()
        await browsing(app, pilot)
        await pilot.press(*"quokka")
        await until(pilot, lambda: column(app, "Title") == ["Plain title"], "the hit listed")
        assert "quokka" in column(app, "First line")[0]
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ChatScreen), "the session open")
        chat = app.screen.query_one("#conversation")
        focused = lambda: chat.focused_message is not None  # type: ignore[attr-defined]  # noqa: E731
        await until(pilot, focused, "the match focused")
        assert chat.focused_message.id == needle.id  # type: ignore[attr-defined]


async def test_e_exports_the_highlighted_session_where_asked(
    server: OpenAIServer, home: Path, tmp_path: Path
) -> None:
    saved(server, "Owls at night", "Do owls hunt at night?", minute=1)
    app = chat_app(server, session="")
    target = tmp_path / "owls.md"
    async with app.run_test(size=(120, 30)) as pilot:
        await browsing(app, pilot)
        await pilot.press("ctrl+e")
        await until(pilot, lambda: isinstance(app.screen, TextLineScreen), "asked where")
        field = app.screen.query_one(Input)
        assert field.value == "~/owls-at-night.md"  # named after the title
        field.value = str(target)
        await pilot.press("enter")
        await until(pilot, target.exists, "the file written")
        await until(pilot, lambda: any("Exported to" in t for t in toasts(app)), "told")
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# Owls at night\n") and "Do owls hunt at night?" in text


async def test_the_export_never_overwrites_a_file_of_the_users(
    server: OpenAIServer, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    mine = tmp_path / "notes.md"
    mine.write_text("MY PRECIOUS NOTES", encoding="utf-8")
    saved(server, "Notes", "hello", minute=1)
    app = chat_app(server, session="")
    async with app.run_test(size=(120, 30)) as pilot:
        await browsing(app, pilot)
        await pilot.press("ctrl+e")
        await until(pilot, lambda: isinstance(app.screen, TextLineScreen), "asked where")
        field = app.screen.query_one(Input)
        assert field.value == "~/notes-2.md"  # a free name is suggested
        field.value = str(mine)  # the user insists on the taken one
        await pilot.press("enter")
        await until(pilot, lambda: any("exists already" in t for t in toasts(app)), "refused")
    assert mine.read_text(encoding="utf-8") == "MY PRECIOUS NOTES"


async def test_in_the_list_e_exports_rather_than_typing(server: OpenAIServer, home: Path) -> None:
    saved(server, "Owls", "hello", minute=1)
    app = chat_app(server, session="")
    async with app.run_test(size=(120, 30)) as pilot:
        browser = await browsing(app, pilot)
        await pilot.press("tab", "e")
        await until(pilot, lambda: isinstance(app.screen, TextLineScreen), "asked where")
        assert browser.filter_box.value == ""  # the e was not typed into the filter


async def test_the_heading_stops_saying_searching_when_the_search_is_done(
    server: OpenAIServer, home: Path
) -> None:
    """Typed fast, the rows shown may not change when the hits come: the heading must."""
    saved(server, "Alpha", "we talk of colours here", minute=1)
    saved(server, "Beta", "nothing", minute=2)
    app = chat_app(server, session="")
    async with app.run_test(size=(120, 30)) as pilot:
        browser = await browsing(app, pilot)
        burst(app, *"colours")
        heading = browser.query_one("#browser-heading")
        await until(pilot, lambda: browser.filter_box.value == "colours", "typed")
        await until(pilot, lambda: "searching" not in str(heading.render()), "the search done")
        assert str(heading.render()) == "1 of 2 sessions match"
