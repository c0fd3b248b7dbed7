"""What replies cost, on the chat screen: the price list, loaded once the app has been
idle a moment; each reply, priced after it is shown; the session's total."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from textual.timer import Timer
from textual.worker import WorkType

from llmchat.core.messages import Message, Role
from llmchat.core.model_info import context_window, reply_cost
from llmchat.engine.events import EngineEvent, SaveFailed
from llmchat.tui.widgets.reply_view import ReplyView
from llmchat.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from llmchat.tui.screens.chat import ChatScreen

PRICE_LIST_IDLE_S = 2.0


class ReplyCosts:
    """Prices for the chat screen (nothing is priced on a free backend)."""

    def __init__(self, chat: ChatScreen) -> None:
        self.chat = chat
        self._price_timer: Timer | None = None
        self._prices_loaded = False

    def reply_cost(self, message: Message) -> float | None:
        """A reply's dollars (the engine's pricer, asked only of replies that are not
        free), by the model that wrote it."""
        context = self.chat.context
        return reply_cost(message, model=context.model_name, free=False, overrides=context.pricing)

    def session_cost(self) -> tuple[float | None, bool]:
        """Dollars spent so far (None if a reply had no price), and whether any reply has
        been priced yet (no cost is shown before)."""
        messages = self.chat.conversation.messages
        costs = [m.cost_usd for m in messages if m.role is Role.ASSISTANT]
        known = [c for c in costs if c is not None]
        total = sum(known) if known or not costs else None
        return total, bool(costs)

    def _may_cost(self) -> bool:
        """Whether any backend of the chain may charge (a paid fallback behind a free
        local primary does)."""
        return not all(gateway.free for gateway in self.chat.context.gateway.chain())

    def schedule_price_list(self) -> None:
        # The price list (genai-prices, which brings pydantic) costs ~0.3 s of CPU to load;
        # loading it while the user sends would hold up the first token, so it waits
        # until the app has been idle for a moment.
        if self._prices_loaded or not self._may_cost():
            return
        if self._price_timer is not None:
            self._price_timer.stop()
        self._price_timer = self.chat.set_timer(PRICE_LIST_IDLE_S, self._load_price_list)

    def postpone_price_list(self) -> None:
        """The user is typing: a price list still to load waits for the next pause."""
        if not self._prices_loaded and self._price_timer is not None:
            self.schedule_price_list()

    def _load_price_list(self) -> None:
        # The method, not a coroutine: one superseded before it starts is never created.
        load: WorkType[None] = self._load
        self.chat.run_worker(
            load,
            name="load prices",
            group="prices",
            exclusive=True,
            exit_on_error=False,
            description="load prices",
        )

    async def _load(self) -> None:
        chat = self.chat
        if chat.streaming:
            self.schedule_price_list()
            return
        window = await asyncio.to_thread(context_window, chat.context.model_name)
        self._prices_loaded = True
        if chat.meter.window is None and window is not None:
            chat.meter.window = window
            await chat.gauge.measure()

    def price(self, message: Message, view: ReplyView) -> None:
        # Priced after the reply is on screen: the first lookup loads the price list
        # (~0.3 s of CPU), which must not hold up the last tokens.
        self.chat.run_worker(
            self._price(message, view),
            name="price",
            group="price",
            exit_on_error=False,
            description="price the reply",
        )

    async def _price(self, message: Message, view: ReplyView) -> None:
        cost = await self.chat.service.price(message, self._report)
        if cost is None:
            return
        view.refresh_meta()
        total, priced = self.session_cost()
        self.chat.query_one(StatusBar).show(session_cost=total, priced=priced)

    async def _report(self, event: EngineEvent) -> None:
        if isinstance(event, SaveFailed):
            self.chat._show_notice(event.reason, "error")
