"""The probability pool: the alternatives a token was picked from, cut and re-weighted
as the server's sampler would with the current dials; stored compactly with the reply
and read back; and the view (`inspect: probabilities`) in the app against the loopback
OpenAI server."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from llmchat.core import token_probs
from llmchat.core.events import Delta, Finished, Probabilities
from llmchat.core.messages import Role
from llmchat.core.params import SamplingParams
from llmchat.core.probability_pool import REST, Dials, reweigh
from llmchat.core.token_probs import Alternative, TokenProb, TokenProbs, from_wire
from llmchat.core.turn import Turn
from llmchat.store import list_sessions, load_session
from llmchat.tui.screens.probability_view import ProbabilityView
from tests.support.openai_server import OpenAIServer, Script
from tests.tui.helpers import chat_app, wait_for_reply


def pool_of(*probabilities: float, chosen: int = 0) -> TokenProb:
    top = tuple(Alternative(f"t{i}", math.log(p)) for i, p in enumerate(probabilities))
    return TokenProb(top[chosen].token, top[chosen].logprob, top)


def test_temperature_one_and_no_cuts_leave_the_pool_as_returned_renormalised() -> None:
    pool = reweigh(pool_of(0.5, 0.3, 0.2), Dials(1.0, 1.0), "openai")
    assert [round(r.share, 6) for r in pool.rows] == [0.5, 0.3, 0.2]
    assert pool.survivors == 3 and pool.covered == pytest.approx(1.0)


def test_a_low_temperature_sharpens_and_a_high_one_flattens() -> None:
    cold = reweigh(pool_of(0.5, 0.3, 0.2), Dials(0.5, 1.0), "openai")
    hot = reweigh(pool_of(0.5, 0.3, 0.2), Dials(2.0, 1.0), "openai")
    # softmax(log p / T): p^(1/T) renormalised.
    assert cold.rows[0].share == pytest.approx(0.25 / (0.25 + 0.09 + 0.04))
    assert hot.rows[2].share == pytest.approx(math.sqrt(0.2) / sum(map(math.sqrt, (0.5, 0.3, 0.2))))
    assert cold.rows[0].share > 0.5 > hot.rows[0].share


def test_temperature_zero_is_greedy() -> None:
    pool = reweigh(pool_of(0.4, 0.35, 0.25, chosen=1), Dials(0.0, 1.0), "llama.cpp")
    assert [r.share for r in pool.rows] == [1.0, 0.0, 0.0]
    assert pool.rows[1].chosen


def test_top_p_keeps_the_most_likely_until_they_reach_p() -> None:
    pool = reweigh(pool_of(0.5, 0.3, 0.15, 0.05), Dials(1.0, 0.75), "llama.cpp")
    assert [r.cut_by for r in pool.rows] == [None, None, "top-p 0.75", "top-p 0.75"]
    assert pool.rows[0].share == pytest.approx(0.5 / 0.8)


def test_llama_cuts_with_top_k_and_min_p_before_temperature() -> None:
    token = pool_of(0.6, 0.2, 0.1, 0.05, 0.05)
    by_k = reweigh(token, Dials(1.0, 1.0, top_k=2, min_p=0.0), "llama.cpp")
    assert [r.survives for r in by_k.rows] == [True, True, False, False, False]
    assert by_k.rows[2].cut_by == "top-k 2"
    by_min_p = reweigh(token, Dials(1.0, 1.0, top_k=0, min_p=0.2), "llama.cpp")
    # min-p 0.2 × 0.6 = 0.12: 0.1 and the two 0.05 are cut.
    assert [r.cut_by for r in by_min_p.rows][1:] == [None, "min-p 0.20", "min-p 0.20", "min-p 0.20"]
    # Temperature comes last: on the survivors only.
    hot = reweigh(token, Dials(2.0, 1.0, top_k=2, min_p=0.0), "llama.cpp")
    assert hot.rows[0].share == pytest.approx(math.sqrt(0.6) / (math.sqrt(0.6) + math.sqrt(0.2)))


def test_openai_applies_top_p_to_the_tempered_pool() -> None:
    token = pool_of(0.5, 0.3, 0.2)
    # Tempered at T 0.5: 0.66, 0.24, 0.11 — top-p 0.6 keeps only the first.
    pool = reweigh(token, Dials(0.5, 0.6), "openai")
    assert [r.survives for r in pool.rows] == [True, False, False]
    # Untempered, the same top-p would have kept two.
    assert reweigh(token, Dials(1.0, 0.6), "openai").survivors == 2


def test_a_chosen_token_outside_the_returned_top_is_in_the_pool() -> None:
    top = (Alternative("a", math.log(0.7)), Alternative("b", math.log(0.2)))
    pool = reweigh(TokenProb("z", math.log(0.01), top), Dials(1.0, 1.0), "openai")
    assert [r.token for r in pool.rows] == ["a", "b", "z", REST] and pool.rows[2].chosen
    assert pool.rows[3].rest and pool.rows[3].model == pytest.approx(0.09)


def test_wire_probabilities_are_checked_and_bounded() -> None:
    hostile = {
        "content": [
            {"token": "ok", "logprob": -0.1, "top_logprobs": [{"token": "ok", "logprob": -0.1}]},
            {"token": "zero", "logprob": -3.4e38, "top_logprobs": []},  # llama's zero
            {"token": "nan", "logprob": float("nan")},
            {"token": "above one", "logprob": 2.0},
            {"token": 7, "logprob": -1},
            {"token": "x" * 10_000, "logprob": -1, "top_logprobs": [{"token": "y"}] * 100},
            "not an object",
        ]
    }
    tokens = from_wire(hostile)
    assert [t.token[:4] for t in tokens] == ["ok", "zero", "xxxx"]
    assert tokens[1].logprob == token_probs.FLOOR
    assert len(tokens[2].token) == token_probs.MAX_TOKEN_CHARS
    assert from_wire(None) == () and from_wire({"content": "no"}) == ()


def test_stored_compactly_and_read_back_the_same() -> None:
    probs = TokenProbs(
        (
            TokenProb("Hel", -0.01, (Alternative("Hel", -0.01), Alternative("Hi", -4.6))),
            TokenProb("lo", -0.2, ()),
        ),
        asked=5,
    )
    data = token_probs.to_json(probs)
    assert data == {"asked": 5, "tokens": [["Hel", -0.01, "Hel", -0.01, "Hi", -4.6], ["lo", -0.2]]}
    assert token_probs.from_json(json.loads(json.dumps(data))) == probs
    # A hand-edited file: bad rows dropped, never trusted.
    edited = {"asked": "ten", "tokens": [["a", "b"], ["c", -1.0, "d"], 5, ["e", -0.5]]}
    assert [t.token for t in token_probs.from_json(edited).tokens] == ["e"]  # type: ignore[union-attr]
    damaged = token_probs.from_json({"tokens": "x"})
    assert damaged is not None and damaged.damaged and len(damaged) == 0
    assert token_probs.from_json(None) is None


def test_a_huge_reply_keeps_probabilities_for_its_first_tokens_only() -> None:
    turn = Turn(SamplingParams(), asked_alternatives=5)
    turn.feed(Delta("a" * (token_probs.MAX_TOKENS + 5)))
    turn.feed(Probabilities(tuple(TokenProb("a", -0.1) for _ in range(token_probs.MAX_TOKENS))))
    turn.feed(Probabilities(tuple(TokenProb("a", -0.1) for _ in range(5))))
    turn.feed(Finished("stop"))
    kept = turn.to_message().probabilities
    assert kept is not None and len(kept) == token_probs.MAX_TOKENS and kept.cut


def test_at_temperature_one_without_cuts_the_shares_are_the_models_own() -> None:
    pool = reweigh(pool_of(0.5, 0.2, 0.1), Dials(1.0, 1.0, top_k=0, min_p=0.0), "llama.cpp")
    assert [r.share for r in pool.rows] == pytest.approx([0.5, 0.2, 0.1, 0.2])
    assert pool.rows[-1].rest and pool.survivors == 3
    same = reweigh(pool_of(0.5, 0.2, 0.1), Dials(1.0, 1.0), "openai")
    assert [r.share for r in same.rows] == pytest.approx([0.5, 0.2, 0.1, 0.2])


def test_llama_applies_top_p_to_what_top_k_left_renormalised() -> None:
    # After top-k 3 the pool is .5/.8, .2/.8, .1/.8 = .625, .25, .125: top-p 0.8 keeps two
    # (counted over the whole vocabulary it would have kept three).
    token = pool_of(0.5, 0.2, 0.1, 0.08, 0.05, 0.03)
    pool = reweigh(token, Dials(1.0, 0.8, top_k=3, min_p=0.0), "llama.cpp")
    assert pool.survivors == 2 and pool.rows[2].cut_by == "top-p 0.80"
    assert pool.rows[-1].rest and pool.rows[-1].cut_by == "top-k 3"


def test_a_cut_within_the_returned_tokens_cuts_the_rest_too() -> None:
    pool = reweigh(pool_of(0.6, 0.2, 0.1), Dials(1.0, 0.7), "openai")
    assert [r.survives for r in pool.rows] == [True, True, False, False]


def test_greedy_decoding_names_why_the_others_lose() -> None:
    for sampler in ("llama.cpp", "openai"):
        pool = reweigh(pool_of(0.5, 0.3), Dials(0.0, 1.0), sampler)  # type: ignore[arg-type]
        assert [r.cut_by for r in pool.rows] == [None, "T 0 (greedy)", "T 0 (greedy)"]
        assert pool.survivors == 1


def test_a_very_low_temperature_does_not_underflow_to_nothing() -> None:
    pool = reweigh(pool_of(0.001, 0.0005), Dials(0.01, 1.0), "openai")
    assert sum(r.share for r in pool.rows) == pytest.approx(1.0)
    assert pool.rows[0].share == pytest.approx(1.0)


async def test_the_view_shows_the_pool_and_redraws_when_a_dial_moves(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply="The sky is blue."), Script(reply="Grass is green."))
    app = chat_app(server)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        await commands["inspect: probabilities"].callback()  # turns them on first
        await pilot.pause()
        view = app.screen
        assert isinstance(view, ProbabilityView)
        assert "No reply yet. Probabilities are on" in shown(view)
        await pilot.press("escape")
        app.screen.query_one("#prompt").text = "Colour of the sky?"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for_reply(app)
        [asked] = server.chat_requests
        assert asked.body["logprobs"] is True and asked.body["top_logprobs"] == 10
        assert "top_k" not in asked.body  # OpenAI-compatible servers take no top-k

        await commands["inspect: probabilities"].callback()
        await pilot.pause()
        view = app.screen
        assert isinstance(view, ProbabilityView)
        assert "Token 1 of" in shown(view) and "90.0%" in shown(view)
        await pilot.press("right")
        assert "Token 2 of" in shown(view)
        before = shown(view)
        await pilot.press("T", "T", "T", "T")  # temperature 1.0 → 1.2
        assert app.screen is view and shown(view) != before
        assert "T 1.20" in shown(view)
        assert view.dials().temperature == pytest.approx(1.2)  # the session's own dial
        await pilot.press("enter")  # resample: not on an OpenAI-compatible server
        await pilot.pause()
        assert app.screen is view
        await pilot.press("escape")
        await commands["inspect: probabilities off"].callback()
        app.screen.query_one("#prompt").text = "And grass?"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for_reply(app)
        assert "logprobs" not in server.chat_requests[-1].body
    [summary] = list_sessions(home / "sessions")
    first, second = [m for m in load_session(summary.path).messages if m.role is Role.ASSISTANT]
    assert first.probabilities is not None
    assert first.probabilities.text() == first.content == "The sky is blue."
    assert second.content == "Grass is green." and second.probabilities is None


def shown(view: ProbabilityView) -> str:
    return "\n".join(str(s.render()) for s in view.query("Static"))


def test_tokens_the_server_kept_out_of_the_text_are_not_kept() -> None:
    # A stop string's tokens come with probabilities (llama-server's /completion gives
    # them with empty text), but are no part of the reply.
    turn = Turn(SamplingParams(), asked_alternatives=5)
    turn.feed(Delta("Hi."))
    spelled = (TokenProb("Hi", -0.1), TokenProb(".", -0.2))
    stop = (TokenProb("", -0.1), TokenProb("", -0.05), TokenProb("User", -0.3))
    turn.feed(Probabilities(spelled + stop))
    turn.feed(Finished("stop"))
    kept = turn.to_message().probabilities
    assert kept is not None and kept.tokens == spelled and not kept.cut
