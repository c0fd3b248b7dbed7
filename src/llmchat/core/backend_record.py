"""Where a session talks to, as its session file records it: nothing secret in it.

A reopened session reconnects to the backend it was using. The record names that backend
(its config name and wire protocol), the API's base URL and the model, or, for a
llama-server that llmchat starts itself, the model file (its port is random, so not worth
keeping). A key is never part of it, and a URL loses its user:password and every query
value that looks like a token before it is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmchat.core.secrets import url_secrets, url_without_secrets

__all__ = ["BackendRecord", "url_without_secrets"]


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

    def __post_init__(self) -> None:
        # However it was made (a config, a session file edited by hand or written by an
        # older llmchat), a record keeps no secret of its URL, to store or to show.
        if self.base_url and url_secrets(self.base_url):
            object.__setattr__(self, "base_url", url_without_secrets(self.base_url) or None)

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
