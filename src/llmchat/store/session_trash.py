"""Deleting sessions without losing them at once: a trash folder beside the session files.

`move_to_trash` moves a session file into `<sessions>/.trash/` (created 0700), where no
listing looks (it is not a `*.jsonl` file of the sessions folder), and forgets it in the
index; `restore` moves it back; `purge_trash` deletes for good what the trash holds.

A session another llmchat (or this one) has open holds its file's lock; such a file is
refused, not moved from under its writer. Moves never overwrite: a name already taken
in the trash gets a number, and a session is not restored over a file that took its
place meanwhile.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from llmchat.paths import ensure_private_dir
from llmchat.store.errors import SessionError, SessionLocked, SessionNotFound
from llmchat.store.image_store import ImageStore
from llmchat.store.session_file import SESSION_SUFFIX
from llmchat.store.session_index import SessionIndex

TRASH_NAME = ".trash"
_MOST_TRIES = 1000


class TrashError(SessionError):
    """A session could not be moved to the trash, or back out of it."""


@dataclass(frozen=True, slots=True)
class TrashedSession:
    """A session file moved to the trash: where it was, and where it is now."""

    original: Path
    trashed: Path


def trash_dir(sessions_dir: str | os.PathLike[str]) -> Path:
    return Path(sessions_dir) / TRASH_NAME


def move_to_trash(path: str | os.PathLike[str]) -> TrashedSession:
    """Move the session file at `path` into the trash beside it.

    Raises `SessionLocked` if a llmchat has the session open, `SessionNotFound` if the
    file is gone, `TrashError` if it cannot be moved.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise SessionNotFound(f"the session file {path.name} is gone already") from exc
    except OSError as exc:
        raise TrashError(f"cannot delete {path.name}: {exc.strerror or exc}") from exc
    try:
        try:
            # Held while the file moves, so no llmchat opens it for writing meanwhile.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise SessionLocked(
                f"the session {path.name} is open in llmchat; close it there to delete it"
            ) from exc
        try:
            trash = ensure_private_dir(trash_dir(path.parent))
            target = _move_to_free_name(path, trash)
        except OSError as exc:
            raise TrashError(
                f"cannot move {path.name} to the trash: {exc.strerror or exc}"
            ) from exc
    finally:
        os.close(fd)
    _sync_directory(path.parent)
    _sync_directory(target.parent)
    index = SessionIndex.load(path.parent)
    index.forget(path.name)
    index.save()
    return TrashedSession(path, target)


def restore(trashed: TrashedSession) -> None:
    """Move a trashed session back where it was.

    Raises `TrashError` if a file of that name is there now (it is left alone, and the
    session stays in the trash) or the session is no longer in the trash."""
    try:
        moved = _move_without_overwrite(trashed.trashed, trashed.original)
    except FileNotFoundError as exc:
        raise TrashError(
            f"{trashed.original.name} is no longer in the trash (emptied meanwhile?)"
        ) from exc
    except OSError as exc:
        raise TrashError(f"cannot restore {trashed.original.name}: {exc.strerror or exc}") from exc
    if not moved:
        raise TrashError(
            f"a session file named {trashed.original.name} is there again; the deleted one "
            f"stays in the trash ({trashed.trashed})"
        )
    _sync_directory(trashed.original.parent)
    _sync_directory(trashed.trashed.parent)


def purge_trash(sessions_dir: str | os.PathLike[str]) -> int:
    """Delete every file in the trash for good; the number deleted. No trash: 0.

    Raises `TrashError` naming the first file that cannot be deleted (those before it
    are deleted)."""
    trash = trash_dir(sessions_dir)
    try:
        entries = list(os.scandir(trash))
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise TrashError(f"cannot list the trash {trash}: {exc.strerror or exc}") from exc
    deleted = 0
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            continue  # llmchat puts only files there: someone else's folder is not ours
        try:
            os.unlink(entry.path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise TrashError(f"cannot delete {entry.path}: {exc.strerror or exc}") from exc
        deleted += 1
    if deleted:
        # Images only the purged sessions named go with them (those of the sessions
        # still here, or in the trash no more, are kept).
        sessions = sorted(Path(sessions_dir).glob(f"*{SESSION_SUFFIX}"))
        ImageStore(Path(sessions_dir)).forget_unused(sessions)
    return deleted


def _move_to_free_name(path: Path, trash: Path) -> Path:
    """Move `path` into `trash` under its own name, or `<stem>.<n>.jsonl` if taken."""
    stem = path.name.removesuffix(SESSION_SUFFIX)
    for n in range(_MOST_TRIES):
        name = path.name if n == 0 else f"{stem}.{n}{SESSION_SUFFIX}"
        if _move_without_overwrite(path, trash / name):
            return trash / name
    raise OSError(errno.EEXIST, "too many deleted sessions of that name in the trash")


def _move_without_overwrite(source: Path, target: Path) -> bool:
    """Move `source` to `target` unless `target` exists (then False, nothing moved).

    A hard link then an unlink, so a file that appears at `target` meanwhile is never
    replaced; where links are refused, a check then a rename."""
    try:
        os.link(source, target, follow_symlinks=False)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        if os.path.lexists(target):
            return False
        os.rename(source, target)
        return True
    os.unlink(source)
    return True


def _sync_directory(directory: Path) -> None:
    """Make the move durable; best effort, as for a new session file."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
