"""The bundled model started the way llmchat starts it: with its dialogue template.

Its GGUF has no chat template; without one llama-server frames the chat as ChatML and
the base model prints the markers ("<|im_end|> <|im_start|>…"). What the tiny model
answers is not tested, only that the framing never leaks into a reply, that each reply
ends by itself, and that in schema mode the reply is JSON that follows the schema.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmchat.backends.llamacpp import LlamaCppBackend
from llmchat.config import Config
from llmchat.core.events import Delta, Failed, Finished, StreamEvent, UsageReport
from llmchat.core.params import SamplingParams
from llmchat.core.request import ChatRequest, WireMessage
from llmchat.core.structured import OutputSchema, check_reply
from llmchat.launch import make_backend
from llmchat.local.binary import ServerBinary
from llmchat.local.bundled_model import CHAT_TEMPLATE, STOP
from llmchat.local.plan import LocalServerPlan, bundled_backend, managed_backend
from llmchat.local.server_process import ManagedServer, ServerSettings, ServerStartError

QUESTIONS = (
    "What is the capital of France?",
    "And what is the capital of Italy?",
    "Which of the two cities is larger?",
)
MARKERS = ("<|im_", "<start_of_turn>", "<end_of_turn>", "User:")
REPLY_BUDGET = 96
"""Tokens per reply: room for a sentence or two, small enough to be quick on 2 cores."""
SCHEMA_BUDGET = 200
"""Tokens for a schema-mode reply: more than the grammar can ever take for COLOUR.

With a Jinja chat template, llama-server's JSON-schema grammar allows whitespace before
the object (three runs), around each of its tokens and after it, each run up to two
newlines and 20 spaces or tabs. At temperature 0 the tiny base model takes much of it
(most of the 56 tokens it spends on COLOUR), so a budget below the grammar's bound
can cut the reply off before the object closes. 8 runs of 22 plus the object's ~10
tokens stay under this budget, so a reply that is not valid JSON is a real failure."""
COLOUR = OutputSchema(
    "colour",
    {
        "type": "object",
        "properties": {"colour": {"type": "string", "enum": ["red", "green", "blue"]}},
        "required": ["colour"],
        "additionalProperties": False,
    },
)


@pytest.fixture(scope="module")
def bundled(
    llama_binary: ServerBinary, gemma_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LlamaCppBackend, LocalServerPlan]]:
    """llmchat's own wiring: the bundled backend, its managed server, its backend object."""
    cache = gemma_file.parent.parent  # ensure_bundled_model put it in <cache>/models/
    resolved = bundled_backend(cache)
    assert resolved is not None and resolved.model_file == gemma_file
    settings, plan = managed_backend(
        resolved, cache_dir=cache, log_dir=tmp_path_factory.mktemp("bundled-log")
    )
    backend = make_backend(settings, Config())
    assert isinstance(backend, LlamaCppBackend)
    plan.server.start()
    try:
        asyncio.run(plan.server.ready())
        yield backend, plan
    finally:
        plan.server.stop()


def test_the_template_ships_inside_the_package() -> None:
    import llmchat

    assert CHAT_TEMPLATE.is_file()
    assert CHAT_TEMPLATE.is_relative_to(Path(llmchat.__file__).parent)


def test_a_missing_template_file_stops_the_start_with_a_clear_error(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    settings = ServerSettings(model, chat_template_file=tmp_path / "gone.jinja")
    server = ManagedServer(ServerBinary(Path("/bin/false"), "test"), settings, tmp_path / "log")
    assert server.command()[-3:] == [
        "--jinja",
        "--chat-template-file",
        str(tmp_path / "gone.jinja"),
    ]
    with pytest.raises(ServerStartError, match="chat template file not found"):
        server.start()
    assert server.process is None


async def ask(backend: LlamaCppBackend, messages: list[WireMessage]) -> list[StreamEvent]:
    params = SamplingParams(temperature=0.0, max_tokens=REPLY_BUDGET)
    try:
        return [event async for event in backend.stream(ChatRequest(tuple(messages), params))]
    finally:
        await backend.aclose()


def test_the_bundled_model_is_started_with_the_shipped_template(
    bundled: tuple[LlamaCppBackend, LocalServerPlan],
) -> None:
    backend, plan = bundled
    command = plan.server.command()
    assert "--jinja" in command
    assert command[command.index("--chat-template-file") + 1] == str(CHAT_TEMPLATE)
    assert backend.stop == STOP
    body = backend.request_body(ChatRequest((WireMessage("user", "Hi"),), SamplingParams()))
    assert body["stop"] == ["\nUser:"]


async def test_three_questions_get_replies_without_template_markers_that_end_by_themselves(
    bundled: tuple[LlamaCppBackend, LocalServerPlan],
) -> None:
    backend, _ = bundled
    messages: list[WireMessage] = []
    for question in QUESTIONS:
        messages.append(WireMessage("user", question))
        events = await ask(backend, messages)
        assert not [e for e in events if isinstance(e, Failed)]
        reply = "".join(e.text for e in events if isinstance(e, Delta))
        assert reply.strip(), f"no reply to {question!r}"
        assert not [m for m in MARKERS if m in reply], reply
        assert [e.reason for e in events if isinstance(e, Finished)] == ["stop"], reply
        messages.append(WireMessage("assistant", reply))


async def test_the_exact_prompt_count_holds_with_the_template(
    bundled: tuple[LlamaCppBackend, LocalServerPlan],
) -> None:
    backend, _ = bundled
    messages = [WireMessage("system", "Be brief."), WireMessage("user", QUESTIONS[0])]
    try:
        prompt = await backend.apply_template(messages)
        counted = await backend.count_prompt(messages)
    finally:
        await backend.aclose()
    [usage] = [e for e in await ask(backend, messages) if isinstance(e, UsageReport)]
    assert "<|im_" not in prompt and prompt.rstrip().endswith("Assistant:")
    assert counted.exact and counted.tokens == usage.prompt_tokens


async def test_a_json_schema_makes_the_bundled_model_answer_valid_json_that_ends_by_itself(
    bundled: tuple[LlamaCppBackend, LocalServerPlan],
) -> None:
    backend, _ = bundled
    # Schema mode's own sampling: temperature 0 (see SamplingControls.set_schema).
    params = SamplingParams(temperature=0.0, max_tokens=SCHEMA_BUDGET)
    request = ChatRequest((WireMessage("user", "Pick a colour."),), params, schema=COLOUR)
    try:
        events = [event async for event in backend.stream(request)]
    finally:
        await backend.aclose()
    reply = "".join(e.text for e in events if isinstance(e, Delta))
    assert check_reply(reply, COLOUR).valid, reply
    assert [e.reason for e in events if isinstance(e, Finished)] == ["stop"], reply
