"""Joins config, store, backends and gateway into what a front end needs to chat.

The CLI calls this for both the TUI and non-interactive mode, so the two open sessions,
pick backends and name files the same way.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from llmchat import paths
from llmchat.backends.base import Backend
from llmchat.config import (
    CliOverrides,
    Config,
    Resolution,
    ResolutionError,
    ResolvedBackend,
    resolve_backend,
)
from llmchat.core.attachments import Attachment
from llmchat.core.backend_record import BackendRecord
from llmchat.core.conversation import Conversation, SessionInfo
from llmchat.core.messages import own_last_model
from llmchat.core.safe_text import one_line
from llmchat.core.structured import OutputSchema
from llmchat.gateway.breaker import CircuitBreaker
from llmchat.gateway.gateway import Gateway
from llmchat.gateway.known import KnownBackend, KnownBackends
from llmchat.reconnect import BUNDLED, Reconnection, backend_record
from llmchat.store import SessionSummary, find_session, new_session, resume_session
from llmchat.store.image_store import ImageStore

if TYPE_CHECKING:
    from llmchat.config.model import SettledTimeouts
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
    from llmchat.store.model_rules_file import model_rules

    kind: type[OpenAIBackend] = OpenAIBackend
    if resolved.kind == "llamacpp":
        from llmchat.backends.llamacpp import LlamaCppBackend

        kind = LlamaCppBackend
    elif resolved.kind == "anthropic":
        from llmchat.backends.anthropic import AnthropicBackend

        kind = AnthropicBackend
    timeouts = settled_timeouts(resolved, config)
    return kind(
        resolved.name,
        resolved.base_url,
        resolved.model,
        resolved.api_key.reveal() if resolved.api_key else None,
        api_key_hint=resolved.key_source,
        max_tokens_field=resolved.max_tokens_field,
        connect_timeout=timeouts.connect,
        # The socket's own limit never trips before the two deadlines that say more.
        read_timeout=max(timeouts.first_token, timeouts.idle),
        first_token_timeout=timeouts.first_token,
        idle_timeout=timeouts.idle,
        stop=resolved.stop,
        rules=model_rules(),
        vision=resolved.vision,
    )


def settled_timeouts(resolved: ResolvedBackend, config: Config) -> SettledTimeouts:
    """The timeouts `resolved` uses: its own table's, then `[timeouts]`, then defaults."""
    from llmchat.config.resolve import on_this_machine

    local = resolved.model_file is not None or on_this_machine(resolved.base_url)
    return resolved.timeouts.over(config.timeouts).settled(local=local)


def make_gateway(
    resolved: ResolvedBackend, config: Config, known: KnownBackends | None = None
) -> Gateway:
    """The gateway for `resolved`, its breaker set as its table says; listed in `known`
    (for the views that show backends) when given."""
    settings = resolved.breaker
    breaker = CircuitBreaker(threshold=settings.failures, cooldown_s=settings.cooldown)
    gateway = Gateway(
        lambda: make_backend(resolved, config),
        breaker=breaker,
        name=resolved.name,
        # Known from the config before the backend exists; a llama-server found behind
        # an OpenAI-compatible URL is free too, once discovered (its capabilities say).
        free=True if resolved.kind == "llamacpp" else None,
        configured_window=resolved.context_window,
        key_source=resolved.key_source,
    )
    if known is not None:
        idle = settled_timeouts(resolved, config).idle
        known.add(KnownBackend(gateway, resolved.name, resolved.kind, resolved.model, idle))
    return gateway


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

    def open(self, session: str | SessionSummary | None) -> OpenedSession:
        """A new session (None) or a saved one (by id, unique id prefix or summary).

        A saved session that goes on with another backend than it recorded says so (in
        `warnings`) and records the move with its next record.
        Raises the store's SessionError subclasses (not found, ambiguous, locked).
        """
        here = backend_record(self.resolved)
        if session is None:
            info = SessionInfo(system=self.system or "")
            info.use_backend(here)
            conversation = Conversation(info, params=self.config.sampling)
            conversation.image_data = self.images.get
            sink = new_session(self.sessions_dir, conversation)
            return OpenedSession(conversation, [], sink.close)
        if not isinstance(session, SessionSummary):
            session = find_session(self.sessions_dir, session)
        opened = resume_session(session.path, read=session.read)
        conversation = opened.conversation
        conversation.image_data = self.images.get  # a resumed session sends them again
        moved = _moved_notice(conversation, here)
        conversation.move_to(here)
        return OpenedSession(conversation, [*opened.warnings, *moved], opened.close)

    @property
    def images(self) -> ImageStore:
        """Where attached images are kept, beside the sessions."""
        return ImageStore(self.sessions_dir)

    def gateway(self) -> Gateway:
        gateway = make_gateway(self.resolved, self.config)
        gateway.fallbacks = fallbacks_of(self.resolved, self.config, self._plain_gateway)
        return gateway

    def _plain_gateway(self, resolved: ResolvedBackend) -> Gateway:
        return make_gateway(resolved, self.config)


def fallbacks_of(
    resolved: ResolvedBackend, config: Config, gateway_for: Callable[[ResolvedBackend], Gateway]
) -> tuple[Gateway, ...]:
    """The gateways of `resolved`'s fallback chain (`fallback = [...]` in its table)."""
    from llmchat.config.fallback import resolve_fallbacks

    chain, _ = resolve_fallbacks(config, os.environ, resolved)
    return tuple(gateway_for(other) for other in chain)


class NotConfigured(Exception):
    """A new session was asked for, but no backend is configured."""


def build_launch(
    resolution: Resolution,
    config: Config,
    notices: list[str],
    session_id: str | SessionSummary | None,
    local: LocalServerPlan | None = None,
    schema: OutputSchema | None = None,
    *,
    reconnect_to: Callable[[BackendRecord], Reconnection] | None = None,
    attachments: Sequence[Attachment] = (),
) -> Launch:
    """Everything the TUI needs: `session_id` None opens a new session, "" the picker.

    A session asked for by id is opened here, so SessionError (not found, ambiguous,
    locked by another llmchat) reaches the command line before the TUI starts; it uses
    `resolution`, which the caller resolved with that session's record. Sessions opened
    later (the F3 picker) go back to their own recorded backends through `reconnect_to`
    (without it, they continue with `resolution`'s backend).
    """
    from llmchat.tui.app import BackendTarget, ChatContext, Launch
    from llmchat.ui_state import UiState, load_ui_state, save_ui_state

    ui = load_ui_state()
    notices = [*notices, *ui.warnings]

    def save_theme(name: str) -> None:
        # Losing the remembered theme is not worth interrupting the user for.
        with contextlib.suppress(OSError):
            save_ui_state(UiState(theme=name))

    default = resolution.backend
    attachments = list(attachments)
    launch = Launch(
        sessions_dir=paths.sessions_dir(),
        config_path=paths.config_file(),
        user_themes_dir=paths.themes_dir(),
        start="new" if session_id is None else ("session" if session_id else "resume-picker"),
        not_configured_reason=resolution.reason or "",
        theme=ui.state.theme or config.theme,
        save_theme=save_theme,
        local=local,
        configured=default is not None,
    )
    # One gateway (one HTTP client) per backend, shared by the sessions that use it.
    gateways: dict[tuple[object, ...], Gateway] = {}
    known = KnownBackends()

    def gateway_for(resolved: ResolvedBackend) -> Gateway:
        key = (resolved.name, resolved.kind, resolved.base_url, resolved.model, resolved.key_source)
        if key not in gateways:
            gateways[key] = make_gateway(resolved, config, known)
        return gateways[key]

    def primary_gateway(resolved: ResolvedBackend) -> Gateway:
        # A fallback's gateway is the one its own sessions use: one breaker per backend.
        gateway = gateway_for(resolved)
        if not gateway.fallbacks:
            gateway.fallbacks = fallbacks_of(resolved, config, gateway_for)
        return gateway

    def backend_for(summary: SessionSummary) -> tuple[ResolvedBackend, list[str]]:
        """The backend a session picked in the app goes back to."""
        again = reconnect_to(summary.record) if reconnect_to is not None else None
        if again is not None and not again.needs_local_server:
            assert again.resolution.backend is not None
            return again.resolution.backend, list(again.resolution.notices)
        if again is not None and not _runs_here(again, default):
            # A llama-server is started before the app, not from inside it.
            where = f"`llmchat --resume {summary.id[:8]}` starts its llama-server again"
            if default is None:
                raise NotConfigured(f"This session ran on a llama-server llmchat starts: {where}.")
            return default, [f"{where}; for now it continues with {default.name}."]
        if default is None:
            raise NotConfigured(resolution.reason or "no backend is configured")
        return default, []

    def open_session(session: str | SessionSummary | None, *, initial: bool = False) -> ChatContext:
        extra: list[str] = []
        if session is None or initial:
            if default is None:
                raise NotConfigured(resolution.reason or "no backend is configured")
            resolved = default
        else:
            if not isinstance(session, SessionSummary):
                session = find_session(paths.sessions_dir(), session)
            resolved, extra = backend_for(session)
        opener = SessionOpener(paths.sessions_dir(), resolved, config, resolution.system_prompt)
        opened = opener.open(session)
        opened.conversation.schema = schema
        images = opener.images
        # `-a` files go with the first session opened, once.
        attached, attachments[:] = list(attachments), []
        return ChatContext(
            conversation=opened.conversation,
            attachments=attached,
            keep_image=lambda image: images.put(image.data, image.media_type, image.name),
            gateway=primary_gateway(resolved),
            backend_name=resolved.name,
            model_name=resolved.model,
            notices=[*notices, *extra, *opened.warnings],
            close=opened.close,
            context_window=resolved.context_window,
            pricing=config.pricing,
            context_threshold=config.context_threshold,
            context_truncation=config.context_truncation,
            presets=config.presets,
            default_temperature=config.sampling.temperature,
            backends=tuple(dict.fromkeys((resolved.name, *config.backends))),
            gateway_of=lambda name: _gateway_of(name, resolved),
            switch_to=lambda name, model: _target(_switched(name, model, resolved)),
            known=known,
        )

    def _switched(name: str, model: str, current: ResolvedBackend) -> ResolvedBackend:
        # The session's own backend keeps its host and key; another is resolved as
        # `--backend NAME --model MODEL` would be, so each key goes only to its own host.
        if name == current.name:
            return replace(current, model=model)
        chosen = resolve_backend(config, os.environ, CliOverrides(backend=name, model=model))
        if chosen.backend is None or chosen.backend.model_file is not None:
            raise ResolutionError(f"{name} cannot be switched to inside the app")
        return chosen.backend

    def _gateway_of(name: str, current: ResolvedBackend) -> Gateway | None:
        try:
            return gateway_for(current if name == current.name else _switched(name, "", current))
        except ResolutionError:
            return None

    def _target(resolved: ResolvedBackend) -> BackendTarget:
        return BackendTarget(
            gateway=primary_gateway(resolved),
            backend_name=resolved.name,
            model_name=resolved.model,
            record=backend_record(resolved),
            context_window=resolved.context_window,
        )

    launch.open_session = open_session
    if session_id and default is not None:
        launch.initial = open_session(session_id, initial=True)
    return launch


def _runs_here(again: Reconnection, default: ResolvedBackend | None) -> bool:
    """Whether the llama-server a session needs is the one this run started."""
    if default is None or default.model_file is None:
        return False
    if again.bundled:
        return default.name == BUNDLED
    backend = again.resolution.backend
    wanted = again.model_file or (backend.model_file if backend is not None else None)
    return wanted is not None and (
        wanted.expanduser().absolute() == default.model_file.expanduser().absolute()
    )


def _moved_notice(conversation: Conversation, here: BackendRecord) -> list[str]:
    """Say so when a saved session continues with another backend than it was made with."""
    was = conversation.info.backend_record
    if not conversation.messages or was.name is None:
        return []
    if was.base_url is None and was.model_file is None:
        moved = was.name != here.name  # an older file: only the name is known
    else:
        moved = was.place != here.place
    if not moved:
        return []
    last = own_last_model(conversation.messages, was.name) or was.model
    return [f"This session was with {_where(was, last)}; it continues with {_where(here)}."]


def _where(record: BackendRecord, model: str | None = None) -> str:
    name = f"{record.name} · {model or record.model}" if (model or record.model) else record.name
    place = record.base_url or (Path(record.model_file).name if record.model_file else "")
    return one_line(f"{name} ({place})" if place else f"{name}", 200)
