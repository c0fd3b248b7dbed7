"""What can go wrong when opening, reading or finding a session, in words a user can act on.

Writes that fail (disk full, I/O errors) are not here: they surface as `OSError`, which the
`Conversation` turns into a `PersistError` while it keeps the unsaved records in memory.
"""

from __future__ import annotations


class SessionError(Exception):
    """Base of the store's errors; `str(error)` is a one-line message for the user."""


class SessionLocked(SessionError):
    """Another llmchat (or another window of this one) is writing to the session."""


class SessionUnreadable(SessionError):
    """The session file could not be read at all (missing, no permission, not a file)."""


class SessionNotFound(SessionError, LookupError):
    """No session matches the id or prefix the user gave."""


class AmbiguousSession(SessionError, LookupError):
    """More than one session matches the prefix the user gave."""
