"""Checkpoints of a streaming reply, so a crash or `kill -9` loses at most about a second.

The turn runner makes one `ReplyCheckpoints` per reply, hands it every piece of text as it
arrives (`add`), and ends with `finish(message)`, which records the final reply under the
checkpoints' id. In between, at most once per `interval`, the text gained since the last
checkpoint is written (so the file grows with the reply, not with its square).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from llmchat.core.conversation import Conversation, PersistError
from llmchat.core.messages import Message, new_id

CHECKPOINT_INTERVAL_S = 1.0


class ReplyCheckpoints:
    """Paces the checkpoints of one reply. The clock is injectable for tests."""

    def __init__(
        self,
        conversation: Conversation,
        parent: str | None,
        *,
        interval: float = CHECKPOINT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.conversation = conversation
        self.parent = parent
        self.id = new_id()
        """The reply's id: its checkpoints and its final record share it."""
        self._interval = interval
        self._clock = clock
        self._last = clock()
        self._pending: list[str] = []
        self.error: PersistError | None = None
        """The last checkpoint that could not be written (it is kept and retried)."""

    def add(self, text: str) -> None:
        """Text the reply just gained; written if the last checkpoint is `interval` old."""
        if text:
            self._pending.append(text)
        if self._pending and self._clock() - self._last >= self._interval:
            self.flush()

    def flush(self) -> None:
        """Write what was gained since the last checkpoint now (before a signal ends us).

        A failed write does not stop the reply: the conversation keeps the record and
        writes it with the next one; `error` says what went wrong."""
        self._last = self._clock()
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        try:
            self.conversation.checkpoint(self.id, self.parent, text)
        except PersistError as exc:
            self.error = exc

    def finish(self, message: Message) -> None:
        """Record the final reply, which supersedes the checkpoints; it takes their id.

        Raises PersistError like `Conversation.add_reply` (the reply is kept in memory)."""
        self._pending.clear()
        message.id = self.id
        if message.parent is None:
            message.parent = self.parent
        self.conversation.add_reply(message)
