"""The glass-box views, opened from the chat screen (`inspect: …` in the palette, or F12
and a letter): the request as sent, the tokens of a message, the probabilities of a
reply, latency and the cache turn by turn."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmchat.core.messages import Message
from llmchat.tui.screens.inspect_choice import InspectChoice
from llmchat.tui.widgets.conversation_view import ConversationView
from llmchat.tui.widgets.prompt_input import PromptInput

if TYPE_CHECKING:
    from llmchat.core.cache_explainer import ReuseDrop
    from llmchat.tui.screens.chat import ChatScreen
    from llmchat.tui.screens.probability_view import PoolSource


INSPECT_CHOICES = (
    InspectChoice("r", "request, as sent", "inspect_request"),
    InspectChoice("t", "tokens of a message", "inspect_tokens"),
    InspectChoice("p", "probabilities of a reply", "inspect_probabilities"),
    InspectChoice("l", "latency, turn by turn", "inspect_latency"),
    InspectChoice("c", "cache reuse, and why it dropped", "inspect_cache"),
)
"""The F12 menu, in its order: each row runs one of the chat screen's actions (the
palette's `inspect: …` run the same ones)."""


class InspectViews:
    def __init__(self, chat: ChatScreen) -> None:
        self.chat = chat

    def choose(self) -> None:
        """The F12 menu; the view picked opens through the chat screen's own action."""
        from llmchat.tui.screens.inspect_chooser import InspectChooser

        chat = self.chat

        def picked(action: str | None) -> None:
            if action is not None:
                chat.call_later(chat.run_action, action)

        chat.app.push_screen(InspectChooser(INSPECT_CHOICES), picked)

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

        images = chat.attach.images()
        inspector = RequestInspector(last, lambda: chat.service.next_request(draft, images))
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

    def probabilities(self) -> None:
        """Ask for probabilities from now on, and show them for the focused (or last)
        reply, as the backend that wrote it sampled."""
        from llmchat.core.messages import Role
        from llmchat.core.token_probs import ASKED_ALTERNATIVES
        from llmchat.tui.screens.probability_view import ProbabilityView

        chat = self.chat
        gateway = chat.context.gateway
        if gateway.capabilities.logprobs and not chat.service.probabilities:
            chat.service.probabilities = ASKED_ALTERNATIVES
            chat.notify(
                f"Probabilities on: the next replies come with {ASKED_ALTERNATIVES} "
                "alternatives a token (palette: inspect: probabilities off).",
                timeout=4,
            )
        focused = chat.query_one(ConversationView).focused_message
        replies = [m for m in chat.conversation.thread() if m.role is Role.ASSISTANT]
        reply = focused if focused is not None and focused.role is Role.ASSISTANT else None
        reply = reply or (replies[-1] if replies else None)
        chat.sampling.show_cuts_soon()  # for the sliders, and the next time this opens
        chat.app.push_screen(
            ProbabilityView(
                reply,
                self._pool_source(reply),
                params=lambda: chat.conversation.params,
                set_params=chat.sampling.apply_params,
                resample=chat.messages_ui.resample,
                streaming=chat.streaming,
            )
        )

    def _pool_source(self, reply: Message | None) -> PoolSource:
        """Who wrote `reply` and what that means for its pool: the sampler's order (a
        llama-server reply records the server's timings), its cuts, and whether it can
        be resampled here (only by the backend and model that wrote it)."""
        from llmchat.core.probability_pool import ServerCuts
        from llmchat.tui.screens.probability_view import PoolSource

        chat, gateway = self.chat, self.chat.context.gateway
        writer = reply.backend if reply is not None and reply.backend else gateway.name
        here = writer == gateway.name and (
            reply is None or reply.model in (None, gateway.model, chat.context.model_name)
        )
        llama = gateway.capabilities.continues_text if here else _timed_by_server(reply)
        cuts = (chat.sampling.cuts if here else None) or ServerCuts() if llama else None
        if not gateway.capabilities.continues_text:
            cannot = (
                f"{gateway.name} cannot resample from a token: only llama-server continues a "
                "reply from a chosen token (OpenAI's API gives no way to continue a reply; "
                "Anthropic's gives no alternatives)."
            )
        elif not here:
            cannot = (
                f"This reply was written by {writer}; resampling needs the same backend "
                f"and model (now {gateway.name} · {chat.context.model_name})."
            )
        else:
            cannot = ""
        return PoolSource(
            backend=writer,
            gives_probabilities=gateway.capabilities.logprobs,
            cannot_resample=cannot,
            cuts=cuts,
            why_not=(
                f"{gateway.name} gives no token probabilities: Anthropic's Messages API "
                "returns no logprobs, so there is no pool to show."
                if gateway.protocol == "anthropic"
                else f"{gateway.name} gives no token probabilities."
            ),
        )

    def turns(self, view: str) -> None:
        """`latency` or `cache` (with why reuse dropped, where it did: worked out in a
        thread, as a long session takes a moment, while the screen is already shown)."""
        from llmchat.tui.screens.turn_history import TurnHistoryScreen

        conversation = self.chat.conversation
        thread = conversation.thread()
        if view != "cache":
            self.chat.app.push_screen(TurnHistoryScreen(thread, view))
            return
        # Copies: the explainer reads them in a thread while a turn may go on here.
        messages = list(conversation.messages)
        sent = dict(self.chat.service.prompts_sent)
        systems = list(conversation.system_changes)
        kind = conversation.info.kind

        def explain() -> list[ReuseDrop]:
            from llmchat.core.cache_explainer import explain_drops

            return explain_drops(messages, thread, sent, systems=systems, kind=kind)

        self.chat.app.push_screen(TurnHistoryScreen(thread, view, explain=explain))


def _timed_by_server(reply: Message | None) -> bool:
    """A reply with the server's own prefill timings came from a llama-server."""
    return reply is not None and reply.timing is not None and reply.timing.prefill_ms is not None
