"""Non-interactive mode (`llmchat -p`): a small printer over the engine.

The turn is run by the same `ChatService` as in the app (planned against the window,
saved and priced the same way); this module only prints it. The reply streams as plain
text to stdout; errors go to stderr with a non-zero exit status.

What reaches a terminal is neutralised (`safe_text`): model text when stdout is one, and
every line on stderr (it may hold names, URLs and server errors). A pipe or file gets
exactly what the model sent, except a lone surrogate (a JSON `\ud800` escape, never
valid UTF-8) or a character its encoding lacks, which become a stand-in: the stored
reply keeps the exact text.

When stdout cannot be written (its reader left, as `| head` does; a full disk; a file
at its size limit), nobody will read the rest of the reply: the turn stops there (the
HTTP stream is closed), what came is saved as interrupted with why, and the exit status
is 1 with one line on stderr, or 141 quietly for a closed pipe (128 + SIGPIPE, what a
shell reports of a command whose reader left).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import sys
from typing import TextIO

from llmchat.core.conversation import PersistError
from llmchat.core.events import Delta, DialsFitted, FellBack, Loading, Retrying
from llmchat.core.messages import ImageRef, Message, Status
from llmchat.core.safe_text import for_pipe, one_line, visible
from llmchat.engine.chat_service import ChatService
from llmchat.engine.events import EngineEvent, OutputLost, Refused, ReplyEnded, SaveFailed
from llmchat.engine.stop_signals import StopOnSignals

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CANCELLED = 130
EXIT_READER_LEFT = 141
"""128 + SIGPIPE: what a shell reports of a command whose reader left (`| head`)."""


class _Printer:
    """Prints the engine's events as they come."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out, self.err = out, err
        self.raw = not out.isatty()
        self.ended: ReplyEnded | None = None
        self.refused = False
        self.save_error: str | None = None
        """The first save that failed: said once, at the end, with what became of it."""
        self.lost: OSError | None = None
        """Why stdout could not be written; nothing more is written to it."""

    async def __call__(self, event: EngineEvent) -> None:
        match event:
            case Delta(text=text):
                shown = for_pipe(text, self.out.encoding) if self.raw else visible(text)
                if not self.show(shown):
                    raise OutputLost(_lost_reason(self.lost))
            case Retrying(delay_s=delay, reason=reason):
                say(self.err, f"retrying in {delay:.1f} s: {reason}")
            case Loading(message=text):
                say(self.err, f"model loading: {one_line(text)}")
            case FellBack(from_backend=failed, to_backend=next_one, reason=reason):
                say(self.err, f"{failed} failed, asking {next_one}: {one_line(reason)}")
            case DialsFitted(notes=notes):
                for note in notes:
                    say(self.err, one_line(note))
            case Refused(reason=reason):
                self.refused = True
                say(self.err, reason)
            case SaveFailed(error=error):
                self.save_error = self.save_error or error
            case ReplyEnded():
                self.ended = event

    def show(self, text: str) -> bool:
        """Write to stdout; False once it has failed (then it is no longer written to)."""
        if self.lost is not None:
            return False
        try:
            self.out.write(text)
            self.out.flush()
        except OSError as exc:
            self.lost = exc
            _stop_writing(self.out)
            return False
        return True


def _lost_reason(exc: OSError | None) -> str:
    """The saved reply's error when stdout failed under it."""
    if exc is None or exc.errno == errno.EPIPE:
        return "stdout closed"
    return f"could not write to stdout: {exc.strerror or exc}"


def _stop_writing(out: TextIO) -> None:
    """What stdout still buffers goes nowhere: without this, Python flushes it again at
    exit and prints "Exception ignored … BrokenPipeError" (the remedy its docs give)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, out.fileno())
        finally:
            os.close(devnull)


def say(err: TextIO, line: str) -> None:
    """One `llmchat: …` line on stderr, its outside text made harmless for a terminal."""
    print(f"llmchat: {visible(line)}", file=err)


async def ask(
    service: ChatService,
    text: str,
    *,
    images: tuple[ImageRef, ...] = (),
    title: str | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Send one message and stream the answer; returns the process exit status."""
    printer = _Printer(out, err)
    # On Ctrl-C the engine has saved the partial reply as cancelled, and reported it; on
    # SIGTERM or SIGHUP, as interrupted (then the exit status is 128 + the signal).
    stop = StopOnSignals(service)
    service.conversation.on_restored = lambda line: say(err, line)
    with stop, contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        await service.send(text, printer, images=images, title=title)
    if stop.signum is not None:
        return _stopped(stop, printer, service, err)
    if printer.refused:
        return EXIT_FAILED
    ended = printer.ended
    if ended is None:
        say(err, "the turn ended without a reply")
        return EXIT_FAILED
    message = ended.message
    await service.price(message, printer)
    _end_line(printer, message.content)
    if printer.lost is not None:
        return _output_lost(printer, message, service)
    status = _exit_status(message, ended, err)
    if _unsaved(service, printer, err):
        return EXIT_FAILED if status == EXIT_OK else status
    if printer.save_error is not None:
        say(err, f"{printer.save_error} (written on a later try: the session file is whole)")
        return EXIT_FAILED if status == EXIT_OK else status
    return status


def _end_line(printer: _Printer, shown: str) -> None:
    """The reply's last line ends with a newline, and all of it has left the buffer."""
    printer.show("" if not shown or shown.endswith("\n") else "\n")


def _output_lost(printer: _Printer, message: Message, service: ChatService) -> int:
    """Stdout failed: the reply is saved (interrupted, unless it had all come); one line
    says so, none for a reader that left (`| head`: it has what it wanted)."""
    assert printer.lost is not None
    err = printer.err
    reader_left = printer.lost.errno == errno.EPIPE
    if _unsaved(service, printer, err) or reader_left:
        return EXIT_READER_LEFT if reader_left else EXIT_FAILED
    session = service.conversation.info.id
    if message.status is Status.COMPLETE:
        kept = f"the whole reply is saved in session {session}"
    else:
        kept = f"the reply so far is saved as {message.status.value} in session {session}"
    why = printer.lost.strerror or printer.lost
    say(err, f"could not write the reply to stdout: {why}; {kept}")
    return EXIT_FAILED


def _stopped(stop: StopOnSignals, printer: _Printer, service: ChatService, err: TextIO) -> int:
    """A signal stopped the turn: the reply shown so far is saved as interrupted."""
    _end_line(printer, printer.ended.message.content if printer.ended is not None else "")
    assert stop.signum is not None
    name = signal.Signals(stop.signum).name
    if not _unsaved(service, printer, err):
        print(f"llmchat: stopped by {name}; the reply so far is saved as interrupted", file=err)
    return stop.exit_status


def _unsaved(service: ChatService, printer: _Printer, err: TextIO) -> bool:
    """Whether the turn is not all in the session file, after one last try to write it
    (in -p there is no later write to carry it); says so on stderr, once."""
    conversation = service.conversation
    if not conversation.unsaved:
        return False
    why = printer.save_error or "could not save the session"
    try:
        conversation.flush()
    except PersistError as exc:
        why = str(exc)
    if not conversation.unsaved:
        return False
    shown = "the reply above is all there is of it" if printer.lost is None else "nor all printed"
    say(err, f"{why}: this turn is not saved ({shown})")
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
