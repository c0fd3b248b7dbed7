"""Latency and the prompt cache over a session, turn by turn, from what each reply
recorded (`inspect: latency`, `inspect: cache`). Pure: the screens only draw it.

Each reply keeps its client-side timings (time to first token, decode speed), the
server's own where it reports them (llama.cpp: prefill and decode time, tokens reused
from the KV cache) and its usage (prompt tokens; OpenAI's cached tokens; Anthropic's
cache reads). Together they show prefill cost growing with the context, and the cache
flattening it, or failing to.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmchat.core.messages import Message, Role

BAR_WIDTH = 24
REUSE_DROP = 0.5
"""A turn reusing less than half of what the turn before reused is called a drop."""


@dataclass(frozen=True, slots=True)
class TurnFacts:
    number: int
    prompt: int | None
    """Prompt tokens (the server's count, else the reply's estimate)."""
    reused: int | None
    """Prompt tokens served from a cache (KV cache or the provider's prompt cache)."""
    ttft_ms: float | None
    prefill_ms: float | None
    tok_s: float | None
    model: str | None

    @property
    def processed(self) -> int | None:
        if self.prompt is None:
            return None
        return max(0, self.prompt - (self.reused or 0))


def turns(thread: list[Message]) -> list[TurnFacts]:
    """One row per reply of the thread, oldest first."""
    rows: list[TurnFacts] = []
    for message in thread:
        if message.role is not Role.ASSISTANT:
            continue
        usage, timing = message.usage, message.timing
        prompt = usage.prompt if usage and usage.prompt else None
        reused: int | None = None
        if timing and timing.cache_tokens is not None:
            reused = timing.cache_tokens
            if prompt is None and timing.prefill_tokens is not None:
                prompt = timing.prefill_tokens + timing.cache_tokens
        elif usage and usage.cached:
            reused = usage.cached
        rows.append(
            TurnFacts(
                number=len(rows) + 1,
                prompt=prompt,
                reused=reused,
                ttft_ms=timing.ttft_ms if timing else None,
                prefill_ms=timing.prefill_ms if timing else None,
                tok_s=timing.tok_s if timing else None,
                model=message.model,
            )
        )
    return rows


def bar(value: float | None, most: float) -> str:
    if value is None or most <= 0:
        return ""
    cells = max(0, min(BAR_WIDTH, round(value / most * BAR_WIDTH)))
    return "█" * cells or ("▏" if value > 0 else "")


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def latency_table(rows: list[TurnFacts]) -> list[str]:
    """Turn, prompt tokens, TTFT (with a bar), prefill, decode speed."""
    if not rows:
        return ["No replies yet."]
    most = max((r.ttft_ms or 0.0) for r in rows)
    lines = [f"{'turn':>4}  {'prompt':>7}  {'TTFT':>8}  {'':<{BAR_WIDTH}}  {'prefill':>8}  tok/s"]
    for r in rows:
        prompt = f"{r.prompt:,}" if r.prompt is not None else "–"
        speed = f"{r.tok_s:.1f}" if r.tok_s is not None else "–"
        lines.append(
            f"{r.number:>4}  {prompt:>7}  {_ms(r.ttft_ms):>8}  {bar(r.ttft_ms, most):<{BAR_WIDTH}}"
            f"  {_ms(r.prefill_ms):>8}  {speed}"
        )
    return lines


def cache_table(rows: list[TurnFacts]) -> list[str]:
    """Per turn: prompt tokens reused from the cache vs processed, and where reuse
    dropped (what llmchat knows to cause one is said below the table)."""
    if not rows:
        return ["No replies yet."]
    if all(r.reused is None for r in rows):
        return [
            "This backend reports no cache use per reply (llama-server gives cache_n, "
            "OpenAI cached_tokens, Anthropic cache reads)."
        ]
    most = max((r.prompt or 0) for r in rows)
    lines = [f"{'turn':>4}  {'prompt':>7}  {'reused':>7}  {'processed':>9}  reused ▕ processed"]
    before: TurnFacts | None = None
    for r in rows:
        reused = r.reused or 0
        processed = r.processed
        shown = f"{processed:,}" if processed is not None else "–"
        mark = ""
        if (
            before is not None
            and (before.reused or 0) > 0
            and reused < REUSE_DROP * (before.reused or 0)
        ):
            mark = "  ← reuse dropped"
        lines.append(
            f"{r.number:>4}  {(r.prompt or 0):>7,}  {reused:>7,}  {shown:>9}  "
            f"{bar(reused, most)}▕{bar(processed, most)}{mark}"
        )
        before = r
    if any("reuse dropped" in line for line in lines):
        lines += [
            "",
            "Reuse drops when the start of the prompt changes: older turns left out by the "
            "window policy (a block at a time by default, so once every few turns), a new "
            "system prompt or sampling change on some servers, a branch switch or an edited "
            "message (the prompt differs from that point on).",
        ]
    return lines
