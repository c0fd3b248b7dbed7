"""Reading the answers to `GET /models`, a page at a time.

Chat Completions servers answer `{"data": [{"id": …}, …]}` in one go. Anthropic pages
its list (`has_more`, `last_id`, the next page asked for with `after_id`), and some
OpenAI-compatible servers page the same way (with `after`). Pure: the backend fetches,
this reads. A server is followed for at most `MAX_PAGES` pages, and never round a loop
(a cursor named twice): a hostile or broken server cannot keep a listing going.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MAX_PAGES = 10
"""Pages asked for at most: 10,000 models at Anthropic's largest page, far beyond any
real list, and a bound on what a server that always says `has_more` can cost."""


@dataclass(frozen=True, slots=True)
class ModelPage:
    """One page of a model list."""

    ids: tuple[str, ...]
    """The model ids, exactly as listed (empty and non-string ids left out)."""
    next_cursor: str | None
    """What to ask the next page after; None on the last page."""


def read_page(text: str) -> ModelPage | None:
    """The page in `text`, or None when it is not a model list. `has_more` without a
    `last_id` pages after the last id listed (OpenAI's cursor convention)."""
    try:
        answer = json.loads(text)
    except ValueError:
        return None
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list):
        return None
    ids = tuple(
        item["id"]
        for item in data
        if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]
    )
    if answer.get("has_more") is not True:
        return ModelPage(ids, None)
    last = answer.get("last_id")
    cursor = last if isinstance(last, str) and last else (ids[-1] if ids else None)
    return ModelPage(ids, cursor)


class ModelPages:
    """The cursors of one listing: which page to ask for next, and when to stop."""

    def __init__(self) -> None:
        self.asked = 0
        self._seen: set[str] = set()
        self.ids: set[str] = set()

    def take(self, page: ModelPage) -> str | None:
        """Keep `page`'s ids; the cursor to ask the next page after, or None to stop (the
        last page, a cursor seen before, or `MAX_PAGES` read)."""
        self.asked += 1
        self.ids.update(page.ids)
        cursor = page.next_cursor
        if cursor is None or cursor in self._seen or self.asked >= MAX_PAGES:
            return None
        self._seen.add(cursor)
        return cursor
