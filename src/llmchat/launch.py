"""Joins config, store, backends and gateway into what a front end needs to chat.

The CLI calls this for both the TUI and non-interactive mode, so the two open sessions,
pick backends and name files the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from llmchat import paths
from llmchat.backends.base import Backend
from llmchat.config import Config, Resolution, ResolvedBackend
from llmchat.core.conversation import Conversation, SessionInfo
from llmchat.core.messages import Role
from llmchat.core.structured import OutputSchema
from llmchat.gateway.gateway import Gateway
from llmchat.store import find_session, new_session, resume_session

if TYPE_CHECKING:
    from llmchat.local.plan import LocalServerPlan
    from llmchat.tui.app import Launch


def with_local_server(
    resolution: Resolution, model_file: Path | None, llama_server: Path | None = None
) -> tuple[Resolution, LocalServerPlan | None]:
    """Use a llama-server that llmchat starts: for `--model-file`, a backend with
    `model_file`, or (nothing else configured) the bundled model of the `local` extra.

    Raises BinaryNotFound when a server is needed and none can be found, except for the
    bundled default, which then leaves the resolution "not configured" with the advice.
    """
    resolved = resolution.backend
    preparer = None
    if model_file is not None:
        resolved = ResolvedBackend(
            name="local",
            kind="llamacpp",
            base_url="http://127.0.0.1/v1",
            model=model_file.stem,
            api_key=None,
            key_source=None,
            max_tokens_field="max_tokens",
            context_window=resolved.context_window if resolved else None,
            model_file=model_file,
        )
    elif resolved is None:
        from llmchat.local.plan import bundled_backend, bundled_preparer

        resolved = bundled_backend(paths.cache_dir())
        if resolved is None:
            return resolution, None
        preparer = bundled_preparer(paths.cache_dir())
    if resolved.model_file is None:
        return resolution, None
    from llmchat.local.binary import BinaryNotFound
    from llmchat.local.plan import managed_backend

    try:
        backend, plan = managed_backend(
            resolved,
            cache_dir=paths.cache_dir(),
            log_dir=paths.log_dir(),
            prepare_model=preparer,
            configured_binary=llama_server,
        )
    except BinaryNotFound as exc:
        if preparer is None:
            raise
        reason = f"{resolution.reason or ''}\n\nThe bundled model is installed, but {exc}"
        return replace(resolution, reason=reason.strip()), None
    return replace(resolution, status="ready", backend=backend), plan


def make_backend(resolved: ResolvedBackend, config: Config) -> Backend:
    """The backend object for the resolved settings (imported here: httpx is not light)."""
    from llmchat.backends.openai import OpenAIBackend

    kind: type[OpenAIBackend] = OpenAIBackend
    if resolved.kind == "llamacpp":
        from llmchat.backends.llamacpp import LlamaCppBackend

        kind = LlamaCppBackend
    return kind(
        resolved.name,
        resolved.base_url,
        resolved.model,
        resolved.api_key.reveal() if resolved.api_key else None,
        api_key_hint=resolved.key_source,
        max_tokens_field=resolved.max_tokens_field,
        connect_timeout=config.timeouts.connect,
        read_timeout=config.timeouts.read,
        stop=resolved.stop,
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
    local: LocalServerPlan | None = None,
    schema: OutputSchema | None = None,
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
        local=local,
    )
    resolved = resolution.backend
    if resolved is None:
        return launch
    opener = SessionOpener(paths.sessions_dir(), resolved, config, resolution.system_prompt)
    gateway = opener.gateway()

    def open_session(session_id: str | None) -> ChatContext:
        opened = opener.open(session_id)
        opened.conversation.schema = schema
        moved = _moved_notice(opened.conversation, resolved)
        return ChatContext(
            conversation=opened.conversation,
            gateway=gateway,
            backend_name=resolved.name,
            model_name=resolved.model,
            notices=[*notices, *opened.warnings, *moved],
            close=opened.close,
            context_window=resolved.context_window,
            local=resolved.kind == "llamacpp",
            pricing=config.pricing,
            context_threshold=config.context_threshold,
            presets=config.presets,
            default_temperature=config.sampling.temperature,
            schema=schema,
        )

    launch.open_session = open_session
    if session_id:
        launch.initial = open_session(session_id)
    return launch


def _moved_notice(conversation: Conversation, resolved: ResolvedBackend) -> list[str]:
    """Say so when a saved session continues with another backend than it was made with."""
    backend = conversation.info.backend
    if not conversation.messages or backend in (None, resolved.name):
        return []
    last = next(
        (m.model for m in reversed(conversation.messages) if m.role is Role.ASSISTANT and m.model),
        conversation.info.model,
    )
    was = f"{backend} · {last}" if last else backend
    return [f"This session was with {was}; it continues with {resolved.name} · {resolved.model}."]
