"""What a server turns out to be, once it answers (`discover`).

Its own module so that neither backend imports the other: the OpenAI-compatible backend
knows nothing of its llama.cpp subclass, and the upgrade from one to the other happens
here, the only place that needs both.
"""

from __future__ import annotations

from llmchat.backends.base import Backend
from llmchat.backends.llamacpp import LlamaCppBackend
from llmchat.backends.openai import OpenAIBackend


async def discover(backend: Backend) -> Backend:
    """`backend`, or a llama.cpp one if its server turns out to be llama-server.

    `--base-url http://127.0.0.1:8080/v1` does not say what is behind it; llama-server
    answers `/props`, and then its exact token counts and context size can be used. The
    probe carries no key. The HTTP client moves to the new backend.

    Raises `BackendError` (kind CONNECT) when the server cannot be reached, or (kind
    DEADLINE) when it does not answer within the discovery deadline: nothing has been
    learnt then, and the caller asks again later (the gateway does, before each send,
    until the server has answered).
    """
    if not isinstance(backend, OpenAIBackend):
        return backend
    # Done now, after the first frame, so the first send does not pay a round trip.
    await backend.resolve_default_model()
    # Only plain-http servers are probed: hosted APIs (https) gain nothing from an extra
    # request, and llama-server is nearly always run on http.
    if type(backend) is not OpenAIBackend or not backend.base_url.startswith("http://"):
        return backend
    if not await backend.serves_llamacpp():
        return backend
    return LlamaCppBackend.taking_over(backend)
