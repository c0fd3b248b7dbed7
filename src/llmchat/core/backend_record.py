"""Where a session talks to, as its session file records it: nothing secret in it.

A reopened session reconnects to the backend it was using. The record names that backend
(its config name and wire protocol), the API's base URL and the model, or, for a
llama-server that llmchat starts itself, the model file (its port is random, so not worth
keeping). A key is never part of it, and a URL loses its user:password and every query
value that looks like a token before it is recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameter names that carry credentials on some hosts (`?key=`, `?api-key=`,
# `?access_token=`, signed URLs' `sig=`), compared without case, `-` or `_`.
_SECRET_NAMES = re.compile(
    r"key|token|secret|passw|pwd|auth|sig|credential|session|bearer|jwt", re.IGNORECASE
)
# A value is token-like if it holds a long unbroken run of letters and digits: keys,
# JWTs, signatures. `2024-02-15-preview` (an api-version) has no such run.
_LONG_RUN = re.compile(r"[A-Za-z0-9]{16,}")


def url_without_secrets(url: str) -> str:
    """`url` without user:password, token-like query values or a fragment."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""  # not a URL we could use; nothing of it is worth keeping
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    netloc = host if port is None else f"{host}:{port}"
    kept = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if not _looks_secret(name, value)
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(kept), ""))


def _looks_secret(name: str, value: str) -> bool:
    if _SECRET_NAMES.search(name.replace("-", "").replace("_", "")):
        return True
    return any(any(c.isdigit() for c in run) or len(run) >= 24 for run in _LONG_RUN.findall(value))


@dataclass(frozen=True, slots=True)
class BackendRecord:
    """The backend a session used, as its header (and `backend` records) say."""

    name: str | None = None
    """The user's name for it (`[backends.NAME]`, `openai` for OPENAI_* variables,
    `local` for `--model-file`, `bundled` for the model of the `local` extra)."""
    kind: str | None = None
    """Wire protocol: `openai` or `llamacpp`."""
    base_url: str | None = None
    """The API root, without secrets. None for a llama-server llmchat starts."""
    model: str | None = None
    """The model asked for (`default`: whatever the server serves)."""
    model_file: str | None = None
    """The GGUF file of a llama-server llmchat starts."""

    @classmethod
    def for_server(
        cls,
        name: str,
        kind: str,
        base_url: str,
        model: str,
        model_file: str | None = None,
    ) -> BackendRecord:
        """The record of a backend as configured; the URL is cleaned of secrets here."""
        if model_file is not None:
            return cls(name, kind, None, model, model_file)
        return cls(name, kind, url_without_secrets(base_url) or None, model, None)

    @property
    def place(self) -> tuple[str | None, str | None, str | None]:
        """Name, URL and model file: what decides which server a request goes to."""
        return self.name, self.base_url, self.model_file

    @property
    def usable(self) -> bool:
        """Whether there is anything to reconnect to (older files record only a name)."""
        return bool(self.base_url or self.model_file or self.name)
