"""A llama-server that llmchat starts, watches and always stops.

The server is started in its own session (so the terminal's Ctrl+C reaches llmchat, which
stops it in order) with the kernel's parent-death signal set, so that even if llmchat is
killed outright the server gets SIGTERM and no orphan keeps the model in memory. Its
output goes to a log file that the app can show.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmchat.local.binary import ServerBinary

PR_SET_PDEATHSIG = 1
READY_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 5.0


class ServerStartError(Exception):
    """The server did not come up; the message includes the end of its log."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    model_file: Path
    context: int = 4096
    """`-c`: the context size (tokens) for all slots together."""
    slots: int = 1
    """`-np`: parallel slots; each gets about context / slots."""
    alias: str | None = None
    """The model name the server reports (defaults to the file name)."""
    host: str = "127.0.0.1"
    port: int | None = None
    """None: a free loopback port."""
    chat_template_file: Path | None = None
    """A Jinja chat template to use instead of the one in the GGUF (or ChatML, when the
    GGUF has none): `--jinja --chat-template-file FILE`."""
    extra_args: tuple[str, ...] = ()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # Linux: SIGTERM the server when the thread that started it (llmchat's main thread)
    # dies, however it dies. Elsewhere this quietly does nothing.
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class ManagedServer:
    """One llama-server process. `start()` from the main thread, `await ready()`, `stop()`."""

    def __init__(self, binary: ServerBinary, settings: ServerSettings, log_path: Path) -> None:
        self.binary = binary
        self.settings = settings
        self.log_path = log_path
        self.port = settings.port or free_port(settings.host)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def root_url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    @property
    def alias(self) -> str:
        return self.settings.alias or self.settings.model_file.name

    def command(self) -> list[str]:
        s = self.settings
        return [
            str(self.binary.path),
            "-m",
            str(s.model_file),
            "--host",
            s.host,
            "--port",
            str(self.port),
            "-c",
            str(s.context),
            "-np",
            str(s.slots),
            "--alias",
            self.alias,
            *(
                ("--jinja", "--chat-template-file", str(s.chat_template_file))
                if s.chat_template_file is not None
                else ()
            ),
            *s.extra_args,
        ]

    def start(self) -> None:
        """Spawn the server (returns at once; `ready()` waits for it)."""
        if self.process is not None and self.process.poll() is None:
            return
        if not self.settings.model_file.is_file():
            raise ServerStartError(f"model file not found: {self.settings.model_file}")
        template = self.settings.chat_template_file
        if template is not None and not template.is_file():
            raise ServerStartError(f"chat template file not found: {template}")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.binary.env}
        with open(self.log_path, "ab") as log:
            log.write(f"\n--- llmchat starts: {' '.join(self.command())}\n".encode())
            log.flush()
            try:
                self.process = subprocess.Popen(
                    self.command(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            except OSError as exc:
                raise ServerStartError(f"cannot run {self.binary.path}: {exc}") from exc
        atexit.register(self.stop)

    async def ready(
        self,
        progress: Callable[[str], None] = lambda _: None,
        *,
        timeout_s: float = READY_TIMEOUT_S,
    ) -> None:
        """Wait until `/health` answers 200; raise ServerStartError if the process dies."""
        import httpx

        deadline = time.monotonic() + timeout_s
        delay = 0.05
        last = ""
        async with httpx.AsyncClient(timeout=httpx.Timeout(2.0)) as client:
            while True:
                if self.process is None or self.process.poll() is not None:
                    code = None if self.process is None else self.process.returncode
                    raise ServerStartError(
                        f"llama-server exited (status {code}) before it was ready:\n"
                        + self.log_tail(12)
                    )
                try:
                    response = await client.get(f"{self.root_url}/health")
                    if response.status_code == 200:
                        return
                    state = "loading the model" if response.status_code == 503 else "starting"
                except httpx.HTTPError:
                    state = "starting"
                if state != last:
                    progress(f"llama-server is {state}…")
                    last = state
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServerStartError(
                        f"llama-server was not ready after {timeout_s:.0f} s:\n" + self.log_tail(12)
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, 0.5)

    def stop(self) -> None:
        """Terminate, then kill if it lingers. Safe to call more than once, from anywhere."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT_S)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 200) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                size = log.tell()
                log.seek(max(0, size - 64 * 1024))
                text = log.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
