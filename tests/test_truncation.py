"""Cache-friendly truncation: old turns are left out a block at a time, and the start of
the prompt then stays put for many turns, so a server's prompt cache can reuse it.

The policy (core.budget) is a function of the history alone; these tests grow a
conversation turn by turn and look at where each request starts. The engine tests check
that the gauge, the marker's count and the body sent agree, over a loopback server.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmchat.core.budget import (
    LOW_WATER,
    DoesNotFit,
    Truncation,
    history_to_drop,
    plan_request,
)
from llmchat.core.conversation import Conversation
from llmchat.core.request import WireMessage
from llmchat.core.tokens import TokenCounter
from llmchat.engine.events import EngineEvent
from llmchat.store import load_session
from tests.support.openai_server import OpenAIServer, Script
from tests.test_request_sent import service_for

WINDOW = 1000
LIMIT = 900  # the default threshold, 90 %
SYSTEM = 20
RESERVED = 100


def cuts(turns: list[tuple[int, int]], truncation: Truncation) -> list[int]:
    """Where each request of a growing chat starts: turn n sends turns[:n]'s questions
    and replies, then its own question (a user message of turns[n][0] tokens)."""
    history: list[int] = []
    starts: list[bool] = []
    result = []
    for question, reply in turns:
        result.append(
            history_to_drop(
                [*history, question],
                system=SYSTEM,
                reserved=RESERVED,
                window=WINDOW,
                turn_starts=[*starts, True],
                truncation=truncation,
            )
        )
        history += [question, reply]
        starts += [True, False]
    return result


def sent_tokens(turns: list[tuple[int, int]], turn: int, cut: int) -> int:
    counts = [count for pair in turns[:turn] for count in pair] + [turns[turn][0]]
    return SYSTEM + RESERVED + sum(counts[cut:])


FORTY = [(30, 50)] * 40  # 80 tokens a turn: the window is full after about ten


def test_one_at_a_time_moves_the_start_of_the_prompt_on_every_turn_once_full() -> None:
    starts = cuts(FORTY, "oldest")
    full = starts.index(next(c for c in starts if c))
    assert all(later > earlier for earlier, later in pairwise(starts[full:]))


def test_chunked_keeps_the_same_start_for_many_turns() -> None:
    starts = cuts(FORTY, "chunked")
    moves = [n for n in range(1, len(starts)) if starts[n] != starts[n - 1]]
    oldest_moves = sum(1 for a, b in pairwise(cuts(FORTY, "oldest")) if a != b)
    assert 1 <= len(moves) <= oldest_moves // 3
    # Between two moves the start stays put for at least three turns.
    assert all(later - earlier >= 3 for earlier, later in pairwise(moves))
    assert starts == sorted(starts)  # it only ever moves forward, in whole turns
    assert all(cut % 2 == 0 for cut in starts)


def test_a_cut_brings_the_request_down_to_the_low_water_mark() -> None:
    starts = cuts(FORTY, "chunked")
    for turn in range(1, len(FORTY)):
        if starts[turn] != starts[turn - 1]:
            assert sent_tokens(FORTY, turn, starts[turn - 1]) > LIMIT  # why it moved
            assert sent_tokens(FORTY, turn, starts[turn]) <= int(LIMIT * LOW_WATER)
            # ...and by no more than it takes: one turn fewer would be above the mark.
            assert sent_tokens(FORTY, turn, starts[turn] - 2) > int(LIMIT * LOW_WATER)


def test_every_chunked_request_fits_under_the_threshold() -> None:
    starts = cuts(FORTY, "chunked")
    assert all(sent_tokens(FORTY, n, cut) <= LIMIT for n, cut in enumerate(starts))


def test_nothing_is_left_out_while_the_chat_fits() -> None:
    assert cuts([(30, 50)] * 8, "chunked") == [0] * 8


turn_sizes = st.lists(st.tuples(st.integers(1, 300), st.integers(0, 300)), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(turn_sizes)
def test_the_start_moves_only_when_the_request_would_pass_the_threshold(
    turns: list[tuple[int, int]],
) -> None:
    # Questions that cannot fit even alone are not asked (DoesNotFit, covered below).
    turns = [(q, r) for q, r in turns if SYSTEM + q + RESERVED <= LIMIT]
    starts = cuts(turns, "chunked")
    for n in range(1, len(turns)):
        if sent_tokens(turns, n, starts[n - 1]) <= LIMIT:
            assert starts[n] == starts[n - 1]  # the same prefix: the server reuses it
        else:
            assert starts[n] > starts[n - 1]
        assert sent_tokens(turns, n, starts[n]) <= LIMIT
        assert starts[n] % 2 == 0  # a request opens with a question, never a stray reply


def test_the_newest_message_is_always_sent_even_when_it_leaves_no_room_for_the_rest() -> None:
    # 780 + 120 fixed = 900, the limit: no other turn fits beside it, so it goes alone.
    turns = [*[(30, 50)] * 6, (780, 10)]
    assert cuts(turns, "chunked")[-1] == 12


def test_a_large_question_leaves_out_only_what_it_must_when_the_mark_is_out_of_reach() -> None:
    # 600 + 120 fixed = 720: over the 630 mark alone, so the plan falls back to fitting.
    turns = [*[(30, 50)] * 6, (600, 10)]
    cut = cuts(turns, "chunked")[-1]
    assert sent_tokens(turns, 6, cut) <= LIMIT
    assert sent_tokens(turns, 6, cut - 2) > LIMIT


def test_a_question_too_big_for_the_window_is_still_refused() -> None:
    with pytest.raises(DoesNotFit):
        history_to_drop([50, 50, 2000], system=SYSTEM, reserved=RESERVED, window=WINDOW)


def words(text: str) -> int:
    return len(text.split())


def test_the_system_prompt_is_never_left_out() -> None:
    long = " ".join(["w"] * 100)
    messages = [WireMessage("system", "be brief")]
    for _ in range(12):
        messages.append(WireMessage("user", long))
        messages.append(WireMessage("assistant", long))
    messages.append(WireMessage("user", "newest"))
    plan = plan_request(messages, TokenCounter(words), max_tokens=50, window=1000)
    assert plan.skip > 0
    kept = messages[1:][plan.skip :]
    assert kept[0].role == "user" and kept[-1].content == "newest"


# -- the engine: what the gauge says is left out is what is sent ---------------------------


async def test_the_gauge_counts_what_each_request_really_leaves_out(
    server: OpenAIServer, tmp_path: Path
) -> None:
    service = await service_for(server, tmp_path, max_tokens=40, window=600)
    meter = service.meter
    assert meter.truncation == "chunked"

    async def report(event: EngineEvent) -> None:
        return None

    seen = []
    try:
        for n in range(24):
            server.push(Script(reply=f"answer {n} " + "filler " * 12))
            question = f"question {n} " + "padding " * 10
            gauge = await meter.measure(question)
            await service.send(question, report)
            body = server.chat_requests[-1].body["messages"]
            history = len(service.conversation.wire_history()) - 1  # without the reply
            assert service.last_request is not None
            assert gauge.skipped == service.last_request.planned.skipped
            assert len(body) == history - gauge.skipped
            seen.append(gauge.skipped)
    finally:
        await service.gateway.aclose()
    moves = sum(1 for a, b in pairwise(seen) if a != b)
    assert seen[-1] > 0 and 1 <= moves <= len(seen) // 4


async def test_a_resumed_conversation_plans_the_same_start(
    server: OpenAIServer, tmp_path: Path
) -> None:
    service = await service_for(server, tmp_path, max_tokens=40, window=600)

    async def report(event: EngineEvent) -> None:
        return None

    try:
        for n in range(16):
            server.push(Script(reply=f"answer {n} " + "filler " * 12))
            await service.send(f"question {n} " + "padding " * 10, report)
    finally:
        await service.gateway.aclose()
    assert service.last_request is not None
    before = service.last_request.planned.skipped
    # Read back from the file (as --continue does), planned with a fresh counter: the
    # last question gets the start it was sent with, though nothing remembered it.
    [path] = tmp_path.glob("**/*.jsonl")
    loaded = load_session(path)
    copy = Conversation(info=loaded.info, params=loaded.params, messages=loaded.messages)
    asked = copy.messages[-2]
    pending = copy.build_request(upto=asked.id).messages
    plan = plan_request(pending, TokenCounter(), max_tokens=40, window=600)
    assert plan.skip == before > 0
