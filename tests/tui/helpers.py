"""Building the real app against a loopback server, as the `llmchat` command would."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

from textual.worker import WorkerCancelled

from llmchat import paths
from llmchat.config import CliOverrides, Config, resolve_backend
from llmchat.core.attachments import Attachment
from llmchat.launch import build_launch
from llmchat.reconnect import BackendFlags, reconnect
from llmchat.store import SessionSummary, latest_session, list_sessions, load_session
from llmchat.store.session_load import LoadedSession
from llmchat.tui.app import LlmChatApp
from llmchat.tui.screens.chat import ChatScreen
from tests.support.openai_server import OpenAIServer


def chat_app(
    server: OpenAIServer | None,
    *,
    session: str | None = None,
    config: Config | None = None,
    env: Mapping[str, str] | None = None,
    attachments: Sequence[Attachment] = (),
) -> LlmChatApp:
    """The app as `llmchat` (session None), `--resume ID` or `--resume` ("") builds it
    (with `-a FILE …`: `attachments`)."""
    environment = dict(env or {})
    if server is not None:
        environment.setdefault("OPENAI_BASE_URL", server.base_url)
    config = config or Config()
    resolution = resolve_backend(config, environment, CliOverrides())
    return LlmChatApp(
        build_launch(
            resolution,
            config,
            [],
            session,
            reconnect_to=lambda record: reconnect(config, environment, BackendFlags(), record),
            attachments=attachments,
        )
    )


def cli_app(
    flags: BackendFlags | None = None,
    *,
    session: SessionSummary | None = None,
    env: Mapping[str, str] | None = None,
) -> LlmChatApp:
    """The app as `llmchat FLAGS` or `llmchat --continue FLAGS` (give the latest session)
    builds it: the session's record between the flags and the environment."""
    environment = dict(env or {})
    flags = flags or BackendFlags()
    config = Config()
    again = reconnect(config, environment, flags, session.record if session else None)
    launch = build_launch(
        again.resolution,
        config,
        list(again.resolution.notices),
        session,
        reconnect_to=lambda record: reconnect(config, environment, flags, record),
    )
    return LlmChatApp(launch)


def latest() -> SessionSummary:
    """What `--continue` reopens."""
    summary = latest_session(paths.sessions_dir())
    assert summary is not None
    return summary


def only_session() -> LoadedSession:
    """The one session file the test wrote, loaded back from disk."""
    sessions = list_sessions(paths.sessions_dir())
    assert len(sessions) == 1, sessions
    return load_session(sessions[0].path)


async def wait_for_reply(app: LlmChatApp) -> None:
    """Until the reply worker has ended and the screen has caught up."""
    screen = app.screen
    assert isinstance(screen, ChatScreen)
    worker = screen.reply_worker
    if worker is not None:
        with contextlib.suppress(WorkerCancelled):
            await worker.wait()
    await app.workers.wait_for_complete()
