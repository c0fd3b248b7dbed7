"""A `Turn` folds one reply's events into the message that gets saved.

Every timing is measured on an injected fake clock, so the figures are exact.
"""

from __future__ import annotations

import pytest

from llmchat.core.events import (
    ChatError,
    Delta,
    ErrorKind,
    Failed,
    Finished,
    Loading,
    Reasoning,
    Retrying,
    ServerTimings,
    Started,
    UsageReport,
)
from llmchat.core.limits import ReplyLimits
from llmchat.core.messages import Role, Status, Usage
from llmchat.core.params import SamplingParams
from llmchat.core.turn import Turn, estimate_tokens

PARAMS = SamplingParams(temperature=0.2, top_p=0.9, max_tokens=256, seed=7)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def turn(clock: FakeClock) -> Turn:
    return Turn(PARAMS, parent="user-1", clock=clock)


def feed_tokens(turn: Turn, clock: FakeClock, pieces: list[str], gap: float) -> None:
    """Feed `pieces` as deltas, `gap` seconds apart (the first arrives at once)."""
    for index, piece in enumerate(pieces):
        if index:
            clock.advance(gap)
        turn.feed(Delta(piece))


# -- time to first token ---------------------------------------------------------------


def test_ttft_is_the_time_from_send_to_the_first_reply_text(turn: Turn, clock: FakeClock) -> None:
    turn.feed(Started("local", "test-model"))
    clock.advance(0.25)
    turn.feed(Delta("Hi"))
    clock.advance(1.0)
    turn.feed(Delta(" there"))
    assert turn.ttft_ms == pytest.approx(250.0)


def test_ttft_is_unknown_before_any_text(turn: Turn, clock: FakeClock) -> None:
    turn.feed(Started("local", "test-model"))
    clock.advance(0.5)
    assert turn.ttft_ms is None


def test_empty_delta_does_not_count_as_the_first_token(turn: Turn, clock: FakeClock) -> None:
    clock.advance(0.1)
    turn.feed(Delta(""))
    clock.advance(0.2)
    turn.feed(Delta("Hi"))
    assert turn.ttft_ms == pytest.approx(300.0)


def test_reasoning_text_sets_the_first_token_time(turn: Turn, clock: FakeClock) -> None:
    clock.advance(0.15)
    turn.feed(Reasoning("Let me think"))
    clock.advance(2.0)
    turn.feed(Delta("Answer"))
    assert turn.ttft_ms == pytest.approx(150.0)
    assert turn.reasoning == ["Let me think"]
    assert turn.text == "Answer"


def test_ttft_is_saved_in_the_message_timing(turn: Turn, clock: FakeClock) -> None:
    clock.advance(0.18)
    turn.feed(Delta("Hi"))
    turn.feed(Finished("stop"))
    assert turn.to_message().timing.ttft_ms == 180.0


# -- decode speed and total time --------------------------------------------------------


def test_decode_speed_is_tokens_after_the_first_over_first_to_last_token(
    turn: Turn, clock: FakeClock
) -> None:
    clock.advance(0.5)
    feed_tokens(turn, clock, ["tok"] * 11, gap=0.1)  # 10 gaps: 1.0 s
    turn.feed(UsageReport(prompt_tokens=20, completion_tokens=11))
    assert turn.tok_s == pytest.approx(10.0)


def test_decode_speed_uses_the_estimate_without_server_usage(turn: Turn, clock: FakeClock) -> None:
    feed_tokens(turn, clock, ["abcd"] * 5, gap=0.25)  # 20 chars ≈ 5 tokens over 1.0 s
    assert turn.completion_tokens == 5
    assert turn.tok_s == pytest.approx(4.0)


def test_decode_speed_is_unknown_for_a_single_token(turn: Turn, clock: FakeClock) -> None:
    clock.advance(0.3)
    turn.feed(Delta("Hi"))
    turn.feed(Finished("stop"))
    assert turn.tok_s is None
    assert turn.to_message().timing.tok_s is None


def test_decode_speed_is_unknown_when_all_text_arrived_at_once(
    turn: Turn, clock: FakeClock
) -> None:
    turn.feed(Delta("a whole paragraph in one chunk"))
    turn.feed(Delta(" and another"))
    assert turn.tok_s is None


def test_decode_speed_is_saved_rounded_in_the_message_timing(turn: Turn, clock: FakeClock) -> None:
    feed_tokens(turn, clock, ["tok"] * 4, gap=1 / 3)  # 3 tokens after the first over 1 s
    turn.feed(UsageReport(prompt_tokens=5, completion_tokens=4))
    turn.feed(Finished("stop"))
    assert turn.to_message().timing.tok_s == 3.0


def test_total_time_runs_from_send_to_the_end_of_the_turn(turn: Turn, clock: FakeClock) -> None:
    clock.advance(0.2)
    turn.feed(Delta("Hi"))
    clock.advance(2.3)
    turn.feed(Finished("stop"))
    clock.advance(10.0)  # reading the message later does not change it
    assert turn.to_message().timing.total_ms == pytest.approx(2500.0)


def test_total_time_of_an_unfinished_turn_runs_to_now(turn: Turn, clock: FakeClock) -> None:
    clock.advance(1.5)
    assert turn.timing().total_ms == pytest.approx(1500.0)


# -- usage --------------------------------------------------------------------------------


def test_usage_from_the_server_replaces_the_estimate(turn: Turn) -> None:
    turn.feed(Delta("x" * 400))  # an estimate would say 100
    turn.feed(UsageReport(prompt_tokens=812, completion_tokens=95, cached_tokens=64))
    turn.feed(Finished("stop"))
    message = turn.to_message()
    assert message.usage == Usage(prompt=812, completion=95, cached=64, estimated=False)
    assert message.tokens == 95
    assert turn.completion_tokens == 95


def test_usage_is_estimated_when_the_server_reports_none(turn: Turn) -> None:
    text = "The model said something of forty chars."
    turn.feed(Delta(text))
    turn.feed(Finished("stop"))
    message = turn.to_message()
    assert message.usage == Usage(completion=estimate_tokens(text), estimated=True)
    assert message.tokens == estimate_tokens(text)


@pytest.mark.parametrize(
    ("text", "tokens"), [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2), ("x" * 400, 100)]
)
def test_estimate_is_about_four_characters_a_token_rounded_up(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


# -- how the turn ended -------------------------------------------------------------------


def test_finished_turn_is_complete_with_its_finish_reason(turn: Turn) -> None:
    turn.feed(Delta("Hi"))
    turn.feed(Finished("length"))
    assert turn.done
    assert turn.finish_reason == "length"
    assert turn.to_message().status is Status.COMPLETE
    assert turn.to_message().error is None


def test_failure_marked_incomplete_gives_status_incomplete(turn: Turn) -> None:
    turn.feed(Delta("partial"))
    error = ChatError(ErrorKind.INCOMPLETE, "the connection was lost mid-reply", backend="local")
    turn.feed(Failed(error))
    message = turn.to_message()
    assert message.status is Status.INCOMPLETE
    assert message.content == "partial"
    assert message.error == "local: the connection was lost mid-reply"


@pytest.mark.parametrize(
    "kind", [kind for kind in ErrorKind if kind is not ErrorKind.INCOMPLETE], ids=str
)
def test_any_other_failure_gives_status_error_with_the_one_line_message(
    turn: Turn, kind: ErrorKind
) -> None:
    turn.feed(Delta("partial"))
    error = ChatError(kind, "something broke", status=500, backend="local")
    turn.feed(Failed(error))
    message = turn.to_message()
    assert message.status is Status.ERROR
    assert message.error == error.one_line() == "local: HTTP 500 something broke"
    assert message.content == "partial"


def test_cancel_keeps_the_partial_text_as_cancelled(turn: Turn, clock: FakeClock) -> None:
    turn.feed(Delta("half an ans"))
    clock.advance(0.4)
    turn.cancel()
    message = turn.to_message()
    assert message.status is Status.CANCELLED
    assert message.content == "half an ans"
    assert message.timing.total_ms == pytest.approx(400.0)


def test_message_of_a_turn_still_streaming_is_saved_incomplete(turn: Turn) -> None:
    turn.feed(Delta("so far"))
    assert not turn.done
    assert turn.to_message().status is Status.INCOMPLETE


# -- nothing after the end ----------------------------------------------------------------

LATE_EVENTS = [
    Started("other", "other-model"),
    Delta(" late"),
    Reasoning("late thought"),
    UsageReport(prompt_tokens=1, completion_tokens=1),
    ServerTimings(prompt_n=1, prompt_ms=1.0),
    Finished("stop"),
    Failed(ChatError(ErrorKind.SERVER, "late failure")),
]


def feed_late(turn: Turn, clock: FakeClock) -> None:
    clock.advance(5.0)
    for event in LATE_EVENTS:
        turn.feed(event)
    turn.cancel()


def test_events_after_finished_are_ignored(turn: Turn, clock: FakeClock) -> None:
    turn.feed(Started("local", "test-model"))
    turn.feed(Delta("Hi"))
    turn.feed(UsageReport(prompt_tokens=10, completion_tokens=2))
    turn.feed(Finished("stop"))
    before = turn.to_message()
    feed_late(turn, clock)
    after = turn.to_message()
    assert (after.status, after.content, after.usage, after.timing, after.model) == (
        before.status,
        before.content,
        before.usage,
        before.timing,
        before.model,
    )


def test_events_after_failed_are_ignored(turn: Turn, clock: FakeClock) -> None:
    turn.feed(Delta("Hi"))
    turn.feed(Failed(ChatError(ErrorKind.STREAM, "the model crashed", backend="local")))
    before = turn.to_message()
    feed_late(turn, clock)
    after = turn.to_message()
    assert after.status is Status.ERROR
    assert after.error == before.error
    assert after.content == "Hi"
    assert after.timing == before.timing


def test_nothing_after_cancel_changes_the_turn(turn: Turn, clock: FakeClock) -> None:
    turn.feed(Started("local", "test-model"))
    turn.feed(Delta("partial"))
    turn.cancel()
    before = turn.to_message()
    feed_late(turn, clock)
    after = turn.to_message()
    assert after.status is Status.CANCELLED
    assert after.content == "partial"
    assert after.usage == before.usage
    assert after.timing == before.timing
    assert after.error is None
    assert turn.reasoning == []


def test_cancel_after_finished_keeps_the_turn_complete(turn: Turn) -> None:
    turn.feed(Delta("Hi"))
    turn.feed(Finished("stop"))
    turn.cancel()
    assert turn.to_message().status is Status.COMPLETE


def test_gateway_progress_events_do_not_change_the_turn(turn: Turn, clock: FakeClock) -> None:
    turn.feed(Retrying(attempt=1, delay_s=0.5, reason="HTTP 429 rate limited"))
    turn.feed(Loading("the server is still loading the model"))
    assert not turn.done
    assert turn.text == ""
    assert turn.ttft_ms is None


# -- server timings and the saved message -------------------------------------------------


def test_server_timings_land_in_the_timing(turn: Turn) -> None:
    turn.feed(Delta("Hi"))
    turn.feed(
        ServerTimings(prompt_n=12, prompt_ms=12.5, predicted_n=40, predicted_ms=250.04, cache_n=3)
    )
    turn.feed(Finished("stop"))
    timing = turn.to_message().timing
    assert timing.prefill_ms == 12.5
    assert timing.prefill_tokens == 12
    assert timing.decode_ms == 250.0
    assert timing.decode_tokens == 40
    assert timing.cache_tokens == 3


def test_without_server_timings_the_server_figures_are_unknown(turn: Turn) -> None:
    turn.feed(Delta("Hi"))
    turn.feed(Finished("stop"))
    timing = turn.to_message().timing
    assert (timing.prefill_ms, timing.prefill_tokens, timing.decode_ms) == (None, None, None)
    assert (timing.decode_tokens, timing.cache_tokens) == (None, None)


def test_message_records_who_answered_with_which_params(turn: Turn) -> None:
    turn.feed(Started("local", "qwen2.5-7b"))
    turn.feed(Delta("Hi"))
    turn.feed(Finished("stop"))
    message = turn.to_message()
    assert message.role is Role.ASSISTANT
    assert (message.backend, message.model) == ("local", "qwen2.5-7b")
    assert message.params == PARAMS
    assert message.parent == "user-1"


def test_reply_text_is_the_deltas_joined_exactly(turn: Turn) -> None:
    pieces = ["\x1b[31m", "Hé", "llo", "\ud83d", " \r\n", "wörld"]
    for piece in pieces:
        turn.feed(Delta(piece))
    turn.feed(Finished("stop"))
    assert turn.to_message().content == "".join(pieces)


@pytest.mark.family("limits")
@pytest.mark.parametrize(
    ("max_tokens", "reason"),
    [(10, "more than max_tokens"), (10_000_000, "the most text llmchat keeps")],
)
def test_a_cut_reply_says_which_cap_cut_it(max_tokens: int, reason: str) -> None:
    limits = ReplyLimits(token_slack=0, max_chars=1_000)
    cut = Turn(SamplingParams(max_tokens=max_tokens), limits=limits, clock=FakeClock())
    while not cut.done:
        cut.feed(Delta("word "))
    assert cut.status is Status.INCOMPLETE
    assert cut.error is not None and reason in cut.error.message
