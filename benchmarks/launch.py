"""Figure 4: from spawning `llmchat` to the first frame that shows the prompt.

The clock starts just before the fork of the real console script on a fresh pty and
stops when the end of the first complete frame holding the prompt's placeholder reaches
the terminal. Two floors put the figure in context: a bare `python -c pass` (spawn to
exit) and a minimal Textual app with the same placeholder.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.environment import COLUMNS, LLMCHAT, PLACEHOLDER, PYTHON, REPO, ROWS, child_env
from benchmarks.pty_session import PtySession, PtyTimeout

QUIT = b"\x11"  # ctrl+q
START_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class LaunchRun:
    """Seconds from spawn to the first full frame with the prompt."""

    first_frame_s: float
    synchronised: bool
    """The frame was wrapped in sync markers, so its end is exact."""


def launch_to_prompt(argv: list[str], *, base_url: str, workdir: Path) -> LaunchRun:
    """Spawn `argv` with a fresh LLMCHAT_HOME; time the first frame showing the prompt."""
    home = Path(tempfile.mkdtemp(prefix="home-", dir=workdir))
    env = child_env(home, base_url)
    with PtySession.spawn(argv, env, cwd=REPO, columns=COLUMNS, rows=ROWS) as session:
        sighting = session.expect(PLACEHOLDER, timeout=START_TIMEOUT_S)
        assert sighting.frame_end_at is not None
        session.write(QUIT)
        with contextlib.suppress(PtyTimeout):  # wait_exit killed it; the figure is taken
            session.wait_exit(5.0)
        return LaunchRun(sighting.frame_end_at - session.spawned_at, sighting.synchronised)


def llmchat_launch(*, base_url: str, workdir: Path) -> LaunchRun:
    return launch_to_prompt([str(LLMCHAT)], base_url=base_url, workdir=workdir)


def minimal_textual_launch(*, base_url: str, workdir: Path) -> LaunchRun:
    argv = [str(PYTHON), "-m", "benchmarks.minimal_app"]
    return launch_to_prompt(argv, base_url=base_url, workdir=workdir)


def bare_python(*, workdir: Path) -> float:
    """Seconds from spawn to exit of `python -c pass` on a pty: the interpreter's floor."""
    env = child_env(workdir, "http://127.0.0.1:9/v1")
    with PtySession.spawn([str(PYTHON), "-c", "pass"], env, cwd=REPO) as session:
        session.wait_exit(START_TIMEOUT_S)
        assert session.exited_at is not None
        return session.exited_at - session.spawned_at
