"""Non-interactive mode (`llmchat -p`): a small printer over the engine.

The turn is run by the same `ChatService` as in the app (planned against the window,
saved and priced the same way); this module only prints it. The reply streams as plain
text to stdout; errors go to stderr with a non-zero exit status.

What reaches a terminal is neutralised (`safe_text`): model text when stdout is one, and
every line on stderr (it may hold names, URLs and server errors). A pipe or file gets
exactly what the model sent, except a lone surrogate (a JSON `\ud800` escape, never
valid UTF-8) or a character its encoding lacks, which become a stand-in: the stored
reply keeps the exact text.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import TextIO

from llmchat.core.conversation import PersistError
from llmchat.core.events import Delta, Loading, Retrying
from llmchat.core.messages import Message, Status
from llmchat.core.safe_text import for_pipe, one_line, visible
from llmchat.engine.chat_service import ChatService
from llmchat.engine.events import EngineEvent, Refused, ReplyEnded, SaveFailed
from llmchat.engine.stop_signals import StopOnSignals

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CANCELLED = 130


class _Printer:
    """Prints the engine's events as they come."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out, self.err = out, err
        self.raw = not out.isatty()
        self.ended: ReplyEnded | None = None
        self.refused = False
        self.save_failed = False

    async def __call__(self, event: EngineEvent) -> None:
        match event:
            case Delta(text=text):
                shown = for_pipe(text, self.out.encoding) if self.raw else visible(text)
                self.out.write(shown)
                self.out.flush()
            case Retrying(delay_s=delay, reason=reason):
                say(self.err, f"retrying in {delay:.1f} s: {reason}")
            case Loading(message=text):
                say(self.err, f"model loading: {one_line(text)}")
            case Refused(reason=reason):
                self.refused = True
                say(self.err, reason)
            case SaveFailed(reason=reason):
                self.save_failed = True
                say(self.err, reason)
            case ReplyEnded():
                self.ended = event


def say(err: TextIO, line: str) -> None:
    """One `llmchat: …` line on stderr, its outside text made harmless for a terminal."""
    print(f"llmchat: {visible(line)}", file=err)


async def ask(
    service: ChatService, text: str, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """Send one message and stream the answer; returns the process exit status."""
    printer = _Printer(out, err)
    # On Ctrl-C the engine has saved the partial reply as cancelled, and reported it; on
    # SIGTERM or SIGHUP, as interrupted (then the exit status is 128 + the signal).
    stop = StopOnSignals(service)
    service.conversation.on_restored = lambda line: say(err, line)
    with stop, contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        await service.send(text, printer)
    if stop.signum is not None:
        return _stopped(stop, printer, service, out, err)
    if printer.refused:
        return EXIT_FAILED
    ended = printer.ended
    if ended is None:
        say(err, "the turn ended without a reply")
        return EXIT_FAILED
    message = ended.message
    await service.price(message, printer)
    if message.content and not message.content.endswith("\n"):
        out.write("\n")
    out.flush()
    status = _exit_status(message, ended, err)
    if _unsaved(service, err):
        return EXIT_FAILED if status == EXIT_OK else status
    return EXIT_FAILED if printer.save_failed and status == EXIT_OK else status


def _stopped(
    stop: StopOnSignals, printer: _Printer, service: ChatService, out: TextIO, err: TextIO
) -> int:
    """A signal stopped the turn: the reply shown so far is saved as interrupted."""
    shown = printer.ended.message.content if printer.ended is not None else ""
    if shown and not shown.endswith("\n"):
        out.write("\n")
    out.flush()
    assert stop.signum is not None
    name = signal.Signals(stop.signum).name
    if not _unsaved(service, err):
        print(f"llmchat: stopped by {name}; the reply so far is saved as interrupted", file=err)
    return stop.exit_status


def _unsaved(service: ChatService, err: TextIO) -> bool:
    """Whether the turn is not all in the session file, after one last try to write it
    (in -p there is no later write to carry it); says so on stderr."""
    conversation = service.conversation
    if not conversation.unsaved:
        return False
    with contextlib.suppress(PersistError):
        conversation.flush()
    if not conversation.unsaved:
        return False
    print(
        "llmchat: the session file could not be written: this turn is not saved "
        "(the reply above is all there is of it)",
        file=err,
    )
    return True


def _exit_status(message: Message, ended: ReplyEnded, err: TextIO) -> int:
    if ended.checked is not None:
        say(err, ended.checked.mark())
        if not ended.checked.valid:
            return EXIT_FAILED
    if message.status is Status.COMPLETE:
        if message.cut_off:
            limit = message.params.max_tokens if message.params else "?"
            say(
                err,
                f"the reply was cut off at max_tokens ({limit}); "
                "raise --max-tokens for a longer answer",
            )
        return EXIT_OK
    if message.status is Status.CANCELLED:
        say(err, "cancelled")
        return EXIT_CANCELLED
    say(err, f"{message.status.value}: {one_line(message.error or '')}")
    return EXIT_FAILED
