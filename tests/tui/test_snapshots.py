"""How the chat screen and the session picker look, compared against stored SVGs.

The session is written by hand with fixed timings and dates so the pictures are stable;
update them deliberately with `pytest tests/tui/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from llmchat import paths
from llmchat.core.conversation import Conversation, SessionInfo
from llmchat.core.messages import Message, Role, Status, Timing, Usage
from llmchat.core.params import SamplingParams
from llmchat.store import SessionFile, list_sessions
from tests.support.openai_server import OpenAIServer
from tests.tui.helpers import chat_app

REPLY = """\
Here is a **table** and some code:

| model | ctx |
|---|---|
| small | 8k |

```python
print("hello")
```
"""

FIXED = time.mktime((2026, 11, 20, 9, 30, 0, 0, 0, -1))


async def settled(pilot) -> None:  # type: ignore[no-untyped-def]
    """Until the workers (session listing, HTTP client) are done and the screen redrawn."""
    await pilot.app.workers.wait_for_complete()
    # A blinking cursor would be drawn or not depending on how long the above took.
    for area in pilot.app.screen.query("TextArea"):
        area.cursor_blink = False
    for box in pilot.app.screen.query("Input"):  # the session browser's filter
        box.cursor_blink = False
    await pilot.pause()


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def write_session(session_id: str, title: str, replies: list[tuple[str, Status]]) -> Path:
    info = SessionInfo(
        id=session_id,
        created="2026-11-20T09:00:00.000000Z",
        title=title,
        backend="openai",
        model="test-model",
    )
    conversation = Conversation(info, SamplingParams(temperature=0.7))
    file = SessionFile.create(paths.sessions_dir(), info)
    conversation.attach(file)
    for question, status in replies:
        conversation.add_user(question)
        conversation.add_reply(
            Message(
                role=Role.ASSISTANT,
                content=REPLY if status is Status.COMPLETE else "Half an ans",
                status=status,
                model="test-model",
                params=conversation.params,
                usage=Usage(prompt=42, completion=31),
                timing=Timing(ttft_ms=180, tok_s=73.1, total_ms=600),
                error="openai: HTTP 500 the model crashed" if status is Status.ERROR else None,
            )
        )
    file.close()
    os.utime(file.path, (FIXED, FIXED))
    return file.path


def test_chat_screen_with_a_resumed_session(
    snap_compare, server: OpenAIServer, home: Path, utc: None
) -> None:  # type: ignore[no-untyped-def]
    write_session(
        "a1b2c3d4e5f6",
        "Tables and code",
        [("Show me a table", Status.COMPLETE), ("And again?", Status.CANCELLED)],
    )
    assert snap_compare(
        chat_app(server, session="a1b2c3"), terminal_size=(100, 36), run_before=settled
    )


def test_resume_picker_lists_sessions_newest_first(
    snap_compare, server: OpenAIServer, home: Path, utc: None
) -> None:  # type: ignore[no-untyped-def]
    older = write_session("aaaaaaaaaaaa", "An older session", [("hi", Status.COMPLETE)])
    os.utime(older, (FIXED - 86400, FIXED - 86400))
    write_session("bbbbbbbbbbbb", "Failed \x1b[31m reply", [("why?", Status.ERROR)])
    newest = list_sessions(paths.sessions_dir())[0]
    assert newest.id == "bbbbbbbbbbbb"
    assert snap_compare(chat_app(server, session=""), terminal_size=(100, 20), run_before=settled)
