"""Renaming a session that is not open: a title record appended to its file.

The same record the chat screen's rename writes (through its `Conversation`), written
here for a session listed in the browser, under the file's lock, so a session another
llmchat has open is refused rather than written to by two writers.
"""

from __future__ import annotations

import os
from pathlib import Path

from llmchat.core.records import TitleChanged
from llmchat.store.errors import SessionError
from llmchat.store.session_file import SessionFile
from llmchat.store.session_load import load_session


def retitle_session(path: str | os.PathLike[str], title: str) -> str:
    """Give the session at `path` the title `title` (runs of spaces folded, as a rename
    in the chat does); returns the session's title now. An empty title, or the one it
    has, writes nothing.

    Raises `SessionLocked` if a llmchat has the session open, `SessionError` if the file
    cannot be opened, and OSError if the record cannot be written (nothing half written).
    """
    path = Path(path)
    title = " ".join(title.split())
    try:
        file = SessionFile(path)
    except OSError as exc:
        raise SessionError(f"cannot rename {path.name}: {exc.strerror or exc}") from exc
    with file:
        loaded = load_session(path)  # after the lock: nobody appends meanwhile
        if not title or title == loaded.title:
            return loaded.title
        file.continues(loaded.version)
        file.append(TitleChanged(title))
    return title
