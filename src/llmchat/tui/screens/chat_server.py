"""What the chat screen knows of the server: the HTTP client is built after the first
frame, the server is asked what it is (its model, window and tokenizer, which the gauge
then measures with), and the status bar says whether it can be reached.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from llmchat.core.request import SERVER_DEFAULT_MODEL
from llmchat.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from llmchat.tui.screens.chat import ChatScreen


class ServerWatch:
    """The chat screen's view of the server: asked once the screen is up, and again
    after a turn if it could not be reached."""

    def __init__(self, chat: ChatScreen) -> None:
        self.chat = chat
        self._measured_with_server = False

    def prepare(self) -> None:
        self.chat.run_worker(
            self._prepare(),
            name="prepare",
            group="prepare",
            exit_on_error=False,
            description="build the HTTP client and ask the server what it is",
        )

    def prepare_again(self) -> None:
        """The chat switched backends: ask the new server and measure with it."""
        self._measured_with_server = False
        self.prepare()

    async def _prepare(self) -> None:
        # Importing httpx and building its client (an SSL context) costs 50–100 ms: done
        # after the first frame, in a thread, so neither start-up nor the first send waits.
        # So is the price list (pydantic), which the end of the first turn needs.
        from llmchat.tui.widgets.reply_markdown import warm_up

        gateway = self.chat.context.gateway

        async def learn() -> None:
            # The server is asked as soon as the client exists, not after the renderer
            # has warmed up: a first send waits for this answer (its model name).
            await asyncio.to_thread(gateway.prepare)
            await self._learn()

        await asyncio.gather(learn(), asyncio.to_thread(warm_up))
        self.chat.costs.schedule_price_list()

    async def _learn(self) -> None:
        """Ask the server what it is (again, if it could not be reached before), then
        show it and measure with what it said (its model's tokenizer, its window)."""
        gateway = self.chat.context.gateway
        await gateway.discover()
        self._show()
        if not self._measured_with_server:
            self._measured_with_server = gateway.discovered
            await self.chat.meter.prepare()
            await self.chat.gauge.measure()

    def _show(self) -> None:
        """The model the server named and whether it can be reached, in the status bar."""
        chat = self.chat
        gateway = chat.context.gateway
        if gateway.discovered and chat.context.model_name == SERVER_DEFAULT_MODEL:
            # The server named its model: requests, prices and counts use the real name.
            chat.context.model_name = chat.meter.model = gateway.model
        if chat.streaming:
            return
        status = chat.query_one(StatusBar)
        if gateway.unreachable is not None:
            status.show(model=gateway.model, state="server unreachable")
        elif status.facts.state == "server unreachable":
            status.show(model=gateway.model, state="ready")
        else:
            status.show(model=gateway.model)

    def check_again(self) -> None:
        """After a turn: a server that went away (or was never reached) is asked again."""
        if self._measured_with_server and self.chat.context.gateway.unreachable is None:
            self._show()
            return
        self.chat.run_worker(
            self._learn(),
            name="prepare",
            group="prepare",
            exit_on_error=False,
            description="ask the server what it is",
        )
