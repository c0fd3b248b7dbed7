"""Non-interactive mode (`llmchat -p`): stream the reply as plain text to stdout.

The turn is saved to the session like any other. Errors go to stderr with a non-zero
exit status; model text is neutralised only when stdout is a terminal, so a pipe gets
exactly what the model sent.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from contextlib import aclosing
from typing import TextIO

from llmchat.core.conversation import Conversation, PersistError
from llmchat.core.events import Delta, Loading, Retrying
from llmchat.core.messages import Message, Status
from llmchat.core.safe_text import one_line, visible
from llmchat.core.structured import check_reply
from llmchat.core.turn import Turn
from llmchat.gateway.gateway import Gateway

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CANCELLED = 130


async def ask(
    conversation: Conversation,
    gateway: Gateway,
    text: str,
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    model: str | None = None,
    cost: Callable[[Message], float | None] | None = None,
) -> int:
    """Send one message and stream the answer; returns the process exit status."""
    raw = not out.isatty()
    try:
        user = conversation.add_user(text)
    except PersistError as exc:
        print(f"llmchat: {exc}", file=err)
        user = conversation.messages[-1]
    turn = Turn(conversation.params, parent=user.id)
    try:
        async with aclosing(gateway.stream(conversation.build_request(model))) as events:
            async for event in events:
                turn.feed(event)
                if isinstance(event, Delta):
                    out.write(event.text if raw else visible(event.text))
                    out.flush()
                elif isinstance(event, Retrying):
                    print(f"llmchat: retrying in {event.delay_s:.1f} s: {event.reason}", file=err)
                elif isinstance(event, Loading):
                    print(f"llmchat: model loading: {one_line(event.message)}", file=err)
                if turn.done:
                    break
    except (asyncio.CancelledError, KeyboardInterrupt):
        turn.cancel()
    finally:
        if not turn.done:
            turn.cancel()
        message = turn.to_message()
        if cost is not None:
            message.cost_usd = cost(message)
        try:
            conversation.add_reply(message)
        except PersistError as exc:
            print(f"llmchat: {exc}", file=err)
    if message.content and not message.content.endswith("\n"):
        out.write("\n")
    out.flush()
    if message.status is Status.COMPLETE and conversation.schema is not None:
        checked = check_reply(message.content, conversation.schema)
        print(f"llmchat: {checked.mark()}", file=err)
        if not checked.valid:
            return EXIT_FAILED
    if message.status is Status.COMPLETE:
        if message.cut_off:
            limit = message.params.max_tokens if message.params else "?"
            print(
                f"llmchat: the reply was cut off at max_tokens ({limit}); "
                "raise --max-tokens for a longer answer",
                file=err,
            )
        return EXIT_OK
    if message.status is Status.CANCELLED:
        print("llmchat: cancelled", file=err)
        return EXIT_CANCELLED
    print(f"llmchat: {message.status.value}: {one_line(message.error or '')}", file=err)
    return EXIT_FAILED
