"""Joins config, store, backends and gateway into what a front end needs to chat.

The CLI calls this for both the TUI and non-interactive mode, so the two open sessions,
pick backends and name files the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from llmchat import paths
from llmchat.backends.base import Backend
from llmchat.config import Config, Resolution, ResolvedBackend
from llmchat.core.conversation import Conversation, SessionInfo
from llmchat.gateway.gateway import Gateway
from llmchat.store import find_session, new_session, resume_session

if TYPE_CHECKING:
    from llmchat.tui.app import Launch


def make_backend(resolved: ResolvedBackend, config: Config) -> Backend:
    """The backend object for the resolved settings (imported here: httpx is not light)."""
    from llmchat.backends.openai import OpenAIBackend

    return OpenAIBackend(
        resolved.name,
        resolved.base_url,
        resolved.model,
        resolved.api_key.reveal() if resolved.api_key else None,
        api_key_hint=resolved.key_source,
        max_tokens_field=resolved.max_tokens_field,
        connect_timeout=config.timeouts.connect,
        read_timeout=config.timeouts.read,
    )


@dataclass(slots=True)
class OpenedSession:
    conversation: Conversation
    warnings: list[str]
    close: Callable[[], None]


@dataclass(slots=True)
class SessionOpener:
    """Opens new or saved sessions for one backend, writing them under `sessions_dir`."""

    sessions_dir: Path
    resolved: ResolvedBackend
    config: Config
    system: str | None

    def open(self, session_id: str | None) -> OpenedSession:
        """A new session (None) or a saved one by id or unique id prefix.

        Raises the store's SessionError subclasses (not found, ambiguous, locked).
        """
        if session_id is None:
            conversation = Conversation(
                SessionInfo(
                    backend=self.resolved.name,
                    model=self.resolved.model,
                    system=self.system or "",
                ),
                params=self.config.sampling,
            )
            sink = new_session(self.sessions_dir, conversation)
            return OpenedSession(conversation, [], sink.close)
        summary = find_session(self.sessions_dir, session_id)
        opened = resume_session(summary.path)
        return OpenedSession(opened.conversation, list(opened.warnings), opened.close)

    def gateway(self) -> Gateway:
        return Gateway(lambda: make_backend(self.resolved, self.config))


def build_launch(
    resolution: Resolution,
    config: Config,
    notices: list[str],
    session_id: str | None,
) -> Launch:
    """Everything the TUI needs: `session_id` None opens a new session, "" the picker.

    A session asked for by id is opened here, so SessionError (not found, ambiguous,
    locked by another llmchat) reaches the command line before the TUI starts.
    """
    from llmchat.tui.app import ChatContext, Launch
    from llmchat.ui_state import UiState, load_ui_state, save_ui_state

    ui = load_ui_state()
    notices = [*notices, *ui.warnings]

    def save_theme(name: str) -> None:
        # Losing the remembered theme is not worth interrupting the user for.
        with contextlib.suppress(OSError):
            save_ui_state(UiState(theme=name))

    launch = Launch(
        sessions_dir=paths.sessions_dir(),
        config_path=paths.config_file(),
        user_themes_dir=paths.themes_dir(),
        start="new" if session_id is None else ("session" if session_id else "resume-picker"),
        not_configured_reason=resolution.reason or "",
        theme=ui.state.theme or config.theme,
        save_theme=save_theme,
    )
    resolved = resolution.backend
    if resolved is None:
        return launch
    opener = SessionOpener(paths.sessions_dir(), resolved, config, resolution.system_prompt)
    gateway = opener.gateway()

    def open_session(session_id: str | None) -> ChatContext:
        opened = opener.open(session_id)
        return ChatContext(
            conversation=opened.conversation,
            gateway=gateway,
            backend_name=resolved.name,
            model_name=resolved.model,
            notices=[*notices, *opened.warnings],
            close=opened.close,
        )

    launch.open_session = open_session
    if session_id:
        launch.initial = open_session(session_id)
    return launch
