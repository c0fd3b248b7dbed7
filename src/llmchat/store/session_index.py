"""A cache of what the session picker shows of each file, kept beside the session files.

`<sessions>/.index.json` remembers, per file name, the file's identity when it was read
(size, modification and change times in nanoseconds, inode) and the facts the picker
shows (title, model, counts, …), so listing 1,000 sessions reads one small file instead
of every session file in full.

It is only a cache, and never the authority on which sessions exist or which is which:
the caller scans the directory, and uses an entry only when the file's identity still
matches it exactly. Anything else -- no index, a torn or hand-edited one, another
version's, an entry of the wrong shape -- reads as "not cached", and the file is read in
full, as if there were no index at all. Files written while they were being read, or too
recently for their times to tell a later same-size edit apart, are not remembered.

Rewritten whole to a temporary file, fsynced and renamed over the old one, so a crash
leaves the old index or the new one, never a mix; two llmchats listing at once each
write a sound index and the last one wins. Failing to write it (a read-only folder, a
full disk) costs speed only, so it is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

INDEX_NAME = ".index.json"
"""Not `*.jsonl`: the index is never taken for a session."""
INDEX_VERSION = 2
"""Raised whenever the facts change shape: 2 added each session's cost and first line.
An index of another version is not read; the next listing writes a new one."""
_MAX_INDEX_BYTES = 64 * 1024 * 1024
_RACY_NS = 2_000_000_000
"""A file changed less than this long ago may change again within the same tick of the
filesystem's clock without its times showing it (a same-size edit): it is not cached."""

FileKey = tuple[int, int, int, int]


def file_key(stat: os.stat_result) -> FileKey:
    """What identifies one state of a file: any append, edit, replace or chmod changes it."""
    return (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


class SessionIndex:
    """Facts about session files by file name, each valid only for the key it was read at."""

    def __init__(self, directory: Path, entries: dict[str, Any] | None = None) -> None:
        self.directory = directory
        self._entries: dict[str, Any] = entries or {}
        self._changed = False

    @classmethod
    def load(cls, directory: Path) -> SessionIndex:
        """The index in `directory`, or an empty one if it is missing or cannot be used."""
        path = directory / INDEX_NAME
        try:
            with path.open("rb") as file:
                data = file.read(_MAX_INDEX_BYTES + 1)
            if len(data) > _MAX_INDEX_BYTES:
                return cls(directory)
            value = json.loads(data.decode("utf-8"))
        except (OSError, ValueError, RecursionError):
            return cls(directory)
        if not isinstance(value, dict) or value.get("v") != INDEX_VERSION:
            return cls(directory)
        entries = value.get("entries")
        return cls(directory, entries if isinstance(entries, dict) else None)

    def facts(self, name: str, key: FileKey) -> dict[str, Any] | None:
        """The facts remembered for `name` at exactly `key`, else None."""
        entry = self._entries.get(name)
        if not isinstance(entry, dict) or entry.get("key") != list(key):
            return None
        facts = entry.get("facts")
        return facts if isinstance(facts, dict) else None

    def remember(self, name: str, key: FileKey, facts: dict[str, Any]) -> None:
        """Keep `facts` for `name` at `key`, unless the file changed too recently to trust."""
        if time.time_ns() - max(key[1], key[2]) < _RACY_NS:
            self.forget(name)
            return
        self._entries[name] = {"key": list(key), "facts": facts}
        self._changed = True

    def forget(self, name: str) -> None:
        if self._entries.pop(name, None) is not None:
            self._changed = True

    def keep_only(self, names: set[str]) -> None:
        """Drop the entries of files that are gone."""
        for name in [name for name in self._entries if name not in names]:
            self.forget(name)

    def save(self) -> None:
        """Write the index if anything changed; best effort (a cache is not worth an error)."""
        if not self._changed:
            return
        data = json.dumps(
            {"v": INDEX_VERSION, "entries": self._entries},
            ensure_ascii=True,
            separators=(",", ":"),
        ).encode("ascii")
        temp: str | None = None
        try:
            fd, temp = tempfile.mkstemp(prefix=INDEX_NAME + ".", suffix=".tmp", dir=self.directory)
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, self.directory / INDEX_NAME)
            temp = None
            self._changed = False
        except OSError:
            pass
        finally:
            if temp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
