"""Figure 14: switching a branch in a 500-message thread, until the new thread is painted.

    python -m benchmarks.branch_switch

A session of 250 turns (500 messages) is written with the real writer; the thread forks
at the middle (turn 125 was answered twice, the newer answer with a few turns of its
own). The real app opens it (in-process, Textual's headless driver at 120x40) on the
newer, shorter branch, and alt+p / alt+n switch between the two answers: the key is
posted to the app as a terminal's would be, and the time runs to the end of the first
frame painted after the switch's action has returned. Headless Textual lays out and
renders each frame but does not turn it into terminal output, so that is done here too
(what a terminal would be sent); only the write to a pty is missing.

Also reported: whether the chosen answer was on screen in that frame, and the time until
the app settled (the last frame before it went idle: the conversation view builds the
messages within a screen of the viewport after the first frame). The target is 50 ms
for the first figure (issue 9). Medians over 10 switches.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Switch:
    painted_s: float
    """Key posted → end of the first frame painted after the action returned."""
    settled_s: float
    """Key posted → end of the last frame before the app went idle."""
    chosen_on_screen: bool
    """The chosen answer was visible in that first frame."""


async def measure(session_id: str) -> list[Switch]:
    from tests.support.openai_server import OpenAIServer
    from tests.tui.helpers import chat_app
    from textual import events
    from textual._compositor import CompositorUpdate

    from llmchat.tui.widgets.conversation_view import ConversationView

    switches = []
    with OpenAIServer() as server:
        app = chat_app(server, session=session_id)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.5)
            await app.workers.wait_for_complete()
            # As `llmchat` does before its app runs (cli.py): what start-up made, the
            # loaded session included, is kept out of the cyclic collector's passes.
            gc.freeze()
            screen = app.screen
            view = screen.query_one(ConversationView)
            actions = screen.messages_ui  # type: ignore[attr-defined]
            conversation = screen.conversation  # type: ignore[attr-defined]
            middle = conversation.thread()[TURNS + 1]
            answers = [m.id for m in conversation.siblings(middle)]
            assert len(answers) == 2

            frames: list[tuple[float, bool]] = []
            returned: list[float] = []
            wanted: list[str] = []
            display = app._display

            def painted(on: object, renderable: object) -> None:
                display(on, renderable)  # type: ignore[arg-type]
                if renderable is None:
                    return
                if isinstance(renderable, CompositorUpdate):
                    renderable.render_segments(app.console)  # what a terminal is sent
                chosen = view.view_of(wanted[-1]) if wanted else None
                visible = chosen is not None and chosen in screen._compositor.visible_widgets
                frames.append((time.perf_counter(), visible))

            branch = actions.branch

            async def timed_branch(step: int) -> None:
                await branch(step)
                returned.append(time.perf_counter())

            app._display = painted  # type: ignore[method-assign]
            actions.branch = timed_branch
            for n in range(SWITCHES):
                # Unfocused: the action switches the newest message with alternatives on
                # the thread shown, the answer at the middle. The older answer first.
                step, wanted[:] = (1, [answers[1]]) if n % 2 else (-1, [answers[0]])
                frames.clear()
                returned.clear()
                key = events.Key("alt+n" if step > 0 else "alt+p", "n" if step > 0 else "p")
                key.set_sender(app)
                started = time.perf_counter()
                app.post_message(key)
                while not returned or not any(t > returned[0] for t, _ in frames):
                    await asyncio.sleep(0.001)
                await pilot.pause()
                await app.workers.wait_for_complete()
                await pilot.pause()
                first = next((t, seen) for t, seen in frames if t > returned[0])
                switches.append(Switch(first[0] - started, frames[-1][0] - started, first[1]))
                assert conversation.thread()[TURNS + 1].id == wanted[-1]
    return switches


def main() -> None:
    home = tempfile.mkdtemp(prefix="llmchat-bench-branch-")
    os.environ["LLMCHAT_HOME"] = home
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LLMCHAT_BACKEND", "LLMCHAT_MODEL"):
        os.environ.pop(name, None)
    from llmchat import paths

    session_id = write_session(paths.sessions_dir())
    switches = asyncio.run(measure(session_id))
    painted = [s.painted_s * 1000 for s in switches]
    settled = [s.settled_s * 1000 for s in switches]
    median = statistics.median(painted)
    status = "met" if median <= TARGET_MS else "MISSED"
    on_screen = sum(s.chosen_on_screen for s in switches)
    print(f"Branch switches in a {TURNS * 2}-message thread, {len(switches)} switches")
    print(
        f"  14. key → painted: median {median:.0f} ms ({min(painted):.0f}–{max(painted):.0f})"
        f"  (target ≤ {TARGET_MS:.0f} ms)  {status}"
    )
    print(f"      the chosen answer on screen in that frame: {on_screen} of {len(switches)}")
    print(
        f"      key → settled (the last frame before idle): median "
        f"{statistics.median(settled):.0f} ms ({min(settled):.0f}–{max(settled):.0f})"
    )


if __name__ == "__main__":
    main()
