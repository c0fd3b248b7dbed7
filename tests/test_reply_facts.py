"""The facts line under a reply marks what rests on estimates."""

from __future__ import annotations

from llmchat.core.messages import Message, Role, Status, Timing, Usage
from llmchat.core.params import SamplingParams
from llmchat.core.reply_facts import STATUS_MARK, reply_meta


def reply(usage: Usage | None, status: Status = Status.COMPLETE) -> Message:
    return Message(Role.ASSISTANT, "text", status=status, usage=usage, timing=Timing(tok_s=69.0))


def test_a_speed_from_the_servers_counts_is_shown_plainly() -> None:
    assert " 69 tok/s" in reply_meta(reply(Usage(prompt=10, completion=40)))


def test_a_cancelled_reply_with_estimated_counts_marks_its_speed() -> None:
    meta = reply_meta(reply(Usage(completion=40, estimated=True), Status.CANCELLED))
    assert "≈69 tok/s" in meta


def test_a_reply_with_no_usage_at_all_marks_its_speed() -> None:
    assert "≈69 tok/s" in reply_meta(reply(None, Status.ERROR))


def test_every_status_has_its_own_mark() -> None:
    assert set(STATUS_MARK) == set(Status)


def test_a_reply_cut_by_a_crash_is_marked_interrupted() -> None:
    assert reply_meta(reply(None, Status.INTERRUPTED)).startswith("⚠ interrupted")


def test_a_resampled_reply_says_where_and_the_llama_cuts_it_was_sent_with() -> None:
    message = Message(
        Role.ASSISTANT,
        "text",
        params=SamplingParams(temperature=0.7, top_k=20, min_p=0.1),
        resampled_at=2,
    )
    meta = reply_meta(message)
    assert "resampled at token 3" in meta
    assert "T 0.70 p 1.00 k 20 min-p 0.10" in meta
    assert " k " not in reply_meta(reply(None))  # nothing of them when not set
