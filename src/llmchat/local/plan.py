"""Deciding to run a local llama-server, and the steps that bring it up.

Both front ends use this: the TUI shows each step on a start-up screen, `llmchat -p`
prints them to stderr.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from llmchat.config import ResolvedBackend
from llmchat.local.binary import find_server_binary
from llmchat.local.bundled_model import (
    ALIAS,
    CHAT_TEMPLATE,
    STOP,
    bundled_model_installed,
    bundled_model_path,
    ensure_bundled_model,
    is_ready,
)
from llmchat.local.server_process import ManagedServer, ServerSettings

DEFAULT_CONTEXT = 4096
BUNDLED_BACKEND = "bundled"


@dataclass(slots=True)
class LocalServerPlan:
    """A server to start before chatting, and what to do before starting it."""

    server: ManagedServer
    prepare_model: Callable[[], Path] | None = None
    """For the bundled model: assemble and verify it (blocking, once)."""

    @property
    def log_path(self) -> Path:
        return self.server.log_path


def managed_backend(
    resolved: ResolvedBackend,
    *,
    cache_dir: Path,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    prepare_model: Callable[[], Path] | None = None,
    configured_binary: Path | None = None,
) -> tuple[ResolvedBackend, LocalServerPlan]:
    """The backend pointed at a server llmchat will start for `resolved.model_file`.

    Raises BinaryNotFound (with advice) when no llama-server can be found.
    """
    assert resolved.model_file is not None
    binary = find_server_binary(env, configured_binary, links_dir=cache_dir / "llama-libs")
    settings = ServerSettings(
        model_file=resolved.model_file,
        context=resolved.context_window or DEFAULT_CONTEXT,
        alias=resolved.model if resolved.model not in (None, "default") else None,
        chat_template_file=resolved.chat_template_file,
    )
    server = ManagedServer(binary, settings, log_dir / "llama-server.log")
    backend = dataclasses.replace(
        resolved, kind="llamacpp", base_url=server.base_url, model=server.alias
    )
    return backend, LocalServerPlan(server, prepare_model)


def bundled_backend(cache_dir: Path) -> ResolvedBackend | None:
    """The backend for the bundled model, if the `local` extra is installed."""
    if not bundled_model_installed():
        return None
    return ResolvedBackend(
        name=BUNDLED_BACKEND,
        kind="llamacpp",
        base_url="http://127.0.0.1/v1",
        model=ALIAS,
        api_key=None,
        key_source=None,
        max_tokens_field="max_tokens",
        context_window=DEFAULT_CONTEXT,
        model_file=bundled_model_path(cache_dir),
        # A base model with no template of its own: see bundled_model.
        chat_template_file=CHAT_TEMPLATE,
        stop=STOP,
    )


def bundled_preparer(cache_dir: Path) -> Callable[[], Path]:
    return lambda: ensure_bundled_model(cache_dir)


async def start_local_server(plan: LocalServerPlan, progress: Callable[[str], None]) -> None:
    """Assemble the model if needed, start the server and wait until it answers.

    Call from the main thread: the server's parent-death signal is tied to the thread
    that starts it. Raises ServerStartError / ValueError with a message for the user.
    """
    if plan.prepare_model is not None:
        if not is_ready(plan.server.settings.model_file):
            progress("Preparing the bundled model (about 250 MB, first run only)…")
        await asyncio.to_thread(plan.prepare_model)
    progress(f"Starting llama-server ({plan.server.binary.source}) on {plan.server.root_url}…")
    plan.server.start()
    await plan.server.ready(progress)
    progress("llama-server is ready.")
