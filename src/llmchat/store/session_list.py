"""The sessions in a directory: summaries for the picker, newest first, and lookup by id.

A summary is made with the same tolerant loader used to resume the session, so the counts
the picker shows are the counts the session opens with; a damaged file is listed with
what could be read (and how many lines were skipped), and one that cannot be read is left
out. Which sessions exist always comes from scanning the directory, never from a cache,
and only the sessions asked for are read in full:

- `latest_session` (`--continue`) reads the modification times, then the newest file;
- `find_session` (`--resume ID`) learns each file's id from the index beside the files
  (`session_index`) if the file is unchanged since it was indexed, else from its first
  line (the header), else, for a file whose first line is not a sound header, by reading
  it in full as the loader would; then reads the one file that matches;
- `list_sessions` (the picker) takes each unchanged file's facts from the index and
  reads in full only the files that changed since the last listing (then updates it).

The index is trusted only for a file whose size, times and inode are exactly those it
recorded and whose name (or, if renamed, first line) carries the id it recorded; any
doubt means reading the file. What opens a session (`latest_session`, `find_session`)
returns a summary read from the file itself, never from the index.
"""

from __future__ import annotations

import json
import math
import os
import stat as stat_mode
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import Any

from llmchat.core.backend_record import BackendRecord
from llmchat.core.messages import Role, own_last_model
from llmchat.core.records import SessionHeader, SessionInfo
from llmchat.store.errors import AmbiguousSession, SessionNotFound, SessionUnreadable
from llmchat.store.session_file import SESSION_SUFFIX, parse_session_filename
from llmchat.store.session_format import BadRecord, from_json, upgrade, version_of
from llmchat.store.session_index import FileKey, SessionIndex, file_key
from llmchat.store.session_load import UTF8_BOM, LoadedSession, load_session

_AMBIGUOUS_SHOWN = 5
FIRST_LINE_LIMIT = 200
"""Characters of the first user message kept in a summary (and in the index)."""
_NO_FALLBACK = SessionInfo(id="", created="")
"""Decoding a first line with an empty fallback id tells a header's own id from none."""
_STAMP_LENGTH = len("20260102T030405Z")
_HEADER_CHUNK = 4096
"""Enough for a header with a short system prompt; longer ones take more reads."""
_HEADER_LIMIT = 4 * 1024 * 1024
"""A first line longer than this (a huge system prompt) is read with the whole file."""


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
    cost_usd: float | None = None
    """What its priced replies cost together (every branch); None if none was priced."""
    first_line: str = ""
    """The first line of its first user message, as typed (not made safe to show), cut
    to FIRST_LINE_LIMIT characters; "" if it has none."""
    read: tuple[LoadedSession, FileKey] | None = field(default=None, compare=False, repr=False)
    """The whole file as read for this summary, and the state it was read in: opening
    the session uses it instead of reading the file again while the file is unchanged."""


@dataclass(frozen=True, slots=True)
class _SessionFile:
    """A non-empty regular `*.jsonl` file found by the scan, with its stat from then."""

    location: str
    name: str
    stat: os.stat_result

    @property
    def path(self) -> Path:
        return Path(self.location)  # made only when needed: 1,000 Paths cost ~10 ms

    @property
    def updated(self) -> datetime:
        return datetime.fromtimestamp(self.stat.st_mtime, UTC)


@dataclass(frozen=True, slots=True)
class SessionListing:
    """The sessions of a directory for the picker, and what could not be read there."""

    sessions: list[SessionSummary]
    """Most recently updated first."""
    unreadable: list[str] = field(default_factory=list)
    """One line per file (or the directory) that could not be read, naming it and why."""


def list_sessions(sessions_dir: str | os.PathLike[str]) -> list[SessionSummary]:
    """Every session in `sessions_dir`, most recently updated first.

    A directory that does not exist yet holds no sessions. Empty files (a session whose
    first write never happened) and files that cannot be read are left out; a directory
    that cannot be listed raises `SessionUnreadable`.
    """
    directory = Path(sessions_dir)
    return _listing(directory, _scan(directory)).sessions


def scan_sessions(sessions_dir: str | os.PathLike[str]) -> SessionListing:
    """`list_sessions`, saying which files (or the directory itself) could not be read,
    for a picker to tell the user rather than leave them out without a word."""
    directory = Path(sessions_dir)
    try:
        files = _scan(directory)
    except SessionUnreadable as exc:
        return SessionListing([], [str(exc)])
    return _listing(directory, files)


def _listing(directory: Path, files: list[_SessionFile]) -> SessionListing:
    index = SessionIndex.load(directory)
    summaries = []
    unreadable = []
    for found in files:
        summary = _cached(index, found)
        if summary is None:
            try:
                summary = _summarise(found)
            except SessionUnreadable as exc:
                unreadable.append(str(exc))
            if summary is not None:
                _remember(index, found, summary)
        if summary is not None:
            summaries.append(summary)
    if files:
        index.keep_only({found.name for found in files})
        index.save()
    summaries.sort(key=_order, reverse=True)
    return SessionListing(summaries, unreadable)


def latest_session(sessions_dir: str | os.PathLike[str]) -> SessionSummary | None:
    """The most recently updated session, or None when there is none.

    Only the newest file is read (all files updated at that same moment, if several
    were, to break the tie as the picker does; the next ones if it is gone meanwhile).
    Raises `SessionUnreadable`, naming the file, when the newest session cannot be read
    (continuing an older one instead would be a surprise), or the directory cannot be.
    """
    files = sorted(_scan(Path(sessions_dir)), key=lambda found: found.updated, reverse=True)
    for _, group in groupby(files, key=lambda found: found.updated):
        summaries: list[SessionSummary] = []
        problems: list[SessionUnreadable] = []
        for found in group:
            try:
                summary = _summarise(found)
            except SessionUnreadable as exc:
                problems.append(exc)
                continue
            if summary is not None:
                summaries.append(summary)
        if summaries:
            return max(summaries, key=_order)
        if problems:
            raise problems[0]
    return None


def find_session(sessions_dir: str | os.PathLike[str], id_or_prefix: str) -> SessionSummary:
    """The one session whose id is `id_or_prefix` or starts with it.

    Raises `SessionNotFound` when none matches and `AmbiguousSession` when several do;
    `SessionUnreadable`, naming the file, when the match (or, with no match, a file that
    might have been it) cannot be read.
    """
    query = id_or_prefix.strip()
    if not query:
        raise SessionNotFound("give a session id, or the first few characters of one")
    directory = Path(sessions_dir)
    index = SessionIndex.load(directory)
    ids: list[tuple[str, _SessionFile]] = []
    unreadable: list[SessionUnreadable] = []
    for found in _scan(directory):
        try:
            session_id = _session_id(index, found)
        except SessionUnreadable as exc:
            unreadable.append(exc)
            continue
        if session_id is not None:
            ids.append((session_id, found))
    exact = [pair for pair in ids if pair[0] == query]
    matches = exact or [pair for pair in ids if pair[0].startswith(query)]
    if not matches and unreadable:
        more = f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""
        raise SessionUnreadable(
            f"no readable session id starts with {query!r}, and {unreadable[0]}{more}"
        )
    if not matches:
        raise SessionNotFound(f"no session id starts with {query!r} in {sessions_dir}")
    if len(matches) > 1:
        matches.sort(key=lambda pair: (pair[1].updated, pair[1].name), reverse=True)
        shown = ", ".join(session_id for session_id, _ in matches[:_AMBIGUOUS_SHOWN])
        more = ", …" if len(matches) > _AMBIGUOUS_SHOWN else ""
        raise AmbiguousSession(
            f"{len(matches)} sessions match {query!r} ({shown}{more}); give more of the id"
        )
    [(_, found)] = matches
    summary = _summarise(found)
    if summary is None:  # gone or unreadable since its header was read
        raise SessionNotFound(f"no session id starts with {query!r} in {sessions_dir}")
    return summary


def _order(summary: SessionSummary) -> tuple[datetime, datetime, str]:
    return (summary.updated, summary.created, summary.path.name)


def _scan(directory: Path) -> list[_SessionFile]:
    """The candidate session files: non-empty regular files named `*.jsonl`."""
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise SessionUnreadable(
            f"cannot list the sessions in {directory}: {exc.strerror or exc}"
        ) from exc
    files = []
    for entry in entries:
        if not entry.name.endswith(SESSION_SUFFIX):
            continue
        try:
            stat = entry.stat()  # follows a symlink, as opening the file does
        except OSError:
            continue  # gone since the scan
        if stat_mode.S_ISREG(stat.st_mode) and stat.st_size > 0:
            files.append(_SessionFile(entry.path, entry.name, stat))
    return files


def _session_id(index: SessionIndex, found: _SessionFile) -> str | None:
    """The id the loader would give the file: the index's if it holds the file unchanged,
    else its header's, read from the first line when that line is a sound header, else
    the whole file is read. None if it cannot be read."""
    facts = index.facts(found.name, file_key(found.stat))
    cached = facts.get("id") if facts is not None else None
    if isinstance(cached, str) and cached and _carries(found, cached):
        return cached
    session_id = _first_line_id(found.location)
    if session_id is not None:
        return session_id
    summary = _summarise(found)
    return summary.id if summary is not None else None


def _first_line_id(location: str) -> str | None:
    """The id in the file's first non-blank line if that line is a session header with a
    text id (the loader takes the first header it meets, so this is its id); else None."""
    try:
        fd = os.open(location, os.O_RDONLY | os.O_CLOEXEC)  # no buffered file: 4 KB is read
    except OSError:
        return None
    try:
        data, size = b"", _HEADER_CHUNK
        while len(data) <= _HEADER_LIMIT:
            chunk = os.read(fd, size)
            size *= 2  # a long first line takes a few reads, not one per 4 KB
            *complete, rest = (data + chunk).split(b"\n")
            first = next((line for line in complete if line.strip()), None)
            if first is None and not chunk and rest.strip():
                first = rest  # the only line, without its newline
            if first is not None:
                return _header_id(first.removeprefix(UTF8_BOM))
            if not chunk:
                return None
            data = rest
        return None
    except OSError:
        return None
    finally:
        os.close(fd)


def _header_id(line: bytes) -> str | None:
    """The id of a session header, decoded as the loader decodes a first line; None for
    any other line, and for a header without a usable id (the loader would use another)."""
    try:
        value = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    for record in upgrade(value, version_of(value)):
        try:
            decoded = from_json(record, _quiet, fallback=_NO_FALLBACK)
        except BadRecord:
            return None
        if isinstance(decoded, SessionHeader) and decoded.info.id:
            return decoded.info.id
        return None
    return None


def _quiet(warning: str) -> None:
    """Warnings about a header are the loader's to give, when the session is opened."""


def _summarise(found: _SessionFile) -> SessionSummary | None:
    """The file's summary; None if it is gone since the scan. Raises `SessionUnreadable`
    (naming the file and why) if it is there but cannot be read: no permission, …"""
    path = found.path
    try:
        loaded = load_session(path)
    except SessionUnreadable as exc:
        if isinstance(exc.__cause__, FileNotFoundError):
            return None
        raise
    except FileNotFoundError:
        return None
    updated = found.updated
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
        cost_usd=_cost(loaded),
        first_line=_first_line(loaded),
        read=(loaded, file_key(found.stat)),
    )


def _cached(index: SessionIndex, found: _SessionFile) -> SessionSummary | None:
    """The index's summary of an unchanged file, if the file agrees about the id: the id
    its name carries, else (a renamed file) the id its first line carries."""
    facts = index.facts(found.name, file_key(found.stat))
    summary = _from_facts(facts, found) if facts is not None else None
    if summary is None:
        return None
    return summary if _carries(found, summary.id) else None


def _carries(found: _SessionFile, session_id: str) -> bool:
    """Whether the file says it is `session_id`: by its name, else (a renamed file) by its
    first line. An index that names another session than the file is not believed."""
    return _name_carries(found.name, session_id) or _first_line_id(found.location) == session_id


def _name_carries(name: str, session_id: str) -> bool:
    """Whether `name` is `<16-character stamp>-<session_id>.jsonl` (see session_filename).

    Slicing, not `parse_session_filename`: its date parsing would cost more than the rest
    of a cached listing."""
    return (
        len(name) == _STAMP_LENGTH + 1 + len(session_id) + len(SESSION_SUFFIX)
        and name[_STAMP_LENGTH] == "-"
        and name[_STAMP_LENGTH + 1 :].startswith(session_id)
        and name.endswith(SESSION_SUFFIX)
    )


def _remember(index: SessionIndex, found: _SessionFile, summary: SessionSummary) -> None:
    """Cache a summary, unless the file changed while it was being read."""
    try:
        now = os.stat(found.location)
    except OSError:
        return
    key = file_key(found.stat)
    if file_key(now) != key:
        index.forget(found.name)
        return
    index.remember(found.name, key, _facts(summary))


def _facts(summary: SessionSummary) -> dict[str, Any]:
    record = summary.record
    return {
        "id": summary.id,
        "title": summary.title,
        "created": summary.created.isoformat(),
        "model": summary.model,
        "backend": summary.backend,
        "messages": summary.message_count,
        "warnings": summary.warning_count,
        "record": [record.name, record.kind, record.base_url, record.model, record.model_file],
        "cost": summary.cost_usd,
        "first": summary.first_line,
    }


def _from_facts(facts: dict[str, Any], found: _SessionFile) -> SessionSummary | None:
    """A summary from cached facts, or None if any of them has the wrong shape."""
    try:
        session_id, title = facts["id"], facts["title"]
        model, backend = facts["model"], facts["backend"]
        messages, warnings = facts["messages"], facts["warnings"]
        record = facts["record"]
        cost, first_line = facts["cost"], facts["first"]
        created = datetime.fromisoformat(facts["created"])
    except (KeyError, TypeError, ValueError):
        return None
    texts_ok = isinstance(session_id, str) and session_id and isinstance(title, str)
    optional_ok = all(value is None or isinstance(value, str) for value in (model, backend))
    counts_ok = all(
        type(value) is int and value >= 0  # not bool, not float
        for value in (messages, warnings)
    )
    record_ok = (
        isinstance(record, list)
        and len(record) == 5
        and all(value is None or isinstance(value, str) for value in record)
    )
    cost_ok = cost is None or (
        type(cost) in (int, float) and math.isfinite(cost) and cost >= 0  # not bool
    )
    first_ok = isinstance(first_line, str) and len(first_line) <= FIRST_LINE_LIMIT
    if not (texts_ok and optional_ok and counts_ok and record_ok and cost_ok and first_ok):
        return None
    if created.tzinfo is None:
        return None
    return SessionSummary(
        id=session_id,
        path=found.path,
        title=title,
        created=created.astimezone(UTC),
        updated=found.updated,
        model=model,
        backend=backend,
        message_count=messages,
        warning_count=warnings,
        record=BackendRecord(*record),
        cost_usd=float(cost) if cost is not None else None,
        first_line=first_line,
    )


def _created(recorded: str, path: Path, updated: datetime) -> datetime:
    """The header's start time; failing that the file name's, failing that the mtime."""
    try:
        when = datetime.fromisoformat(recorded)
    except ValueError:
        parsed = parse_session_filename(path.name)
        return parsed[0] if parsed is not None else updated
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _cost(loaded: LoadedSession) -> float | None:
    """The sum of the replies' known prices; None when no reply has one."""
    known = [
        m.cost_usd
        for m in loaded.messages
        if m.role is Role.ASSISTANT and m.cost_usd is not None and math.isfinite(m.cost_usd)
    ]
    return sum(known) if known else None


def _first_line(loaded: LoadedSession) -> str:
    """The first line with text of the first user message, cut to FIRST_LINE_LIMIT."""
    for message in loaded.messages:
        if message.role is Role.USER:
            line = next((part for part in message.content.splitlines() if part.strip()), "")
            return line.strip()[:FIRST_LINE_LIMIT]
    return ""


def _last_model(loaded: LoadedSession) -> str | None:
    """The model of the session's own backend that answered last (a session may move
    between servers; a replay elsewhere does not move it), else the header's."""
    return own_last_model(loaded.messages, loaded.info.backend) or loaded.info.model
