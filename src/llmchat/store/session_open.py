"""A conversation joined to its session file: starting a new one, resuming an old one.

The `OpenSession` holds the file's write lock for as long as it is open; close it (or use
it as a context manager) when the user leaves the session.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from llmchat.core.conversation import Conversation
from llmchat.core.records import Record
from llmchat.store.errors import SessionError
from llmchat.store.session_file import SessionFile
from llmchat.store.session_index import FileKey, file_key
from llmchat.store.session_load import LoadedSession, load_session


@dataclass(frozen=True, slots=True)
class OpenSession:
    """A conversation whose every record is appended to `file`, which it holds locked."""

    conversation: Conversation
    file: SessionFile
    warnings: list[str] = field(default_factory=list)
    """What was skipped while loading it (empty for a new session)."""

    @property
    def path(self) -> Path:
        return self.file.path

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def start_session(sessions_dir: str | os.PathLike[str], conversation: Conversation) -> OpenSession:
    """Create the file for a conversation that has none yet, and attach it.

    The conversation writes its header with its first record; anything it already holds
    unsaved is written then too (or at once with `conversation.flush()`).
    """
    try:
        file = SessionFile.create(sessions_dir, conversation.info)
    except OSError as exc:
        raise SessionError(
            f"cannot create a session file in {sessions_dir}: {exc.strerror or exc}"
        ) from exc
    conversation.attach(file)
    return OpenSession(conversation, file)


def resume_session(
    path: str | os.PathLike[str], *, read: tuple[LoadedSession, FileKey] | None = None
) -> OpenSession:
    """Load a session and continue it: new records are appended to the same file.

    Raises `SessionLocked` if another llmchat is writing to it, and `SessionError` if it
    cannot be opened for writing. Damage inside the file never raises; it is reported in
    `OpenSession.warnings`.
    """
    path = Path(path)
    try:
        # Lock before reading, so nobody appends between what we load and what we write.
        file = SessionFile(path)
    except OSError as exc:
        raise SessionError(
            f"cannot open the session file {path} for writing: {exc.strerror or exc}"
        ) from exc
    try:
        # A file read a moment ago (to find or list it) is not read again, if it is in the
        # state it was read in now that it is ours.
        same = read is not None and file_key(os.stat(path)) == read[1]
        loaded = read[0] if read is not None and same else load_session(path)
    except BaseException:
        file.close()
        raise
    file.continues(loaded.version)
    conversation = Conversation(
        info=loaded.info,
        params=loaded.params,
        messages=loaded.messages,
        sink=file,
        # A file whose header was lost gets one with its next record (the loader accepts
        # the header wherever it is), so it carries its id, model and params again.
        header_written=loaded.has_header,
        leaf=loaded.leaf,
        system_changes=loaded.system_changes,
    )
    return OpenSession(conversation, file, loaded.warnings)


class DeferredSessionFile:
    """A RecordSink that creates the session file on the first record it is given.

    A new session that the user leaves without typing anything leaves no file behind.
    """

    def __init__(self, sessions_dir: str | os.PathLike[str], conversation: Conversation) -> None:
        self._dir = sessions_dir
        self._conversation = conversation
        self.file: SessionFile | None = None

    def append(self, record: Record) -> None:
        if self.file is None:
            self.file = SessionFile.create(self._dir, self._conversation.info)
        self.file.append(record)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def new_session(
    sessions_dir: str | os.PathLike[str], conversation: Conversation
) -> DeferredSessionFile:
    """Attach a new conversation to a session file that appears with its first record."""
    sink = DeferredSessionFile(sessions_dir, conversation)
    conversation.attach(sink)
    return sink
