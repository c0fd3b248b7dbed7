"""Shared fixtures: a loopback OpenAI-compatible server and a private llmchat home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support.openai_server import OpenAIServer

pytest_plugins = ["tests.families"]

# Property tests check what holds, never how fast: on a loaded 2-core machine (CI runs
# beside a llama-server) a per-example deadline only makes them flaky.
settings.register_profile("llmchat", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("llmchat")


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as running:
        yield running


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every llmchat directory under a temporary folder; no keys from the real environment."""
    root = tmp_path / "home"
    monkeypatch.setenv("LLMCHAT_HOME", str(root))
    monkeypatch.delenv("LLMCHAT_CONFIG", raising=False)
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "LLMCHAT_BACKEND",
        "LLMCHAT_MODEL",
        "LLMCHAT_BASE_URL",
        "LLMCHAT_SYSTEM",
    ):
        monkeypatch.delenv(name, raising=False)
    return root
