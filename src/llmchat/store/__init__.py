"""JSONL session files: append, load, recover, lock, list (fork and export to come).

- `session_format`: how each record looks as JSON, its version, upgrades of older files.
- `session_file`: the writer (`SessionFile`), the file-name scheme, the line encoding.
- `session_load`: `load_session`, which reads whatever survives in a file, with warnings.
- `session_list`: `list_sessions`, `latest_session`, `find_session` for the picker and CLI.
- `session_open`: `start_session`, `resume_session` join a `Conversation` to its file.
- `session_title`: `retitle_session` renames a session that is not open.
- `session_trash`: `move_to_trash`, `restore`, `purge_trash`: deleting, and undoing it.
"""

from llmchat.store.errors import (
    AmbiguousSession,
    SessionError,
    SessionLocked,
    SessionNotFound,
    SessionUnreadable,
)
from llmchat.store.session_file import (
    SESSION_SUFFIX,
    SessionFile,
    encode_record,
    parse_session_filename,
    session_filename,
)
from llmchat.store.session_list import (
    SessionListing,
    SessionSummary,
    find_session,
    latest_session,
    list_sessions,
    scan_sessions,
)
from llmchat.store.session_load import LoadedSession, load_session, parse_session
from llmchat.store.session_open import (
    DeferredSessionFile,
    OpenSession,
    new_session,
    resume_session,
    start_session,
)

__all__ = [
    "SESSION_SUFFIX",
    "AmbiguousSession",
    "DeferredSessionFile",
    "LoadedSession",
    "OpenSession",
    "SessionError",
    "SessionFile",
    "SessionListing",
    "SessionLocked",
    "SessionNotFound",
    "SessionSummary",
    "SessionUnreadable",
    "encode_record",
    "find_session",
    "latest_session",
    "list_sessions",
    "load_session",
    "new_session",
    "parse_session",
    "parse_session_filename",
    "resume_session",
    "scan_sessions",
    "session_filename",
    "start_session",
]
