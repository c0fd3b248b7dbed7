"""Prompt history: ↑ in an empty prompt recalls earlier user messages, ↓ goes forward.

As in a shell: this session's messages come first (newest first), then the earlier
sessions', which are read only when the recall runs past this session's (the loader is
slow by nature; the caller runs `fetch_earlier` off the UI thread and hands the result to
`add_earlier`). A recalled text stays "recalled" while it is shown unchanged; once edited,
↑ and ↓ are cursor keys again, and what is sent is the edit.

Recalled text is neutralised (`safe_text.visible`) because it is shown in the prompt, and
what is shown is what would be sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from llmchat.core.safe_text import visible


def _shown(text: str) -> str:
    return visible(text.replace("\r\n", "\n"))


def _without_repeats(texts: Iterable[str], seen: Iterable[str] = ()) -> list[str]:
    """`texts` with empty ones left out and each text kept once, where it first comes
    (newest first: a question asked again, or copied by a fork, is one step of ↑)."""
    kept: list[str] = []
    known = set(seen)
    for text in texts:
        if text.strip() and text not in known:
            kept.append(text)
            known.add(text)
    return kept


class PromptHistory:
    """Where ↑/↓ are in the user's earlier messages, and what to show for each step."""

    def __init__(
        self,
        session: Callable[[], Iterable[str]],
        earlier: Callable[[], Sequence[str]] | None = None,
    ) -> None:
        """`session`: this session's user messages, oldest first (read again each time a
        recall starts, so it includes what was just sent). `earlier`: the user messages of
        earlier sessions, newest first; called at most once, only when needed."""
        self._session = session
        self._loader = earlier
        self._earlier: list[str] | None = None
        self._entries: list[str] = []
        """Newest first: what ↑ walks through since the recall started."""
        self._at = -1
        """Index into `_entries` of the text shown; -1 when not recalling."""

    def recalling(self, shown: str) -> bool:
        """Whether ↑/↓ are history keys for the prompt showing `shown`: it is empty, or
        it shows a recalled message unchanged."""
        return not shown or (self._at >= 0 and shown == self._entries[self._at])

    def older(self, shown: str) -> str | None:
        """The message before the one shown (the newest when `shown` is empty); None when
        `shown` is a draft or there is nothing older (yet: see `needs_earlier`)."""
        if not self.recalling(shown):
            return None
        if not shown:  # a fresh start, also after sending or clearing a recalled text
            newest_first = [*reversed(list(self._session())), *(self._earlier or [])]
            self._entries = _without_repeats(_shown(text) for text in newest_first)
            self._at = -1
        if self._at + 1 >= len(self._entries):
            return None
        self._at += 1
        return self._entries[self._at]

    def newer(self, shown: str) -> str | None:
        """The message after the one shown; "" past the newest (what was being typed: the
        prompt was empty). None when `shown` is not a recalled message."""
        if not shown or not self.recalling(shown):
            return None
        self._at -= 1
        return self._entries[self._at] if self._at >= 0 else ""

    @property
    def needs_earlier(self) -> bool:
        """Whether earlier sessions could add older messages that are not read yet."""
        return self._loader is not None and self._earlier is None

    def fetch_earlier(self) -> list[str]:
        """Read the earlier sessions' messages (slow: run it off the UI thread)."""
        return list(self._loader()) if self._loader is not None else []

    def add_earlier(self, texts: Sequence[str]) -> None:
        """Take the messages `fetch_earlier` read; a recall under way can now go on."""
        if self._earlier is not None:
            return
        self._earlier = list(texts)
        if self._at >= 0:
            self._entries += _without_repeats((_shown(t) for t in texts), seen=self._entries)
