"""Runs turns: the one place a message becomes a request, a stream and saved records.

The chat screen and `-p` both drive a `ChatService`, so what is sent, what is saved and
what is priced cannot drift between them. A front end calls `send` or `retry` and hears
of the turn through its reporter; `price` is separate, so a front end can show the reply
before the price list has loaded.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import replace
from typing import TypeVar

from llmchat.core.budget import DoesNotFit, RequestPlan, plan_request
from llmchat.core.checkpoints import ReplyCheckpoints
from llmchat.core.conversation import Conversation, PersistError
from llmchat.core.events import ChatError, Delta, DialsFitted, ErrorKind, Failed, RequestSent
from llmchat.core.messages import ImageRef, Message, Role, Status
from llmchat.core.request import ChatRequest, WireImage, WireMessage
from llmchat.core.structured import check_reply
from llmchat.core.tokens import TokenCounter, encoding_name_for, load_encoder
from llmchat.core.turn import Turn
from llmchat.engine.context_meter import ContextMeter
from llmchat.engine.events import (
    OutputLost,
    Refused,
    ReplyEnded,
    Reporter,
    RequestPlanned,
    SaveFailed,
    UserAdded,
)
from llmchat.engine.turn_request import TurnRequest
from llmchat.gateway.gateway import Gateway, Replan

Pricer = Callable[[Message], float | None]


def _gist(note: str) -> str:
    """A note without its "(remembered)": the next turn's note on the same dial says
    the same thing without it."""
    return note.rsplit(" (", 1)[0] if note.endswith(")") else note


T = TypeVar("T")


class ChatService:
    def __init__(
        self,
        conversation: Conversation,
        gateway: Gateway,
        meter: ContextMeter,
        *,
        model: Callable[[], str],
        pricer: Pricer | None = None,
    ) -> None:
        self.conversation = conversation
        self.gateway = gateway
        self.meter = meter
        """The window and the token counter the plan is made with (the gauge's own)."""
        self._model = model
        self._pricer = pricer
        self.turn: Turn | None = None
        """The reply in progress (its speed and counts, for a status line)."""
        self.last_request: TurnRequest | None = None
        """The last turn's request: as planned (and what it left out), and each body the
        backend sent for it."""
        self.checkpoints: ReplyCheckpoints | None = None
        """The streaming reply's checkpoints: flush them before a signal ends the app."""
        self._interrupted = False
        self._told: set[str] = set()
        """Notes on fitted dials already told: a clamp is said once, not every turn."""

    def interrupt(self) -> None:
        """llmchat is being stopped (a signal): the reply being cancelled next is saved
        as interrupted, not as cancelled by the user."""
        self._interrupted = True
        if self.checkpoints is not None:
            self.checkpoints.flush()

    # -- turns -----------------------------------------------------------------------

    async def send(
        self,
        text: str,
        report: Reporter,
        *,
        images: tuple[ImageRef, ...] = (),
        title: str | None = None,
    ) -> Message | None:
        """Send `text` (with `images`, already in the image folder) as the next user
        message; returns the reply (None if refused). `title` titles a new session
        instead of `text` (the words typed, without the attached files)."""
        if images and (cannot := await self.gateway.image_refusal()) is not None:
            await report(Refused(f"Not sent: {cannot}."))
            return None
        model = self._model()
        # The plan counts images by number, not by their bytes: none are read for it.
        unread = tuple(WireImage(ref.media_type, b"") for ref in images)
        pending = (
            *self.conversation.build_request(model).messages,
            WireMessage("user", text, unread),
        )
        try:
            plan = self._plan(pending)
        except DoesNotFit as exc:
            # Refused before anything is saved; the front end keeps the text.
            await report(Refused(await self._refusal(exc, text)))
            return None
        counter = self.meter.counter
        tokens = counter.count_message(pending[-1])
        user = await self._save(
            lambda: self.conversation.add_user(
                text, tokens=tokens, tokenizer=counter.tokenizer, images=images, title=title
            ),
            report,
        )
        if user is None:
            user = self.conversation.messages[-1]
        await report(UserAdded(user))
        request = self.conversation.build_request(model, skip=plan.skip, max_tokens=plan.max_tokens)
        return await self._run(request, plan, user.id, report)

    async def retry(self, report: Reporter) -> Message | None:
        """Ask the last question again after a reply that did not complete, planned
        against the window like any request. None if there is nothing to retry."""
        asked = self.conversation.retry_point()
        if asked is None:
            return None
        model = self._model()
        pending = self.conversation.build_request(model, upto=asked.id).messages
        try:
            plan = self._plan(pending)
        except DoesNotFit as exc:
            await report(Refused(await self._refusal(exc, "")))
            return None
        request = self.conversation.build_request(
            model, upto=asked.id, skip=plan.skip, max_tokens=plan.max_tokens
        )
        return await self._run(request, plan, asked.id, report)

    async def edit(self, message: Message, text: str, report: Reporter) -> Message | None:
        """Send `text` in place of the user message `message`: a new branch from its
        parent; the original branch stays. If it is refused, nothing changes."""
        before = self.conversation.position
        self.conversation.branch_from(message.parent)
        reply = await self.send(text, report)
        if reply is None:  # refused: nothing was added
            self.conversation.return_to(before)
        return reply

    async def regenerate(self, reply: Message, report: Reporter) -> Message | None:
        """Ask the question `reply` answered again: the new reply is its sibling, and the
        thread follows it. None if `reply` answers no user message."""
        asked = next((m for m in self.conversation.messages if m.id == reply.parent), None)
        if asked is None or asked.role is not Role.USER:
            return None
        before = self.conversation.position
        self.conversation.branch_from(asked.id)
        model = self._model()
        pending = self.conversation.build_request(model).messages
        try:
            plan = self._plan(pending)
        except DoesNotFit as exc:
            self.conversation.return_to(before)
            await report(Refused(await self._refusal(exc, "")))
            return None
        request = self.conversation.build_request(model, skip=plan.skip, max_tokens=plan.max_tokens)
        return await self._run(request, plan, asked.id, report)

    async def _refusal(self, exc: DoesNotFit, draft: str) -> str:
        """Why it was not sent, in the gauge's own figures (the server's exact count where
        it gives one), so the note and the gauge never disagree."""
        window = self.meter.window
        try:
            budget = await self.meter.measure(draft)
        except Exception:  # a server that cannot count now: the plan's own figures
            return f"Not sent: {exc}."
        if not window:
            return f"Not sent: {exc}."
        approx = "" if budget.exact else "≈"
        part = f"the message is {approx}{budget.draft:,} tokens" if draft else "the question"
        return (
            f"Not sent: {part}; with the system prompt and the smallest reply it needs "
            f"more than the {exc.limit:,} tokens that may be used "
            f"({self.meter.threshold:.0%} of the {window:,}-token window)."
        )

    def _plan(self, pending: tuple[WireMessage, ...]) -> RequestPlan:
        return plan_request(
            pending,
            self.meter.counter,
            max_tokens=self.conversation.params.max_tokens,
            window=self.meter.window,
            threshold=self.meter.threshold,
            truncation=self.meter.truncation,
        )

    async def _run(
        self, request: ChatRequest, plan: RequestPlan, parent: str, report: Reporter
    ) -> Message:
        planned = RequestPlanned(
            request, plan.skip, plan.max_tokens < self.conversation.params.max_tokens
        )
        self.last_request = TurnRequest(planned)
        await report(planned)
        turn = self.turn = Turn(self.conversation.params, parent=parent)
        # Saved as it streams (about once a second, only the new text): a crash or
        # kill -9 loses at most a second of it.
        saving = self.checkpoints = ReplyCheckpoints(self.conversation, parent)
        try:
            replan = self._replanner(request, plan, parent)
            async with aclosing(self.gateway.stream(request, replan=replan)) as events:
                async for event in events:
                    if isinstance(event, RequestSent):
                        self.last_request = self.last_request.with_sent(event)
                    if isinstance(event, DialsFitted):
                        untold = tuple(n for n in event.notes if _gist(n) not in self._told)
                        self._told.update(_gist(n) for n in untold)
                        event = replace(event, notes=untold)
                    turn.feed(event)
                    if isinstance(event, Delta):
                        saving.add(event.text)
                    await report(event)
                    if turn.done:
                        break
        except asyncio.CancelledError:
            # Esc (or a signal): what was shown is kept, marked cancelled, and reported
            # before the cancellation goes on.
            turn.cancel()
            await self._finish(turn, request, saving, report)
            raise
        except OutputLost as lost:
            # Nobody reads the rest (-p's stdout closed or full): leaving the `async
            # with` closed the stream, so the server stops; what came is kept.
            turn.cancel()
            return await self._finish(turn, request, saving, report, lost=lost.reason)
        if not turn.done:
            # The gateway always ends with Finished or Failed; if it did not, say so.
            turn.feed(Failed(ChatError(ErrorKind.INCOMPLETE, "the stream ended without a finish")))
        return await self._finish(turn, request, saving, report)

    async def _finish(
        self,
        turn: Turn,
        request: ChatRequest,
        saving: ReplyCheckpoints,
        report: Reporter,
        *,
        lost: str | None = None,
    ) -> Message:
        message = turn.to_message()
        if (self._interrupted or lost) and message.status is Status.CANCELLED:
            message.status = Status.INTERRUPTED
            message.error = lost
        message.cost_usd = 0.0 if self._free(message) else None
        await self._save(lambda: saving.finish(message), report)
        self.checkpoints = None
        checked = None
        if request.schema is not None and message.status is Status.COMPLETE:
            checked = check_reply(message.content, request.schema)
        await report(ReplyEnded(message, checked))
        return message

    def _free(self, message: Message) -> bool:
        """Whether the backend that wrote `message` charges nothing for it: a reply from
        a fallback is priced by the fallback (a paid one behind a free local primary
        costs money)."""
        for gateway in self.gateway.chain()[1:]:
            if message.backend is not None and message.backend == gateway.name:
                return gateway.free
        return self.gateway.free

    def _replanner(self, first: ChatRequest, first_plan: RequestPlan, upto: str) -> Replan:
        """Plans the turn again for a fallback: its window (config, server or model
        table) and its model, with the history up to `upto` as the first plan had it.
        A fallback whose window nobody knows gets what the first plan left out left
        out too: the whole history could overflow it (and bill for all of it)."""

        async def replan(gateway: Gateway) -> ChatRequest | ChatError:
            told = await gateway.context_window()
            window = told.tokens if told else await asyncio.to_thread(_listed_window, gateway)
            if window is None:
                plan = first_plan
            else:
                counter = await _counter_for(gateway.model)
                pending = self.conversation.build_request(gateway.model, upto=upto).messages
                try:
                    plan = plan_request(
                        pending,
                        counter,
                        max_tokens=self.conversation.params.max_tokens,
                        window=window,
                        threshold=self.meter.threshold,
                        truncation=self.meter.truncation,
                    )
                except DoesNotFit as exc:
                    reason = f"too long for {gateway.name}: {exc}"
                    return ChatError(ErrorKind.CONTEXT_OVERFLOW, reason)
            request = self.conversation.build_request(
                upto=upto, skip=plan.skip, max_tokens=plan.max_tokens
            )
            request = replace(request, model=None, schema=first.schema)
            clipped = plan.max_tokens < self.conversation.params.max_tokens
            if self.last_request is not None:
                self.last_request = self.last_request.replanned(
                    RequestPlanned(request, plan.skip, clipped)
                )
            return request

        return replan

    async def price(self, message: Message, report: Reporter) -> float | None:
        """The reply's cost, saved as a `cost` record. Loads the price list the first
        time (~0.3 s of CPU), in a thread."""
        if self._free(message) or self._pricer is None or message.usage is None:
            return None
        try:
            cost = await asyncio.to_thread(self._pricer, message)
        except Exception:
            # A price list or override that chokes on odd counts must never cost the
            # reply (already saved) or the run: its price just stays unknown.
            return None
        if cost is not None and not math.isfinite(cost):
            return None
        if cost is not None:
            await self._save(lambda: self.conversation.set_cost(message, cost), report)
        return cost

    async def _save(self, write: Callable[[], T], report: Reporter) -> T | None:
        """A conversation change; a failed write is reported but loses nothing."""
        try:
            return write()
        except PersistError as exc:
            await report(SaveFailed(str(exc)))
            return None


def _listed_window(gateway: Gateway) -> int | None:
    """The model table's window for a fallback's model (loads the price list)."""
    from llmchat.core.model_info import context_window

    return context_window(gateway.model)


async def _counter_for(model: str) -> TokenCounter:
    """tiktoken for an OpenAI model (loaded in a thread), an estimate otherwise."""
    encoding = encoding_name_for(model)
    encoder = await asyncio.to_thread(load_encoder, encoding) if encoding else None
    return TokenCounter(encoder, encoding)
