"""Where llmchat keeps its files, and the one safe way it creates them.

Every directory llmchat reads or writes is named here and nowhere else, so a portable
setup (``LLMCHAT_HOME``) or a test (``tmp_path``) moves all of them at once. Nothing is
created at import: each ``ensure_*`` call creates its directory when a caller is about
to write there, so merely starting the app (or importing this module) leaves no trace.

Environment:

- ``LLMCHAT_HOME``: root every directory under one folder (``config.toml``, ``themes/``,
  ``sessions/``, ``state/``, ``log/`` side by side), instead of the platform's places.
- ``LLMCHAT_CONFIG``: the config file to use, wherever it is.

Both are read at call time, never cached, so tests can change them with monkeypatch.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from platformdirs import PlatformDirs

APP_NAME = "llmchat"
ENV_HOME = "LLMCHAT_HOME"
ENV_CONFIG = "LLMCHAT_CONFIG"
CONFIG_FILE_NAME = "config.toml"
UI_STATE_FILE_NAME = "ui.toml"
CLIPBOARD_FILE_NAME = "clipboard.txt"

PRIVATE_DIR_MODE = 0o700
"""Directories hold sessions and possibly keys: owner only (the XDG spec's advice)."""
PRIVATE_FILE_MODE = 0o600
"""Files llmchat writes may hold conversations or keys: owner only."""


@dataclass(frozen=True, slots=True)
class AppPaths:
    """The resolved location of every directory and file llmchat owns."""

    config_dir: Path
    """Holds the config file (unless ``LLMCHAT_CONFIG`` points elsewhere) and user themes."""
    config_file: Path
    """The TOML config file; ``LLMCHAT_CONFIG`` if set, else ``<config_dir>/config.toml``."""
    data_dir: Path
    """Long-lived user data (sessions)."""
    sessions_dir: Path
    """One JSONL file per session: ``<data_dir>/sessions``."""
    state_dir: Path
    """Small remembered state (last theme, …) that is safe to lose."""
    log_dir: Path
    """Diagnostic logs (never holding keys or message text)."""
    themes_dir: Path
    """User themes, beside the config: ``<config_dir>/themes``."""
    cache_dir: Path
    """Things llmchat can rebuild: the assembled bundled model, library links."""
    config_file_named: bool = False
    """Whether ``LLMCHAT_CONFIG`` named the config file: then it must exist (a typo in
    the name would otherwise run silently on defaults)."""

    @property
    def ui_state_file(self) -> Path:
        """The remembered UI state, in the state dir."""
        return self.state_dir / UI_STATE_FILE_NAME

    @property
    def clipboard_file(self) -> Path:
        """The last text llmchat copied, in the state dir (terminals may drop OSC 52)."""
        return self.state_dir / CLIPBOARD_FILE_NAME

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AppPaths:
        """Resolve every location from ``env`` (default: the process environment).

        Without ``LLMCHAT_HOME`` the platform's places come from platformdirs, which
        itself reads ``XDG_*`` variables from the process environment, not from ``env``.
        """
        env = os.environ if env is None else env
        home = _env_path(env, ENV_HOME)
        if home is not None:
            config_dir = data_dir = home
            state_dir = home / "state"
            log_dir = home / "log"
            cache_dir = home / "cache"
        else:
            dirs = PlatformDirs(APP_NAME, appauthor=False)
            config_dir = Path(dirs.user_config_dir)
            data_dir = Path(dirs.user_data_dir)
            state_dir = Path(dirs.user_state_dir)
            log_dir = Path(dirs.user_log_dir)
            cache_dir = Path(dirs.user_cache_dir)
        named = _env_path(env, ENV_CONFIG)
        return cls(
            config_dir=config_dir,
            config_file=named or config_dir / CONFIG_FILE_NAME,
            config_file_named=named is not None,
            data_dir=data_dir,
            sessions_dir=data_dir / "sessions",
            state_dir=state_dir,
            log_dir=log_dir,
            themes_dir=config_dir / "themes",
            cache_dir=cache_dir,
        )


def _env_path(env: Mapping[str, str], name: str) -> Path | None:
    # An empty variable counts as unset: `LLMCHAT_HOME= llmchat` should not root
    # everything in the current directory by accident.
    raw = env.get(name, "").strip()
    if not raw:
        return None
    # absolute() so a relative override keeps meaning the same place if the cwd changes.
    return Path(raw).expanduser().absolute()


def app_paths() -> AppPaths:
    """Every location, resolved from the current process environment."""
    return AppPaths.from_env()


def config_dir() -> Path:
    return app_paths().config_dir


def config_file() -> Path:
    return app_paths().config_file


def data_dir() -> Path:
    return app_paths().data_dir


def sessions_dir() -> Path:
    return app_paths().sessions_dir


def state_dir() -> Path:
    return app_paths().state_dir


def log_dir() -> Path:
    return app_paths().log_dir


def themes_dir() -> Path:
    return app_paths().themes_dir


def ui_state_file() -> Path:
    return app_paths().ui_state_file


def cache_dir() -> Path:
    return app_paths().cache_dir


def clipboard_file() -> Path:
    return app_paths().clipboard_file


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) with mode 0700; leave existing ones alone.

    Existing directories keep their mode: the user may have chosen it deliberately.
    """
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        # exist_ok: another llmchat process may be creating the same directory.
        directory.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
        if os.name == "posix":
            # mkdir's mode is filtered by the umask; chmod makes it exactly 0700.
            os.chmod(directory, PRIVATE_DIR_MODE)
    return path


def ensure_config_dir() -> Path:
    return ensure_private_dir(config_dir())


def ensure_data_dir() -> Path:
    return ensure_private_dir(data_dir())


def ensure_sessions_dir() -> Path:
    return ensure_private_dir(sessions_dir())


def ensure_state_dir() -> Path:
    return ensure_private_dir(state_dir())


def ensure_log_dir() -> Path:
    return ensure_private_dir(log_dir())


def ensure_cache_dir() -> Path:
    return ensure_private_dir(cache_dir())


def ensure_themes_dir() -> Path:
    return ensure_private_dir(themes_dir())


def atomic_write(
    path: Path, data: bytes, *, mode: int = PRIVATE_FILE_MODE, overwrite: bool = True
) -> None:
    """Replace ``path`` with ``data`` so that readers see the old file or the new, never half.

    The bytes go to a temp file in the same directory (so the rename cannot cross file
    systems), created with ``mode`` from the first byte (a key must never sit in a
    world-readable file, not even briefly), fsynced, then renamed over ``path``.

    With ``overwrite=False`` an existing ``path`` is never touched: ``FileExistsError``.
    The parent directory must exist.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, mode)
    try:
        try:
            if os.name == "posix":
                os.fchmod(fd, mode)  # the umask may have removed bits we asked for
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, path)
        else:
            _publish_exclusive(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _publish_exclusive(tmp: Path, path: Path) -> None:
    # A hard link fails atomically if `path` exists, closing the gap between "does it
    # exist?" and the rename that another process could slip a file into.
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:
        # Some file systems (FAT, some network mounts) have no hard links.
        if path.exists():
            raise FileExistsError(path) from None
        os.replace(tmp, path)
        return
    tmp.unlink()


def _fsync_dir(directory: Path) -> None:
    # The rename lives in the directory entry: without this a crash can lose it.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on directories; the data is already safe
    finally:
        os.close(fd)
