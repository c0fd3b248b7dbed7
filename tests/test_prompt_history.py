"""Prompt history (↑/↓ in the prompt), without a terminal: what each key shows."""

from __future__ import annotations

from collections.abc import Sequence

from llmchat.core.prompt_history import PromptHistory


def history(
    session: Sequence[str], earlier: Sequence[str] | None = None
) -> tuple[PromptHistory, list[int]]:
    """A history over `session` (oldest first) and `earlier` (newest first), and a list
    that counts how often the earlier sessions were read."""
    reads: list[int] = []

    def read() -> Sequence[str]:
        reads.append(1)
        return earlier or []

    return PromptHistory(lambda: list(session), read if earlier is not None else None), reads


def walk_up(h: PromptHistory, steps: int, shown: str = "") -> list[str | None]:
    seen: list[str | None] = []
    for _ in range(steps):
        recalled = h.older(shown)
        seen.append(recalled)
        if recalled is not None:
            shown = recalled
    return seen


def test_up_in_an_empty_prompt_recalls_the_newest_message_first() -> None:
    h, _ = history(["one", "two", "three"])
    assert walk_up(h, 3) == ["three", "two", "one"]


def test_up_past_the_oldest_message_shows_nothing_more() -> None:
    h, _ = history(["one"])
    assert walk_up(h, 2) == ["one", None]


def test_down_goes_forward_and_past_the_newest_restores_the_empty_prompt() -> None:
    h, _ = history(["one", "two", "three"])
    walk_up(h, 3)
    assert h.newer("one") == "two"
    assert h.newer("two") == "three"
    assert h.newer("three") == ""
    assert h.newer("") is None


def test_a_draft_is_never_replaced() -> None:
    h, _ = history(["one"])
    assert not h.recalling("typing")
    assert h.older("typing") is None
    assert h.newer("typing") is None


def test_an_edited_recall_is_a_draft_and_keys_stop_walking() -> None:
    h, _ = history(["one", "two"])
    assert h.older("") == "two"
    assert not h.recalling("two, edited")
    assert h.older("two, edited") is None
    assert h.newer("two, edited") is None


def test_clearing_an_edited_recall_starts_again_from_the_newest() -> None:
    h, _ = history(["one", "two"])
    walk_up(h, 2)
    assert h.older("") == "two"


def test_a_recall_shown_unchanged_keeps_walking() -> None:
    h, _ = history(["one", "two"])
    assert h.recalling("")
    assert h.older("") == "two"
    assert h.recalling("two")
    assert h.older("two") == "one"


def test_a_message_asked_again_is_one_step_where_it_was_last_asked() -> None:
    h, _ = history(["a", "b", "b", "b", "a"])
    assert walk_up(h, 3) == ["a", "b", None]


def test_earlier_sessions_add_only_messages_not_recalled_yet() -> None:
    # A fork copies its questions: the session it came from has them too.
    h = PromptHistory(lambda: ["first", "second"], lambda: ["second", "first", "older"])
    assert h.older("") == "second"
    assert h.older("second") == "first"
    assert h.older("first") is None and h.needs_earlier
    h.add_earlier(h.fetch_earlier())
    assert h.older("first") == "older"


def test_blank_messages_are_not_recalled() -> None:
    h, _ = history(["real", "  \n"])
    assert walk_up(h, 2) == ["real", None]


def test_each_recall_starts_from_what_the_session_holds_then() -> None:
    session = ["one"]
    h = PromptHistory(lambda: list(session))
    assert h.older("") == "one"
    session.append("two")  # sent meanwhile: the prompt was cleared
    assert h.older("") == "two"


def test_earlier_sessions_are_not_read_while_this_sessions_messages_last() -> None:
    h, reads = history(["one", "two"], earlier=["old"])
    assert walk_up(h, 3) == ["two", "one", None]
    assert reads == []  # the caller reads them, off the UI thread, when it needs them
    assert h.needs_earlier


def test_earlier_sessions_follow_this_sessions_messages_once_read() -> None:
    h, reads = history(["mine"], earlier=["newest old", "older old"])
    assert h.older("") == "mine"
    assert h.older("mine") is None
    assert h.needs_earlier
    h.add_earlier(h.fetch_earlier())
    assert reads == [1]
    assert not h.needs_earlier
    assert walk_up(h, 3, shown="mine") == ["newest old", "older old", None]


def test_earlier_sessions_are_recalled_when_this_session_has_none() -> None:
    h, _ = history([], earlier=["old"])
    assert h.older("") is None
    h.add_earlier(h.fetch_earlier())
    assert h.older("") == "old"


def test_a_repeat_across_the_session_boundary_is_shown_once() -> None:
    h, _ = history(["same"], earlier=["same", "other"])
    assert h.older("") == "same"
    h.add_earlier(h.fetch_earlier())
    assert walk_up(h, 2, shown="same") == ["other", None]


def test_down_walks_back_from_earlier_sessions_into_this_one() -> None:
    h, _ = history(["mine"], earlier=["old"])
    h.older("")
    h.add_earlier(h.fetch_earlier())
    assert h.older("mine") == "old"
    assert h.newer("old") == "mine"
    assert h.newer("mine") == ""


def test_without_earlier_sessions_nothing_is_needed() -> None:
    h, _ = history(["one"])
    walk_up(h, 2)
    assert not h.needs_earlier


def test_control_characters_are_recalled_neutralised() -> None:
    h, _ = history(["a\x1b]0;title\x07b\x9bc\u202ed\r\ne"])
    recalled = h.older("")
    assert recalled is not None
    assert "\x1b" not in recalled and "\x9b" not in recalled and "\u202e" not in recalled
    assert "\x07" not in recalled and "\r" not in recalled
    assert recalled.startswith("a␛]0;title␇b") and recalled.endswith("d\ne")
    assert h.recalling(recalled)
