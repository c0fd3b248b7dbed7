"""A process on a pseudo-terminal, seen from the terminal's side.

`PtySession` spawns a command on a fresh pty (120x40 by default), drains its output so
the program never blocks on a full terminal buffer, and timestamps what arrives: when a
watched text first appears, and when each synchronised frame ends. It answers Textual's
query for synchronised output (DEC mode 2026) the way a modern terminal does, so every
frame arrives wrapped in begin/end markers and "a whole frame reached the terminal" is
visible in the byte stream.

All times are `now()`: CLOCK_MONOTONIC, which is system-wide on Linux, so times taken
here and inside the child process can be compared directly.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SYNC_QUERY = b"\x1b[?2026$p"
"""DECRQM for synchronised output, which Textual sends when it starts."""
SYNC_REPLY = b"\x1b[?2026;2$y"
""""Supported, currently reset": what kitty, WezTerm, iTerm2 or tmux 3.4 would answer."""
SYNC_BEGIN = b"\x1b[?2026h"
SYNC_END = b"\x1b[?2026l"
TAIL_BYTES = 8192
"""How much recent output is kept, to explain a failure."""

_ANSI = re.compile(rb"\x1b\[[0-9;?<>=$]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.")


def now() -> float:
    """Seconds on the system-wide monotonic clock (comparable across processes)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


class PtyTimeout(Exception):
    """The program did not show what was awaited in time."""


@dataclass
class Sighting:
    """When a watched text reached the terminal, and when the frame holding it ended."""

    seen_at: float
    frame_end_at: float | None = None
    synchronised: bool = True
    """False: the frame was not wrapped in sync markers; its end is when the chunk holding
    the text arrived (the text itself is then on the terminal, the frame may not be)."""


@dataclass
class _Scanner:
    """Finds byte markers across read boundaries."""

    markers: set[bytes] = field(default_factory=set)
    carry: bytes = b""

    def feed(self, data: bytes, offset: int) -> dict[bytes, list[int]]:
        """Absolute stream offsets (of each marker's last byte + 1) found in `data`."""
        window = self.carry + data
        base = offset - len(self.carry)
        found: dict[bytes, list[int]] = {}
        for marker in self.markers:
            start = 0
            while (index := window.find(marker, start)) >= 0:
                end = base + index + len(marker)
                if end > offset:  # not already reported with the previous chunk
                    found.setdefault(marker, []).append(end)
                start = index + 1
        longest = max((len(m) for m in self.markers), default=1)
        self.carry = window[-(longest - 1) :] if longest > 1 else b""
        return found


class PtySession:
    """One child process on its own pseudo-terminal."""

    def __init__(self, pid: int, fd: int, spawned_at: float) -> None:
        self.pid = pid
        self.fd = fd
        self.spawned_at = spawned_at
        self.received = 0
        """Bytes of output read so far."""
        self.frame_ends: list[float] = []
        """Arrival time of every synchronised frame's end marker."""
        self.exited_at: float | None = None
        self.exit_status: int | None = None
        self.cpu_s: float | None = None
        """User + system CPU of the whole child process, known once it has exited."""
        self._in_frame = False
        self._eof = False
        self._tail = bytearray()
        self.everything: bytearray | None = None
        """All output as it arrived, when asked for with `keep_everything()`."""
        self._watch: dict[bytes, Sighting | None] = {}
        self._scanner = _Scanner({SYNC_QUERY, SYNC_BEGIN, SYNC_END})

    @classmethod
    def spawn(
        cls,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        cwd: Path | None = None,
        columns: int = 120,
        rows: int = 40,
    ) -> PtySession:
        """Fork onto a new pty (the child's controlling terminal) and exec `argv`.

        The spawn time is taken just before the fork, so a launch figure includes
        everything the user would wait for.
        """
        winsize = struct.pack("HHHH", rows, columns, 0, 0)
        environment = dict(env)
        spawned_at = now()
        pid, fd = pty.fork()
        if pid == 0:  # the child: only exec from here, whatever happens
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, winsize)
                if cwd is not None:
                    os.chdir(cwd)
                os.execve(argv[0], list(argv), environment)
            finally:
                os._exit(127)
        return cls(pid, fd, spawned_at)

    # -- watching ---------------------------------------------------------------------

    def watch(self, text: str) -> None:
        """Record when `text` (UTF-8, unbroken by escape codes) first reaches the terminal."""
        marker = text.encode()
        self._watch[marker] = None
        self._scanner.markers.add(marker)

    def sighting(self, text: str) -> Sighting | None:
        return self._watch.get(text.encode())

    def seen(self, text: str) -> bool:
        """The watched `text` has arrived, and so has the end of the frame holding it."""
        sighting = self.sighting(text)
        return sighting is not None and sighting.frame_end_at is not None

    def keep_everything(self) -> None:
        """Keep every byte from now on (a test checking all the app wrote), not only the
        tail."""
        self.everything = bytearray(self._tail)

    def tail_bytes(self) -> bytes:
        """The recent output exactly as it arrived, escape codes and all."""
        return bytes(self._tail)

    def tail_text(self) -> str:
        """The recent output with escape codes removed, to explain a failure."""
        return _ANSI.sub(b"", bytes(self._tail)).decode(errors="replace")

    # -- driving ----------------------------------------------------------------------

    def write(self, data: bytes) -> float:
        """Type `data` into the terminal; returns the time just before it was written."""
        at = now()
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        return at

    def pump(self, seconds: float, until: Callable[[], bool] | None = None) -> bool:
        """Drain output for up to `seconds`, or until `until()` holds; True if it held.

        Returns False at once when the program has closed the terminal.
        """
        deadline = now() + seconds
        while True:
            if until is not None and until():
                return True
            left = deadline - now()
            if left <= 0 or self._eof:
                return False
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.05))
            if ready:
                self._read()

    def expect(self, text: str, timeout: float) -> Sighting:
        """Drain until `text` is on the terminal in a finished frame, or raise PtyTimeout."""
        if text.encode() not in self._watch:
            self.watch(text)
        if not self.pump(timeout, lambda: self.seen(text)):
            raise PtyTimeout(
                f"{text!r} not shown within {timeout} s; last output:\n" + self.tail_text()[-2000:]
            )
        sighting = self.sighting(text)
        assert sighting is not None
        return sighting

    def wait_exit(self, timeout: float) -> int:
        """Drain until the program exits; kill it (this child only) if it takes too long."""
        self.pump(timeout, lambda: self._eof)
        if not self._eof:
            self.kill()
            raise PtyTimeout(
                f"pid {self.pid} did not exit within {timeout} s; last output:\n"
                + self.tail_text()[-2000:]
            )
        return self._reap()

    def kill(self) -> None:
        """SIGKILL this session's own child and reap it."""
        if self.exit_status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._reap()

    def close(self) -> None:
        self.kill()
        with contextlib.suppress(OSError):
            os.close(self.fd)

    def __enter__(self) -> PtySession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------

    def _read(self) -> None:
        try:
            data = os.read(self.fd, 1 << 16)
        except OSError as exc:  # EIO: every process holding the pty's other end has exited
            if exc.errno != errno.EIO:
                raise
            data = b""
        at = now()
        if not data:
            self._eof = True
            self.exited_at = at
            return
        offset = self.received
        self.received += len(data)
        self._tail += data
        del self._tail[:-TAIL_BYTES]
        if self.everything is not None:
            self.everything += data
        found = self._scanner.feed(data, offset)
        if found.get(SYNC_QUERY):
            os.write(self.fd, SYNC_REPLY)
        # Walk the sync markers and watched texts in stream order.
        events = sorted((end, marker) for marker, ends in found.items() for end in ends)
        for _, marker in events:
            if marker == SYNC_BEGIN:
                self._in_frame = True
            elif marker == SYNC_END:
                self._in_frame = False
                self.frame_ends.append(at)
                for sighting in self._watch.values():
                    if sighting is not None and sighting.frame_end_at is None:
                        sighting.frame_end_at = at
            elif marker in self._watch and self._watch[marker] is None:
                sighting = Sighting(seen_at=at, synchronised=self._in_frame)
                if not self._in_frame:
                    sighting.frame_end_at = at
                self._watch[marker] = sighting

    def _reap(self) -> int:
        if self.exit_status is None:
            _, status, usage = os.wait4(self.pid, 0)
            self.exit_status = os.waitstatus_to_exitcode(status)
            self.cpu_s = usage.ru_utime + usage.ru_stime
            if self.exited_at is None:
                self.exited_at = now()
        return self.exit_status
