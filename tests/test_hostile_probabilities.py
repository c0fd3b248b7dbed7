"""Probabilities that are not what they claim: escape sequences and markup in tokens,
NaN, infinities, probabilities above one, the wrong types, absurd lengths and nesting.
The reply is kept whole and exact, only sound entries are kept, and nothing of them
reaches the terminal raw."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import pytest

from llmchat.backends.openai import OpenAIBackend
from llmchat.core.events import Delta, Finished, Probabilities, StreamEvent
from llmchat.core.params import SamplingParams
from llmchat.core.probability_pool import Dials, reweigh
from llmchat.core.request import ChatRequest, WireMessage
from llmchat.core.token_probs import MAX_ALTERNATIVES, MAX_TOKEN_CHARS, TokenProbs
from llmchat.tui.screens.probability_view import coloured_reply, pool_table
from tests.support.openai_server import OpenAIServer, Script

pytestmark = pytest.mark.family("streams")

REQUEST = ChatRequest(
    messages=(WireMessage("user", "Hi"),), params=SamplingParams(max_tokens=64), probabilities=5
)
ESCAPE = "\x1b]52;c;cHduZWQ=\x07\x1b[2J[bold red]boom[/]"


@pytest.fixture
async def backend(server: OpenAIServer) -> AsyncIterator[OpenAIBackend]:
    backend = OpenAIBackend("local", server.base_url, "test-model")
    yield backend
    await backend.aclose()


def entry(token: Any, logprob: Any, top: Any = None) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "top_logprobs": top if top is not None else []}


HOSTILE: dict[str, Any] = {
    "escape sequences and markup": {"content": [entry(ESCAPE, -0.5, [entry(ESCAPE, -0.5)])]},
    "nan and infinities": {
        "content": [entry("a", math.nan), entry("b", -math.inf), entry("c", math.inf)]
    },
    "above one": {"content": [entry("a", 3.0, [entry("b", 0.5)])]},
    "wrong types": {"content": [entry(5, -1), entry("a", "-1"), entry(None, None), "x", 7]},
    "content not a list": {"content": {"token": "a"}},
    "not an object": ["a", -1],
    "a huge token and too many alternatives": {
        "content": [entry("x" * 100_000, -1.0, [entry(f"t{i}", -1.0 - i) for i in range(500)])]
    },
    "deep nesting": {"content": [entry("a", -1.0, [[[[[[[[["deep"]]]]]]]]])]},
}


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_hostile_probabilities_leave_the_reply_whole_and_keep_only_sound_entries(
    server: OpenAIServer, backend: OpenAIBackend, name: str
) -> None:
    server.push(Script(reply="One two three.", logprobs=HOSTILE[name]))
    events: list[StreamEvent] = [e async for e in backend.stream(REQUEST)]
    assert "".join(e.text for e in events if isinstance(e, Delta)) == "One two three."
    assert isinstance(events[-1], Finished)
    for event in events:
        if not isinstance(event, Probabilities):
            continue
        for token in event.tokens:
            assert len(token.token) <= MAX_TOKEN_CHARS and len(token.top) <= MAX_ALTERNATIVES
            assert math.isfinite(token.logprob) and token.logprob <= 0
            assert all(math.isfinite(a.logprob) and a.logprob <= 0 for a in token.top)
            # Drawn as the view draws them: nothing raw reaches the terminal.
            drawn = coloured_reply(TokenProbs((token,)), 0).plain
            pool = pool_table(reweigh(token, Dials(0.7, 0.9, 40, 0.05), "llama.cpp"), 0).plain
            for text in (drawn, pool):
                assert "\x1b" not in text and "\x07" not in text
