"""`inspect: probabilities` in the app against the real llama-server: the view shows the
pool of a real reply, reacts to the dials (top-k here, a llama-server cut), and Enter
on an alternative resamples from it as a new branch beside the reply."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmchat.config import Config
from llmchat.core.messages import Role
from llmchat.core.params import SamplingParams
from llmchat.local.server_process import ManagedServer
from llmchat.store import list_sessions, load_session
from llmchat.tui.screens.chat import ChatScreen
from llmchat.tui.screens.probability_view import ProbabilityView
from llmchat.tui.widgets.slider import Slider
from tests.tui.helpers import chat_app, wait_for_reply


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("LLMCHAT_HOME", str(home))
    return home


def shown(view: ProbabilityView) -> str:
    return "\n".join(str(s.render()) for s in view.query("Static"))


async def test_the_view_reacts_to_top_k_and_resamples_a_branch(
    llama_server: ManagedServer, home: Path
) -> None:
    config = Config(sampling=SamplingParams(temperature=1.0, max_tokens=8))
    app = chat_app(None, config=config, env={"OPENAI_BASE_URL": llama_server.base_url})
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        chat = app.screen
        assert isinstance(chat, ChatScreen)
        commands = {c.title: c for c in app.get_system_commands(chat)}
        await commands["inspect: probabilities"].callback()
        await pilot.pause()
        await pilot.press("escape")
        chat.query_one("#prompt").text = "Name a colour."  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for_reply(app)
        await pilot.press("f9")  # the sampling panel: llama-server's own cuts appear
        await app.workers.wait_for_complete()
        await pilot.pause()
        top_k = chat.query_one("#top-k", Slider)
        assert top_k.display and top_k.value == 40  # the server's default, from /props
        await pilot.press("f9")
        await commands["inspect: probabilities"].callback()
        await pilot.pause()
        view = app.screen
        assert isinstance(view, ProbabilityView)
        assert "Token 1 of" in shown(view)
        assert "top-k 40" in shown(view)  # the server's default, from /props
        assert view.pool is not None and view.pool.returned == 10
        wide = view.pool.survivors
        for _ in range(39):  # top-k 40 → 1: only the most likely survives
            await pilot.press("k")
        assert "top-k 1" in shown(view)
        assert view.pool.survivors == 1 <= wide
        await pilot.press("down")  # the second most likely
        token = view.pool.rows[1].token
        await pilot.press("enter")
        await pilot.pause()
        await wait_for_reply(app)
        await pilot.pause()
    [summary] = list_sessions(home / "sessions")
    first, again = [m for m in load_session(summary.path).messages if m.role is Role.ASSISTANT]
    assert again.parent == first.parent  # a sibling: a new branch beside the reply
    assert again.resampled_at == 0 and again.content.startswith(token)
    assert again.params is not None and again.params.top_k == 1  # what the view showed
