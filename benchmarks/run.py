"""The benchmark suite: run every figure, print each with its target, save JSON.

    python -m benchmarks [--runs 5] [--profile]

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
from benchmarks.machine import BUSY_WARNING, OthersMeter, machine_facts, wait_for_quiet
from benchmarks.reply import ReplyRun, run_reply

RESULTS = REPO / "benchmarks" / "results"
T = TypeVar("T")


@dataclass(frozen=True)
class Figure:
    """One reported figure: its median over the runs, and its target if it has one."""

    key: str
    name: str
    target_s: float | None
    runs_s: list[float]
    unit: str = "ms"

    @property
    def median_s(self) -> float:
        return statistics.median(self.runs_s)

    @property
    def met(self) -> bool | None:
        return None if self.target_s is None else self.median_s <= self.target_s

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "median_s": self.median_s, "met": self.met}


def shown(seconds: float, unit: str) -> str:
    return f"{seconds * 1000:.0f} ms" if unit == "ms" else f"{seconds:.2f} s"


def print_figures(figures: Sequence[Figure]) -> None:
    width = max(len(f.name) for f in figures)
    print(f"  {'figure':<{width}}  {'target':>9}  {'median':>9}  {'min – max':>17}")
    for f in figures:
        target = "—" if f.target_s is None else f"≤ {shown(f.target_s, f.unit)}"
        spread = f"{shown(min(f.runs_s), f.unit)} – {shown(max(f.runs_s), f.unit)}"
        verdict = {True: "met", False: "MISSED", None: ""}[f.met]
        print(
            f"  {f.name:<{width}}  {target:>9}  {shown(f.median_s, f.unit):>9}  "
            f"{spread:>17}  {verdict}"
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (default 5)")
    parser.add_argument(
        "--profile", action="store_true", help="also save cProfiles of two extra runs"
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
    print(
        f"Reply: {REPLY_TOKENS:,} tokens from the loopback server as fast as it sends; "
        f"a real pty, 120x40; medians of {args.runs} runs"
    )
    if busy is not None and busy > BUSY_WARNING:
        print(
            f"WARNING: other programs kept {busy:.0%} of the CPUs busy just now; "
            "the figures below will be inflated. Measure on a quiet machine."
        )
    with tempfile.TemporaryDirectory(prefix="llmchat-bench-") as tmp:
        workdir = Path(tmp)
        prose = reply_runs(False, args.runs, workdir)
        markdown = reply_runs(True, args.runs, workdir)
        with loopback_server(markdown=False) as server:
            url = server.base_url
            llmchat_launch(base_url=url, workdir=workdir)  # warm the page cache; not counted
            launches = repeat(
                "launch", args.runs, lambda: llmchat_launch(base_url=url, workdir=workdir)
            )
            floors = repeat(
                "minimal Textual app",
                args.runs,
                lambda: minimal_textual_launch(base_url=url, workdir=workdir),
            )
        python = repeat("bare Python", args.runs, lambda: bare_python(workdir=workdir))

    figures = [
        *reply_figures(prose, markdown),
        Figure("launch", "4. Launch → first interactive frame", 0.3, frame_times(launches)),
        Figure(
            "launch_textual_floor",
            "   floor: minimal Textual app, same",
            None,
            frame_times(floors),
        ),
        Figure("python_floor", "   floor: bare `python -c pass`, spawn → exit", None, python),
    ]
    facts["others_busy_during"] = during = others.share()
    print()
    print_figures(figures)
    if not all(run.synchronised for run in [*launches, *floors]):
        print("\nNote: a launch frame came without sync markers; its end is approximate.")
    if during is not None:
        print(f"\nOther programs used {during:.0%} of the CPUs during the measurements.")
        if during > BUSY_WARNING:
            print("WARNING: that is enough to inflate the figures; measure on a quiet machine.")
    profiles = []
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="llmchat-bench-") as tmp:
            profiles = profile(Path(tmp))
    report = {
        "machine": facts,
        "method": {
            "reply_tokens": REPLY_TOKENS,
            "runs": args.runs,
            "terminal": "pty 120x40, TERM=xterm-256color, answers DECRQM 2026 (sync output)",
        },
        "figures": [f.as_dict() for f in figures],
        "reply_runs": {
            "prose": [r.as_dict() for r in prose],
            "markdown": [r.as_dict() for r in markdown],
        },
        "launch_runs": {
            "llmchat": [asdict(run) for run in launches],
            "minimal_textual": [asdict(run) for run in floors],
        },
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
