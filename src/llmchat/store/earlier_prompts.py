"""The user's messages in earlier sessions, for prompt history (↑ past this session's).

Bounded so that one ↑ never reads much: the newest few sessions, up to a budget of bytes
(a file that would overrun it is passed over), and a cap on the messages returned.
"""

from __future__ import annotations

import os
from pathlib import Path

from llmchat.core.messages import Role
from llmchat.store.errors import SessionError
from llmchat.store.session_list import list_sessions
from llmchat.store.session_load import load_session

SESSIONS_READ = 5
BYTES_READ = 8 * 1024 * 1024
PROMPTS_KEPT = 1000


def earlier_prompts(
    sessions_dir: str | os.PathLike[str],
    *,
    skip: str | None = None,
    sessions: int = SESSIONS_READ,
    byte_budget: int = BYTES_READ,
    limit: int = PROMPTS_KEPT,
) -> list[str]:
    """User messages of the newest `sessions` sessions other than `skip` (an id), newest
    session first and, within one, newest message first. Unreadable files are passed over."""
    prompts: list[str] = []
    read = 0
    try:
        summaries = list_sessions(sessions_dir)
    except SessionError:
        return []
    for summary in [s for s in summaries if s.id != skip][:sessions]:
        size = _size(summary.path)
        if size is None or read + size > byte_budget:
            continue
        read += size
        try:
            loaded = load_session(summary.path)
        except SessionError:
            continue
        prompts += reversed([m.content for m in loaded.messages if m.role is Role.USER])
        if len(prompts) >= limit:
            return prompts[:limit]
    return prompts


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None
