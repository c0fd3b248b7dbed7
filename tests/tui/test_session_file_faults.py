"""The chat screen when its session file is taken away or cannot be written."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmchat.core.messages import Role
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import chat_app, latest, only_session, wait_for_reply

pytestmark = pytest.mark.family("sessions")


async def send(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press(*text)
    await pilot.press("enter")


async def test_a_deleted_session_file_is_written_again_whole_and_the_user_told(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply="first answer"), Script(reply="second answer"))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await send(pilot, "one")
        await wait_for_reply(app)
        path = latest().path
        path.unlink()
        await send(pilot, "two")
        await wait_for_reply(app)
        await pilot.pause()
        toasts = [str(n.message) for n in app._notifications]
        assert any("was deleted or moved away" in t and str(path) in t for t in toasts), toasts
    saved = only_session()
    assert saved.path == path and saved.warnings == []
    assert [(m.role, m.content) for m in saved.messages] == [
        (Role.USER, "one"),
        (Role.ASSISTANT, "first answer"),
        (Role.USER, "two"),
        (Role.ASSISTANT, "second answer"),
    ]
