"""Facts about the machine a run happened on, and how busy other programs kept it.

The figures are only comparable on a quiet machine: on two cores, one other busy
process (a test suite, a local model server) can double them. The suite measures the
CPU others use while it is idle itself, says so when it is high, and records it.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

BUSY_WARNING = 0.15
"""Share of all CPUs used by other programs above which the figures are suspect."""


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs since boot, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def background_busy(seconds: float = 1.0) -> float | None:
    """Share (0–1) of all CPUs busy over `seconds` while this suite is idle; None off Linux."""
    try:
        busy0, total0 = _cpu_times()
        time.sleep(seconds)
        busy1, total1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return None
    return (busy1 - busy0) / max(1, total1 - total0)


def wait_for_quiet(timeout: float) -> float | None:
    """Sample until other programs use at most BUSY_WARNING of the CPUs, or `timeout` ends.

    Returns the last sample (None off Linux).
    """
    deadline = time.monotonic() + timeout
    while True:
        busy = background_busy()
        if busy is None or busy <= BUSY_WARNING or time.monotonic() >= deadline:
            return busy


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process so far (0 if it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # After the command's closing parenthesis: state is field 3, utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class OthersMeter:
    """How much CPU programs other than this suite (and its children) used while it ran.

    /proc/stat gives all CPU time spent; `os.times()` gives this process's and its reaped
    children's. Every app, server and floor process the suite starts is reaped before
    the end, so the difference is everyone else's. A child that is still running (the
    llama-server, during its runs) is not in `os.times()` yet: `ours` adds its CPU.
    """

    ours: Callable[[], float] = lambda: 0.0
    _start: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def _sample(self) -> tuple[float, float, float]:
        busy, _ = _cpu_times()
        times = os.times()
        spent = times.user + times.system + times.children_user + times.children_system
        return time.monotonic(), busy / os.sysconf("SC_CLK_TCK"), spent + self.ours()

    def start(self) -> None:
        self._start = self._sample()

    def share(self) -> float | None:
        """Share (0–1) of all CPUs used by others since `start()`; None off Linux."""
        try:
            end = self._sample()
        except (OSError, ValueError, IndexError):
            return None
        elapsed = end[0] - self._start[0]
        others = (end[1] - self._start[1]) - (end[2] - self._start[2])
        return max(0.0, others) / max(1e-9, elapsed * (os.cpu_count() or 1))


def machine_facts() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "textual": version("textual"),
        "rich": version("rich"),
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
    }
