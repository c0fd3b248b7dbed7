"""A model that cannot see is not sent images: llama-server says so in `/props`
(`modalities.vision`), and the bundled Gemma 270M runs without a multimodal projector."""

from __future__ import annotations

from llmchat.backends.openai import OpenAIBackend
from llmchat.core.conversation import Conversation
from llmchat.core.messages import ImageRef
from llmchat.core.params import SamplingParams
from llmchat.engine.chat_service import ChatService
from llmchat.engine.context_meter import ContextMeter
from llmchat.engine.events import EngineEvent, Refused
from llmchat.gateway.gateway import Gateway
from llmchat.local.server_process import ManagedServer

CHART = ImageRef("0" * 64, "image/png", "chart.png")


async def test_images_to_a_llama_server_without_mmproj_are_refused_before_sending(
    llama_server: ManagedServer,
) -> None:
    # Reached as a plain OpenAI-compatible URL: the probe finds the llama-server first.
    gateway = Gateway(OpenAIBackend("local", llama_server.base_url, "default"))
    conversation = Conversation(params=SamplingParams(max_tokens=8))
    meter = ContextMeter(conversation, gateway, "default")
    service = ChatService(conversation, gateway, meter, model=lambda: "default")
    heard: list[EngineEvent] = []

    async def keep(event: EngineEvent) -> None:
        heard.append(event)

    try:
        reply = await service.send("What does it show?", keep, images=(CHART,))
    finally:
        await gateway.aclose()
    assert reply is None
    [refused] = [e for e in heard if isinstance(e, Refused)]
    assert "without a multimodal projector (--mmproj)" in refused.reason
    assert conversation.messages == []  # nothing saved: the prompt keeps the text
