"""The benchmark suite: run every figure, print each with its target, save JSON.

    python -m benchmarks [--runs 5] [--profile] [--only loopback|llama]

Run from the repository root with the project's venv. Results go to
benchmarks/results/<UTC time>.json and benchmarks/results/latest.json (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import pstats
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.environment import REPLY_TOKENS, REPO, loopback_server
from benchmarks.launch import LaunchRun, bare_python, llmchat_launch, minimal_textual_launch
from benchmarks.llama import (
    APP_ARGS,
    CONTEXT,
    KEEP_UP_TARGET,
    LAG_TARGET_S,
    MAX_TOKENS,
    LlamaRun,
    LlamaServerFacts,
    LlamaUnavailable,
    llama_server,
    run_llama_reply,
)
from benchmarks.llama import PROMPT as LLAMA_PROMPT
from benchmarks.machine import BUSY_WARNING, OthersMeter, machine_facts, wait_for_quiet
from benchmarks.reply import ReplyRun, run_reply

RESULTS = REPO / "benchmarks" / "results"
LAUNCH_OVER_FLOOR_S = 0.100
"""Figure 4's target: at most this much over the minimal Textual app measured in the
same run (an absolute target would judge the machine as much as llmchat)."""
T = TypeVar("T")


@dataclass(frozen=True)
class Figure:
    """One reported figure: its median over the runs, and its target if it has one.

    `unit` is how the values are given and shown: "ms" and "s" (values in seconds),
    "tok/s", or "x" (a ratio). `compare` is how the median must relate to the target.
    """

    key: str
    name: str
    target: float | None
    runs: list[float]
    unit: str = "ms"
    compare: str = "≤"

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return {
            "≤": self.median <= self.target,
            "<": self.median < self.target,
            "≥": self.median >= self.target,
        }[self.compare]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "median": self.median, "met": self.met}


def shown(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value * 1000:.0f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "x":
        return f"{value:.3f}×"
    return f"{value:.1f} {unit}"


def print_figures(figures: Sequence[Figure]) -> None:
    width = max(len(f.name) for f in figures)
    print(f"  {'figure':<{width}}  {'target':>11}  {'median':>11}  {'min – max':>21}")
    for f in figures:
        target = "—" if f.target is None else f"{f.compare} {shown(f.target, f.unit)}"
        spread = f"{shown(min(f.runs), f.unit)} – {shown(max(f.runs), f.unit)}"
        verdict = {True: "met", False: "MISSED", None: ""}[f.met]
        print(
            f"  {f.name:<{width}}  {target:>11}  {shown(f.median, f.unit):>11}  "
            f"{spread:>21}  {verdict}"
        )


def git_facts() -> dict[str, Any]:
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return result.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "product_code_changed": bool(git("status", "--porcelain", "--", "src")),
    }


def frame_times(runs: list[LaunchRun]) -> list[float]:
    return [run.first_frame_s for run in runs]


def progress(text: str) -> None:
    """A transient progress line, on a terminal only."""
    if sys.stdout.isatty():
        print(f"\r\x1b[K  {text}", end="", flush=True)


REPLY_FIGURES = (
    # key, name, target (s), ReplyRun field, unit
    ("first_token", "1. Enter → first token painted", 0.050, "key_to_first_token_s", "ms"),
    ("render", "2. First → last token painted", None, "first_to_last_token_s", "s"),
    ("cpu", "3. CPU for the reply", 0.5, "reply_cpu_s", "s"),
    ("total", "   context: Enter → last token painted", None, "key_to_last_token_s", "s"),
    ("settle", "   context: last token → facts line shown", None, "last_token_to_settled_s", "ms"),
)
RENDER_TARGETS = {"prose": 0.3, "Markdown": 0.6}


def reply_figures(prose: list[ReplyRun], markdown: list[ReplyRun]) -> list[Figure]:
    """Figures 1–3 (and context) for each kind of reply, in the order of the brief."""
    figures = []
    for key, name, target, field, unit in REPLY_FIGURES:
        for label, runs in (("prose", prose), ("Markdown", markdown)):
            figures.append(
                Figure(
                    f"{key}_{label.lower()}",
                    f"{name} ({label})",
                    RENDER_TARGETS[label] if key == "render" else target,
                    [getattr(run, field) for run in runs],
                    unit,
                )
            )
    return figures


def llama_figures(runs: list[LlamaRun]) -> list[Figure]:
    """Figures 6–9 (and context) for the llama-server reply."""

    def figure(
        key: str, name: str, field: str, unit: str, target: float | None = None, compare: str = "≤"
    ) -> Figure:
        return Figure(
            f"llama_{key}", name, target, [getattr(run, field) for run in runs], unit, compare
        )

    return [
        figure("lag", "6. Last token received → painted", "last_delta_to_painted_s", "ms",
               LAG_TARGET_S, "<"),
        figure("keep_up", "7. Keep-up: painted ÷ server decode rate", "keep_up", "x",
               KEEP_UP_TARGET, "≥"),
        figure("server_decode", "   server decode (predicted_n / predicted_ms)",
               "server_decode_tok_s", "tok/s"),
        figure("bare_decode", "   server decode, same request without the app",
               "bare_decode_tok_s", "tok/s"),
        figure("received", "   received, first → last delta", "received_tok_s", "tok/s"),
        figure("painted", "   painted, first → last painted frame", "painted_tok_s", "tok/s"),
        figure("first_token", "8. Enter → first token painted", "key_to_first_token_s", "ms"),
        figure("send_to_delta", "9. Send → first delta received", "send_to_first_delta_s", "ms"),
        figure("prefill", "   server prefill (prompt_ms)", "server_prefill_s", "ms"),
        figure("bare_prefill", "   server prefill, same request without the app",
               "bare_prefill_s", "ms"),
        figure("enter_to_send", "   Enter → request sent", "key_to_send_s", "ms"),
        figure("delta_to_painted", "   first delta received → painted",
               "first_delta_to_painted_s", "ms"),
        figure("cpu_per_token", "   app CPU per token", "cpu_per_token_s", "ms"),
    ]  # fmt: skip


def llama_part(runs: int, workdir: Path) -> tuple[list[LlamaRun], LlamaServerFacts | None, str]:
    """Run the llama figures if a llama-server and the bundled model are here.

    Returns the runs, the server's facts, and why the part was skipped ("" if it ran).
    """
    progress("llama-server: starting with the bundled model")
    results: list[LlamaRun] = []
    try:
        with llama_server(workdir) as server:
            for index in range(runs):
                progress(f"reply from llama-server: run {index + 1}/{runs}")
                results.append(run_llama_reply(server, workdir=workdir))
            facts = server.facts
    except LlamaUnavailable as exc:
        progress("")
        return [], None, str(exc)
    progress("")
    return results, facts, ""


def reply_runs(markdown: bool, runs: int, workdir: Path) -> list[ReplyRun]:
    label = "Markdown" if markdown else "prose"
    results = []
    with loopback_server(markdown=markdown) as server:
        for index in range(runs):
            progress(f"reply, {label}: run {index + 1}/{runs}")
            results.append(
                run_reply(server.base_url, markdown=markdown, tokens=REPLY_TOKENS, workdir=workdir)
            )
    progress("")
    return results


def repeat(what: str, runs: int, measure: Callable[[], T]) -> list[T]:
    results: list[T] = []
    for index in range(runs):
        progress(f"{what}: run {index + 1}/{runs}")
        results.append(measure())
    progress("")
    return results


def profile(workdir: Path) -> list[Path]:
    """One profiled run per window that matters; the main thread's cProfile to results/."""
    written = []
    for markdown, window in ((False, "first"), (True, "reply")):
        label = "markdown" if markdown else "prose"
        out = RESULTS / f"profile-{label}-{window}.prof"
        with loopback_server(markdown=markdown) as server:
            run_reply(
                server.base_url,
                markdown=markdown,
                tokens=REPLY_TOKENS,
                workdir=workdir,
                profile_to=out,
                profile_window=window,
            )
        print(f"\n{label}, Enter → {'first token' if window == 'first' else 'reply settled'}:")
        stats = pstats.Stats(str(out))
        stats.sort_stats("cumulative").print_stats(
            r"llmchat|textual/(screen|_compositor|widget)", 12
        )
        written.append(out)
    return written


@dataclass(frozen=True)
class LoopbackPart:
    """Figures 1–4 and the runs behind them."""

    figures: list[Figure]
    prose: list[ReplyRun]
    markdown: list[ReplyRun]
    launches: list[LaunchRun]
    floors: list[LaunchRun]

    @property
    def synchronised(self) -> bool:
        """Every launch frame came between sync markers, so its end is exact."""
        return all(run.synchronised for run in [*self.launches, *self.floors])


def loopback_part(runs: int, workdir: Path) -> LoopbackPart:
    """Figures 1–4: replies from the loopback server, launch, and their floors."""
    prose = reply_runs(False, runs, workdir)
    markdown = reply_runs(True, runs, workdir)
    with loopback_server(markdown=False) as server:
        url = server.base_url
        llmchat_launch(base_url=url, workdir=workdir)  # warm the page cache; not counted
        # Each run launches both, one after the other, so a busy moment weighs on both.
        pairs = repeat(
            "launch, and the minimal Textual app",
            runs,
            lambda: (
                llmchat_launch(base_url=url, workdir=workdir),
                minimal_textual_launch(base_url=url, workdir=workdir),
            ),
        )
        launches = [launch for launch, _ in pairs]
        floors = [floor for _, floor in pairs]
    python = repeat("bare Python", runs, lambda: bare_python(workdir=workdir))
    floor = statistics.median(frame_times(floors))
    figures = [
        *reply_figures(prose, markdown),
        Figure(
            "launch",
            "4. Launch → first interactive frame (target: floor + 100 ms)",
            floor + LAUNCH_OVER_FLOOR_S,
            frame_times(launches),
        ),
        Figure(
            "launch_textual_floor",
            "   floor: minimal Textual app, same run",
            None,
            frame_times(floors),
        ),
        Figure("python_floor", "   floor: bare `python -c pass`, spawn → exit", None, python),
    ]
    return LoopbackPart(figures, prose, markdown, launches, floors)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (default 5)")
    parser.add_argument(
        "--profile", action="store_true", help="also save cProfiles of two extra runs"
    )
    parser.add_argument(
        "--only",
        choices=("loopback", "llama"),
        help="run only figures 1–4 (loopback server, launch) or only 6–9 (llama-server)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=30.0,
        metavar="S",
        help="first wait up to S seconds for other programs to leave the CPUs (default 30)",
    )
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    busy = wait_for_quiet(args.wait_quiet)
    started = datetime.now(UTC)
    others = OthersMeter()
    others.start()
    facts = {
        **machine_facts(),
        **git_facts(),
        "date": started.isoformat(timespec="seconds"),
        "others_busy_before": busy,
    }
    print(
        f"llmchat benchmarks · {started:%Y-%m-%d %H:%M} UTC · {facts['cores']} cores · "
        f"Python {facts['python']} · Textual {facts['textual']} · commit {facts['commit']}"
        + (" + uncommitted changes in src/" if facts["product_code_changed"] else "")
    )
    if args.only != "llama":
        print(
            f"Figures 1–4: {REPLY_TOKENS:,} tokens from the loopback server as fast as it "
            f"sends; a real pty, 120x40; medians of {args.runs} runs"
        )
    if args.only != "loopback":
        print(
            f"Figures 6–9: one {MAX_TOKENS}-token reply from llama-server with the bundled "
            f"Gemma 3 270M (context {CONTEXT}, one slot, temperature 0, slot erased before "
            f"each run); medians of {args.runs} runs"
        )
    if busy is not None and busy > BUSY_WARNING:
        print(
            f"WARNING: other programs kept {busy:.0%} of the CPUs busy just now; "
            "the figures below will be inflated. Measure on a quiet machine."
        )
    loopback: LoopbackPart | None = None
    llama: list[LlamaRun] = []
    llama_facts: LlamaServerFacts | None = None
    skipped = ""
    with tempfile.TemporaryDirectory(prefix="llmchat-bench-") as tmp:
        workdir = Path(tmp)
        if args.only != "llama":
            loopback = loopback_part(args.runs, workdir)
        if args.only != "loopback":
            llama, llama_facts, skipped = llama_part(args.runs, workdir)

    figures: list[Figure] = list(loopback.figures) if loopback else []
    if llama:
        figures += llama_figures(llama)
    facts["others_busy_during"] = during = others.share()
    if figures:
        print()
        print_figures(figures)
    if loopback and not loopback.synchronised:
        print("\nNote: a launch frame came without sync markers; its end is approximate.")
    if skipped:
        print(f"\nSkipped figures 6–9 (llama-server): {skipped}")
    elif llama_facts is not None:
        print(
            f"\nllama-server: {llama_facts.source} {llama_facts.binary}"
            + (f" (build {llama_facts.build})" if llama_facts.build else "")
        )
        if not llama_facts.slot_erase:
            print("Note: the server would not erase its slot; prompts may reuse its cache.")
        busy_runs = [r.others_busy for r in llama if r.others_busy is not None]
        if busy_runs:
            print(
                "Other programs used "
                + ", ".join(f"{share:.0%}" for share in busy_runs)
                + " of the CPUs during the llama runs"
                + (
                    " (WARNING: a server decoding on these cores slows down with them)."
                    if max(busy_runs) > BUSY_WARNING
                    else "."
                )
            )
    if during is not None:
        print(f"\nOther programs used {during:.0%} of the CPUs during the measurements.")
        if during > BUSY_WARNING:
            print("WARNING: that is enough to inflate the figures; measure on a quiet machine.")
    profiles = []
    if args.profile and args.only == "llama":
        print("\nNote: --profile profiles loopback runs; it was skipped with --only llama.")
    elif args.profile:
        with tempfile.TemporaryDirectory(prefix="llmchat-bench-") as tmp:
            profiles = profile(Path(tmp))
    report = {
        "machine": facts,
        "method": {
            "only": args.only,
            "reply_tokens": REPLY_TOKENS,
            "runs": args.runs,
            "terminal": "pty 120x40, TERM=xterm-256color, answers DECRQM 2026 (sync output)",
        },
        "figures": [f.as_dict() for f in figures],
        "reply_runs": {
            "prose": [r.as_dict() for r in loopback.prose],
            "markdown": [r.as_dict() for r in loopback.markdown],
        }
        if loopback
        else None,
        "launch_runs": {
            "llmchat": [asdict(run) for run in loopback.launches],
            "minimal_textual": [asdict(run) for run in loopback.floors],
        }
        if loopback
        else None,
        "llama": {
            "skipped": skipped or None,
            "server": asdict(llama_facts) if llama_facts else None,
            "prompt": LLAMA_PROMPT,
            "app_args": list(APP_ARGS),
            "runs": [r.as_dict() for r in llama],
        }
        if args.only != "loopback"
        else None,
        "profiles": [str(p.relative_to(REPO)) for p in profiles],
    }
    text = json.dumps(report, indent=2)
    stamped = RESULTS / f"{started:%Y%m%dT%H%M%SZ}.json"
    stamped.write_text(text, encoding="utf-8")
    (RESULTS / "latest.json").write_text(text, encoding="utf-8")
    print(f"\nResults: {stamped.relative_to(REPO)} (and results/latest.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
