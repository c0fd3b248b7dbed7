"""Figures 12–13: reopening a long session, and reaching its first message.

    python -m benchmarks.long_session [--runs 3] [--skip-large]

Writes, with the real writer (`Conversation` + `SessionFile`, the records of
`store/session_format.py`), a session of 2,000 turns (4,000 messages, about 3 MB: user
questions of 10–50 words, replies of 60–200 words with usage, timings, parameters and a
price) and one of about 50 MB (the same turns, about 33,000 of them). Then, for each,
`llmchat --resume ID` runs as its own process on a pseudo-terminal (120x40, the real
console script, a private `LLMCHAT_HOME`, a loopback server the session points at), and
the suite times, from the terminal's side:

- launch: the fork → the end of the first whole frame that shows the last reply's last
  words;
- memory: the app's resident set (`VmRSS`) 1.5 s later, once its start-up work is done
  (its peak, `VmHWM`, is shown beside it);
- ctrl+Home: the key written → the end of the first frame showing the first message.

Each figure is the median of the runs, next to its target. Before each run the minimal
Textual app (`benchmarks/minimal_app.py`, figure 4's floor) is launched too, so the
launch figure is shown beside what any Textual app takes on this machine at the time.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.replies import prose_reply

from benchmarks.environment import COLUMNS, LLMCHAT, REPO, ROWS, child_env, loopback_server
from benchmarks.launch import minimal_textual_launch
from benchmarks.pty_session import PtySession, PtyTimeout
from llmchat.core.conversation import Conversation, SessionInfo
from llmchat.core.messages import Message, Role, Timing, Usage
from llmchat.core.params import SamplingParams
from llmchat.paths import AppPaths
from llmchat.store import SessionFile

FIRST_WORDS = "where this session began"
LAST_WORDS = "the very last reply ends here"
CTRL_HOME = b"\x1b[1;5H"
QUIT = b"\x11"
SETTLE_S = 1.5
TIMEOUT_S = 30.0
FIRST_TIMEOUT_S = 5.0
LARGE_BYTES = 50_000_000


@dataclass(frozen=True)
class Target:
    launch_s: float
    memory_mb: float
    first_s: float | None


TARGETS = {
    "4,000 messages": Target(launch_s=0.6, memory_mb=120, first_s=0.3),
    "50 MB": Target(launch_s=2.0, memory_mb=300, first_s=None),
}


class _UnsyncedFile(SessionFile):
    """The real writer without fsync: what lands in the file is the same, only faster."""

    def _sync(self, fd: int) -> None:
        pass


def write_session(
    sessions_dir: Path, base_url: str, *, turns: int | None = None, size: int | None = None
) -> tuple[str, int, int]:
    """A session of `turns` turns (or of about `size` bytes); its id, bytes and messages.

    The first message ends with FIRST_WORDS and the last reply ends with LAST_WORDS."""
    rng = random.Random(12)
    info = SessionInfo(
        created="2026-01-01T00:00:00.000000Z", backend="bench", kind="openai", model="bench"
    )
    info.base_url = base_url
    conversation = Conversation(info, params=SamplingParams(temperature=0.7))
    file = _UnsyncedFile.create(sessions_dir, info)
    conversation.attach(file)
    turn = 0

    def more() -> bool:
        if turns is not None:
            return turn < turns - 1
        return size is not None and file.path.stat().st_size < size

    while more():
        _add_turn(conversation, rng, turn)
        turn += 1
    _add_turn(conversation, rng, turn, last=True)
    file.close()
    return info.id, file.path.stat().st_size, 2 * (turn + 1)


def _add_turn(
    conversation: Conversation, rng: random.Random, turn: int, last: bool = False
) -> None:
    question = f"Question {turn}: {prose_reply(rng.randint(10, 50))}"
    # Not in the first words, which become the session's title (always on screen).
    conversation.add_user(
        f"{question} This is {FIRST_WORDS}." if turn == 0 else question, tokens=40
    )
    text = prose_reply(rng.randint(60, 200))
    reply = Message(
        Role.ASSISTANT,
        f"{text}\n\nAnd {LAST_WORDS}." if last else text,
        model="bench",
        backend="bench",
        params=conversation.params,
        usage=Usage(prompt=800 + turn, completion=300),
        timing=Timing(ttft_ms=180.0, decode_ms=1300.0, tok_s=73.1),
        tokens=300,
    )
    conversation.add_reply(reply)
    conversation.set_cost(reply, 0.00042)


@dataclass(frozen=True)
class Run:
    launch_s: float
    rss_mb: float
    peak_mb: float
    first_s: float | None
    """None: the first message was not on screen within FIRST_TIMEOUT_S."""
    floor_s: float
    """The minimal Textual app's launch, just before this run."""


def _memory_mb(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def run_once(home: Path, session_id: str, base_url: str) -> Run:
    floor_s = minimal_textual_launch(base_url=base_url, workdir=home).first_frame_s
    env = child_env(home, base_url)
    argv = [str(LLMCHAT), "--resume", session_id[:8]]
    with PtySession.spawn(argv, env, cwd=REPO, columns=COLUMNS, rows=ROWS) as session:
        shown = session.expect(LAST_WORDS, timeout=TIMEOUT_S)
        assert shown.frame_end_at is not None
        launch_s = shown.frame_end_at - session.spawned_at
        session.pump(SETTLE_S)
        rss, peak = _memory_mb(session.pid)
        session.watch(FIRST_WORDS)
        pressed = session.write(CTRL_HOME)
        first_s = None
        if session.pump(FIRST_TIMEOUT_S, lambda: session.seen(FIRST_WORDS)):
            reached = session.sighting(FIRST_WORDS)
            assert reached is not None and reached.frame_end_at is not None
            first_s = reached.frame_end_at - pressed
        session.write(QUIT)
        with contextlib.suppress(PtyTimeout):
            session.wait_exit(10.0)
        return Run(launch_s, rss, peak, first_s, floor_s)


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else "MISSED"


def report(name: str, runs: list[Run], target: Target) -> None:
    def line(label: str, values: list[float], goal: float | None, unit: str) -> None:
        median = statistics.median(values)
        scale, fmt = (1000, "{:.0f} ms") if unit == "ms" else (1, "{:.0f} MB")
        shown = fmt.format(median * scale)
        spread = f"{fmt.format(min(values) * scale)} – {fmt.format(max(values) * scale)}"
        if goal is None:
            print(f"  {label:<44} {'—':>10}  {shown:>8}  ({spread})")
        else:
            want = f"≤ {fmt.format(goal * scale)}"
            print(f"  {label:<44} {want:>10}  {shown:>8}  ({spread})  {verdict(median, goal)}")

    print(f"{name}:")
    launches, floors = [r.launch_s for r in runs], [r.floor_s for r in runs]
    line("launch → last message on screen", launches, target.launch_s, "ms")
    line("  floor: minimal Textual app, same run", floors, None, "ms")
    above = statistics.median(launches) - statistics.median(floors)
    print(f"  {'  launch above the floor (medians)':<44} {'—':>10}  {above * 1000:>5.0f} ms")
    line("resident memory, settled", [r.rss_mb for r in runs], target.memory_mb, "MB")
    line("  context: peak resident memory", [r.peak_mb for r in runs], None, "MB")
    label = "ctrl+Home → first message on screen"
    firsts = [r.first_s for r in runs if r.first_s is not None]
    if len(firsts) == len(runs):
        line(label, firsts, target.first_s, "ms")
    else:
        missed = len(runs) - len(firsts)
        within = f"not reached within {FIRST_TIMEOUT_S:.0f} s"
        print(f"  {label:<44} {within} in {missed} of {len(runs)} runs  MISSED")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-large", action="store_true", help="only the 4,000 messages")
    args = parser.parse_args(argv)
    runs = max(3, args.runs)
    with (
        loopback_server(markdown=False, tokens=50) as server,
        tempfile.TemporaryDirectory(prefix="llmchat-long-session-") as workdir,
    ):
        sizes: list[tuple[str, dict[str, int]]] = [("4,000 messages", {"turns": 2000})]
        if not args.skip_large:
            sizes.append(("50 MB", {"size": LARGE_BYTES}))
        print(f"medians of {runs} runs, {COLUMNS}x{ROWS} pty, `llmchat --resume ID`")
        for name, shape in sizes:
            home = Path(workdir) / name.replace(" ", "_").replace(",", "")
            home.mkdir()
            sessions_dir = AppPaths.from_env({"LLMCHAT_HOME": str(home)}).sessions_dir
            started = time.perf_counter()
            session_id, size, messages = write_session(sessions_dir, server.base_url, **shape)
            print(
                f"{name}: {messages:,} messages, {size / 1e6:.1f} MB, "
                f"written in {time.perf_counter() - started:.1f} s"
            )
            target = TARGETS[name]
            results = [run_once(home, session_id, server.base_url) for _ in range(runs)]
            report(name, results, target)


if __name__ == "__main__":
    main()
