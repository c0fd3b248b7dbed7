"""Which backend this run talks to, from the config, the environment and the command line.

Precedence, highest first: command-line options, ``LLMCHAT_*`` variables, the config
file, then an implicit backend named ``openai`` built from ``OPENAI_API_KEY`` /
``OPENAI_BASE_URL`` (also reachable by that name when the config has no such table).

The secret rule: a key is only sent to the scheme, host and port it was configured for.
When an override moves a backend elsewhere, its key is dropped and a notice says why,
unless the user named ``--api-key-env`` on the command line for exactly that purpose.
No notice, error or repr built here contains a key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from llmchat.config.errors import ResolutionError, key_path
from llmchat.config.model import (
    ANTHROPIC_BASE_URL,
    ANTHROPIC_HOST,
    DEFAULT_ANTHROPIC_MODEL,
    DEFAULT_OPENAI_MODEL,
    OPENAI_BASE_URL,
    OPENAI_HOST,
    BackendConfig,
    BackendKind,
    BreakerSettings,
    Config,
    MaxTokensField,
    Timeouts,
)
from llmchat.config.secret import Secret
from llmchat.config.validate import env_name_problem, url_problem
from llmchat.core.request import SERVER_DEFAULT_MODEL
from llmchat.core.safe_text import visible

ENV_OPENAI_API_KEY = "OPENAI_API_KEY"
ENV_OPENAI_BASE_URL = "OPENAI_BASE_URL"
ENV_ANTHROPIC_API_KEY = "ANTHROPIC_API_KEY"
ENV_BACKEND = "LLMCHAT_BACKEND"
ENV_MODEL = "LLMCHAT_MODEL"
ENV_BASE_URL = "LLMCHAT_BASE_URL"
ENV_SYSTEM = "LLMCHAT_SYSTEM"
IMPLICIT_BACKEND = "openai"
"""Name of the backend built from ``OPENAI_*`` variables when the config has none."""

NOT_CONFIGURED_REASON = (
    "No backend is configured. Run `llmchat config init` to create a starter config, "
    f"or set {ENV_OPENAI_API_KEY} (and {ENV_OPENAI_BASE_URL} for another "
    "OpenAI-compatible server)."
)


@dataclass(frozen=True, slots=True)
class CliOverrides:
    """Command-line options that override the config and environment."""

    backend: str | None = None
    """``--backend NAME``: a ``[backends.NAME]`` from the config."""
    model: str | None = None
    """``--model NAME``."""
    base_url: str | None = None
    """``--base-url URL``. Moving a backend to another host drops its key."""
    base_url_source: str = "--base-url"
    """Where ``base_url`` came from, for notices (a reopened session's record, …)."""
    system: str | None = None
    """``--system TEXT``; an empty string means no system prompt."""
    api_key_env: str | None = None
    """``--api-key-env NAME``: send the key in ``$NAME`` to whatever host is in use."""


@dataclass(frozen=True, slots=True)
class ResolvedBackend:
    """The backend this run talks to, with every override applied."""

    name: str
    """The user's name for it; ``openai`` for the implicit backend."""
    kind: BackendKind
    """Wire protocol."""
    base_url: str
    """API root requests go to."""
    model: str
    """Model requested."""
    api_key: Secret | None
    """The key for ``base_url``, or None. Its repr is masked."""
    key_source: str | None
    """Where the key came from, to name in a 401 error (``environment variable
    OPENAI_API_KEY``); never the key itself."""
    max_tokens_field: MaxTokensField
    """Request field carrying the reply budget."""
    context_window: int | None = None
    """Configured context size; None: ask the server or a model table."""
    vision: bool | None = None
    """Configured: the model takes images (or not); None: ask the server, or try."""
    model_file: Path | None = None
    """GGUF file for a llama-server llmchat starts itself."""
    chat_template_file: Path | None = None
    """Jinja chat template that server is started with; None: the GGUF's own."""
    stop: tuple[str, ...] = ()
    """Stop strings sent in every request's ``stop`` field."""
    timeouts: Timeouts = field(default_factory=Timeouts)
    """Its own table's timeouts; the rest come from the global ``[timeouts]``."""
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    """When its circuit breaker opens and for how long (its table's ``breaker``)."""
    implicit: bool = False
    """True when built from ``OPENAI_*`` variables, not from a config table."""


@dataclass(frozen=True, slots=True)
class Resolution:
    """The outcome: a backend ready to use, or why there is none, plus notices."""

    status: Literal["ready", "not_configured"]
    """``not_configured``: nothing to talk to; the app shows its first-run screen."""
    backend: ResolvedBackend | None
    """Set when ``status == "ready"``."""
    system_prompt: str | None
    """Effective system prompt: ``--system`` > ``LLMCHAT_SYSTEM`` > config."""
    notices: tuple[str, ...] = field(default=())
    """Things the user should know (a key withheld, an unset key variable, …)."""
    reason: str | None = None
    """For ``not_configured``: what is missing and what to do."""

    @property
    def ready(self) -> bool:
        return self.status == "ready"


def resolve_backend(
    config: Config, env: Mapping[str, str], overrides: CliOverrides | None = None
) -> Resolution:
    """Pick the active backend from ``config``, ``env`` and ``overrides``.

    Raises ``ResolutionError`` when the user explicitly asked for something that cannot
    work (an unknown ``--backend``, a malformed ``--base-url``, an unset
    ``--api-key-env``); a missing configuration is a ``not_configured`` result instead.
    """
    cli = overrides or CliOverrides()
    notices: list[str] = []
    system = cli.system if cli.system is not None else _get(env, ENV_SYSTEM)
    system = config.system_prompt if system is None else system or None

    openai = _OpenAIEnv.read(env)
    name, name_source = _requested_name(cli, env)
    base_override, base_source = _base_url_override(cli, env)
    if name is None and config.backends:
        name = config.default_backend or next(iter(config.backends))

    if name is not None and name in config.backends:
        chosen = _from_config(config.backends[name], env, openai, notices)
    elif name is None or name == IMPLICIT_BACKEND:
        if not (openai.key or openai.base_url or base_override):
            if name_source is not None:
                raise ResolutionError(_unknown_backend(name or "", name_source, config))
            return Resolution("not_configured", None, system, reason=NOT_CONFIGURED_REASON)
        chosen = _implicit(openai)
    else:
        raise ResolutionError(_unknown_backend(name, name_source or "default_backend", config))

    base_url = (base_override or chosen.home).rstrip("/")
    key, key_source = chosen.key, chosen.key_source
    if cli.api_key_env is not None:
        key, key_source = _explicit_key(cli.api_key_env, env)
    elif key is not None and _origin(base_url) != _origin(chosen.home):
        notices.append(
            f"backend '{chosen.name}': the API key from {key_source} is not sent to "
            f"{display_url(base_url)}: it is meant for {display_url(chosen.home)}, and "
            f"{base_source} changed the host. To send a key there, pass --api-key-env NAME."
        )
        key, key_source = None, None
    notices.extend(_transport_notices(chosen.name, base_url, key))

    resolved = ResolvedBackend(
        name=chosen.name,
        kind=chosen.kind,
        base_url=base_url,
        model=(
            cli.model
            or _get(env, ENV_MODEL)
            or chosen.model
            or default_model(base_url, chosen.kind)
        ),
        api_key=key,
        key_source=key_source,
        max_tokens_field=chosen.max_tokens_field or default_max_tokens_field(base_url),
        context_window=chosen.context_window,
        vision=chosen.vision,
        model_file=chosen.model_file,
        chat_template_file=chosen.chat_template_file,
        stop=chosen.stop,
        timeouts=chosen.timeouts,
        breaker=chosen.breaker,
        implicit=chosen.implicit,
    )
    return Resolution("ready", resolved, system, tuple(notices))


@dataclass(frozen=True, slots=True)
class _OpenAIEnv:
    """``OPENAI_API_KEY`` and the host it belongs to (``OPENAI_BASE_URL`` or OpenAI's)."""

    key: str | None
    base_url: str | None
    home: str

    @classmethod
    def read(cls, env: Mapping[str, str]) -> _OpenAIEnv:
        key = _get(env, ENV_OPENAI_API_KEY)
        base_url = _get(env, ENV_OPENAI_BASE_URL)
        if base_url is not None and (problem := url_problem(base_url)) is not None:
            raise ResolutionError(f"{ENV_OPENAI_BASE_URL} {problem}")
        home = (base_url or OPENAI_BASE_URL).strip().rstrip("/")
        return cls(key.strip() if key else None, base_url, home)


@dataclass(frozen=True, slots=True)
class _Chosen:
    """The selected backend before command-line and environment overrides."""

    name: str
    kind: BackendKind
    home: str
    """The base URL its key (if any) was configured for."""
    key: Secret | None
    key_source: str | None
    model: str | None = None
    max_tokens_field: MaxTokensField | None = None
    context_window: int | None = None
    vision: bool | None = None
    model_file: Path | None = None
    chat_template_file: Path | None = None
    stop: tuple[str, ...] = ()
    timeouts: Timeouts = field(default_factory=Timeouts)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    implicit: bool = False


def _from_config(
    backend: BackendConfig, env: Mapping[str, str], openai: _OpenAIEnv, notices: list[str]
) -> _Chosen:
    key, key_source = _configured_key(backend, env, notices)
    if key is None and openai.key and _origin(backend.base_url) == _origin(openai.home):
        # OPENAI_API_KEY is meant for this very host, so using it breaks no rule.
        key, key_source = Secret(openai.key), f"environment variable {ENV_OPENAI_API_KEY}"
        notices.append(
            f"backend '{backend.name}': using {ENV_OPENAI_API_KEY}; set "
            f'api_key_env = "{ENV_OPENAI_API_KEY}" in its table to make this explicit'
        )
    # Anthropic's own variable, as its SDK reads it; only ever for Anthropic's host.
    anthropic_key = _get(env, ENV_ANTHROPIC_API_KEY)
    if (
        key is None
        and anthropic_key
        and backend.kind == "anthropic"
        and backend.api_key_env is None
        and _origin(backend.base_url) == _origin(ANTHROPIC_BASE_URL)
    ):
        key = Secret(anthropic_key.strip())
        key_source = f"environment variable {ENV_ANTHROPIC_API_KEY}"
    return _Chosen(
        name=backend.name,
        kind=backend.kind,
        home=backend.base_url,
        key=key,
        key_source=key_source,
        model=backend.model,
        max_tokens_field=backend.max_tokens_field,
        context_window=backend.context_window,
        vision=backend.vision,
        model_file=backend.model_file,
        chat_template_file=backend.chat_template_file,
        stop=backend.stop,
        timeouts=backend.timeouts,
        breaker=backend.breaker,
    )


def _implicit(openai: _OpenAIEnv) -> _Chosen:
    # No notice: chatting through OPENAI_* alone is a normal way to use llmchat, and the
    # status bar names the backend.
    return _Chosen(
        name=IMPLICIT_BACKEND,
        kind="openai",
        home=openai.home,
        key=Secret(openai.key) if openai.key else None,
        key_source=f"environment variable {ENV_OPENAI_API_KEY}" if openai.key else None,
        implicit=True,
    )


def _get(env: Mapping[str, str], name: str) -> str | None:
    # Blank counts as unset: `export LLMCHAT_MODEL=` should not request a model named "".
    value = env.get(name)
    return value if value is not None and value.strip() else None


def _requested_name(cli: CliOverrides, env: Mapping[str, str]) -> tuple[str | None, str | None]:
    if cli.backend:
        return cli.backend, "--backend"
    if (name := _get(env, ENV_BACKEND)) is not None:
        return name.strip(), ENV_BACKEND
    return None, None


def _base_url_override(cli: CliOverrides, env: Mapping[str, str]) -> tuple[str | None, str]:
    for url, source in (
        (cli.base_url, cli.base_url_source),
        (_get(env, ENV_BASE_URL), ENV_BASE_URL),
    ):
        if url:
            if (problem := url_problem(url)) is not None:
                raise ResolutionError(f"{source} {problem}")
            return url.strip(), source
    return None, ""


def _configured_key(
    backend: BackendConfig, env: Mapping[str, str], notices: list[str]
) -> tuple[Secret | None, str | None]:
    if backend.api_key_env is not None:
        if value := _get(env, backend.api_key_env):
            return Secret(value.strip()), f"environment variable {backend.api_key_env}"
        if backend.api_key is None:
            notices.append(
                f"backend '{backend.name}': environment variable {backend.api_key_env} is "
                "not set; requests go without an API key"
            )
    if backend.api_key is not None:
        table = f"[backends.{key_path((backend.name,))}]"
        return backend.api_key, f"api_key in {table} of the config file"
    return None, None


def _explicit_key(var: str, env: Mapping[str, str]) -> tuple[Secret, str]:
    if (problem := env_name_problem(var)) is not None:
        raise ResolutionError(f"--api-key-env {problem}")
    value = _get(env, var)
    if value is None:
        raise ResolutionError(f"--api-key-env: environment variable {var} is not set")
    return Secret(value.strip()), f"environment variable {var} (--api-key-env)"


def _unknown_backend(name: str, source: str, config: Config) -> str:
    configured = ", ".join(config.backends) or "none"
    return f"{source}: no backend named '{name}' is configured (configured: {configured})"


def _transport_notices(name: str, base_url: str, key: Secret | None) -> list[str]:
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    notices = []
    if key is not None and parts.scheme == "http" and not _is_loopback(host):
        notices.append(
            f"backend '{name}': the API key travels unencrypted (http://) to {host}; "
            "use https:// if the server offers it"
        )
    if key is None and host in (OPENAI_HOST, ANTHROPIC_HOST):
        variable = ENV_OPENAI_API_KEY if host == OPENAI_HOST else ENV_ANTHROPIC_API_KEY
        notices.append(
            f"backend '{name}': no API key for {host}, which will refuse requests; set {variable}"
        )
    return notices


def on_this_machine(base_url: str) -> bool:
    """Whether `base_url` is a server on this machine (a loopback address)."""
    return _is_loopback(urlsplit(base_url).hostname or "")


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port: the unit a key is bound to (http vs https counts too)."""
    parts = urlsplit(url)
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    host = (parts.hostname or "").rstrip(".")
    return parts.scheme, host, parts.port or default_port


def display_url(url: str) -> str:
    """A URL safe to show: no user:password, no query (some hosts take ``?key=``), no
    control character (it came from a file, the environment or a session record)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"  # IPv6
    if parts.port is not None:
        netloc += f":{parts.port}"
    return visible(f"{parts.scheme}://{netloc}{parts.path}")


def default_model(base_url: str, kind: BackendKind = "openai") -> str:
    """``gpt-4o-mini`` for api.openai.com, a current Claude for Anthropic (whose API has
    no default model); elsewhere let the server choose."""
    if kind == "anthropic":
        return DEFAULT_ANTHROPIC_MODEL
    return DEFAULT_OPENAI_MODEL if _origin(base_url)[1] == OPENAI_HOST else SERVER_DEFAULT_MODEL


def default_max_tokens_field(base_url: str) -> MaxTokensField:
    """OpenAI's newer models refuse ``max_tokens``; other servers may ignore the new name."""
    return "max_completion_tokens" if _origin(base_url)[1] == OPENAI_HOST else "max_tokens"
