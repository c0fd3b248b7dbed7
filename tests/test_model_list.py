"""Model lists that come in pages: Anthropic's `GET /v1/models` (`has_more`, `last_id`,
`after_id`), and OpenAI-compatible servers that page the same way (`after`). Followed to
the end over the loopback servers, but never round a loop and never without bound."""

from __future__ import annotations

from urllib.parse import parse_qsl

from llmchat.backends.anthropic import AnthropicBackend
from llmchat.backends.model_list import MAX_PAGES, read_page
from llmchat.backends.openai import OpenAIBackend
from tests.support.anthropic_server import AnthropicServer
from tests.support.openai_server import OpenAIServer, RecordedRequest, Script

MODELS = tuple(f"claude-{n:02d}" for n in range(25))


def queries(requests: list[RecordedRequest]) -> list[dict[str, str]]:
    return [dict(parse_qsl(r.query)) for r in requests]


async def listed(backend: OpenAIBackend) -> list[str]:
    try:
        return await backend.list_models()
    finally:
        await backend.aclose()


# -- Anthropic -----------------------------------------------------------------------------


async def test_anthropic_models_are_asked_for_in_the_largest_pages() -> None:
    with AnthropicServer(models=MODELS) as server:
        names = await listed(AnthropicBackend("c", server.base_url, "m"))
        assert queries(server.model_requests) == [{"limit": "1000"}]
    assert names == sorted(MODELS)


async def test_anthropic_pages_are_followed_with_after_id_until_has_more_is_false() -> None:
    with AnthropicServer(models=MODELS, model_page_cap=10) as server:
        names = await listed(AnthropicBackend("c", server.base_url, "m"))
        asked = queries(server.model_requests)
    assert names == sorted(MODELS)
    assert asked == [
        {"limit": "1000"},
        {"limit": "1000", "after_id": "claude-09"},
        {"limit": "1000", "after_id": "claude-19"},
    ]


async def test_a_server_that_always_has_more_is_asked_for_at_most_ten_pages() -> None:
    with AnthropicServer(endless_models=True, model_page_cap=3) as server:
        names = await listed(AnthropicBackend("c", server.base_url, "m"))
        asked = len(server.model_requests)
    assert asked == MAX_PAGES == 10
    assert len(names) == 3 * MAX_PAGES


async def test_a_server_that_names_the_same_cursor_again_is_not_followed_round_the_loop() -> None:
    same_page = {"data": [{"id": "claude-a"}], "has_more": True, "last_id": "claude-a"}
    with AnthropicServer() as server:
        server.answer("/v1/models", Script(body=same_page))
        names = await listed(AnthropicBackend("c", server.base_url, "m"))
        asked = queries(server.model_requests)
    assert names == ["claude-a"]
    assert asked == [{"limit": "1000"}, {"limit": "1000", "after_id": "claude-a"}]


async def test_the_pages_keep_the_query_the_base_url_carries() -> None:
    with AnthropicServer(models=MODELS, model_page_cap=20) as server:
        backend = AnthropicBackend("c", server.base_url + "?tenant=t1", "m")
        await listed(backend)
        asked = queries(server.model_requests)
    assert asked == [
        {"tenant": "t1", "limit": "1000"},
        {"tenant": "t1", "limit": "1000", "after_id": "claude-19"},
    ]


# -- OpenAI-compatible servers -------------------------------------------------------------


async def test_an_openai_model_list_is_asked_for_plainly_and_read_in_one_go() -> None:
    with OpenAIServer(models=("b", "a")) as server:
        names = await listed(OpenAIBackend("o", server.base_url, "m"))
        [request] = server.requests
    assert names == ["a", "b"]
    assert request.query == ""


async def test_an_openai_compatible_server_that_pages_is_followed_with_after() -> None:
    models = tuple(f"model-{n}" for n in range(7))
    with OpenAIServer(models=models, model_page_size=3) as server:
        names = await listed(OpenAIBackend("o", server.base_url, "m"))
        asked = queries(server.requests)
    assert names == sorted(models)
    assert asked == [{}, {"after": "model-2"}, {"after": "model-5"}]


async def test_a_server_that_ignores_the_cursor_is_asked_twice_at_most() -> None:
    ignores_after = {"data": [{"id": "m1"}, {"id": "m2"}], "has_more": True}
    with OpenAIServer() as server:
        server.answer("/v1/models", Script(body=ignores_after))
        names = await listed(OpenAIBackend("o", server.base_url, "m"))
        asked = queries(server.requests)
    assert names == ["m1", "m2"]
    assert asked == [{}, {"after": "m2"}]


# -- reading one page ----------------------------------------------------------------------


def test_a_page_without_has_more_is_the_last() -> None:
    page = read_page('{"data": [{"id": "a"}], "last_id": "a"}')
    assert page is not None and page.ids == ("a",) and page.next_cursor is None


def test_a_page_that_has_more_pages_after_its_last_id() -> None:
    page = read_page('{"data": [{"id": "a"}, {"id": "b"}], "has_more": true, "last_id": "b"}')
    assert page is not None and page.next_cursor == "b"


def test_has_more_with_nothing_to_page_after_ends_the_list() -> None:
    page = read_page('{"data": [], "has_more": true}')
    assert page is not None and page.next_cursor is None


def test_an_answer_without_a_data_list_is_not_a_model_list() -> None:
    assert read_page('{"models": []}') is None
    assert read_page("[]") is None
    assert read_page("<html>") is None
