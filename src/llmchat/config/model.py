"""The typed settings model: what a config file can say, with its defaults.

Every field is documented where it is declared; the starter config (``starter.py``) and
the validator (``loader.py``) follow this model, so read it first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from llmchat.config.secret import Secret
from llmchat.core.budget import Truncation
from llmchat.core.model_info import PriceOverride
from llmchat.core.params import SamplingParams
from llmchat.core.presets import Preset

BackendKind = Literal["openai", "llamacpp", "anthropic"]
BACKEND_KINDS: tuple[str, ...] = get_args(BackendKind)

MaxTokensField = Literal["max_tokens", "max_completion_tokens"]
MAX_TOKENS_FIELDS: tuple[str, ...] = get_args(MaxTokensField)

OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENAI_HOST = "api.openai.com"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
"""Used for api.openai.com when no model is named: cheap, fast, widely available."""
LLAMACPP_BASE_URL = "http://127.0.0.1:8080/v1"
"""llama-server's default address."""
ANTHROPIC_BASE_URL = "https://api.anthropic.com/v1"
ANTHROPIC_HOST = "api.anthropic.com"
DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-4-5"
"""Used for ``kind = "anthropic"`` when no model is named."""


CONNECT_TIMEOUT = 5.0
"""Seconds to establish a connection. Short: a host that does not answer is down."""
FIRST_TOKEN_TIMEOUT = 600.0
"""Seconds to the first token, for every backend unless configured: llama-server sends
its headers only after a prefill that can take minutes on a slow machine."""
IDLE_TIMEOUT_REMOTE = 120.0
"""Seconds without a byte, after the first token, before a remote stream is stalled."""
IDLE_TIMEOUT_LOCAL = 600.0
"""The same for a server on this machine, which may be swapping or sharing a GPU."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long to wait on the network before giving up with a clear error.

    The global ``[timeouts]`` table, or a backend's own ``timeouts = {…}``; a value a
    backend's table leaves out comes from the global table, then the default."""

    connect: float | None = None
    """Seconds to establish a connection. None: 5 s."""
    first_token: float | None = None
    """Seconds from sending a request to its first token, response headers included,
    however the server trickles bytes meanwhile (a server sending one header byte at a
    time never trips ``idle``). None: 600 s, long because a local model can spend
    minutes on prefill. Questions about the server (its model list, llama-server's
    ``/props`` and token counts) get 10 s, or this if shorter: they need no generation."""
    idle: float | None = None
    """Seconds without a byte between chunks, once the first token has arrived: the
    stream has stalled, and ends as an error keeping the text so far. None: 120 s for a
    remote server, 600 s for one on this machine (loopback, or a ``model_file``).
    ``read``, its former name, is still read."""

    def over(self, base: Timeouts) -> Timeouts:
        """These values, with the ones left unset taken from `base`."""
        return Timeouts(
            connect=base.connect if self.connect is None else self.connect,
            first_token=base.first_token if self.first_token is None else self.first_token,
            idle=base.idle if self.idle is None else self.idle,
        )

    def settled(self, *, local: bool) -> SettledTimeouts:
        """Every value, defaults filled in for a server on this machine or elsewhere."""
        return SettledTimeouts(
            connect=CONNECT_TIMEOUT if self.connect is None else self.connect,
            first_token=FIRST_TOKEN_TIMEOUT if self.first_token is None else self.first_token,
            idle=(IDLE_TIMEOUT_LOCAL if local else IDLE_TIMEOUT_REMOTE)
            if self.idle is None
            else self.idle,
        )


@dataclass(frozen=True, slots=True)
class SettledTimeouts:
    """The timeouts one backend uses, every value known (see `Timeouts`)."""

    connect: float
    first_token: float
    idle: float


BREAKER_FAILURES = 5
"""Consecutive failures before a backend's circuit breaker opens, unless configured."""
BREAKER_COOLDOWN = 30.0
"""Seconds an open breaker waits before one request may try the backend again."""


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """When a backend that keeps failing stops being asked, and for how long: a
    backend's ``breaker = { failures = 5, cooldown = 30 }``. Only failures that say the
    server is failing count (unreachable, timed out, overloaded, 5xx), never a refused
    key or request."""

    failures: int = BREAKER_FAILURES
    """Consecutive failures before its first token that open the breaker (at least 1)."""
    cooldown: float = BREAKER_COOLDOWN
    """Seconds it then stays open (requests fail at once or go to the fallback) before
    one request probes the backend again."""


@dataclass(frozen=True, slots=True)
class BackendConfig:
    """One ``[backends.NAME]`` table: a server and model llmchat can talk to."""

    name: str
    """The table name (``[backends.local]`` → ``local``), shown in the UI and sessions."""
    kind: BackendKind
    """Wire protocol: ``openai`` (any OpenAI-compatible host), ``llamacpp``
    (llama-server, which adds exact token counts, timings and context size) or
    ``anthropic`` (Anthropic's Messages API; the key from ``ANTHROPIC_API_KEY``)."""
    base_url: str
    """API root including ``/v1``, e.g. ``http://127.0.0.1:8080/v1``. The API key is only
    ever sent to this scheme, host and port."""
    model: str | None = None
    """Model to request. None: ``gpt-4o-mini`` on api.openai.com, else the server's choice."""
    api_key_env: str | None = None
    """Name of the environment variable holding the key (preferred: the key stays out
    of the file)."""
    api_key: Secret | None = field(default=None, repr=False)
    """A literal key in the config. Allowed but discouraged; the file should then be
    mode 0600. Used only when ``api_key_env`` is unset or names an empty variable."""
    max_tokens_field: MaxTokensField | None = None
    """Request field carrying the reply budget. OpenAI's newer models refuse
    ``max_tokens`` and need ``max_completion_tokens``; most other servers want
    ``max_tokens`` (older llama-server builds ignore the newer name). None: pick by
    host, ``max_completion_tokens`` for api.openai.com, ``max_tokens`` elsewhere."""
    context_window: int | None = None
    """Context size in tokens, when the server cannot report it. None: ask the server
    (llama-server ``/props``) or a model table."""
    vision: bool | None = None
    """Whether the model takes images. None: llama-server says in ``/props``; other
    servers are sent them, and a refusal is shown as the server words it."""
    model_file: Path | None = None
    """A GGUF file: llmchat starts llama-server with it on a free loopback port (instead
    of talking to ``base_url``) and stops it on exit. Relative to the config file."""
    chat_template_file: Path | None = None
    """With ``model_file``: a Jinja chat template llama-server uses instead of the one in
    the GGUF (``--jinja --chat-template-file``), e.g. for a base model that has none.
    Relative to the config file; it must exist."""
    stop: tuple[str, ...] = ()
    """Stop strings sent with every request (the ``stop`` field), e.g. ``["\\nUser:"]``
    for a template that frames the chat as a "User: / Assistant:" dialogue."""
    timeouts: Timeouts = field(default_factory=Timeouts)
    """This backend's own timeouts (``timeouts = { first_token = 120, idle = 60 }``);
    what it leaves out comes from the global ``[timeouts]`` table."""
    fallback: tuple[str, ...] = ()
    """Other backends to try, in order, when this one fails before its first token
    (unreachable, timed out, overloaded, retries used up) or its circuit breaker is open,
    e.g. ``["local", "anthropic"]``. Never on auth, quota or content errors."""
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    """Its circuit breaker (``breaker = { failures = 5, cooldown = 30 }``)."""


@dataclass(frozen=True, slots=True)
class Config:
    """Everything a config file can set. ``Config()`` is the empty file."""

    default_backend: str | None = None
    """Backend used when neither ``--backend`` nor ``LLMCHAT_BACKEND`` names one. None:
    the first backend in the file."""
    backends: Mapping[str, BackendConfig] = field(default_factory=dict)
    """Configured backends by name, in file order (read-only when loaded from a file)."""
    system_prompt: str | None = None
    """System message that opens every new conversation. None: no system message."""
    sampling: SamplingParams = field(default_factory=SamplingParams)
    """Default sampling for new conversations (``[sampling]``)."""
    theme: str | None = None
    """Theme name for the UI. None: the last theme picked, else the built-in default."""
    context_threshold: float = 0.9
    """Share of the context window a request may fill (prompt + reserved reply) before
    the oldest turns are left out of it."""
    context_truncation: Truncation = "chunked"
    """How the oldest turns are left out: "chunked" (a block at a time, down to well under
    the threshold, then the same start for the following turns, so the server's prompt
    cache reuses it) or "oldest" (one turn at a time, just enough to fit)."""
    pricing: Mapping[str, PriceOverride] = field(default_factory=dict)
    """Per-model prices (`[pricing."gpt-4o"] input_per_mtok = …`), winning over the
    maintained price list; USD per million tokens."""
    presets: tuple[Preset, ...] = ()
    """Your own sampling presets (`[presets."name"] temperature = …, top_p = …`,
    optional max_tokens and system), listed after the built-in ones."""
    llama_server: Path | None = None
    """The llama-server binary to run for local models (the LLAMA_SERVER environment
    variable wins; otherwise PATH, then the `local` extra's build)."""
    timeouts: Timeouts = field(default_factory=Timeouts)
    """Network timeouts for every backend without its own (``[timeouts]``)."""

    @property
    def has_api_key(self) -> bool:
        """True when any backend holds a literal key (the file then needs mode 0600)."""
        return any(b.api_key is not None for b in self.backends.values())
