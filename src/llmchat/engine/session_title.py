"""Asking the model for a short title for the session (palette `session: name with the
model`). Off unless asked for: it is a request of its own, and it costs tokens.

The request holds the first question and the first answer (cut short), not the whole
conversation, and nothing of it is saved as a message: only the title, as a rename.
"""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass

from llmchat.core.conversation import TITLE_LENGTH, Conversation
from llmchat.core.events import ChatError, Delta, ErrorKind, Failed, Finished, UsageReport
from llmchat.core.messages import Role
from llmchat.core.params import SamplingParams
from llmchat.core.request import ChatRequest, WireMessage
from llmchat.core.safe_text import one_line
from llmchat.gateway.gateway import Gateway

ASK = (
    "Give this conversation a title of at most six words. Answer with the title only: "
    "no quotes, no full stop."
)
EXCERPT_CHARS = 1500
"""Characters of the first question and of the first answer sent along."""
TITLE_TOKENS = 24


@dataclass(frozen=True, slots=True)
class Named:
    title: str
    tokens: int | None
    """Prompt + completion tokens it cost, as the server counted them (None: not told)."""


def title_request(conversation: Conversation) -> ChatRequest | None:
    """The request that asks for a title; None before there is a question to name."""
    thread = conversation.thread()
    asked = next((m for m in thread if m.role is Role.USER and m.content.strip()), None)
    if asked is None:
        return None
    answer = next(
        (m for m in thread if m.role is Role.ASSISTANT and m.parent == asked.id and m.content),
        None,
    )
    shown = f"Question:\n{asked.content[:EXCERPT_CHARS]}"
    if answer is not None:
        shown += f"\n\nAnswer:\n{answer.content[:EXCERPT_CHARS]}"
    return ChatRequest(
        messages=(WireMessage("system", ASK), WireMessage("user", shown)),
        params=SamplingParams(temperature=0.3, top_p=1.0, max_tokens=TITLE_TOKENS),
    )


async def name_session(gateway: Gateway, conversation: Conversation) -> Named | ChatError:
    """Ask the model for a title and return it cleaned up, or why it could not."""
    request = title_request(conversation)
    if request is None:
        return ChatError(ErrorKind.BAD_REQUEST, "nothing to name yet: send a message first")
    parts: list[str] = []
    tokens: int | None = None
    async with aclosing(gateway.stream(request)) as events:
        async for event in events:
            match event:
                case Delta(text=text):
                    parts.append(text)
                    if sum(map(len, parts)) > 4 * TITLE_LENGTH:
                        break  # a model that rambles: what came is plenty
                case UsageReport(prompt_tokens=prompt, completion_tokens=completion):
                    tokens = prompt + completion
                case Failed(error=error):
                    return error
                case Finished():
                    break
    title = clean_title("".join(parts))
    if not title:
        return ChatError(ErrorKind.PROTOCOL, "the model gave no title")
    return Named(title, tokens)


def clean_title(text: str) -> str:
    """One line, without quotes, a "Title:" label or a final full stop; bounded."""
    line = one_line(text.strip().splitlines()[0] if text.strip() else "", 4 * TITLE_LENGTH)
    if line.lower().startswith("title:"):
        line = line[len("title:") :].strip()
    line = line.strip().strip("\"'`*“”‘’").rstrip(".").strip()
    if len(line) > TITLE_LENGTH:
        line = line[: TITLE_LENGTH - 1].rstrip() + "…"
    return line
