"""The real `llmchat` TUI with light instrumentation, run on a pty by benchmarks/reply.py.

    python -m benchmarks.reply_harness --out RESULT.json [--profile OUT.prof]
        [--discovered FILE] [-- ARGS]

It runs `llmchat.cli.main(ARGS)` unchanged (ARGS: the `llmchat` command's own options,
e.g. `--temperature 0 --max-tokens 300`; none by default), so config, backend
resolution and `build_launch` happen exactly as for the `llmchat` command; the only
difference is the app class, a subclass that records:

- when the Enter key reaches the app (`App.on_event`);
- after every frame Textual writes to the terminal (`App.post_display_hook`, called at
  the end of `App._display`, after the frame was written and the driver flushed): how
  much of the reply's text is in its widget, and whether the turn has ended;
- process CPU (user + sys, all threads) at Enter and at every frame;
- when the request was sent and when each delta of the reply arrived (see `ReplyProbe`);
- which backend the app settled on once it had asked the server what it is
  (`Gateway.discover`); with `--discovered FILE` it also creates FILE then, so the suite
  can wait for it before it asks (a llama-server is only recognised by that probe).

"In the widget" means a render of the reply's tail has updated its block widgets (see
`ReplyProbe`): until then the blocks on screen do not hold the new text. The app exits
shortly after the reply has settled, and the record goes to `--out` as JSON;
benchmarks/reply.py turns it into figures.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import resource
import sys
import weakref
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from textual import events
from textual.css.query import NoMatches

from benchmarks.pty_session import now

EXIT_AFTER_S = 0.3
"""Keep painting this long after the last token (to record trailing frames), then exit."""


def cpu_seconds() -> float:
    """User + system CPU of this whole process (every thread) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class ReplyProbe:
    """Sees what the reply really holds and when its text arrived, by wrapping
    `ReplyBody._render_tail`, `ReplyBody.feed`, `ReplyView.finish` and `Turn`.

    `shown`: characters each reply body holds once a render has updated (or mounted) its
    block widgets; the first frame written after that holds the text.
    `finished`: when the chat screen handed the ended turn to each reply view, i.e. the
    app has seen the end of the stream.
    `fed`: for every delta handed to a reply body, when (on entry to `ReplyBody.feed`)
    and the body's length in characters with it.
    `sent_at`, `received`: when the turn began (the chat screen creates the `Turn` just
    before it builds and sends the request) and when each delta with text came out of
    the stream (`Turn.feed`, the first thing the app does with an event).
    """

    shown: weakref.WeakKeyDictionary[Any, int] = field(default_factory=weakref.WeakKeyDictionary)
    finished: weakref.WeakKeyDictionary[Any, float] = field(
        default_factory=weakref.WeakKeyDictionary
    )
    appends: int = 0
    append_s: float = 0.0
    """Wall time of each render of the reply's tail, summed."""
    fed: list[tuple[float, int]] = field(default_factory=list)
    sent_at: float | None = None
    received: list[float] = field(default_factory=list)
    backend: str | None = None
    """The class of the gateway's backend after discovery, e.g. "LlamaCppBackend"."""
    discovered: Path | None = None
    """A file to create once discovery has finished."""

    def install(self) -> None:
        from llmchat.core.events import Delta
        from llmchat.core.turn import Turn
        from llmchat.gateway.gateway import Gateway
        from llmchat.tui.widgets.reply_view import ReplyBody, ReplyView

        render, feed, finish = ReplyBody._render_tail, ReplyBody.feed, ReplyView.finish
        turn_init, turn_feed = Turn.__init__, Turn.feed
        discover = Gateway.discover
        probe = self

        async def timed_render(body: ReplyBody) -> None:
            # `_render_pending` counted the text it took in (`_chars`) just before this
            # call and `_flush` holds the render lock, so this is the text the blocks
            # hold once it returns; `body.source` would also count deltas queued while
            # it runs. (It read `_source`, which a change to the reply view removed:
            # every run then failed inside the render and timed out.)
            rendering = body._chars
            started = now()
            await render(body)
            probe.appends += 1
            probe.append_s += now() - started
            probe.shown[body] = max(probe.shown.get(body, 0), rendering)

        async def noted_feed(body: ReplyBody, text: str) -> None:
            at = now()
            await feed(body, text)
            # The worker awaits each feed before the next one, so nothing else was added.
            probe.fed.append((at, len(body.source)))

        async def noted_finish(view: ReplyView, message: Any) -> None:
            probe.finished.setdefault(view, now())
            await finish(view, message)

        def noted_turn_init(turn: Turn, *args: Any, **kwargs: Any) -> None:
            probe.sent_at = now()
            turn_init(turn, *args, **kwargs)

        def noted_turn_feed(turn: Turn, event: Any) -> None:
            if isinstance(event, Delta) and event.text and not turn.done:
                probe.received.append(now())
            turn_feed(turn, event)

        async def noted_discover(gateway: Gateway) -> None:
            try:
                await discover(gateway)
            finally:
                probe.backend = type(gateway.backend).__name__
                if probe.discovered is not None:
                    probe.discovered.touch()

        ReplyBody._render_tail = timed_render  # type: ignore[method-assign, assignment]
        ReplyBody.feed = noted_feed  # type: ignore[method-assign, assignment]
        ReplyView.finish = noted_finish  # type: ignore[method-assign, assignment]
        Turn.__init__ = noted_turn_init  # type: ignore[method-assign, assignment]
        Turn.feed = noted_turn_feed  # type: ignore[method-assign, assignment]
        Gateway.discover = noted_discover  # type: ignore[method-assign, assignment]


@dataclass
class Frame:
    """One frame written after Enter: when, what of the reply it showed, CPU so far."""

    at: float
    shown: int
    """Characters of the reply in its widget when the frame was written."""
    stream_ended: bool
    """The chat screen had handed the ended turn to the reply view."""
    settled: bool
    """The reply view had shown the turn's facts (it has its final message)."""
    cpu_s: float


@dataclass
class ReplyRecord:
    """What one run observed; times are `now()` seconds (system-wide monotonic)."""

    enter_at: float | None = None
    cpu_at_enter_s: float | None = None
    reply_chars: int | None = None
    """Of the stored message."""
    shown_chars: int | None = None
    """Of the reply's Markdown source (what a complete reply shows)."""
    status: str | None = None
    appends: int = 0
    append_s: float = 0.0
    widgets_in_reply: int | None = None
    frames: list[Frame] = field(default_factory=list)
    sent_at: float | None = None
    """When the turn began, just before the request was built and sent."""
    received: list[float] = field(default_factory=list)
    """When each delta with text came out of the stream."""
    fed: list[tuple[float, int]] = field(default_factory=list)
    """(when, reply length in characters with it) for every delta fed to the reply."""
    backend: str | None = None
    """The backend class after discovery (None: discovery had not finished)."""


def instrumented_app_class(probe: ReplyProbe, profile_to: Path | None, profile_window: str) -> type:
    """A subclass of the real app that fills a `ReplyRecord` (kept on `.record`)."""
    from llmchat.tui.app import LlmChatApp
    from llmchat.tui.widgets.reply_view import ReplyView

    class BenchmarkedApp(LlmChatApp):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.record = ReplyRecord()
            self._reply: ReplyView | None = None
            self._profiler = cProfile.Profile() if profile_to else None
            self._settled = False

        async def on_event(self, event: events.Event) -> None:
            if (
                isinstance(event, events.Key)
                and event.key == "enter"
                and self.record.enter_at is None
            ):
                self.record.enter_at = now()
                self.record.cpu_at_enter_s = cpu_seconds()
                if self._profiler is not None:
                    self._profiler.enable()
            await super().on_event(event)

        def post_display_hook(self) -> None:
            super().post_display_hook()
            if self.record.enter_at is None or self._settled:
                return
            at, cpu = now(), cpu_seconds()
            reply = self._find_reply()
            shown = probe.shown.get(reply.body, 0) if reply is not None else 0
            settled = reply is not None and reply.message is not None
            ended = reply is not None and reply in probe.finished
            self.record.frames.append(Frame(at, shown, ended, settled, cpu))
            if self._profiler is not None and (
                (profile_window == "first" and shown > 0) or settled
            ):
                self._stop_profile()
            if settled and reply is not None:
                self._settled = True
                self._finish(reply)
                self.set_timer(EXIT_AFTER_S, self.exit)

        def _stop_profile(self) -> None:
            assert self._profiler is not None and profile_to is not None
            self._profiler.disable()
            self._profiler.dump_stats(str(profile_to))
            self._profiler = None

        def _find_reply(self) -> ReplyView | None:
            # The newest child of the conversation, once Enter has mounted it; looked up
            # without a DOM query, which would walk hundreds of Markdown blocks per frame.
            if self._reply is None:
                try:
                    conversation = self.screen.get_child_by_id("conversation")
                except NoMatches:  # another screen is on top
                    return None
                if conversation.children and isinstance(conversation.children[-1], ReplyView):
                    self._reply = conversation.children[-1]
            return self._reply

        def _finish(self, reply: ReplyView) -> None:
            record = self.record
            message = reply.message
            assert message is not None
            record.reply_chars = len(message.content)
            record.shown_chars = len(reply.body.source)
            record.status = message.status.value
            record.appends = probe.appends
            record.append_s = probe.append_s
            record.widgets_in_reply = sum(1 for _ in reply.body.walk_children())
            record.sent_at = probe.sent_at
            record.received = list(probe.received)
            record.fed = list(probe.fed)
            record.backend = probe.backend

    return BenchmarkedApp


def run(
    out: Path,
    profile_to: Path | None,
    profile_window: str = "reply",
    app_args: list[str] | None = None,
    discovered: Path | None = None,
) -> int:
    """Run the CLI (with `app_args`) with the instrumented app in place of `LlmChatApp`;
    write the record."""
    import llmchat.tui.app
    from llmchat import cli

    probe = ReplyProbe(discovered=discovered)
    probe.install()
    app_class = instrumented_app_class(probe, profile_to, profile_window)
    apps: list[object] = []

    def make(*args: object, **kwargs: object) -> object:
        app = app_class(*args, **kwargs)
        apps.append(app)
        return app

    # cli._run_tui imports LlmChatApp from this module when it runs.
    llmchat.tui.app.LlmChatApp = make  # type: ignore[misc, assignment]
    code = cli.main(app_args or [])
    record: ReplyRecord = apps[0].record  # type: ignore[attr-defined]
    out.write_text(json.dumps(asdict(record)), encoding="utf-8")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reply_harness")
    parser.add_argument("--out", type=Path, required=True, help="where to write the record")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the main thread here")
    parser.add_argument(
        "--profile-window",
        choices=("first", "reply"),
        default="reply",
        help="profile Enter → first token, or Enter → reply settled (default)",
    )
    parser.add_argument(
        "--discovered", type=Path, help="create this file once the app knows its server"
    )
    parser.add_argument(
        "app_args",
        nargs=argparse.REMAINDER,
        help="after `--`: options for the `llmchat` command itself",
    )
    args = parser.parse_args(argv)
    app_args = args.app_args[1:] if args.app_args[:1] == ["--"] else args.app_args
    return run(args.out, args.profile, args.profile_window, app_args, args.discovered)


if __name__ == "__main__":
    sys.exit(main())
