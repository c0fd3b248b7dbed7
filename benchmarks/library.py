"""Figure 17: the library of sessions: full-text search and the browser's list over 1,000.

    python -m benchmarks.library [--runs 3] [--files 1000] [--megabytes 100]

Writes 1,000 session files of about 100 MB in all into a temporary `LLMCHAT_HOME` with the
real writer (`Conversation` + `SessionFile`), in text of varied words: a vocabulary of
about 20,000 words drawn with Zipf's law (a few words in every message, most words
rare), and two rare words planted in one message of the oldest session. Then times, in
this process:

- building the search index from nothing (`SessionSearch.refresh` without an index);
- a refresh when nothing changed (what opening the browser costs once it is built), and
  (context) after one session changed;
- a search for the rare word, and for a phrase of two common words (`"of the"`), with
  the browser's limit of 50 hits;
- `list_sessions` over the 1,000 with a warm index beside the files (the browser opening).

Each figure is the median of the runs (wall clock) next to its target, with this
process's CPU time beside it. Like the other benchmarks it waits (up to 30 s) for other
programs to go quiet and reports the share of the CPUs they used meanwhile. The files
are in the page cache (just written), as they are for a user who opens llmchat again.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from itertools import accumulate
from pathlib import Path

from benchmarks.machine import BUSY_WARNING, OthersMeter, wait_for_quiet
from benchmarks.sessions import report, timed
from llmchat.core.conversation import Conversation, SessionInfo
from llmchat.core.messages import Message, Role, Timing, Usage
from llmchat.core.params import SamplingParams
from llmchat.paths import AppPaths
from llmchat.store import SessionFile, list_sessions
from llmchat.store.session_search import SessionSearch

BUILD_TARGET_S = 10.0
REFRESH_TARGET_S = 0.100
SEARCH_TARGET_S = 0.200
LIST_TARGET_S = 0.300
RARE_WORDS = ("quetzalcoatlus", "zymurgical")
COMMON_PHRASE = '"of the"'
_COMMON_TEXT = """
the of and to a in is it you that he was for on are with as I his they be at one have this
from or had by not word but what some we can out other were all there when up use your how
said an each she which do their time if will way about many then them write would like so
these her long make thing see him two has look more day could go come did number sound no
most people my over know water than call first who may down side been now find
"""
_COMMON = _COMMON_TEXT.split()
_SYLLABLE_TEXT = "ka lo mi ne ru sa te vi zo an el in or us ba de fi go hu ja ke li mo nu pa"
_SYLLABLES = _SYLLABLE_TEXT.split()


class _UnsyncedFile(SessionFile):
    """The real writer without fsync: setting up would otherwise take minutes."""

    def _sync(self, fd: int) -> None:
        pass


class Words:
    """Text drawn from a Zipf-distributed vocabulary: common words, then ~20,000 rare."""

    def __init__(self, rng: random.Random, size: int = 20_000) -> None:
        made = {"".join(rng.choices(_SYLLABLES, k=rng.randint(2, 4))) for _ in range(size)}
        self.vocabulary = _COMMON + sorted(made - set(_COMMON))
        weights = [1 / (rank + 1) ** 1.05 for rank in range(len(self.vocabulary))]
        self.cumulative = list(accumulate(weights))
        self.rng = rng

    def text(self, words: int) -> str:
        chosen = self.rng.choices(self.vocabulary, cum_weights=self.cumulative, k=words)
        lines = [" ".join(chosen[n : n + 14]) for n in range(0, len(chosen), 14)]
        return "\n".join(lines).capitalize() + "."


def write_library(sessions_dir: Path, files: int, total_bytes: int, seed: int = 12) -> None:
    rng = random.Random(seed)
    words = Words(rng)
    sizes = [rng.lognormvariate(0, 1) for _ in range(files)]
    scale = total_bytes / sum(sizes)
    start = 1_780_000_000
    for n in range(files):
        created = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(start + n * 3600))
        info = SessionInfo(created=created, backend="bench", model="gpt-4o-mini")
        conversation = Conversation(info, params=SamplingParams(temperature=0.7))
        with _UnsyncedFile.create(sessions_dir, info) as file:
            conversation.attach(file)
            target = max(2_000, int(sizes[n] * scale))
            turn = 0
            while file.path.stat().st_size < target:
                question = words.text(rng.randint(8, 60))
                if n == 0 and turn == 1:
                    question += f" {RARE_WORDS[0]} and {RARE_WORDS[1]}"
                conversation.add_user(question)
                reply = Message(
                    Role.ASSISTANT,
                    words.text(rng.randint(80, 600)),
                    model="gpt-4o-mini",
                    backend="bench",
                    params=conversation.params,
                    usage=Usage(prompt=800 + turn * 300, completion=300),
                    timing=Timing(ttft_ms=180.0, decode_ms=1300.0, tok_s=73.1),
                )
                conversation.add_reply(reply)
                turn += 1
        # The oldest session is the first written; each later one an hour newer.
        when = start + n * 3600
        os.utime(file.path, (when, when))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--megabytes", type=float, default=100.0)
    parser.add_argument("--wait-quiet", type=float, default=30.0, metavar="SECONDS")
    args = parser.parse_args(argv)
    runs = max(3, args.runs)
    with tempfile.TemporaryDirectory(prefix="llmchat-library-bench-") as home:
        paths = AppPaths.from_env({"LLMCHAT_HOME": home})
        sessions_dir = paths.sessions_dir
        index = paths.cache_dir / "search.sqlite3"
        search = SessionSearch(sessions_dir, index)
        started = time.perf_counter()
        write_library(sessions_dir, args.files, int(args.megabytes * 1e6))
        size = sum(p.stat().st_size for p in sessions_dir.glob("*.jsonl"))
        print(
            f"{args.files} sessions, {size / 1e6:.1f} MB, written in "
            f"{time.perf_counter() - started:.1f} s; medians of {runs} runs"
        )
        # Files changed in the last two seconds are never cached by the listing's index
        # (session_index); a user's files are older than that.
        time.sleep(2.1)
        list_sessions(sessions_dir)  # the listing's own index, as after any earlier listing
        wait_for_quiet(args.wait_quiet)
        others = OthersMeter()
        others.start()

        def forget_index() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{index}{suffix}").unlink(missing_ok=True)

        def touch_newest() -> None:
            newest = max(sessions_dir.glob("*.jsonl"), key=lambda p: p.stat().st_mtime_ns)
            with _UnsyncedFile(newest) as file:
                file.append(Message(Role.USER, "one more question"))

        print(f"  {'figure':<50} {'target':>9}  {'median (min–max)':>21}  {'CPU (median)':>12}")
        report("search index: build from nothing", timed(search.refresh, runs, forget_index),
               BUILD_TARGET_S)  # fmt: skip
        print(f"    (index on disk: {index.stat().st_size / 1e6:.0f} MB)")
        report("search index: refresh, nothing changed", timed(search.refresh, runs),
               REFRESH_TARGET_S)  # fmt: skip
        report("  context: refresh after one session changed",
               timed(search.refresh, runs, touch_newest), None)  # fmt: skip
        rare = timed(lambda: search.search(RARE_WORDS[0]), runs)
        report(f"search: a rare word ({RARE_WORDS[0]})", rare, SEARCH_TARGET_S)
        found = search.search(RARE_WORDS[0])
        print(f"    ({len(found)} hit, in session {found[0].session_id if found else '—'})")
        common = timed(lambda: search.search(COMMON_PHRASE), runs)
        report(f"search: common-word phrase ({COMMON_PHRASE}), 50 hits", common, SEARCH_TARGET_S)
        report("browser opening: list_sessions, warm index",
               timed(lambda: list_sessions(sessions_dir), runs), LIST_TARGET_S)  # fmt: skip
        share = others.share()
        if share is not None:
            warning = "  (busy: figures are slower than on a quiet machine)" * (
                share > BUSY_WARNING
            )
            print(f"Other programs used {share:.0%} of the CPUs meanwhile{warning}")


if __name__ == "__main__":
    main()
