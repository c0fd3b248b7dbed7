"""Joins config, store, backends and gateway into what a front end needs to chat.

The CLI calls this for both the TUI and non-interactive mode, so the two open sessions,
pick backends and name files the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmchat.backends.base import Backend
from llmchat.config import Config, ResolvedBackend
from llmchat.core.conversation import Conversation, SessionInfo
from llmchat.gateway.gateway import Gateway
from llmchat.store import find_session, new_session, resume_session


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
        return Gateway(make_backend(self.resolved, self.config))
