"""Attaching files in the app: chips above the prompt, counted by the gauge, removable,
sent with the next message (text as a block, images as image parts), gone once sent."""

from __future__ import annotations

from pathlib import Path

from llmchat.core.attachments import ImageFile, TextFile
from llmchat.tui.screens.chat import ChatScreen
from llmchat.tui.screens.text_line import TextLineScreen
from llmchat.tui.widgets.attachment_chips import AttachmentChips
from llmchat.tui.widgets.context_gauge import ContextGauge
from llmchat.tui.widgets.prompt_input import PromptInput
from tests.support.openai_server import OpenAIServer
from tests.tui.helpers import chat_app, only_session, wait_for_reply
from tests.tui.test_sampling import burst, settle

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(32)
NOTES = TextFile("notes.md", "The deadline is Friday.\n")


def chips_shown(app: object) -> str:
    return str(app.screen.query_one(AttachmentChips).render())  # type: ignore[attr-defined]


async def test_files_given_with_dash_a_wait_as_chips_and_go_with_the_first_message(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server, attachments=[NOTES, ImageFile("chart.png", "image/png", PNG)])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.pause()
        shown = chips_shown(app)
        assert "notes.md" in shown and "chart.png (image" in shown
        app.screen.query_one(PromptInput).text = "When is it due?"
        await pilot.press("enter")
        await wait_for_reply(app)
        assert not app.screen.query_one(AttachmentChips).display  # sent: the chips go
    text, image = server.chat_requests[-1].body["messages"][-1]["content"]
    assert text["text"] == "notes.md\n```\nThe deadline is Friday.\n```\n\nWhen is it due?"
    assert image["image_url"]["url"].startswith("data:image/png;base64,")
    loaded = only_session()
    assert loaded.info.title == "When is it due?"  # the words typed, not the file
    assert [i.name for i in loaded.messages[0].images] == ["chart.png"]


async def test_a_file_picked_from_the_palette_is_counted_by_the_gauge_and_can_be_removed(
    server: OpenAIServer, home: Path, tmp_path: Path
) -> None:
    notes = tmp_path / "long-notes.txt"
    notes.write_text("word " * 2000, encoding="utf-8")
    app = chat_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        gauge = app.screen.query_one(ContextGauge)
        before = str(gauge.render())
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        await commands["attach: file…"].callback()
        await pilot.pause()
        assert isinstance(app.screen, TextLineScreen)
        await pilot.press(*str(notes), "enter")
        for _ in range(20):
            await pilot.pause(0.05)
            if "long-notes.txt" in chips_shown(app):
                break
        assert "long-notes.txt" in chips_shown(app)
        await pilot.pause(0.5)  # the gauge counts after a short pause in typing
        assert str(gauge.render()) != before  # the file's tokens are in the gauge

        await commands["attach: remove last"].callback()
        await pilot.pause()
        assert not app.screen.query_one(AttachmentChips).display
        app.screen.query_one(PromptInput).text = "hello"
        await pilot.press("enter")
        await wait_for_reply(app)
    assert server.chat_requests[-1].body["messages"][-1]["content"] == "hello"


async def test_a_binary_picked_is_refused_and_nothing_is_attached(
    server: OpenAIServer, home: Path, tmp_path: Path
) -> None:
    blob = tmp_path / "a.out"
    blob.write_bytes(b"\x7fELF" + bytes(64))
    app = chat_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await screen.attach.add(blob)
        await pilot.pause()
        assert not screen.query_one(AttachmentChips).display
        assert any("a binary file" in str(n.message) for n in app._notifications)


async def test_a_file_too_big_for_the_window_is_refused_with_the_numbers(
    server: OpenAIServer, home: Path, tmp_path: Path
) -> None:
    big = tmp_path / "big.txt"
    big.write_text("word " * 4000, encoding="utf-8")
    app = chat_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        screen.meter.window = 2048  # as a small local model's window would be
        await screen.attach.add(big)
        await pilot.pause()
        assert not screen.query_one(AttachmentChips).display
        [told] = [str(n.message) for n in app._notifications if "big.txt" in str(n.message)]
    # 2048 × 0.9 usable, less the 1024 reserved for the reply
    assert "big.txt is ≈5,000 tokens: more than the 819 left for the message" in told


async def test_a_message_sent_right_after_attaching_goes_with_the_file(
    server: OpenAIServer, home: Path, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("The deadline is Friday.\n", encoding="utf-8")
    app = chat_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        burst(app, "ctrl+p", *"attach: file", "enter", *str(notes), "enter", *"When?", "enter")
        await settle(app, pilot)
        await wait_for_reply(app)
    sent = server.chat_requests[-1].body["messages"][-1]["content"]
    assert sent == "notes.txt\n```\nThe deadline is Friday.\n```\n\nWhen?"


async def test_a_file_alone_is_a_message(server: OpenAIServer, home: Path) -> None:
    app = chat_app(server, attachments=[NOTES])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.pause()
        await pilot.press("enter")  # nothing typed: the file is the message
        await wait_for_reply(app)
    sent = server.chat_requests[-1].body["messages"][-1]["content"]
    assert sent == "notes.md\n```\nThe deadline is Friday.\n```"
    assert only_session().info.title == "notes.md"
