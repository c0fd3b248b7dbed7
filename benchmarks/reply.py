"""Figures 1–3: one streamed reply, measured on a real terminal.

Each run starts `benchmarks.reply_harness` (the real app, lightly instrumented) on a
fresh pty and a fresh LLMCHAT_HOME, waits for the prompt, types a question, then presses
Enter. The keypress time is taken here, just before the byte is written to the terminal;
the frame times come from the app (after each frame was written to the terminal).
"""

from __future__ import annotations

import bisect
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.replies import markdown_reply, prose_reply

from benchmarks.environment import COLUMNS, PLACEHOLDER, PYTHON, REPO, ROWS, child_env
from benchmarks.pty_session import PtySession

PROMPT = "Explain the plan step by step"
SETTLE_S = 0.5
"""Idle time between typing the prompt and pressing Enter, as a person would pause."""
RUN_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ReplyRun:
    """One reply's figures, in seconds.

    "Painted" times are when the frame's end marker reached the terminal (this side of
    the pty); `*_app_s` are the same figures from the app's own clock, taken just after
    it wrote the frame.
    """

    key_to_first_token_s: float
    first_to_last_token_s: float
    key_to_last_token_s: float
    reply_cpu_s: float
    """User + sys of the app process, from Enter reaching the app to the last token's frame."""
    last_token_to_settled_s: float
    """From the last token painted to the frame showing the reply's facts line."""
    key_to_first_token_app_s: float
    first_to_last_token_app_s: float
    enter_handled_after_key_s: float
    frames: int
    """Frames the app wrote between Enter and the last token."""
    longest_frame_gap_s: float
    appends: int
    """Markdown appends for the whole reply (deltas are coalesced about once a frame)."""
    append_s: float
    widgets: int
    """Widgets inside the reply's Markdown at the end."""
    reply_chars: int
    process_cpu_s: float
    """The app process's whole-life CPU, start-up and shutdown included."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def expected_reply(markdown: bool, tokens: int) -> str:
    return markdown_reply(tokens) if markdown else prose_reply(tokens)


@dataclass(frozen=True)
class DrivenReply:
    """What one driven reply left behind, for the figures to be computed from."""

    record: dict[str, Any]
    """The harness's `ReplyRecord`, as JSON."""
    key_at: float
    """Just before Enter was written to the terminal."""
    frame_ends: list[float]
    """When each synchronised frame written after Enter ended on the terminal's side."""
    process_cpu_s: float
    home: Path
    """The LLMCHAT_HOME the app used (its session file is under `sessions/`)."""


def drive_reply(
    base_url: str,
    *,
    workdir: Path,
    prompt: str = PROMPT,
    app_args: Sequence[str] = (),
    wait_for_discovery: bool = False,
    timeout_s: float = RUN_TIMEOUT_S,
    profile_to: Path | None = None,
    profile_window: str = "reply",
) -> DrivenReply:
    """Start the harness on a fresh pty and home, wait for the prompt, type `prompt`,
    press Enter, and wait for the app to exit once the reply has settled.

    `app_args` go to the `llmchat` command itself (e.g. sampling options). With
    `wait_for_discovery`, typing starts only once the app has asked the server what it is
    (it recognises a llama-server that way, after its first frame).
    """
    home = Path(tempfile.mkdtemp(prefix="home-", dir=workdir))
    out = home / "record.json"
    argv = [str(PYTHON), "-m", "benchmarks.reply_harness", "--out", str(out)]
    if profile_to is not None:
        argv += ["--profile", str(profile_to), "--profile-window", profile_window]
    discovered = home / "discovered"
    if wait_for_discovery:
        argv += ["--discovered", str(discovered)]
    if app_args:
        argv += ["--", *app_args]
    env = child_env(home, base_url)
    with PtySession.spawn(argv, env, cwd=REPO, columns=COLUMNS, rows=ROWS) as session:
        session.expect(PLACEHOLDER, timeout=RUN_TIMEOUT_S)
        if wait_for_discovery and not session.pump(RUN_TIMEOUT_S, discovered.exists):
            raise RuntimeError("the app did not finish asking its server what it is in time")
        for char in prompt:
            session.write(char.encode())
        session.pump(SETTLE_S)
        frames_before = len(session.frame_ends)
        key_at = session.write(b"\r")
        code = session.wait_exit(timeout_s)
        if code != 0 or not out.exists():
            raise RuntimeError(f"the app exited with {code}; last output:\n{session.tail_text()}")
        record = json.loads(out.read_text(encoding="utf-8"))
        frame_ends = session.frame_ends[frames_before:]
        process_cpu = session.cpu_s or 0.0
    return DrivenReply(record, key_at, frame_ends, process_cpu, home)


def landed(frame_ends: list[float], at: float) -> float:
    """When the frame the app wrote at `at` ended on the terminal: the first frame end
    to reach the terminal after that moment."""
    index = bisect.bisect_left(frame_ends, at)
    if index == len(frame_ends):
        raise RuntimeError("a frame the app wrote never reached the terminal")
    return frame_ends[index]


def run_reply(
    base_url: str,
    *,
    markdown: bool,
    tokens: int,
    workdir: Path,
    profile_to: Path | None = None,
    profile_window: str = "reply",
) -> ReplyRun:
    """Start the app, ask once, and read back what the app recorded.

    With `profile_to`, the app's main thread is profiled from Enter to the first token
    (`profile_window="first"`) or to the reply's end ("reply"); the figures of such a run
    are slowed by the profiler.
    """
    driven = drive_reply(
        base_url, workdir=workdir, profile_to=profile_to, profile_window=profile_window
    )
    return _figures(
        driven.record,
        driven.key_at,
        expected_reply(markdown, tokens),
        driven.frame_ends,
        driven.process_cpu_s,
    )


def _figures(
    record: dict[str, Any],
    key_at: float,
    expected: str,
    frame_ends: list[float],
    process_cpu: float,
) -> ReplyRun:
    if record["status"] != "complete" or record["reply_chars"] != len(expected):
        raise RuntimeError(
            f"the reply did not arrive whole: status {record['status']}, "
            f"{record['reply_chars']} of {len(expected)} characters"
        )
    frames = record["frames"]
    full = record["shown_chars"]
    first = next(f for f in frames if f["shown"] > 0)
    last = next(f for f in frames if f["shown"] >= full and f["stream_ended"])
    settled = next(f for f in frames if f["settled"])

    def landed_at(at: float) -> float:
        return landed(frame_ends, at)

    during = [f["at"] for f in frames if f["at"] <= last["at"]]
    gaps = [b - a for a, b in zip([record["enter_at"], *during], during, strict=False)]
    return ReplyRun(
        key_to_first_token_s=landed_at(first["at"]) - key_at,
        first_to_last_token_s=landed_at(last["at"]) - landed_at(first["at"]),
        key_to_last_token_s=landed_at(last["at"]) - key_at,
        reply_cpu_s=last["cpu_s"] - record["cpu_at_enter_s"],
        last_token_to_settled_s=landed_at(settled["at"]) - landed_at(last["at"]),
        key_to_first_token_app_s=first["at"] - key_at,
        first_to_last_token_app_s=last["at"] - first["at"],
        enter_handled_after_key_s=record["enter_at"] - key_at,
        frames=len(during),
        longest_frame_gap_s=max(gaps, default=0.0),
        appends=record["appends"],
        append_s=record["append_s"],
        widgets=record["widgets_in_reply"],
        reply_chars=record["reply_chars"],
        process_cpu_s=process_cpu,
    )
