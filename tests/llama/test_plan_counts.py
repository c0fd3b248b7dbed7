"""The plan counts message by message, many times a turn, so it cannot ask the server
each time; for a model with no tokenizer here it estimates. Those estimates are scaled
to the server's own count of the same prompt, so a plan that fits by the estimate fits
the server too (the bundled Gemma counts 1.35–1.6× the plain estimate)."""

from __future__ import annotations

from llmchat.backends.llamacpp import LlamaCppBackend
from llmchat.core.conversation import Conversation
from llmchat.core.params import SamplingParams
from llmchat.engine.chat_service import ChatService
from llmchat.engine.context_meter import ContextMeter
from llmchat.engine.events import EngineEvent
from llmchat.gateway.gateway import Gateway
from llmchat.local.server_process import ManagedServer

QUESTIONS = (
    "Wie heißt die Hauptstadt von Frankreich, und warum ist sie berühmt?",
    '{"task": "list", "items": ["three", "colours"], "format": {"indent": 2}}',
    "Name three tools a gardener keeps in the shed, one line each.",
)


async def ignore(event: EngineEvent) -> None:
    return None


async def test_estimates_follow_the_servers_count_of_the_same_prompt(
    llama_server: ManagedServer,
) -> None:
    gateway = Gateway(LlamaCppBackend("local", llama_server.base_url, llama_server.alias))
    conversation = Conversation(params=SamplingParams(temperature=0.0, max_tokens=8))
    meter = ContextMeter(conversation, gateway, llama_server.alias)
    await meter.prepare()
    service = ChatService(conversation, gateway, meter, model=lambda: llama_server.alias)
    try:
        for question in QUESTIONS:
            await service.send(question, ignore)
            await meter.measure("")  # the gauge, as the chat screen measures after a turn
        request = conversation.build_request(llama_server.alias)
        server = await gateway.count_prompt(request.messages)
    finally:
        await gateway.aclose()
    assert server is not None and server.exact
    here = meter.counter.count_prompt(request.messages).tokens
    assert meter.counter.scale > 1.1 and not meter.counter.exact  # Gemma: more tokens
    # Within a tenth of the server's count (the plain estimate was a third or more off).
    assert abs(here - server.tokens) <= 0.1 * server.tokens, (here, server.tokens)
