"""SIGTERM and SIGHUP while a turn runs without the app (`-p`): save, then stop.

A `kill`, a closed terminal or a logout used to end `-p` as it stood, and the part of the
reply already printed was lost (only its last checkpoint, up to a second old, survived).
While a `StopOnSignals` is active, either signal marks the turn interrupted and cancels
the task running it; the engine then saves what was shown, as `interrupted`, at once,
before the cancellation goes on. The app has its own handler (`tui.app`), which also
restores the terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from types import TracebackType
from typing import Protocol, Self

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Interruptible(Protocol):
    def interrupt(self) -> None: ...


class StopOnSignals:
    """Use as `with StopOnSignals(service):` inside the task that runs the turn."""

    def __init__(self, service: Interruptible) -> None:
        self._service = service
        self._task: asyncio.Task[object] | None = None
        self._installed: list[signal.Signals] = []
        self.signum: signal.Signals | None = None
        """The signal that stopped the turn, or None."""

    @property
    def exit_status(self) -> int:
        """128 + the signal's number (143 for SIGTERM, 129 for SIGHUP), as a shell says
        of a process a signal ended; 0 if none came."""
        return 128 + self.signum if self.signum is not None else 0

    def _stop(self, signum: signal.Signals) -> None:
        if self.signum is not None or self._task is None:
            return  # the first signal is already being handled
        self.signum = signum
        self._service.interrupt()
        self._task.cancel()

    def __enter__(self) -> Self:
        loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        for signum in STOP_SIGNALS:
            # Not available off the main thread or on some platforms: then the signal
            # keeps its default action, as before.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self._stop, signum)
                self._installed.append(signum)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        for signum in self._installed:
            loop.remove_signal_handler(signum)
        self._installed.clear()
        if self.signum is not None and self._task is not None:
            # The cancellation was ours and has been handled: the task goes on to exit.
            self._task.uncancel()
