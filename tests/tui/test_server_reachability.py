"""A server that is down when llmchat starts is found once it is up, and said to be down."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from llmchat.config import CliOverrides, Config
from llmchat.config.model import Timeouts
from llmchat.core.messages import Status
from llmchat.reconnect import BackendFlags
from llmchat.tui.widgets.status_bar import StatusBar
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import chat_app, cli_app, only_session, wait_for_reply

MODEL = "served-model-7b"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def send(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press(*text, "enter")


async def test_a_server_down_at_start_is_asked_for_its_model_once_it_is_up(home: Path) -> None:
    port = free_port()
    app = cli_app(BackendFlags(CliOverrides(base_url=f"http://127.0.0.1:{port}/v1")))
    async with app.run_test() as pilot:
        await pilot.pause()  # the first frame; then the server is asked what it is
        await app.workers.wait_for_complete()
        status = app.screen.query_one(StatusBar)
        assert status.facts.state == "server unreachable"
        await send(pilot, "anyone there?")
        await wait_for_reply(app)
        await pilot.pause()
        assert only_session().messages[-1].status is Status.ERROR
        assert status.facts.state == "server unreachable"
        with OpenAIServer(port=port, models=(MODEL,)) as server:
            server.push(Script(reply="Yes."))
            await send(pilot, "now?")
            await wait_for_reply(app)
            await pilot.pause()
            assert server.chat_requests[0].body["model"] == MODEL
            assert status.facts.model == MODEL
            assert status.facts.state != "server unreachable"
    reply = only_session().messages[-1]
    assert (reply.status, reply.model) == (Status.COMPLETE, MODEL)


@pytest.mark.family("limits")
async def test_a_slowloris_model_list_ends_the_send_with_a_clear_error(
    home: Path, server: OpenAIServer
) -> None:
    server.answer("/v1/models", Script(body={"data": []}, header_delay=0.05))  # ~5 s
    app = chat_app(server, config=Config(timeouts=Timeouts(first_token=0.5)))
    async with app.run_test() as pilot:
        await pilot.pause()
        await send(pilot, "hi")
        async with asyncio.timeout(4):  # the start-up question, then the send's own
            await wait_for_reply(app)
        await pilot.pause()
        status = app.screen.query_one(StatusBar)
        assert status.facts.state != "sending"
    reply = only_session().messages[-1]
    assert reply.status is Status.ERROR
    assert "no answer to GET /models" in (reply.error or "")
    assert server.chat_requests == []
