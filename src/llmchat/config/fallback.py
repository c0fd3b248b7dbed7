"""The backends a resolved backend falls back to, resolved like it but from the file.

A fallback is named in the config (``fallback = ["local", "anthropic"]``), so it is
resolved from its own table and the environment's keys only: ``--model``,
``--base-url`` and the ``LLMCHAT_*`` overrides are meant for the backend picked for the
run, not for the ones behind it. The secret rule holds as for any backend.
"""

from __future__ import annotations

from collections.abc import Mapping

from llmchat.config.errors import ResolutionError
from llmchat.config.model import Config
from llmchat.config.resolve import (
    ENV_BACKEND,
    ENV_BASE_URL,
    ENV_MODEL,
    CliOverrides,
    ResolvedBackend,
    resolve_backend,
)

_RUN_ONLY = (ENV_BACKEND, ENV_BASE_URL, ENV_MODEL)


def resolve_fallbacks(
    config: Config, env: Mapping[str, str], primary: ResolvedBackend
) -> tuple[tuple[ResolvedBackend, ...], tuple[str, ...]]:
    """The fallback chain of `primary`, in order, and notices about it (a key that is
    not set, a fallback that cannot be used)."""
    table = config.backends.get(primary.name)
    if primary.implicit or table is None:
        return (), ()
    own_env = {name: value for name, value in env.items() if name not in _RUN_ONLY}
    chain: list[ResolvedBackend] = []
    notices: list[str] = []
    for name in table.fallback:
        other = config.backends.get(name)
        if other is None or other.model_file is not None:
            continue  # the config reported it
        try:
            resolution = resolve_backend(config, own_env, CliOverrides(backend=name))
        except ResolutionError as exc:
            notices.append(f"fallback '{name}' of '{primary.name}' is not used: {exc}")
            continue
        if resolution.backend is not None:
            chain.append(resolution.backend)
            notices.extend(resolution.notices)
    return tuple(chain), tuple(notices)
