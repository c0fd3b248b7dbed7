"""The cache explainer against the real llama-server: an edited first question and a
new system prompt each make the server reuse little of its KV cache (`cache_n` drops),
and the explainer names the cause and where the prompt changed."""

from __future__ import annotations

from llmchat.backends.llamacpp import LlamaCppBackend
from llmchat.core.cache_explainer import explain_drops
from llmchat.core.conversation import Conversation
from llmchat.core.messages import Role
from llmchat.core.params import SamplingParams
from llmchat.core.turn_history import turns
from llmchat.engine.chat_service import ChatService
from llmchat.engine.context_meter import ContextMeter
from llmchat.engine.events import EngineEvent
from llmchat.gateway.gateway import Gateway
from llmchat.local.server_process import ManagedServer

SYSTEM = (
    "You are terse. Answer in one short line, with no preamble and no list markup. "
    "Name things plainly; do not explain them unless asked. If a question is unclear, "
    "answer the likeliest reading of it rather than asking back."
)
"""Long enough that a turn after it changes loses more than a token or two: a drop is
at least 64 tokens (core/cache_explainer.MIN_LOST)."""

QUESTIONS = (
    "Name three colours that are often seen in a garden in the summer.",
    "Now name three animals that might be seen in that same garden.",
    "And three tools a gardener would keep in the shed for the work.",
)


async def ignore(event: EngineEvent) -> None:
    return None


async def test_an_edit_and_a_new_system_prompt_are_named_where_cache_n_drops(
    llama_server: ManagedServer,
) -> None:
    gateway = Gateway(LlamaCppBackend("local", llama_server.base_url, llama_server.alias))
    conversation = Conversation(params=SamplingParams(temperature=0.0, max_tokens=8))
    conversation.set_system(SYSTEM)
    meter = ContextMeter(conversation, gateway, llama_server.alias)
    await meter.prepare()
    service = ChatService(conversation, gateway, meter, model=lambda: llama_server.alias)
    try:
        for question in QUESTIONS:
            await service.send(question, ignore)
        first = next(m for m in conversation.messages if m.role is Role.USER)
        await service.edit(first, "Name three flowers instead, please, any will do.", ignore)
        await service.send(QUESTIONS[1], ignore)
        conversation.set_system("You answer in French, and briefly.")
        await service.send(QUESTIONS[2], ignore)
    finally:
        await gateway.aclose()

    every = turns([m for m in conversation.messages if m.role is Role.ASSISTANT])
    reused = [row.reused or 0 for row in every]
    assert all(row.reused is not None for row in every), reused
    assert reused[3] < reused[2] / 2  # the edit of the first question
    assert reused[5] < reused[4] / 2  # the new system prompt

    drops = explain_drops(
        conversation.messages, conversation.thread(), service.prompts_sent, kind="llamacpp"
    )
    edit, system = drops
    assert edit.turn == 1 and edit.where.startswith("The prompt differs from message 1 (the user)")
    assert edit.causes == ("an edited message: message 1 was edited (a new branch from there)",)
    assert system.turn == 3 and system.where.startswith(
        "The prompt differs from its very start: the system prompt"
    )
    assert system.causes == ("the system prompt changed",)
