"""From parsed TOML to the settings model: types, ranges, known keys, key paths.

Collects every problem instead of stopping at the first. Messages describe values by
their TOML type and never echo them, since a misplaced value may be an API key.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast
from urllib.parse import urlsplit

from llmchat.config.errors import ConfigIssue, key_path
from llmchat.config.locate import KeyLocator
from llmchat.config.model import (
    ANTHROPIC_BASE_URL,
    BACKEND_KINDS,
    LLAMACPP_BASE_URL,
    MAX_TOKENS_FIELDS,
    OPENAI_BASE_URL,
    BackendConfig,
    BackendKind,
    BreakerSettings,
    Config,
    MaxTokensField,
    Timeouts,
)
from llmchat.config.secret import Secret
from llmchat.core.budget import TRUNCATIONS, Truncation
from llmchat.core.model_info import PriceOverride
from llmchat.core.params import SamplingParams
from llmchat.core.presets import Preset
from llmchat.core.safe_text import visible

_TOP_KEYS = (
    "default_backend",
    "backends",
    "system_prompt",
    "sampling",
    "theme",
    "timeouts",
    "llama_server",
    "pricing",
    "context_threshold",
    "context_truncation",
    "presets",
)
_PRESET_KEYS = ("temperature", "top_p", "max_tokens", "system")
_PRICING_KEYS = ("input_per_mtok", "output_per_mtok", "cached_input_per_mtok")
_PRICING_KEYS = ("input_per_mtok", "output_per_mtok", "cached_input_per_mtok")
_SAMPLING_KEYS = ("temperature", "top_p", "max_tokens", "seed")
_TIMEOUT_KEYS = ("connect", "first_token", "idle", "read")
_BREAKER_KEYS = ("failures", "cooldown")
_BACKEND_KEYS = (
    "kind",
    "base_url",
    "model",
    "api_key_env",
    "api_key",
    "max_tokens_field",
    "context_window",
    "model_file",
    "chat_template_file",
    "stop",
    "timeouts",
    "fallback",
    "breaker",
    "vision",
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


_TYPE_NAMES: dict[type, str] = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    dict: "a table",
    list: "an array",
}


def _describe(value: object) -> str:
    """The TOML type of a value, never the value: it might be a key."""
    for kind, name in _TYPE_NAMES.items():  # bool before int: bool is an int subclass
        if isinstance(value, kind):
            return name
    return "a date/time"


class ConfigReader:
    """Walks the parsed TOML, collecting errors and warnings with key paths and lines."""

    def __init__(self, locator: KeyLocator, base_dir: Path | None) -> None:
        self.locator = locator
        self.base_dir = base_dir
        self.errors: list[ConfigIssue] = []
        self.warnings: list[ConfigIssue] = []

    def error(self, parts: tuple[str, ...], message: str) -> None:
        self.errors.append(ConfigIssue(message, key_path(parts), self.locator.line_of(parts)))

    def unknown_keys(
        self, table: Mapping[str, Any], known: tuple[str, ...], at: tuple[str, ...]
    ) -> None:
        for key in table:
            if key in known:
                continue
            hint = difflib.get_close_matches(key, known, n=1)
            suffix = f"; did you mean '{hint[0]}'?" if hint else ""
            message = f"unknown key, ignored{suffix}"
            parts = (*at, key)
            self.warnings.append(ConfigIssue(message, key_path(parts), self.locator.line_of(parts)))

    def table(self, parent: Mapping[str, Any], key: str, at: tuple[str, ...]) -> dict[str, Any]:
        value = parent.get(key, {})
        if not isinstance(value, dict):
            self.error((*at, key), f"expected a table, got {_describe(value)}")
            return {}
        return value

    def string(
        self, table: Mapping[str, Any], key: str, at: tuple[str, ...], *, empty_ok: bool = False
    ) -> str | None:
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, str):
            self.error((*at, key), f"expected a string, got {_describe(value)}")
            return None
        if not empty_ok and not value.strip():
            self.error((*at, key), "must not be empty (remove the line to use the default)")
            return None
        return value

    def number(
        self,
        table: Mapping[str, Any],
        key: str,
        at: tuple[str, ...],
        low: float,
        high: float | None,
        *,
        low_open: bool = False,
    ) -> float | None:
        """A number in ``[low, high]`` (``(low, high]`` when ``low_open``); ints accepted."""
        if key not in table:
            return None
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error((*at, key), f"expected a number, got {_describe(value)}")
            return None
        too_low = value <= low if low_open else value < low
        if too_low or (high is not None and value > high) or value != value:  # NaN
            if high is None:
                bounds = f"greater than {low:g}" if low_open else f"at least {low:g}"
            else:
                bounds = f"between {low:g} and {high:g}"
            self.error((*at, key), f"must be {bounds}, got {value:g}")
            return None
        return float(value)

    def boolean(self, table: Mapping[str, Any], key: str, at: tuple[str, ...]) -> bool | None:
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, bool):
            self.error((*at, key), f"expected true or false, got {_describe(value)}")
            return None
        return value

    def integer(
        self, table: Mapping[str, Any], key: str, at: tuple[str, ...], *, minimum: int | None
    ) -> int | None:
        if key not in table:
            return None
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.error((*at, key), f"expected an integer, got {_describe(value)}")
            return None
        if minimum is not None and value < minimum:
            self.error((*at, key), f"must be at least {minimum}, got {value}")
            return None
        return value

    def choice(
        self, table: Mapping[str, Any], key: str, at: tuple[str, ...], options: tuple[str, ...]
    ) -> str | None:
        value = self.string(table, key, at)
        if value is None or value in options:
            return value
        expected = " or ".join(f"'{o}'" for o in options)
        hint = difflib.get_close_matches(value, options, n=1)
        suffix = f"; did you mean '{hint[0]}'?" if hint else ""
        self.error((*at, key), f"unknown {key} '{value}', expected {expected}{suffix}")
        return None

    # --- the model -------------------------------------------------------------

    def config(self, raw: dict[str, Any]) -> Config:
        self.unknown_keys(raw, _TOP_KEYS, ())
        backend_tables = self.table(raw, "backends", ())
        backends = self.backends(backend_tables)
        default = self.string(raw, "default_backend", ())
        # Checked against every table, valid or not, so a broken backend is reported
        # once (for itself), not again as an unknown default.
        if default is not None and default not in backend_tables:
            table_name = f"[backends.{key_path((default,))}]"
            if backend_tables:
                configured = ", ".join(backend_tables)
                message = (
                    f"'{default}' is not a configured backend (configured: {configured}); "
                    f"pick one of these or add a {table_name} table"
                )
            else:
                message = f"'{default}' is not configured: add a {table_name} table"
            self.error(("default_backend",), message)
        self.fallbacks(backends, backend_tables)
        if default is None and backends:
            default = next(iter(backends))  # the model documents "first in file order"
        server = self.string(raw, "llama_server", ())
        threshold = self.number(raw, "context_threshold", (), 0.1, 1.0)
        truncation = self.choice(raw, "context_truncation", (), TRUNCATIONS)
        return Config(
            default_backend=default,
            backends=MappingProxyType(backends),
            system_prompt=self.string(raw, "system_prompt", (), empty_ok=True),
            sampling=self.sampling(self.table(raw, "sampling", ()), ("sampling",)),
            theme=self.string(raw, "theme", ()),
            timeouts=self.timeouts(self.table(raw, "timeouts", ()), ("timeouts",)),
            llama_server=self.path(server) if server else None,
            pricing=MappingProxyType(self.pricing(self.table(raw, "pricing", ()))),
            presets=self.presets(self.table(raw, "presets", ())),
            context_threshold=threshold if threshold is not None else 0.9,
            context_truncation=cast(Truncation, truncation or "chunked"),
        )

    def presets(self, table: dict[str, Any]) -> tuple[Preset, ...]:
        presets: list[Preset] = []
        for name, value in table.items():
            at = ("presets", name)
            if not isinstance(value, dict):
                self.error(at, f"expected a table, got {_describe(value)}")
                continue
            self.unknown_keys(value, _PRESET_KEYS, at)
            temperature = self.number(value, "temperature", at, 0.0, 2.0)
            top_p = self.number(value, "top_p", at, 0.0, 1.0)
            max_tokens = self.number(value, "max_tokens", at, 1, None)
            system = self.string(value, "system", at, empty_ok=True)
            presets.append(
                Preset(
                    name,
                    1.0 if temperature is None else temperature,
                    1.0 if top_p is None else top_p,
                    int(max_tokens) if max_tokens is not None else None,
                    system,
                )
            )
        return tuple(presets)

    def pricing(self, table: dict[str, Any]) -> dict[str, PriceOverride]:
        prices: dict[str, PriceOverride] = {}
        for model, value in table.items():
            at = ("pricing", model)
            if not isinstance(value, dict):
                self.error(at, f"expected a table, got {_describe(value)}")
                continue
            self.unknown_keys(value, _PRICING_KEYS, at)
            input_rate = self.number(value, "input_per_mtok", at, 0.0, None)
            output_rate = self.number(value, "output_per_mtok", at, 0.0, None)
            cached_rate = self.number(value, "cached_input_per_mtok", at, 0.0, None)
            if input_rate is None or output_rate is None:
                self.error(at, "needs input_per_mtok and output_per_mtok (USD per million)")
                continue
            prices[model] = PriceOverride(input_rate, output_rate, cached_rate)
        return prices

    def sampling(self, table: dict[str, Any], at: tuple[str, ...]) -> SamplingParams:
        self.unknown_keys(table, _SAMPLING_KEYS, at)
        base = SamplingParams()
        temperature = self.number(table, "temperature", at, 0.0, 2.0)
        top_p = self.number(table, "top_p", at, 0.0, 1.0)
        max_tokens = self.integer(table, "max_tokens", at, minimum=1)
        seed = self.integer(table, "seed", at, minimum=None)
        return SamplingParams(
            temperature=base.temperature if temperature is None else temperature,
            top_p=base.top_p if top_p is None else top_p,
            max_tokens=base.max_tokens if max_tokens is None else max_tokens,
            seed=seed,
        )

    def timeouts(self, table: dict[str, Any], at: tuple[str, ...]) -> Timeouts:
        """A ``[timeouts]`` table, the global one or a backend's: positive seconds."""
        self.unknown_keys(table, _TIMEOUT_KEYS, at)
        connect = self.number(table, "connect", at, 0.0, None, low_open=True)
        first = self.number(table, "first_token", at, 0.0, None, low_open=True)
        idle = self.number(table, "idle", at, 0.0, None, low_open=True)
        read = self.number(table, "read", at, 0.0, None, low_open=True)
        if "read" in table:
            # The former name of idle: files written before it keep working.
            used = "ignored: idle is set" if "idle" in table else "read as idle"
            parts = (*at, "read")
            message = f"'read' is now called 'idle'; {used}"
            self.warnings.append(ConfigIssue(message, key_path(parts), self.locator.line_of(parts)))
        return Timeouts(connect=connect, first_token=first, idle=read if idle is None else idle)

    def breaker(self, table: dict[str, Any], at: tuple[str, ...]) -> BreakerSettings:
        """A backend's ``breaker = { failures, cooldown }``: a whole count, positive seconds."""
        self.unknown_keys(table, _BREAKER_KEYS, at)
        failures = self.integer(table, "failures", at, minimum=1)
        cooldown = self.number(table, "cooldown", at, 0.0, None, low_open=True)
        base = BreakerSettings()
        return BreakerSettings(
            failures=base.failures if failures is None else failures,
            cooldown=base.cooldown if cooldown is None else cooldown,
        )

    def backends(self, table: dict[str, Any]) -> dict[str, BackendConfig]:
        backends: dict[str, BackendConfig] = {}
        for name, value in table.items():
            at = ("backends", name)
            if not isinstance(value, dict):
                self.error(
                    at, f"expected a table [backends.{key_path((name,))}], got {_describe(value)}"
                )
                continue
            if not name.strip():
                self.error(at, "a backend needs a non-empty name")
                continue
            backend = self.backend(name, value, at)
            if backend is not None:
                backends[name] = backend
        return backends

    def backend(
        self, name: str, table: dict[str, Any], at: tuple[str, ...]
    ) -> BackendConfig | None:
        self.unknown_keys(table, _BACKEND_KEYS, at)
        errors_before = len(self.errors)
        kind = self.choice(table, "kind", at, BACKEND_KINDS) or "openai"
        base_url = self.string(table, "base_url", at)
        if base_url is not None and (problem := url_problem(base_url)) is not None:
            self.error((*at, "base_url"), problem)
        if base_url is None:
            base_url = {"llamacpp": LLAMACPP_BASE_URL, "anthropic": ANTHROPIC_BASE_URL}.get(
                kind, OPENAI_BASE_URL
            )
        api_key_env = self.string(table, "api_key_env", at)
        if api_key_env is not None and (problem := env_name_problem(api_key_env)) is not None:
            self.error((*at, "api_key_env"), problem)
        api_key = self.string(table, "api_key", at)
        model_file = self.string(table, "model_file", at)
        backend = BackendConfig(
            name=name,
            kind=cast(BackendKind, kind),
            base_url=base_url.strip().rstrip("/"),
            model=self.string(table, "model", at),
            api_key_env=api_key_env,
            # A pasted key often drags a newline along; no real key has outer spaces.
            api_key=Secret(api_key.strip()) if api_key is not None else None,
            max_tokens_field=cast(
                MaxTokensField | None, self.choice(table, "max_tokens_field", at, MAX_TOKENS_FIELDS)
            ),
            context_window=self.integer(table, "context_window", at, minimum=1),
            model_file=self.path(model_file) if model_file is not None else None,
            chat_template_file=self.chat_template_file(table, at, has_model=model_file is not None),
            stop=self.stop_strings(table, at),
            timeouts=self.timeouts(self.table(table, "timeouts", at), (*at, "timeouts")),
            fallback=self.names(table, "fallback", at),
            breaker=self.breaker(self.table(table, "breaker", at), (*at, "breaker")),
            vision=self.boolean(table, "vision", at),
        )
        return backend if len(self.errors) == errors_before else None

    def chat_template_file(
        self, table: Mapping[str, Any], at: tuple[str, ...], *, has_model: bool
    ) -> Path | None:
        value = self.string(table, "chat_template_file", at)
        if value is None:
            return None
        parts = (*at, "chat_template_file")
        if not has_model:
            self.error(
                parts,
                "only works with model_file: llmchat sets a template only on a llama-server "
                "it starts (for a server you run, start it with --chat-template-file)",
            )
            return None
        path = self.path(value)
        if not path.is_file():
            where = f" (relative paths start at {self.base_dir})" if self.base_dir else ""
            self.error(parts, f"no such file{where}")
            return None
        return path

    def stop_strings(self, table: Mapping[str, Any], at: tuple[str, ...]) -> tuple[str, ...]:
        if "stop" not in table:
            return ()
        value = table["stop"]
        parts = (*at, "stop")
        if not isinstance(value, list):
            self.error(parts, f"expected an array of strings, got {_describe(value)}")
            return ()
        if odd := [item for item in value if not isinstance(item, str)]:
            got = f"one holding {_describe(odd[0])}"
            self.error(parts, f"expected an array of strings, got {got}")
            return ()
        if any(not item for item in value):
            self.error(parts, "a stop string must not be empty")
            return ()
        return tuple(value)

    def names(self, table: Mapping[str, Any], key: str, at: tuple[str, ...]) -> tuple[str, ...]:
        """An array of names (checked against each other later)."""
        if key not in table:
            return ()
        value = table[key]
        parts = (*at, key)
        if not isinstance(value, list) or any(not isinstance(item, str) for item in value):
            got = _describe(value) if not isinstance(value, list) else "one holding another type"
            self.error(parts, f"expected an array of backend names, got {got}")
            return ()
        return tuple(value)

    def fallbacks(self, backends: Mapping[str, BackendConfig], tables: Mapping[str, Any]) -> None:
        """Each fallback names another configured backend, once."""
        for name, backend in backends.items():
            parts = ("backends", name, "fallback")
            seen: set[str] = set()
            for other in backend.fallback:
                if other == name:
                    self.error(parts, f"'{other}' is this backend itself; name others to try")
                elif other in seen:
                    self.error(parts, f"'{other}' is named twice")
                elif other not in tables:
                    configured = ", ".join(n for n in tables if n != name) or "none"
                    hint = difflib.get_close_matches(other, list(tables), n=1)
                    suffix = f"; did you mean '{hint[0]}'?" if hint else ""
                    self.error(
                        parts,
                        f"'{visible(other)}' is not a configured backend "
                        f"(others configured: {configured}){suffix}",
                    )
                elif isinstance(table := tables[other], dict) and "model_file" in table:
                    self.error(
                        parts,
                        f"'{visible(other)}' runs a llama-server llmchat starts (model_file); "
                        "a fallback must be a server that is already running (base_url)",
                    )
                seen.add(other)

    def path(self, value: str) -> Path:
        # Relative to the config file, not the cwd: the same file must mean the same
        # model wherever llmchat is started from.
        resolved = Path(value).expanduser()
        if not resolved.is_absolute() and self.base_dir is not None:
            resolved = self.base_dir / resolved
        return resolved


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a base URL, or None. Never echoes the URL: it may hold a key."""
    inner = url.strip()
    if "\n" in inner or "\t" in inner or visible(inner) != inner:
        # An escape sequence in LLMCHAT_BASE_URL: no server has such an address, and
        # the HTTP client would stop with a traceback.
        return "is not a valid URL (it holds a control character)"
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "has no host name"
    return None


def env_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an environment variable name, or None.

    The value is never echoed: a common mistake is pasting the key itself here.
    """
    looks_like_key = (
        len(name) >= 20 and any(c.islower() for c in name) and any(c.isdigit() for c in name)
    )
    if not _ENV_NAME.fullmatch(name) or looks_like_key:
        return (
            "must be the NAME of an environment variable (like OPENAI_API_KEY), not the key itself"
        )
    return None
