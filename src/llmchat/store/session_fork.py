"""Forking: a new session file that starts as a copy of another's thread up to a message.

The fork names where it came from (`forked_from`: the session and the message), keeps
the messages' ids (so the two files can be compared), the system prompt, the backend and
the sampling values; the original file is not touched.
"""

from __future__ import annotations

import os
from dataclasses import replace

from llmchat.core.conversation import Conversation, title_from
from llmchat.core.messages import Message, now_iso
from llmchat.core.records import SessionHeader, SessionInfo
from llmchat.store.session_file import SessionFile


def fork_session(
    sessions_dir: str | os.PathLike[str], conversation: Conversation, upto: Message
) -> SessionInfo:
    """Write a new session holding `conversation`'s thread up to and including `upto`.
    Returns the new session's header (its `id` opens it)."""
    thread = conversation.thread()
    ids = [message.id for message in thread]
    if upto.id not in ids:
        raise ValueError("the message is not on the thread shown")
    kept = thread[: ids.index(upto.id) + 1]
    source = conversation.info
    title = source.title or title_from(kept[0].content)
    info = replace(
        source,
        id=SessionInfo().id,
        created=now_iso(),
        title=f"{title} (fork)",
        forked_from=source.id,
        forked_at=upto.id,
    )
    with SessionFile.create(sessions_dir, info) as file:
        file.append(SessionHeader(replace(info), conversation.params))
        for message in kept:
            file.append(replace(message))
    return info
