"""The one-line facts under each reply: status, model, params, tokens, timings, cost.

Pure formatting, shared by every front end: the chat screen's line under a reply and
the Markdown export are the same text, from here.
"""

from __future__ import annotations

from llmchat.core.messages import Message, Role, Status
from llmchat.core.safe_text import one_line

STATUS_MARK = {
    Status.COMPLETE: "✓",
    Status.CANCELLED: "⊘ cancelled",
    Status.ERROR: "✗ error",
    Status.INCOMPLETE: "⚠ incomplete",
    Status.INTERRUPTED: "⚠ interrupted",
    Status.STREAMING: "…",
}


def format_ms(ms: float | None) -> str:
    if ms is None:
        return "–"
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.0f} ms"


def format_tokens(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 10_000 else str(n)


def format_cost(usd: float | None, *, estimated: bool = False) -> str:
    """`$0.00042`, `$0` for local models, `cost n/a` for a model nobody prices."""
    if usd is None:
        return "cost n/a"
    if usd == 0:
        return "$0"
    approx = "≈" if estimated else ""
    return f"{approx}${usd:.5f}" if usd < 0.01 else f"{approx}${usd:.3f}"


def reply_meta(message: Message) -> str:
    """E.g. `✓ · gpt-4o · T 0.70 p 1.00 · 812→95 tok · TTFT 180 ms · 73 tok/s`."""
    mark = STATUS_MARK.get(message.status, str(message.status))
    if message.status is Status.COMPLETE and message.cut_off:
        limit = message.params.max_tokens if message.params else None
        mark = f"⚠ cut off at max_tokens{f' ({limit})' if limit else ''}"
    parts = [mark]
    if message.fell_back_from and message.backend not in (None, message.fell_back_from):
        failed = one_line(message.fell_back_from, 24)
        parts.append(f"via {one_line(message.backend, 24)} ({failed} failed)")
    if message.resampled_at is not None:
        parts.append(f"resampled at token {message.resampled_at + 1:,}")
    if message.model:
        parts.append(one_line(message.model, 40))
    if message.params:
        p = message.params
        dials = f"T {p.temperature:.2f} p {p.top_p:.2f}"
        if p.top_k is not None:
            dials += f" k {p.top_k}"
        if p.min_p is not None:
            dials += f" min-p {p.min_p:.2f}"
        parts.append(dials)
    if message.usage:
        u = message.usage
        approx = "≈" if u.estimated else ""
        prompt = f"{format_tokens(u.prompt)}→" if u.prompt else ""
        parts.append(f"{approx}{prompt}{format_tokens(u.completion)} tok")
        if u.cached or u.cache_write:
            read = f"{format_tokens(u.cached)} from cache" if u.cached else ""
            written = f"{format_tokens(u.cache_write)} cached" if u.cache_write else ""
            parts.append(", ".join(p for p in (read, written) if p))
    timing = message.timing
    if timing:
        if timing.ttft_ms is not None:
            parts.append(f"TTFT {format_ms(timing.ttft_ms)}")
        if timing.tok_s:
            # Without the server's usage the speed rests on estimated token counts.
            speed_approx = "≈" if message.usage is None or message.usage.estimated else ""
            parts.append(f"{speed_approx}{timing.tok_s:.0f} tok/s")
        if timing.prefill_ms is not None:
            n = f"{timing.prefill_tokens} tok in " if timing.prefill_tokens is not None else ""
            parts.append(f"prefill {n}{format_ms(timing.prefill_ms)}")
        if timing.decode_ms is not None and timing.decode_tokens:
            rate = timing.decode_tokens / (timing.decode_ms / 1000) if timing.decode_ms else 0
            parts.append(f"decode {timing.decode_tokens} tok {rate:.0f} tok/s")
        if timing.cache_tokens:
            parts.append(f"cache {timing.cache_tokens}")
    if message.role is Role.ASSISTANT and message.status is not Status.STREAMING:
        estimated = bool(message.usage and message.usage.estimated)
        parts.append(format_cost(message.cost_usd, estimated=estimated))
    line = " · ".join(parts)
    if message.error:
        line += f" — {one_line(message.error, 160)}"
    return line
