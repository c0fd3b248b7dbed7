"""Runs turns: the one place a message becomes a request, a stream and saved records.

The chat screen and `-p` both drive a `ChatService`, so what is sent, what is saved and
what is priced cannot drift between them. A front end calls `send` or `retry` and hears
of the turn through its reporter; `price` is separate, so a front end can show the reply
before the price list has loaded.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import replace
from typing import TypeVar

from llmchat.core.budget import DoesNotFit, RequestPlan, plan_request
from llmchat.core.checkpoints import ReplyCheckpoints
from llmchat.core.conversation import Conversation, PersistError
from llmchat.core.events import (
    ChatError,
    Delta,
    DialsFitted,
    ErrorKind,
    Failed,
    Finished,
    Probabilities,
    RawEvents,
    RequestSent,
    ServerTimings,
    StreamEvent,
    UsageReport,
)
from llmchat.core.messages import ImageRef, Message, Role, Status
from llmchat.core.params import SamplingParams
from llmchat.core.prompt_sent import PromptSent
from llmchat.core.request import ChatRequest, WireImage, WireMessage
from llmchat.core.structured import check_reply
from llmchat.core.token_probs import FLOOR, TokenProb
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
        self.prompts_sent: dict[str, PromptSent] = {}
        """What each reply's request held besides its thread (system prompt, history
        the window left out), by reply id, for the cache explainer: turns sent since
        the session was opened (the session file does not keep it)."""
        self.checkpoints: ReplyCheckpoints | None = None
        """The streaming reply's checkpoints: flush them before a signal ends the app."""
        self._interrupted = False
        self._replayed: dict[str, Gateway] = {}
        """Backends a reply was replayed on, by name (their replies are priced by them)."""
        self._told: set[str] = set()
        """Notes on fitted dials already told: a clamp is said once, not every turn."""
        self.probabilities = 0
        """Alternatives asked for per token, with their log-probabilities, in the next
        replies (`inspect: probabilities` turns them on); 0: none."""

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

    async def next_request(
        self, draft: str, images: tuple[WireImage, ...] = ()
    ) -> TurnRequest | str:
        """The request `send(draft, images=…)` would make now, planned and encoded by
        the same code, with nothing saved and nothing sent; or why it would be refused.
        `images`: the attached ones, with their bytes (nothing is kept for them)."""
        if images and (cannot := await self.gateway.image_refusal()) is not None:
            return f"Not sent: {cannot}."
        model = self._model()
        asked = WireMessage("user", draft, images)
        pending = (*self.conversation.build_request(model).messages, asked)
        # Counted in a thread: a draft of a megabyte takes a tokenizer a while, and the
        # UI asking must stay responsive.
        try:
            plan = await asyncio.to_thread(self._plan, pending)
        except DoesNotFit as exc:
            return await self._refusal(exc, draft)
        request = self.conversation.build_request(model, skip=plan.skip, max_tokens=plan.max_tokens)
        request = replace(
            request,
            messages=(*request.messages, asked),
            probabilities=self._asked_for(self.gateway),
        )
        prepared = await self.gateway.prepared(request)
        if isinstance(prepared, ChatError):
            return f"{self.gateway.name} cannot say what it would send: {prepared.one_line()}"
        planned = await asyncio.to_thread(self._planned, request, plan)
        return TurnRequest(planned, sent=(prepared,))

    def _planned(
        self,
        request: ChatRequest,
        plan: RequestPlan,
        params: SamplingParams | None = None,
        counter: TokenCounter | None = None,
    ) -> RequestPlanned:
        """`counter`: the target's, for a replay to another model (else the session's)."""
        counter = counter or self.meter.counter
        clipped = plan.max_tokens < (params or self.conversation.params).max_tokens
        count = counter.count_prompt(request.messages)
        return RequestPlanned(
            request, plan.skip, clipped, count.tokens, counter.tokenizer, count.exact
        )

    async def replay(
        self,
        reply: Message,
        report: Reporter,
        *,
        gateway: Gateway | None = None,
        params: SamplingParams | None = None,
    ) -> Message | None:
        """Ask the question `reply` answered again through `gateway` (another backend or
        model) and/or with `params` (a preset): the new reply is its sibling, the thread
        follows it, and it records the backend, model and dials that answered. The
        session's own backend and dials stay as they are for the next turn. The request
        is planned for the target's window. None if `reply` answers no user message."""
        asked = next((m for m in self.conversation.messages if m.id == reply.parent), None)
        if asked is None or asked.role is not Role.USER:
            return None
        target = gateway or self.gateway
        params = (params or self.conversation.params).in_range()
        before = self.conversation.position
        self.conversation.branch_from(asked.id)
        model = self._model() if target is self.gateway else target.model
        pending = self.conversation.build_request(model, params=params).messages
        counter = None if target is self.gateway else await _counter_for(target.model)
        try:
            plan = None
            if counter is not None:
                plan = await _plan_for(target, pending, params.max_tokens, counter, self.meter)
            if plan is None:
                # The session's own, or a window nobody knows: what the session's plan
                # leaves out is left out (the whole history could overflow it, and
                # bill for all of it), as for a fallback.
                plan = self._plan(pending, params.max_tokens)
        except DoesNotFit as exc:
            self.conversation.return_to(before)
            await report(Refused(f"Not replayed: too long for {target.name}: {exc}."))
            return None
        request = self.conversation.build_request(
            model, skip=plan.skip, max_tokens=plan.max_tokens, params=params
        )
        if target is not self.gateway:
            self._replayed[target.name] = target
        return await self._run(
            request,
            plan,
            asked.id,
            report,
            gateway=target,
            params=params,
            counter=counter,
            model=model,
        )

    async def resample(
        self, reply: Message, index: int, token: str, report: Reporter
    ) -> Message | None:
        """Let the model go on from `token` in place of the reply's token `index` (its
        own words before it kept): a new sibling of `reply`, continued by the backend
        from the same prompt (`Gateway.continue_reply`). None if `reply` has no
        probabilities there or answers no user message; a backend that cannot continue
        a reply ends the turn with a clear error."""
        cannot = self.cannot_resample(reply, index)
        probs = reply.probabilities
        if cannot is not None or probs is None or reply.parent is None:
            await report(Refused(f"Not resampled: {cannot}."))
            return None
        chosen = probs.tokens[index]
        kept = (*probs.tokens[:index], TokenProb(token, _logprob_of(chosen, token), chosen.top))
        start = "".join(t.token for t in kept)
        asked_id = reply.parent
        position = self.conversation.position
        self.conversation.branch_from(asked_id)
        model = self._model()
        pending = self.conversation.build_request(model).messages
        try:
            plan = self._plan(pending)
        except DoesNotFit as exc:
            self.conversation.return_to(position)
            await report(Refused(await self._refusal(exc, "")))
            return None
        request = self.conversation.build_request(model, skip=plan.skip, max_tokens=plan.max_tokens)

        def continued(request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
            events = self.gateway.continue_reply(
                request.messages,
                start,
                request.params,
                probabilities=request.probabilities,
                schema=request.schema,
            )
            return _starting_with(events, start, kept)

        return await self._run(
            request, plan, asked_id, report, stream=continued, resampled_at=index
        )

    def cannot_resample(self, reply: Message, index: int) -> str | None:
        """Why `reply` cannot be continued from its token `index`, or None if it can."""
        probs = reply.probabilities
        if probs is None or not 0 <= index < len(probs):
            return "the reply has no probabilities at that token"
        asked = next((m for m in self.conversation.messages if m.id == reply.parent), None)
        if asked is None or asked.role is not Role.USER:
            return "the reply answers no question of this session"
        before = "".join(t.token for t in probs.tokens[:index])
        if not reply.content.startswith(before):
            # Token texts that do not spell the reply (a character split across tokens,
            # a token cut short, rows of a hand-edited file skipped): continuing from
            # them would put words in the model's mouth it did not write.
            return (
                f"the reply's tokens up to token {index + 1} do not spell its text "
                "(a character split across tokens?); pick another token"
            )
        return None

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

    def _plan(self, pending: tuple[WireMessage, ...], max_tokens: int | None = None) -> RequestPlan:
        return plan_request(
            pending,
            self.meter.counter,
            max_tokens=self.conversation.params.max_tokens if max_tokens is None else max_tokens,
            window=self.meter.window,
            threshold=self.meter.threshold,
            truncation=self.meter.truncation,
        )

    async def _run(
        self,
        request: ChatRequest,
        plan: RequestPlan,
        parent: str,
        report: Reporter,
        *,
        stream: Callable[[ChatRequest], AsyncGenerator[StreamEvent, None]] | None = None,
        resampled_at: int | None = None,
        gateway: Gateway | None = None,
        params: SamplingParams | None = None,
        counter: TokenCounter | None = None,
        model: str | None = None,
    ) -> Message:
        """Stream the reply to `request` (by default through the gateway's retries and
        fallbacks; `stream` for another way of asking, as resampling does), saving and
        reporting it as it comes. `gateway`, `params`, `counter` and `model`: a
        replay's, when they are not the session's."""
        asking_at = gateway or self.gateway
        request = replace(request, probabilities=self._asked_for(asking_at))
        planned = self._planned(request, plan, params, counter)
        self.last_request = TurnRequest(planned)
        await report(planned)
        turn = self.turn = Turn(
            params or self.conversation.params,
            parent=parent,
            asked_alternatives=request.probabilities,
        )
        if gateway is not None:
            # Where it went, even if it fails before `Started` says who answered.
            turn.backend, turn.model = gateway.name, model or gateway.model
        turn.resampled_at = resampled_at
        # Saved as it streams (about once a second, only the new text): a crash or
        # kill -9 loses at most a second of it.
        saving = self.checkpoints = ReplyCheckpoints(self.conversation, parent)
        try:
            if stream is not None:
                asking = stream(request)
            else:
                # A replay goes where it was sent, its fallbacks asked the same request.
                replan = self._replanner(request, plan, parent) if gateway is None else None
                asking = asking_at.stream(request, replan=replan)
            async with aclosing(asking) as events:
                async for event in events:
                    if isinstance(event, RequestSent):
                        self.last_request = self.last_request.with_sent(event)
                    elif isinstance(event, DialsFitted | RawEvents | UsageReport | ServerTimings):
                        self.last_request = self.last_request.with_reply_event(event)
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
        await self._save(lambda: saving.finish(message), report)  # gives it its id
        if self.last_request is not None:  # the plan the reply answered (a fallback's own)
            self.prompts_sent[message.id] = _prompt_sent(self.last_request.planned)
        self.checkpoints = None
        if self.last_request is not None:
            self.last_request = replace(self.last_request, reply=message)
        checked = None
        if request.schema is not None and message.status is Status.COMPLETE:
            checked = check_reply(message.content, request.schema)
        await report(ReplyEnded(message, checked))
        return message

    def _asked_for(self, gateway: Gateway) -> int:
        """The alternatives to ask `gateway` for: none from a backend that gives none."""
        return self.probabilities if gateway.capabilities.logprobs else 0

    def _free(self, message: Message) -> bool:
        """Whether the backend that wrote `message` charges nothing for it: a reply from
        a fallback is priced by the fallback (a paid one behind a free local primary
        costs money)."""
        for gateway in (*self.gateway.chain()[1:], *self._replayed.values()):
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
            request = replace(
                request,
                model=None,
                schema=first.schema,
                probabilities=self._asked_for(gateway),
            )
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


def _logprob_of(at: TokenProb, token: str) -> float:
    """The log-probability the model gave `token` at this position (its own pick's, or
    an alternative's); the floor if it was not among those returned."""
    if token == at.token:
        return at.logprob
    return next((a.logprob for a in at.top if a.token == token), FLOOR)


async def _starting_with(
    events: AsyncGenerator[StreamEvent, None], start: str, kept: tuple[TokenProb, ...]
) -> AsyncGenerator[StreamEvent, None]:
    """A continuation's events with the text it continues (and its probabilities) put
    before its first words, so the reply is shown, checkpointed and saved whole; the
    time to first token stays the continuation's own."""
    pending = True
    async with aclosing(events) as stream:
        async for event in stream:
            # Not before a failure: a continuation that never came is no reply.
            if pending and isinstance(event, Delta | Finished):
                pending = False
                yield Delta(start)
                yield Probabilities(kept)
            yield event


def _prompt_sent(planned: RequestPlanned) -> PromptSent:
    first = planned.request.messages[0] if planned.request.messages else None
    system = first.content if first is not None and first.role == "system" else ""
    return PromptSent(system, planned.skipped)


def _listed_window(gateway: Gateway) -> int | None:
    """The model table's window for a fallback's model (loads the price list)."""
    from llmchat.core.model_info import context_window

    return context_window(gateway.model)


async def _plan_for(
    gateway: Gateway,
    pending: tuple[WireMessage, ...],
    max_tokens: int,
    counter: TokenCounter,
    meter: ContextMeter,
) -> RequestPlan | None:
    """The plan for another backend than the session's: its window (config, server or
    model table), its model's `counter`; None when nobody knows its window. Raises
    DoesNotFit."""
    told = await gateway.context_window()
    window = told.tokens if told else await asyncio.to_thread(_listed_window, gateway)
    if window is None:
        return None
    return plan_request(
        pending, counter, max_tokens=max_tokens, window=window, threshold=meter.threshold
    )


async def _counter_for(model: str) -> TokenCounter:
    """tiktoken for an OpenAI model (loaded in a thread), an estimate otherwise."""
    encoding = encoding_name_for(model)
    encoder = await asyncio.to_thread(load_encoder, encoding) if encoding else None
    return TokenCounter(encoder, encoding)
