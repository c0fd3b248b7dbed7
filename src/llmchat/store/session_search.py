"""Full-text search over every saved session: an SQLite FTS5 index kept in the cache folder.

The session files stay the only truth. The index (`<cache>/search.sqlite3`, mode 0600)
holds, per file, the state it was read in (size, modification time in nanoseconds,
inode) and one row of text per message (every branch), plus one for the title and one
for the system prompt. `refresh` re-reads only files whose state changed, drops files
that are gone, and starts again from nothing when the index is missing, damaged (any
`sqlite3.DatabaseError` saying so: the file is deleted and rebuilt) or of another
schema version. Nothing else in llmchat needs it: losing it costs one rebuild.

Two llmchats may refresh at once: each batch of files is one `BEGIN IMMEDIATE`
transaction that checks again, under the lock, whether a file still needs reading, so
the two share the work instead of doubling it. A refresh that cannot get the lock in
time stops quietly; searching then uses what is there (readers never wait: WAL).

Rows are numbered `file number << 20 | place` and file numbers only grow, in the order
files were last changed, so the newest sessions' rows have the highest numbers: a search
reads matches newest first straight from the full-text index and stops at `limit`,
whatever the number of matches (a common word in 100 MB of sessions).

User queries are never handed to FTS5 as they are: `_fts_query` turns any text into
quoted terms (each a word prefix) and quoted phrases, so a stray quote, `AND`, `NEAR(`,
a lone `*` or `-` is searched for as text, or dropped, and never raises.

Only this module imports sqlite3, and nothing imports it on the way to the first frame.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import stat as stat_mode
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

from llmchat.core.conversation import title_from
from llmchat.core.messages import Role
from llmchat.store.errors import SessionUnreadable
from llmchat.store.session_file import SESSION_SUFFIX
from llmchat.store.session_load import LoadedSession, load_session

SCHEMA_VERSION = 1
"""Bumped whenever the tables change: an index of another version is rebuilt."""
INDEX_FILE_NAME = "search.sqlite3"
LINE_LIMIT = 200
"""The most characters of a matching line a hit carries, around the match."""

_PLACE_BITS = 20
_MOST_ROWS = (1 << _PLACE_BITS) - 1
"""Rows one file may have (title, system prompt, messages); later messages are not indexed."""
_TITLE, _SYSTEM, _FIRST_MESSAGE = 0, 1, 2
_BATCH_BYTES = 16_000_000
"""File bytes indexed per transaction (about a second): each commit writes the words
gathered so far as a new segment of the index, which later merges rewrite, so fewer
commits index faster; but another llmchat waiting to refresh waits for one (readers
never wait)."""
_READ_AHEAD = 8
"""Files read ahead of the one being indexed (their parsed messages wait in memory)."""
_WRITE_WAIT_S = 2.0
_READ_WAIT_S = 1.0
_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_DAMAGED = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"
"""Private-use characters around matches in FTS5's `highlight()`."""
_SURROGATE = re.compile("[\ud800-\udfff]")
_WORD = re.compile(r"[^\W_]", re.UNICODE)
# columnsize = 0: hits are ordered by time, never by bm25 rank, which alone needs the
# sizes (a tenth of the time to index).
_SCHEMA = f"""
create table files (
    id integer primary key autoincrement,
    name text not null unique,
    size integer not null,
    mtime_ns integer not null,
    ino integer not null,
    session_id text not null,
    title text not null
);
create virtual table texts using fts5(
    body, role unindexed, message_id unindexed,
    tokenize = 'unicode61 remove_diacritics 2',
    columnsize = 0
);
insert into texts (texts, rank) values ('hashsize', 16000000);
pragma user_version = {SCHEMA_VERSION};
"""

Progress = Callable[[int, int], None]
_Key = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One message (or a session's title or system prompt) that matches a search."""

    session_id: str
    path: Path
    title: str
    message_id: str | None
    """The matching message; None when the title or the system prompt matched."""
    role: str
    """"user", "assistant", "system" (a system prompt) or "title"."""
    line: str
    """The line of the text that matches best, at most about LINE_LIMIT characters
    around the match; raw (callers neutralise it before showing it)."""
    updated: datetime
    """When the session file was last written (its modification time, UTC)."""


class SessionSearch:
    """The search index of the sessions in `sessions_dir`, kept at `index_path`.

    Each call opens its own connection, so `refresh` may run in a worker thread while
    `search` runs in another."""

    def __init__(self, sessions_dir: Path, index_path: Path) -> None:
        self.sessions_dir = Path(sessions_dir)
        self.index_path = Path(index_path)

    # -- bringing the index up to date ---------------------------------------------------

    def refresh(self, progress: Progress | None = None) -> None:
        """Bring the index up to date with the files: read new and changed ones, drop
        deleted ones. Never raises for the index itself (a locked, read-only or damaged
        index only leaves the search with what it had). `progress(done, total)` is told
        after each file read; if it raises, the refresh stops there (what it indexed so
        far stays) and the exception goes to the caller: a way to cancel it."""
        try:
            self._refresh(progress)
        except OSError:
            return  # the cache folder cannot be made or written
        except sqlite3.DatabaseError as exc:
            if _code(exc) not in _DAMAGED:
                return  # locked, read-only, disk full: a cache is not worth an error
            self._delete_index()
            with contextlib.suppress(sqlite3.DatabaseError, OSError):
                self._refresh(progress)

    def _refresh(self, progress: Progress | None) -> None:
        with self._connect(write=True) as db:
            _prepare(db)
            found = _scan(self.sessions_dir)
            known = {
                name: ((size, mtime_ns, ino), file_id)
                for file_id, name, size, mtime_ns, ino in db.execute(
                    "select id, name, size, mtime_ns, ino from files"
                )
            }
            gone = [name for name in known if name not in found]
            if gone:
                with _transaction(db):
                    for name in gone:
                        _forget(db, name)
            changed = sorted(
                (name for name, st in found.items() if known.get(name, (None,))[0] != _key(st)),
                key=lambda name: (found[name].st_mtime_ns, name),
            )
            if not changed:
                return
            # Files are read (parsed: Python) in a thread while this one indexes (SQLite,
            # which lets go of the GIL): on two cores the two halves overlap.
            reader = ThreadPoolExecutor(1, thread_name_prefix="llmchat-search-reader")
            try:
                loads = _read_ahead(reader, self._load, changed)
                done = 0
                for batch in _batches(changed, found):
                    with _transaction(db):
                        for name in batch:
                            _store(db, name, *next(loads))
                            done += 1
                            if progress is not None:
                                progress(done, len(changed))
            finally:
                reader.shutdown(cancel_futures=True)

    def _load(self, name: str) -> tuple[_Key | None, LoadedSession | None]:
        """The file's state before reading it (None: it is gone) and what it holds (None:
        it cannot be read). The state before is the one recorded: a file written while
        it was read no longer has it, and is read again by the next refresh."""
        path = self.sessions_dir / name
        try:
            key = _key(os.stat(path))
        except OSError:
            return None, None
        try:
            return key, load_session(path)
        except SessionUnreadable:
            return key, None
        except Exception:  # a loader bug on a hostile file must not stop the whole index
            return key, None

    def _delete_index(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(OSError):
                os.unlink(f"{self.index_path}{suffix}")

    # -- searching ------------------------------------------------------------------------

    def search(self, query: str, *, limit: int = 50) -> list[SearchHit]:
        """Messages matching every word of `query` (each also as the start of a longer
        word; "quoted phrases" as phrases), newest sessions first, one hit per message.
        Searches what the index holds (call `refresh` first); [] for an empty query, no
        index, or an index that cannot be read."""
        match = _fts_query(query)
        if match is None or limit < 1 or not self.index_path.exists():
            return []
        try:
            with self._connect(write=False) as db:
                db.execute("begin")  # one snapshot for the hits and their rows
                try:
                    return self._search(db, match, limit)
                finally:
                    db.execute("rollback")
        except sqlite3.DatabaseError:
            return []

    def _search(self, db: sqlite3.Connection, match: str, limit: int) -> list[SearchHit]:
        found = db.execute(
            "select rowid from texts where texts match ? order by rowid desc limit ?",
            (match, limit),
        ).fetchall()
        files: dict[int, tuple[str, str, Path, datetime] | None] = {}
        hits: list[tuple[int, SearchHit]] = []
        for (rowid,) in found:
            file_id = rowid >> _PLACE_BITS
            if file_id not in files:
                files[file_id] = self._file(db, file_id)
            known = files[file_id]
            if known is None:
                continue  # deleted since the last refresh
            session_id, title, path, updated = known
            row = db.execute(
                "select body, role, message_id, highlight(texts, 0, ?, ?) from texts "
                "where texts match ? and rowid = ?",
                (_MARK_OPEN, _MARK_CLOSE, match, rowid),
            ).fetchone()
            if row is None:
                continue
            body, role, message_id, marked = row
            hit = SearchHit(
                session_id=session_id,
                path=path,
                title=title,
                message_id=message_id,
                role=role,
                line=_best_line(body, marked),
                updated=updated,
            )
            hits.append((rowid, hit))
        # Row numbers follow the order files changed in; a file whose time was set back
        # by hand would otherwise show above newer ones.
        hits.sort(key=lambda item: (item[1].updated, item[0]), reverse=True)
        return [hit for _, hit in hits]

    def _file(self, db: sqlite3.Connection, file_id: int) -> tuple[str, str, Path, datetime] | None:
        row = db.execute(
            "select session_id, title, name, mtime_ns from files where id = ?", (file_id,)
        ).fetchone()
        if row is None:
            return None
        session_id, title, name, mtime_ns = row
        path = self.sessions_dir / name
        if not path.exists():
            return None
        updated = datetime.fromtimestamp(mtime_ns / 1e9, UTC)
        return session_id, title, path, updated

    # -- the connection ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        if write:
            _create_private(self.index_path)
        db = sqlite3.connect(
            self.index_path,
            timeout=_WRITE_WAIT_S if write else _READ_WAIT_S,
            isolation_level=None,  # transactions are begun and ended here, explicitly
            check_same_thread=False,
        )
        try:
            yield db
        finally:
            db.close()


def _create_private(path: Path) -> None:
    """Make the index file owner-only before SQLite opens it (its WAL and shared-memory
    files take the same mode)."""
    from llmchat.paths import ensure_private_dir

    ensure_private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if stat_mode.S_IMODE(os.fstat(fd).st_mode) != 0o600:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _prepare(db: sqlite3.Connection) -> None:
    """WAL (readers never wait for a refresh), and the tables of this schema version."""
    db.execute("pragma journal_mode = wal")
    # A cache: no fsync. A crash of the machine may leave it damaged, and then it is
    # found so and built again; never a reason to slow every write.
    db.execute("pragma synchronous = off")
    db.execute("pragma cache_size = -32000")
    (version,) = db.execute("pragma user_version").fetchone()
    if version == SCHEMA_VERSION:
        return
    with _transaction(db):
        (version,) = db.execute("pragma user_version").fetchone()
        if version == SCHEMA_VERSION:
            return  # another process made it meanwhile
        tables = [name for (name,) in db.execute("select name from sqlite_master")]
        for name in ("texts", "files"):
            if name in tables:
                db.execute(f"drop table {name}")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taking the write lock at once (waiting up to the timeout)."""
    db.execute("begin immediate")
    try:
        yield
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            db.execute("rollback")
        raise
    db.execute("commit")


def _read_ahead(
    reader: ThreadPoolExecutor,
    load: Callable[[str], tuple[_Key | None, LoadedSession | None]],
    names: list[str],
) -> Iterator[tuple[_Key | None, LoadedSession | None]]:
    """`load(name)` for each name, in order, run by `reader` a few files ahead."""
    pending: deque[Future[tuple[_Key | None, LoadedSession | None]]] = deque()
    waiting = iter(names)
    for name in islice(waiting, _READ_AHEAD):
        pending.append(reader.submit(load, name))
    while pending:
        result = pending.popleft().result()
        following = next(waiting, None)
        if following is not None:
            pending.append(reader.submit(load, following))
        yield result


def _store(
    db: sqlite3.Connection, name: str, key: _Key | None, loaded: LoadedSession | None
) -> None:
    """Index one file as read, unless another refresh stored this very state meanwhile."""
    if key is None:
        _forget(db, name)  # gone since the scan
        return
    if loaded is None:
        return  # no permission, say: what was indexed of it stays
    row = db.execute("select size, mtime_ns, ino from files where name = ?", (name,))
    if row.fetchone() == key:
        return
    _forget(db, name)
    size, mtime_ns, ino = key
    cursor = db.execute(
        "insert into files (name, size, mtime_ns, ino, session_id, title) "
        "values (?, ?, ?, ?, ?, ?)",
        (name, size, mtime_ns, ino, _storable(loaded.info.id), _storable(loaded.title)),
    )
    file_id = cursor.lastrowid
    assert file_id is not None
    db.executemany(
        "insert into texts (rowid, body, role, message_id) values (?, ?, ?, ?)",
        _rows(file_id, loaded),
    )


def _forget(db: sqlite3.Connection, name: str) -> None:
    row = db.execute("select id from files where name = ?", (name,)).fetchone()
    if row is None:
        return
    (file_id,) = row
    first = file_id << _PLACE_BITS
    db.execute("delete from texts where rowid between ? and ?", (first, first + _MOST_ROWS))
    db.execute("delete from files where id = ?", (file_id,))


def _rows(file_id: int, loaded: LoadedSession) -> Iterator[tuple[int, str, str, str | None]]:
    base = file_id << _PLACE_BITS
    first = next((m for m in loaded.messages if m.role is Role.USER), None)
    # A title made from the first message would only match again what that matches.
    if loaded.title.strip() and (first is None or loaded.title != title_from(first.content)):
        yield base | _TITLE, _storable(loaded.title), "title", None
    if loaded.info.system.strip():
        yield base | _SYSTEM, _storable(loaded.info.system), "system", None
    for place, message in enumerate(loaded.messages[: _MOST_ROWS - 1], start=_FIRST_MESSAGE):
        if message.content.strip():
            yield base | place, _storable(message.content), str(message.role), message.id


def _code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _key(st: os.stat_result) -> _Key:
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _scan(directory: Path) -> dict[str, os.stat_result]:
    """The session files: non-empty regular `*.jsonl` files (symlinks followed)."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return {}
    found = {}
    for entry in entries:
        if not entry.name.endswith(SESSION_SUFFIX):
            continue
        try:
            st = entry.stat()
        except OSError:
            continue
        if stat_mode.S_ISREG(st.st_mode) and st.st_size > 0:
            found[entry.name] = st
    return found


def _batches(names: list[str], found: dict[str, os.stat_result]) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for name in names:
        batch.append(name)
        size += found[name].st_size
        if size >= _BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _storable(text: str) -> str:
    """SQLite stores UTF-8: a lone surrogate (a `\\ud800` escape in a file) becomes U+FFFD."""
    if text.isascii():
        return text  # nearly every message, at memory speed
    try:
        text.encode("utf-8")  # in C, ten times faster than looking for one with re
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


# -- queries ------------------------------------------------------------------------------


_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def _fts_query(query: str) -> str | None:
    """`query` as FTS5 terms that cannot be misread as syntax, or None if it has no words.

    "quoted text" is a phrase; every other run of non-space characters is a term that
    also matches longer words (`monad` finds "monads"; a trailing `*` says the same).
    Each is given to FTS5 as a quoted string, so operators and punctuation are only text;
    FTS5's own tokenizer then splits it as it split the sessions (`foo-bar` is the phrase
    "foo bar")."""
    terms: list[str] = []
    # Control characters are no words, and a NUL ends FTS5's string early (no hits at
    # all): they are spaces here.
    query = _CONTROLS.sub(" ", query)
    for phrase, word in re.findall(r'"([^"]*)"?|([^\s"]+)', query):
        text, prefix = (phrase, False) if phrase else (word, True)
        text = text.replace("*", " ").strip()
        if not _WORD.search(text):
            continue  # punctuation only: nothing FTS5 would index
        terms.append('"' + _storable(text).replace('"', '""') + '"' + ("*" if prefix else ""))
    return " ".join(terms) if terms else None


def _best_line(body: str, marked: str | None) -> str:
    """The line of `body` with the most matches, cut to LINE_LIMIT around the first.

    `marked` is `body` with FTS5's marks around each match; if `body` itself holds the
    mark characters the marks cannot be trusted, and the first non-blank line is used."""
    lines = body.split("\n")
    if marked is None or marked.replace(_MARK_OPEN, "").replace(_MARK_CLOSE, "") != body:
        return _cut(next((line for line in lines if line.strip()), ""), 0)
    marked_lines = marked.split("\n")
    best = max(range(len(marked_lines)), key=lambda n: (marked_lines[n].count(_MARK_OPEN), -n))
    at = max(marked_lines[best].find(_MARK_OPEN), 0)  # no mark before the first open one
    return _cut(lines[best], at)


def _cut(line: str, at: int) -> str:
    """`line` without its edges' blanks, at most LINE_LIMIT characters, keeping `at`."""
    stripped = line.lstrip()
    at = max(0, at - (len(line) - len(stripped)))
    stripped = stripped.rstrip()
    if len(stripped) <= LINE_LIMIT:
        return stripped
    start = max(0, min(at - LINE_LIMIT // 4, len(stripped) - LINE_LIMIT))
    end = start + LINE_LIMIT
    return ("…" if start else "") + stripped[start:end] + ("…" if end < len(stripped) else "")
