"""The sessions in a directory: summaries for the picker, newest first, and lookup by id.

Listing reads each file with the same tolerant loader used to resume it, so the counts the
picker shows are the counts the session opens with; a damaged file is listed with what
could be read (and how many lines were skipped), and one that cannot be read is left out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from llmchat.core.backend_record import BackendRecord
from llmchat.core.messages import Role
from llmchat.store.errors import AmbiguousSession, SessionNotFound, SessionUnreadable
from llmchat.store.session_file import SESSION_SUFFIX, parse_session_filename
from llmchat.store.session_load import LoadedSession, load_session

_AMBIGUOUS_SHOWN = 5


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """One line of the session picker."""

    id: str
    path: Path
    title: str
    created: datetime
    """When the session started (UTC)."""
    updated: datetime
    """When the file was last written (its modification time, UTC)."""
    model: str | None
    backend: str | None
    message_count: int
    warning_count: int
    """Lines skipped or doubtful when reading it; non-zero marks a damaged file."""
    record: BackendRecord = field(default_factory=BackendRecord)
    """Where the session was talking last: what reopening it reconnects to."""


def list_sessions(sessions_dir: str | os.PathLike[str]) -> list[SessionSummary]:
    """Every session in `sessions_dir`, most recently updated first.

    A directory that does not exist yet holds no sessions. Empty files (a session whose
    first write never happened) and files that cannot be read are left out.
    """
    directory = Path(sessions_dir)
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise SessionUnreadable(
            f"cannot list the sessions in {directory}: {exc.strerror or exc}"
        ) from exc
    summaries = []
    for entry in entries:
        if not entry.name.endswith(SESSION_SUFFIX):
            continue
        summary = _summarise(Path(entry.path))
        if summary is not None:
            summaries.append(summary)
    summaries.sort(key=lambda s: (s.updated, s.created, s.path.name), reverse=True)
    return summaries


def latest_session(sessions_dir: str | os.PathLike[str]) -> SessionSummary | None:
    """The most recently updated session, or None when there is none."""
    sessions = list_sessions(sessions_dir)
    return sessions[0] if sessions else None


def find_session(sessions_dir: str | os.PathLike[str], id_or_prefix: str) -> SessionSummary:
    """The one session whose id is `id_or_prefix` or starts with it.

    Raises `SessionNotFound` when none matches and `AmbiguousSession` when several do.
    """
    query = id_or_prefix.strip()
    if not query:
        raise SessionNotFound("give a session id, or the first few characters of one")
    sessions = list_sessions(sessions_dir)
    exact = [s for s in sessions if s.id == query]
    if len(exact) == 1:
        return exact[0]
    matches = exact or [s for s in sessions if s.id.startswith(query)]
    if not matches:
        raise SessionNotFound(f"no session id starts with {query!r} in {sessions_dir}")
    if len(matches) > 1:
        shown = ", ".join(s.id for s in matches[:_AMBIGUOUS_SHOWN])
        more = ", …" if len(matches) > _AMBIGUOUS_SHOWN else ""
        raise AmbiguousSession(
            f"{len(matches)} sessions match {query!r} ({shown}{more}); give more of the id"
        )
    return matches[0]


def _summarise(path: Path) -> SessionSummary | None:
    try:
        stat = path.stat()
        if stat.st_size == 0 or not path.is_file():
            return None
        loaded = load_session(path)
    except (OSError, SessionUnreadable):
        return None  # gone since the scan, a directory, or not ours to read
    updated = datetime.fromtimestamp(stat.st_mtime, UTC)
    return SessionSummary(
        id=loaded.info.id,
        path=path,
        title=loaded.title,
        created=_created(loaded.info.created, path, updated),
        updated=updated,
        model=_last_model(loaded),
        backend=loaded.info.backend,
        message_count=len(loaded.messages),
        warning_count=len(loaded.warnings),
        record=loaded.info.backend_record,
    )


def _created(recorded: str, path: Path, updated: datetime) -> datetime:
    """The header's start time; failing that the file name's, failing that the mtime."""
    try:
        when = datetime.fromisoformat(recorded)
    except ValueError:
        parsed = parse_session_filename(path.name)
        return parsed[0] if parsed is not None else updated
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _last_model(loaded: LoadedSession) -> str | None:
    """The model that answered last (a session may move between servers), else the header's."""
    for message in reversed(loaded.messages):
        if message.role is Role.ASSISTANT and message.model:
            return message.model
    return loaded.info.model
