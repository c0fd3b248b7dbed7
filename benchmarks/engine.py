"""Figure 13: what the engine adds per stream event.

    python -m benchmarks.engine

A turn of 20,000 deltas runs through `ChatService` (planning, checkpoints every second,
folding, reporting each event to a front end that does nothing, saving to a real session
file), and the same events are folded by a bare `Turn` with no engine around it. The
difference per event is the engine's cost; the target is under 1 ms (issue 9). Medians
of 5 runs.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncGenerator
from pathlib import Path

from llmchat.core.conversation import Conversation
from llmchat.core.events import Delta, Finished, Started, StreamEvent, UsageReport
from llmchat.core.request import ChatRequest
from llmchat.core.turn import Turn
from llmchat.engine.chat_service import ChatService
from llmchat.engine.context_meter import ContextMeter
from llmchat.engine.events import EngineEvent
from llmchat.store import new_session

EVENTS = 20_000
RUNS = 5
TARGET_MS = 1.0


def events() -> list[StreamEvent]:
    stream: list[StreamEvent] = [Started("bench", "bench-model")]
    stream += [Delta(f"w{n} ") for n in range(EVENTS)]
    stream += [UsageReport(10, EVENTS), Finished("stop")]
    return stream


class _Gateway:
    """Hands the engine a ready stream: what is measured is the engine, not a network."""

    free = True
    """Nothing to price: the price list is not what is measured."""

    def __init__(self, stream: list[StreamEvent]) -> None:
        self._stream = stream

    def chain(self) -> tuple[_Gateway, ...]:
        return (self,)

    async def stream(
        self, request: ChatRequest, *, replan: object = None
    ) -> AsyncGenerator[StreamEvent, None]:
        for event in self._stream:
            yield event


async def through_engine(stream: list[StreamEvent], folder: Path) -> float:
    conversation = Conversation()
    sink = new_session(folder, conversation)
    gateway = _Gateway(stream)
    meter = ContextMeter(conversation, gateway, "bench-model")  # type: ignore[arg-type]
    service = ChatService(conversation, gateway, meter, model=lambda: "bench-model")  # type: ignore[arg-type]

    async def nothing(event: EngineEvent) -> None:
        return None

    started = time.perf_counter()
    await service.send("go", nothing)
    elapsed = time.perf_counter() - started
    sink.close()
    return elapsed


async def bare(stream: list[StreamEvent]) -> float:
    gateway = _Gateway(stream)
    turn = Turn(Conversation().params)
    started = time.perf_counter()
    async for event in gateway.stream(ChatRequest(messages=(), params=turn.params)):
        turn.feed(event)
    turn.to_message()
    return time.perf_counter() - started


def main() -> None:
    stream = events()
    engine, baseline = [], []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(RUNS):
            engine.append(asyncio.run(through_engine(stream, Path(folder))))
            baseline.append(asyncio.run(bare(stream)))
    extra_ms = (statistics.median(engine) - statistics.median(baseline)) * 1000 / len(stream)
    status = "met" if extra_ms < TARGET_MS else "MISSED"
    print(f"A turn of {len(stream):,} stream events, {RUNS} runs")
    print(
        f"  engine {statistics.median(engine):.3f} s, bare fold {statistics.median(baseline):.3f} s"
    )
    print(f"  13. engine cost per event: {extra_ms * 1000:.1f} µs  (target < 1 ms)  {status}")


if __name__ == "__main__":
    main()
