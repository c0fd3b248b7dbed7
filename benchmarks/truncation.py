"""Figure 18: prompt tokens a real llama-server processes over a 40-turn chat in a small
window, with old turns left out one at a time and a block at a time (issue 13).

    python -m benchmarks.truncation [--turns 40] [--window 1024] [--max-tokens 32]

(About 12 minutes on a busy two-core machine, most of it the one-at-a-time chat;
`--window 512 --max-tokens 16` takes about 8.)

The suite's llama-server (`benchmarks.llama.llama_server`: the bundled Gemma 3 270M, one
slot, `-c 2048`) answers the same 40 questions twice through llmchat's engine
(`ChatService`, as the app and `-p` run a turn: planned against the window, streamed, the
server's timings folded into the reply), once with `context_truncation = "oldest"` and
once with `"chunked"`, at temperature 0 with a short reply (`max_tokens` 32). llmchat's
window is `--window` (1,024 tokens, as `context_window = 1024` in the config would set
it), so the chat outgrows it after about ten turns and each policy leaves turns out for
the rest. Each chat has a llama-server of its own (started afresh: erasing the slot
does not empty the server's in-memory prompt cache, `--cache-ram`, and the first
chat's prompts would serve the second's), so both start cold.

The figure is the sum over the turns of the prompt tokens the server *processed*
(llama.cpp's `timings.prompt_n`, stored as the reply's `prefill_tokens`), i.e. not served
from its KV cache (`timings.cache_n`, `cache_tokens`). Printed beside it: the prompt
tokens sent, the share reused, the server's prefill time (noisy on a shared machine) and
how many turns moved the start of the prompt. Only counts are compared: they do not
depend on the machine's load. The target is "fewer with chunked".

Why the server's window is larger than llmchat's: for a model without a tokenizer on
this side (Gemma here), the plan counts with llmchat's estimate (about four characters a
token), and this chat's real prompts are about 1.6 times that; `-c 1024` would refuse the
fuller requests of both runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path

from benchmarks.llama import ALIAS, LlamaUnavailable, erase_slot, llama_server
from benchmarks.machine import BUSY_WARNING, OthersMeter, process_cpu, wait_for_quiet
from llmchat.backends.llamacpp import LlamaCppBackend
from llmchat.core.budget import Truncation
from llmchat.core.conversation import Conversation
from llmchat.core.messages import Status
from llmchat.core.params import SamplingParams
from llmchat.engine.chat_service import ChatService
from llmchat.engine.context_meter import ContextMeter
from llmchat.engine.events import EngineEvent
from llmchat.gateway.gateway import Gateway

TURNS = 40
WINDOW = 1024
MAX_TOKENS = 32
SYSTEM = "You are a helpful assistant. Answer in one or two short sentences."
TOPICS = (
    "lighthouses",
    "the tides",
    "sourdough bread",
    "the moon",
    "honey bees",
    "glaciers",
    "jazz",
    "volcanoes",
    "the printing press",
    "octopuses",
    "chess openings",
    "rainforests",
    "the Roman roads",
)
RESULTS = Path(__file__).parent / "results"


def question(n: int) -> str:
    return f"Question {n + 1}: tell me one surprising fact about {TOPICS[n % len(TOPICS)]}."


@dataclass
class ChatRun:
    truncation: str
    processed: int = 0
    """Prompt tokens the server processed (`prompt_n`), summed over the turns."""
    reused: int = 0
    """Prompt tokens served from its KV cache (`cache_n`)."""
    prefill_ms: float = 0.0
    moves: int = 0
    """Turns whose request started at another message than the turn before's."""
    failed: int = 0
    wall_s: float = 0.0
    skipped: list[int] = field(default_factory=list)
    """Per turn: the history messages the request left out."""
    processed_per_turn: list[int] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return self.processed + self.reused


async def chat(
    base_url: str, truncation: Truncation, turns: int, window: int, max_tokens: int
) -> ChatRun:
    gateway = Gateway(LlamaCppBackend("bench", base_url, ALIAS))
    params = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=max_tokens)
    conversation = Conversation(params=params)
    conversation.set_system(SYSTEM)
    meter = ContextMeter(
        conversation, gateway, ALIAS, configured_window=window, truncation=truncation
    )
    await meter.prepare()
    service = ChatService(conversation, gateway, meter, model=lambda: ALIAS)
    run = ChatRun(truncation)

    async def ignore(event: EngineEvent) -> None:
        return None

    started = time.monotonic()
    try:
        for n in range(turns):
            reply = await service.send(question(n), ignore)
            assert service.last_request is not None
            run.skipped.append(service.last_request.planned.skipped)
            timing = reply.timing if reply is not None else None
            if reply is None or reply.status is not Status.COMPLETE or timing is None:
                run.failed += 1
                run.processed_per_turn.append(0)
                continue
            run.processed += timing.prefill_tokens or 0
            run.reused += timing.cache_tokens or 0
            run.prefill_ms += timing.prefill_ms or 0.0
            run.processed_per_turn.append(timing.prefill_tokens or 0)
    finally:
        await gateway.aclose()
    run.wall_s = time.monotonic() - started
    run.moves = sum(1 for a, b in pairwise(run.skipped) if a != b)
    return run


def show(run: ChatRun) -> str:
    share = run.reused / run.sent if run.sent else 0.0
    return (
        f"  {run.truncation:<8} processed {run.processed:>7,}  sent {run.sent:>7,}  "
        f"reused {share:>4.0%}  prefill {run.prefill_ms / 1000:>5.1f} s  "
        f"start moved on {run.moves:>2} turns  left out at the end {run.skipped[-1]:>3}"
        + (f"  FAILED TURNS {run.failed}" if run.failed else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.truncation")
    parser.add_argument("--turns", type=int, default=TURNS)
    parser.add_argument("--window", type=int, default=WINDOW)
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS)
    args = parser.parse_args()
    busy = wait_for_quiet(30)
    if busy is not None and busy > BUSY_WARNING:
        print(f"Note: other programs use {busy:.0%} of the CPUs (counts are unaffected).")
    runs: list[ChatRun] = []
    shares: list[float] = []
    policies: tuple[Truncation, ...] = ("oldest", "chunked")
    for truncation in policies:
        # A server of its own for each chat: llama-server keeps earlier prompts in memory
        # beside the slot (`--cache-ram`, which erasing the slot does not empty), and
        # the first chat's prompts would serve the second's.
        with tempfile.TemporaryDirectory() as folder:
            try:
                with llama_server(Path(folder)) as server:
                    others = OthersMeter(ours=lambda: process_cpu(server.pid))
                    others.start()
                    erase_slot(server.root_url)  # the warm-up's prompt
                    chatting = chat(
                        server.base_url, truncation, args.turns, args.window, args.max_tokens
                    )
                    runs.append(asyncio.run(chatting))
                    shares.append(others.share() or 0.0)
            except LlamaUnavailable as exc:
                print(f"Skipped figure 18 (llama-server): {exc}")
                return
    share = max(shares)
    oldest, chunked = runs
    saved = 1 - chunked.processed / oldest.processed if oldest.processed else 0.0
    met = "met" if chunked.processed < oldest.processed else "MISSED"
    print(
        f"A {args.turns}-turn chat in a {args.window:,}-token window (llama-server "
        f"{server.facts.build or '?'}, Gemma 3 270M, max_tokens {args.max_tokens}, temperature 0)"
    )
    for run in runs:
        print(show(run))
    print(
        f"  18. prompt tokens processed: one at a time {oldest.processed:,}, chunked "
        f"{chunked.processed:,} ({saved:.0%} fewer)  (target: fewer with chunked)  {met}"
    )
    warn = "  (busy: times are inflated)" if share > BUSY_WARNING else ""
    print(f"  other programs used up to {share:.0%} of the CPUs meanwhile{warn}")
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    record = {
        "figure": 18,
        "turns": args.turns,
        "window": args.window,
        "max_tokens": args.max_tokens,
        "server": asdict(server.facts),
        "others_cpu_share": share,
        "runs": [{**asdict(run), "sent": run.sent} for run in runs],
    }
    (RESULTS / f"truncation-{stamp}.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
