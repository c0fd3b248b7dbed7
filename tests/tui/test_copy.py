"""Copying from replies: mouse selection in reply bodies, `copy: last reply` and
`copy: code block…` (keys and palette), the clipboard file and the notice."""

from __future__ import annotations

import stat
from pathlib import Path

from textual.pilot import Pilot

from llmchat import paths
from llmchat.tui.app import LlmChatApp
from llmchat.tui.screens.code_picker import CodeBlockPicker
from llmchat.tui.widgets.reply_view import ReplyBlock, ReplyView, UserView
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import chat_app, wait_for_reply

COPY_REPLY_KEY = "ctrl+o"
COPY_CODE_KEY = "ctrl+g"

TWO_BLOCKS = (
    "First **install** it:\n\n"
    "```sh\npip install thing\n```\n\n"
    "Then use it:\n\n"
    "```python\nimport thing\nthing.run()\n```\n"
)


async def ask(pilot: Pilot[None], app: LlmChatApp, text: str = "q") -> None:
    await pilot.press(*text, "enter")
    await wait_for_reply(app)
    await pilot.pause()


def notices(app: LlmChatApp) -> list[str]:
    return [str(n.message) for n in app._notifications if n.title == "Copy"]


def clipboard_file() -> Path:
    return paths.clipboard_file()


# -- mouse selection -------------------------------------------------------------------


async def drag(pilot: Pilot[None], start: tuple[int, int], end: tuple[int, int]) -> None:
    assert await pilot.mouse_down(offset=start)
    await pilot.pause()
    assert await pilot.mouse_up(offset=end)
    await pilot.pause()


def block_with(app: LlmChatApp, text: str) -> ReplyBlock:
    blocks = [b for b in app.screen.query(ReplyBlock) if text in b.render_line(0).text]
    assert blocks, f"no reply block shows {text!r}"
    return blocks[0]


async def test_dragging_over_reply_prose_selects_its_text(server: OpenAIServer, home: Path) -> None:
    server.push(Script(reply="Paris is the capital of **France**.\n\nSecond paragraph here."))
    app = chat_app(server)
    async with app.run_test(size=(100, 30)) as pilot:
        await ask(pilot, app)
        first = block_with(app, "Paris").region
        second = block_with(app, "Second").region
        await drag(pilot, (first.x, first.y), (second.x + 6, second.y))
        assert app.screen.get_selected_text() == "Paris is the capital of France.\nSecond"


async def test_dragging_over_a_reply_code_block_selects_the_code(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply="```python\nx = 1\ny = 2\n```"))
    app = chat_app(server)
    async with app.run_test(size=(100, 30)) as pilot:
        await ask(pilot, app)
        code = block_with(app, "x = 1").region
        await drag(pilot, (code.x, code.y), (code.right - 1, code.y + 1))
        selected = app.screen.get_selected_text() or ""
        assert [line.strip() for line in selected.splitlines()] == ["x = 1", "y = 2"]


async def test_a_selection_is_drawn_highlighted(server: OpenAIServer, home: Path) -> None:
    server.push(Script(reply="highlight me please"))
    app = chat_app(server)
    async with app.run_test(size=(100, 30)) as pilot:
        await ask(pilot, app)
        block = block_with(app, "highlight")
        before = block.render_line(0)
        region = block.region
        await drag(pilot, (region.x, region.y), (region.x + 8, region.y))
        assert app.screen.get_selected_text() == "highlight"
        after = block.render_line(0)
        assert after.text == before.text
        marked = [s.style for s in after.crop(0, 9) if s.text.strip()]
        plain = [s.style for s in after.crop(10) if s.text.strip()]
        assert marked and plain
        assert {s.bgcolor for s in marked}.isdisjoint({s.bgcolor for s in plain})
        # Still readable: the text is not drawn in the colour of its own background.
        assert all(s.color != s.bgcolor for s in marked)


async def test_selection_in_replies_works_as_in_user_messages(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply="the answer"))
    app = chat_app(server)
    async with app.run_test(size=(100, 30)) as pilot:
        await ask(pilot, app, "the question")
        asked = app.screen.query_one(UserView).region
        reply = app.screen.query_one(ReplyView).meta.region
        await drag(pilot, (asked.x, asked.y), (reply.x, reply.y))
        selected = app.screen.get_selected_text() or ""
        assert "the question" in selected
        assert "the answer" in selected


# -- copy: last reply ------------------------------------------------------------------


async def test_the_key_copies_the_last_replys_markdown_without_control_characters(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply="old"), Script(reply="**Run**:\r\n`ls`\x1b[201~; rm -rf ~\t."))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await ask(pilot, app)
        await ask(pilot, app)
        await pilot.press(COPY_REPLY_KEY)
        await app.workers.wait_for_complete()
        await pilot.pause()
        expected = "**Run**:\n`ls`[201~; rm -rf ~\t."
        assert app.clipboard == expected
        assert clipboard_file().read_text(encoding="utf-8") == expected
        assert notices(app) == [
            f"Copied last reply ({len(expected)} chars) — also in {clipboard_file()}"
        ]


async def test_the_clipboard_file_is_private(server: OpenAIServer, home: Path) -> None:
    server.push(Script(reply="secret-ish"))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await ask(pilot, app)
        await pilot.press(COPY_REPLY_KEY)
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert stat.S_IMODE(clipboard_file().stat().st_mode) == 0o600
    assert [p.name for p in clipboard_file().parent.iterdir()].count("clipboard.txt") == 1


async def test_a_copy_replaces_the_previous_one_in_the_file(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply="a much longer first reply"), Script(reply="short"))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await ask(pilot, app)
        await pilot.press(COPY_REPLY_KEY)
        await ask(pilot, app)
        await pilot.press(COPY_REPLY_KEY)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert clipboard_file().read_text(encoding="utf-8") == "short"


async def test_with_no_reply_yet_nothing_is_copied_and_it_says_so(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press(COPY_REPLY_KEY)
        await pilot.pause()
        assert app.clipboard == ""
        assert notices(app) == ["No reply to copy yet."]
    assert not clipboard_file().exists()


async def test_when_the_file_cannot_be_written_the_clipboard_still_gets_the_text(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply="keep me"))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await ask(pilot, app)
        paths.state_dir().mkdir(parents=True, exist_ok=True)
        clipboard_file().mkdir()  # a directory where the file should go
        await pilot.press(COPY_REPLY_KEY)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.clipboard == "keep me"
        [notice] = notices(app)
        assert notice.startswith("Copied last reply (7 chars) — not saved to a file: ")


async def test_a_notice_is_not_read_as_markup(server: OpenAIServer, home: Path) -> None:
    server.push(Script(reply="```[bold]x[/]\n[@click=app.quit]y[/]\n```"))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await ask(pilot, app)
        await pilot.press(COPY_CODE_KEY)
        await app.workers.wait_for_complete()
        await pilot.pause()
        [notice] = [n for n in app._notifications if n.title == "Copy"]
        assert notice.markup is False
        assert notice.message.startswith("Copied [bold]x[/] code block (")
        assert app.is_running


# -- copy: code block… ------------------------------------------------------------------


async def test_a_single_code_block_is_copied_at_once_without_fences(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply="Try:\n\n```sh\nls -l\x1b[201~\n```\n\nDone."))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await ask(pilot, app)
        await pilot.press(COPY_CODE_KEY)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, CodeBlockPicker)
        assert app.clipboard == "ls -l[201~"
        assert clipboard_file().read_text(encoding="utf-8") == "ls -l[201~"
        assert notices(app) == [f"Copied sh code block (10 chars) — also in {clipboard_file()}"]


async def test_several_code_blocks_are_offered_newest_first(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply=TWO_BLOCKS))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await ask(pilot, app)
        await pilot.press(COPY_CODE_KEY)
        await pilot.pause()
        assert isinstance(app.screen, CodeBlockPicker)
        options = app.screen.query_one("#code-blocks")
        prompts = [str(options.get_option_at_index(i).prompt) for i in range(2)]  # type: ignore[attr-defined]
        assert prompts == [
            "2. python · 2 lines · import thing",
            "1. sh · 1 line · pip install thing",
        ]
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.clipboard == "import thing\nthing.run()"
        assert clipboard_file().read_text(encoding="utf-8") == "import thing\nthing.run()"


async def test_an_older_block_can_be_picked(server: OpenAIServer, home: Path) -> None:
    server.push(Script(reply=TWO_BLOCKS))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await ask(pilot, app)
        await pilot.press(COPY_CODE_KEY)
        await pilot.pause()
        await pilot.press("down", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.clipboard == "pip install thing"


async def test_escape_closes_the_picker_and_copies_nothing(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply=TWO_BLOCKS))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await ask(pilot, app)
        await pilot.press(COPY_CODE_KEY)
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, CodeBlockPicker)
        assert app.clipboard == ""
        assert notices(app) == []


async def test_a_reply_without_code_blocks_says_so(server: OpenAIServer, home: Path) -> None:
    server.push(Script(reply="Just prose, and `inline` code."))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await ask(pilot, app)
        await pilot.press(COPY_CODE_KEY)
        await pilot.pause()
        assert app.clipboard == ""
        assert notices(app) == ["The last reply has no code blocks."]


# -- the palette, the footer and help ------------------------------------------------------


async def test_both_copies_are_in_the_command_palette(server: OpenAIServer, home: Path) -> None:
    server.push(Script(reply="```py\nprint(1)\n```"))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await ask(pilot, app)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        await commands["copy: last reply"].callback()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.clipboard == "```py\nprint(1)\n```"
        await commands["copy: code block…"].callback()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.clipboard == "print(1)"


async def test_the_palette_runs_copy_by_name(server: OpenAIServer, home: Path) -> None:
    server.push(Script(reply="by name"))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await ask(pilot, app)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"copy: last reply")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.clipboard == "by name"


async def test_the_copy_keys_are_in_help_and_copying_a_reply_in_the_footer(
    server: OpenAIServer, home: Path
) -> None:
    from llmchat.tui.screens.help import HELP

    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        shown = {
            binding.key
            for (_, binding, enabled, _) in app.screen.active_bindings.values()
            if binding.show and enabled
        }
        assert COPY_REPLY_KEY in shown  # the code-block key stays out of a full footer
    assert f"| {COPY_REPLY_KEY} |" in HELP
    assert f"| {COPY_CODE_KEY} |" in HELP


async def test_the_copy_keys_reach_the_screen_while_the_prompt_has_focus(
    server: OpenAIServer, home: Path
) -> None:
    """The prompt (a TextArea) binds many ctrl keys; these two must not be among them."""
    server.push(Script(reply="focus"))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await ask(pilot, app)
        await pilot.press(*"draft")
        await pilot.press(COPY_REPLY_KEY)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.clipboard == "focus"
        assert app.screen.focused is not None
        assert app.screen.focused.id == "prompt"
        assert app.screen.query_one("#prompt").text == "draft"  # type: ignore[attr-defined]
