"""`session: name with the model`: one request of its own (it costs tokens, and says
how many), whose answer becomes the session's title."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmchat.core.safe_text import one_line
from llmchat.engine.session_title import Named, name_session
from llmchat.tui.screens.chat_messages import STILL_STREAMING

if TYPE_CHECKING:
    from llmchat.tui.screens.chat import ChatScreen


class ModelTitle:
    def __init__(self, chat: ChatScreen) -> None:
        self.chat = chat

    def ask(self) -> None:
        chat = self.chat
        if chat.streaming:
            chat.notify(STILL_STREAMING, severity="warning")
            return
        chat.notify("Asking the model for a title (a short request of its own)…", timeout=3)
        chat.run_worker(self._ask(), group="name-session", exclusive=True, exit_on_error=False)

    async def _ask(self) -> None:
        chat = self.chat
        named = await name_session(chat.context.gateway, chat.conversation)
        if not isinstance(named, Named):
            chat.notify(f"No title: {named.one_line()}", severity="error", markup=False)
            return
        chat._record(lambda: chat.conversation.rename(named.title))
        chat.show_title()
        cost = f" ({named.tokens:,} tokens)" if named.tokens is not None else ""
        chat.notify(f"Titled “{one_line(named.title, 60)}”{cost}", markup=False)
