"""Chunked truncation against the real llama-server: after a block of old turns is left
out, the next turn's prompt starts the same way, and the server serves it from its KV
cache (`timings.cache_n`) instead of processing it again."""

from __future__ import annotations

from llmchat.backends.llamacpp import LlamaCppBackend
from llmchat.core.conversation import Conversation
from llmchat.core.params import SamplingParams
from llmchat.core.turn_history import turns
from llmchat.engine.chat_service import ChatService
from llmchat.engine.context_meter import ContextMeter
from llmchat.engine.events import EngineEvent
from llmchat.gateway.gateway import Gateway
from llmchat.local.server_process import ManagedServer

WINDOW = 256
"""The plan's window (the server's is larger): five or six short turns fill it."""


async def test_the_turn_after_a_block_is_left_out_is_served_from_the_kv_cache(
    llama_server: ManagedServer,
) -> None:
    gateway = Gateway(LlamaCppBackend("local", llama_server.base_url, llama_server.alias))
    conversation = Conversation(params=SamplingParams(temperature=0.0, max_tokens=8))
    conversation.set_system("You are terse.")
    meter = ContextMeter(conversation, gateway, llama_server.alias, configured_window=WINDOW)
    await meter.prepare()
    service = ChatService(conversation, gateway, meter, model=lambda: llama_server.alias)

    async def ignore(event: EngineEvent) -> None:
        return None

    skipped: list[int] = []
    try:
        for n in range(20):
            await service.send(f"Question {n}: name a colour.", ignore)
            assert service.last_request is not None
            skipped.append(service.last_request.planned.skipped)
            if len(skipped) >= 2 and skipped[-2] > (skipped[-3] if len(skipped) > 2 else 0):
                break  # the turn after the first block was left out
    finally:
        await gateway.aclose()
    assert skipped[-2] > 0 and skipped[-1] == skipped[-2], skipped  # the same start kept
    rows = turns(conversation.thread())
    cut, after = rows[-2], rows[-1]
    assert after.prompt and after.reused is not None and after.processed is not None
    assert cut.prompt and after.reused >= cut.prompt // 2  # the kept prefix was reused
    assert after.processed < after.prompt // 2
