"""llmchat's settings: the typed model, loading it from TOML, and picking a backend.

- ``model``: the frozen dataclasses (``Config``, ``BackendConfig``, ``Timeouts``,
  ``BreakerSettings``).
- ``loader``: ``load_config()`` with located errors (``ConfigError``) and warnings.
- ``resolve``: ``resolve_backend()``, config + environment + command line → backend.
- ``starter``: ``write_starter_config()`` for ``llmchat config init``.
- ``secret``: ``Secret``, a key whose repr is masked.
"""

from llmchat.config.errors import ConfigError, ConfigIssue, ResolutionError
from llmchat.config.loader import LoadedConfig, load_config, parse_config
from llmchat.config.model import (
    BACKEND_KINDS,
    MAX_TOKENS_FIELDS,
    BackendConfig,
    BackendKind,
    BreakerSettings,
    Config,
    MaxTokensField,
    Timeouts,
)
from llmchat.config.resolve import (
    ENV_BACKEND,
    ENV_BASE_URL,
    ENV_MODEL,
    ENV_OPENAI_API_KEY,
    ENV_OPENAI_BASE_URL,
    ENV_SYSTEM,
    CliOverrides,
    Resolution,
    ResolvedBackend,
    display_url,
    resolve_backend,
)
from llmchat.config.secret import Secret
from llmchat.config.starter import StarterWritten, starter_config_text, write_starter_config

__all__ = [
    "BACKEND_KINDS",
    "ENV_BACKEND",
    "ENV_BASE_URL",
    "ENV_MODEL",
    "ENV_OPENAI_API_KEY",
    "ENV_OPENAI_BASE_URL",
    "ENV_SYSTEM",
    "MAX_TOKENS_FIELDS",
    "BackendConfig",
    "BackendKind",
    "BreakerSettings",
    "CliOverrides",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "LoadedConfig",
    "MaxTokensField",
    "Resolution",
    "ResolutionError",
    "ResolvedBackend",
    "Secret",
    "StarterWritten",
    "Timeouts",
    "display_url",
    "load_config",
    "parse_config",
    "resolve_backend",
    "starter_config_text",
    "write_starter_config",
]
