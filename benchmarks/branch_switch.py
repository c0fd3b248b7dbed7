"""Figure 14: switching a branch in a 500-message thread, until the new thread is drawn.

    python -m benchmarks.branch_switch

A session of 250 turns (500 messages) is written with the real writer; its newest reply
has a sibling (a regenerated reply), and the thread also forks at the middle (turn 125
was answered twice, each answer with its own later turns). The real app opens it
(in-process, Textual's headless driver at 120x40) and alt+p / alt+n switch between the
branches at the middle: the time is from the key's action to the end of the next
refresh (layout and render of the new thread's visible part). The target is 50 ms
(issue 9). Medians over 10 switches; in-process, so the pty's write is not included.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from llmchat.core.conversation import Conversation
from llmchat.core.messages import Message, Role
from llmchat.store import new_session

TURNS = 250
SWITCHES = 10
TARGET_MS = 50.0


def write_session(folder: Path) -> str:
    conversation = Conversation()
    sink = new_session(folder, conversation)
    fork_at = None
    for n in range(TURNS):
        conversation.add_user(f"question {n}: " + "words " * 20)
        conversation.add_reply(Message(Role.ASSISTANT, f"answer {n}: " + "prose " * 80))
        if n == TURNS // 2:
            fork_at = conversation.thread()[-1]
    assert fork_at is not None
    # A second answer at the middle, and a few turns below it.
    conversation.branch_from(fork_at.parent)
    conversation.add_reply(Message(Role.ASSISTANT, "another answer " + "prose " * 80))
    for n in range(5):
        conversation.add_user(f"on the other branch {n}")
        conversation.add_reply(Message(Role.ASSISTANT, "short"))
    info_id = conversation.info.id
    sink.close()
    return info_id


async def measure(session_id: str) -> list[float]:
    from tests.support.openai_server import OpenAIServer
    from tests.tui.helpers import chat_app

    timings = []
    with OpenAIServer() as server:
        app = chat_app(server, session=session_id)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.5)
            await app.workers.wait_for_complete()
            screen = app.screen
            middle = screen.conversation.thread()[TURNS + 1]  # type: ignore[attr-defined]
            for n in range(SWITCHES):
                # The branches at the middle: focus is not needed, the action finds the
                # newest message with alternatives on the thread shown.
                started = time.perf_counter()
                await screen.messages_ui.branch(1 if n % 2 else -1)  # type: ignore[attr-defined]
                await pilot.pause()
                timings.append(time.perf_counter() - started)
            assert middle is not None
    return timings


def main() -> None:
    home = tempfile.mkdtemp(prefix="llmchat-bench-branch-")
    os.environ["LLMCHAT_HOME"] = home
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LLMCHAT_BACKEND", "LLMCHAT_MODEL"):
        os.environ.pop(name, None)
    from llmchat import paths

    session_id = write_session(paths.sessions_dir())
    timings = asyncio.run(measure(session_id))
    median = statistics.median(timings) * 1000
    status = "met" if median <= TARGET_MS else "MISSED"
    print(f"Branch switches in a {TURNS * 2}-message thread, {len(timings)} switches")
    print(
        f"  14. switch → redrawn: median {median:.0f} ms "
        f"({min(timings) * 1000:.0f}–{max(timings) * 1000:.0f})  (target ≤ {TARGET_MS:.0f} ms)"
        f"  {status}"
    )


if __name__ == "__main__":
    main()
