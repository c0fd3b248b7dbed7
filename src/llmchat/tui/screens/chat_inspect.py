"""The glass-box views, opened from the chat screen (`inspect: …` in the palette): the
request as sent, the tokens of a message, latency and the cache turn by turn."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmchat.tui.widgets.conversation_view import ConversationView
from llmchat.tui.widgets.prompt_input import PromptInput

if TYPE_CHECKING:
    from llmchat.tui.screens.chat import ChatScreen


class InspectViews:
    def __init__(self, chat: ChatScreen) -> None:
        self.chat = chat

    def request(self) -> None:
        """The last request and, on `n`, the next one for the draft as typed; `r`/`p`
        close it to replay the last request elsewhere (see chat_replay.py)."""
        from llmchat.tui.screens.request_inspector import Replay, RequestInspector

        chat = self.chat
        last = chat.service.last_request
        draft = chat.attach.draft(chat.query_one(PromptInput).text)  # text files inlined

        def replay(how: Replay | None) -> None:
            if how is not None and last is not None and last.reply is not None:
                from llmchat.tui.screens.chat_replay import ReplayFlow

                ReplayFlow(chat).choose(how, last.reply)

        inspector = RequestInspector(
            last, chat.context.gateway, lambda: chat.service.next_request(draft)
        )
        chat.app.push_screen(inspector, replay)

    def tokens(self) -> None:
        """The focused message, else the draft (with its files), else the last message."""
        from llmchat.tui.screens.token_view import TokenView

        chat = self.chat
        focused = chat.query_one(ConversationView).focused_message
        draft = chat.attach.draft(chat.query_one(PromptInput).text)  # text files inlined
        thread = chat.conversation.thread()
        if focused is not None:
            what, text = f"The focused {focused.role} message", focused.content
        elif draft.strip():
            what, text = "The draft", chat.attach.draft(draft)
        elif thread:
            what, text = f"The last {thread[-1].role} message", thread[-1].content
        else:
            chat.notify("Nothing to split yet: type a message.", timeout=3)
            return
        gateway, model = chat.context.gateway, chat.context.model_name
        chat.app.push_screen(TokenView(what, text, gateway, model))

    async def probabilities(self) -> None:
        """Ask for probabilities from now on, and show them for the focused (or last)
        reply."""
        from llmchat.core.messages import Role
        from llmchat.core.token_probs import ASKED_ALTERNATIVES
        from llmchat.tui.screens.probability_view import PoolSource, ProbabilityView

        chat = self.chat
        gateway = chat.context.gateway
        gives = gateway.capabilities.logprobs
        if gives and not chat.service.probabilities:
            chat.service.probabilities = ASKED_ALTERNATIVES
            chat.notify(
                f"Probabilities on: the next replies come with {ASKED_ALTERNATIVES} "
                "alternatives a token.",
                timeout=4,
            )
        focused = chat.query_one(ConversationView).focused_message
        replies = [m for m in chat.conversation.thread() if m.role is Role.ASSISTANT]
        reply = focused if focused is not None and focused.role is Role.ASSISTANT else None
        reply = reply or (replies[-1] if replies else None)
        source = PoolSource(
            backend=gateway.name,
            gives_probabilities=gives,
            continues=gateway.capabilities.continues_text,
            cuts=await gateway.sampler_cuts(),
            why_not=(
                f"{gateway.name} gives no token probabilities: Anthropic's Messages API "
                "returns no logprobs, so there is no pool to show."
                if gateway.protocol == "anthropic"
                else f"{gateway.name} gives no token probabilities."
            ),
        )
        chat.app.push_screen(
            ProbabilityView(
                reply,
                source,
                params=lambda: chat.conversation.params,
                set_params=chat.sampling.apply_params,
                resample=chat.messages_ui.resample,
            )
        )

    def turns(self, view: str) -> None:
        """`latency` or `cache`."""
        from llmchat.tui.screens.turn_history import TurnHistoryScreen

        self.chat.app.push_screen(TurnHistoryScreen(self.chat.conversation.thread(), view))
