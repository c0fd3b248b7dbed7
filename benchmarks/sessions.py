"""Figure 11: finding sessions among 1,000 saved ones (--continue, --resume ID, the picker).

    python -m benchmarks.sessions [--runs 5] [--files 1000] [--megabytes 59]

Writes 1,000 session files of about 59 MB in all into a temporary `LLMCHAT_HOME` with the
real writer (`Conversation` + `SessionFile`: headers, user messages, assistant replies
with usage, timings and prices, renames, a backend move now and then), with sizes from a
few KB to a few hundred, and modification times in an order unrelated to creation. Then
times, in this process, what the command line and the picker call before anything is on
screen:

- `--continue`: `latest_session` (the most recently updated session, with its summary);
- `--resume ID`: `find_session` with the first 8 characters of one id;
- the F3 picker: `list_sessions` (every session, with title, model and message count),
  as it is after any earlier listing, then (context) with nothing cached, as on the
  first listing ever, and after one session changed, as after chatting in it.

Each figure is the median of the runs (wall clock), next to its target, with this
process's CPU time beside it: on a shared two-core machine the CPU time is what the
figure would be with the cores to itself. Like the suite, it first waits (up to 30 s) for
other programs to go quiet and reports the share of the CPUs they used meanwhile. The
files are in the page cache (just written), as they are for a user who opens llmchat
again; a cold disk adds its own reads to every figure.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.support.replies import prose_reply

from benchmarks.machine import BUSY_WARNING, OthersMeter, wait_for_quiet
from llmchat.core.backend_record import BackendRecord
from llmchat.core.conversation import Conversation, SessionInfo
from llmchat.core.messages import Message, Role, Timing, Usage
from llmchat.core.params import SamplingParams
from llmchat.core.records import TitleChanged
from llmchat.paths import AppPaths
from llmchat.store import SessionFile, find_session, latest_session, list_sessions

CONTINUE_TARGET_S = 0.050
RESUME_TARGET_S = 0.050
PICKER_TARGET_S = 0.150
MODELS = ("gpt-4o-mini", "qwen2.5-7b-instruct", "gemma-3-270m", "claude-sonnet")


class _UnsyncedFile(SessionFile):
    """The real writer without fsync: 100,000 fsyncs would make setting up take minutes,
    and what lands in the files is the same."""

    def _sync(self, fd: int) -> None:
        pass


def write_sessions(sessions_dir: Path, files: int, total_bytes: int, seed: int = 9) -> list[str]:
    """`files` sessions of about `total_bytes` in all; returns their ids."""
    rng = random.Random(seed)
    # A long tail of sizes, as real use has: most sessions short, a few long.
    weights = [rng.lognormvariate(0, 1) for _ in range(files)]
    scale = total_bytes / sum(weights)
    ids = []
    start = 1_780_000_000
    for n in range(files):
        created = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(start + n * 3600))
        model = MODELS[n % len(MODELS)]
        info = SessionInfo(created=created, backend="bench", kind="openai", model=model)
        info.base_url = "http://127.0.0.1:8080/v1"
        conversation = Conversation(info, params=SamplingParams(temperature=0.7))
        file = _UnsyncedFile.create(sessions_dir, info)
        conversation.attach(file)
        target = max(2_000, int(weights[n] * scale))
        turn = 0
        while file.path.stat().st_size < target:
            conversation.add_user(f"Question {turn}: " + prose_reply(rng.randint(10, 60)))
            reply = Message(
                Role.ASSISTANT,
                prose_reply(rng.randint(100, 500)),
                model=conversation.info.model,
                backend="bench",
                params=conversation.params,
                usage=Usage(prompt=800 + turn * 300, completion=300),
                timing=Timing(ttft_ms=180.0, decode_ms=1300.0, tok_s=73.1),
            )
            conversation.add_reply(reply)
            conversation.set_cost(reply, 0.00042)
            if turn == 2 and n % 5 == 0:
                conversation.rename(f"Renamed session {n}")
            if turn == 3 and n % 7 == 0:
                moved = MODELS[(n + 1) % len(MODELS)]
                conversation.move_to(BackendRecord("other", "openai", "http://h/v1", moved))
            turn += 1
        file.close()
        ids.append(info.id)
    # Updated in an order that has nothing to do with the order of creation.
    order = list(range(files))
    rng.shuffle(order)
    paths = sorted(sessions_dir.glob("*.jsonl"))
    for rank, path in zip(order, paths, strict=True):
        os.utime(path, (start + files * 3600 + rank * 60,) * 2)
    return ids


@dataclass(frozen=True)
class Runs:
    wall: list[float]
    cpu: list[float]
    """This process's CPU time: what the figure would be with the cores to itself."""


def timed(
    action: Callable[[], object], runs: int, before: Callable[[], None] | None = None
) -> Runs:
    wall, cpu = [], []
    for _ in range(runs):
        if before is not None:
            before()
        started, started_cpu = time.perf_counter(), time.process_time()
        action()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return Runs(wall, cpu)


def forget_cache(sessions_dir: Path) -> None:
    """Remove whatever the store keeps beside the session files (an index, say)."""
    for entry in sessions_dir.iterdir():
        if not entry.name.endswith(".jsonl") and entry.is_file():
            entry.unlink()


def touch_newest(sessions_dir: Path) -> None:
    """Append a title record to the newest session, as renaming it in the app would."""
    newest = max(sessions_dir.glob("*.jsonl"), key=lambda p: p.stat().st_mtime_ns)
    with _UnsyncedFile(newest) as file:
        file.append(TitleChanged("touched"))


def report(name: str, timing: Runs, target: float | None) -> None:
    median = statistics.median(timing.wall)
    spread = f"{min(timing.wall) * 1000:.0f}–{max(timing.wall) * 1000:.0f}"
    cpu = statistics.median(timing.cpu) * 1000
    shown = "—" if target is None else f"≤ {target * 1000:.0f} ms"
    verdict = "" if target is None else ("met" if median <= target else "MISSED")
    print(
        f"  {name:<50} {shown:>9}  {median * 1000:6.0f} ms  ({spread})  "
        f"CPU {cpu:4.0f} ms  {verdict}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--megabytes", type=float, default=59.0)
    parser.add_argument("--wait-quiet", type=float, default=30.0, metavar="SECONDS")
    args = parser.parse_args(argv)
    runs = max(3, args.runs)
    with tempfile.TemporaryDirectory(prefix="llmchat-sessions-bench-") as home:
        sessions_dir = AppPaths.from_env({"LLMCHAT_HOME": home}).sessions_dir
        started = time.perf_counter()
        ids = write_sessions(sessions_dir, args.files, int(args.megabytes * 1e6))
        size = sum(p.stat().st_size for p in sessions_dir.glob("*.jsonl"))
        largest = max(p.stat().st_size for p in sessions_dir.glob("*.jsonl"))
        print(
            f"{len(ids)} sessions, {size / 1e6:.1f} MB (largest {largest // 1000} KB), "
            f"written in {time.perf_counter() - started:.1f} s; medians of {runs} runs"
        )
        wanted = ids[len(ids) // 3][:8]
        # Files changed in the last two seconds are never cached (session_index); a user's
        # files are older than that. The first listing then builds what the store keeps.
        time.sleep(2.1)
        list_sessions(sessions_dir)
        wait_for_quiet(args.wait_quiet)
        others = OthersMeter()
        others.start()
        figures = [
            ("--continue: latest_session", CONTINUE_TARGET_S,
             lambda: latest_session(sessions_dir), None),
            ("--resume ID: find_session, 8-character prefix", RESUME_TARGET_S,
             lambda: find_session(sessions_dir, wanted), None),
            ("picker: list_sessions", PICKER_TARGET_S, lambda: list_sessions(sessions_dir), None),
            ("  context: picker, nothing cached (first listing)", None,
             lambda: list_sessions(sessions_dir), lambda: forget_cache(sessions_dir)),
            ("  context: picker after one session changed", None,
             lambda: list_sessions(sessions_dir), lambda: touch_newest(sessions_dir)),
            ("  context: --continue, nothing cached", None,
             lambda: latest_session(sessions_dir), lambda: forget_cache(sessions_dir)),
            ("  context: --resume ID, nothing cached", None,
             lambda: find_session(sessions_dir, wanted), lambda: forget_cache(sessions_dir)),
        ]  # fmt: skip
        print(f"  {'figure':<50} {'target':>9}  {'median (min–max)':>21}  {'CPU (median)':>12}")
        for name, target, action, before in figures:
            report(name, timed(action, runs, before), target)
        share = others.share()
        if share is not None:
            warning = "  (busy: figures are slower than on a quiet machine)" * (
                share > BUSY_WARNING
            )
            print(f"Other programs used {share:.0%} of the CPUs meanwhile{warning}")


if __name__ == "__main__":
    main()
