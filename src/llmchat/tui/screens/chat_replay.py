"""Replay (from the request inspector, `r` or `p`): the last request's question asked
again of another backend or model, or with a preset's dials. The engine runs it
(`ChatService.replay`: a sibling reply that records who answered with what); this
helper picks the target, shows the new reply streaming in the chat like a regenerate,
then the two replies side by side."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import TYPE_CHECKING

from llmchat.config import ResolutionError
from llmchat.core.messages import Message
from llmchat.core.presets import Preset
from llmchat.core.safe_text import one_line
from llmchat.engine.events import Reporter
from llmchat.tui.screens.model_picker import ModelChoice, ModelPicker
from llmchat.tui.screens.preset_picker import PresetPicker
from llmchat.tui.screens.replay_comparison import ReplayComparison
from llmchat.tui.screens.request_inspector import Replay

if TYPE_CHECKING:
    from llmchat.core.params import SamplingParams
    from llmchat.gateway.gateway import Gateway
    from llmchat.tui.screens.chat import ChatScreen


class ReplayFlow:
    def __init__(self, chat: ChatScreen) -> None:
        self.chat = chat

    def choose(self, how: Replay, reply: Message) -> None:
        chat, context = self.chat, self.chat.context
        if how == "preset":
            question = "Replay the last request with which preset? (Enter replays, Esc cancels)"
            picker = PresetPicker(chat.sampling.presets, question)

            async def preset_chosen(preset: Preset | None) -> None:
                if preset is not None:
                    await self._replay_with(reply, preset)

            chat.app.push_screen(picker, preset_chosen)
            return
        if context.switch_to is None:
            chat.notify("This session cannot reach other backends.", severity="warning")
            return
        backends = [
            (name, context.gateway if name == context.backend_name else context.gateway_of(name))
            for name in context.backends
        ]
        current = ModelChoice(context.backend_name, context.model_name)
        question = "Replay the last request on which model? (Enter replays, Esc cancels)"

        async def model_chosen(choice: ModelChoice | None) -> None:
            if choice is not None:
                await self._replay_on(reply, choice)

        chat.app.push_screen(ModelPicker(backends, current, question=question), model_chosen)

    async def _replay_on(self, reply: Message, choice: ModelChoice) -> None:
        context = self.chat.context
        if choice == ModelChoice(context.backend_name, context.model_name):
            await self._run(reply, None, None, "on the same model")
            return
        assert context.switch_to is not None
        try:
            target = context.switch_to(choice.backend, choice.model)
        except ResolutionError as exc:
            self.chat.notify(one_line(str(exc), 200), severity="error", markup=False)
            return
        where = f"on {one_line(choice.backend, 24)} · {one_line(choice.model, 40)}"
        await self._run(reply, target.gateway, None, where)

    async def _replay_with(self, reply: Message, preset: Preset) -> None:
        params = self.chat.conversation.params
        dials = replace(
            params,
            temperature=preset.temperature,
            top_p=preset.top_p,
            max_tokens=preset.max_tokens or params.max_tokens,
        )
        if preset.system is not None:
            # The question is asked again as it was: only the dials change.
            self.chat.notify("A replay uses the preset's dials, not its system prompt.")
        await self._run(reply, None, dials, f"with the preset {one_line(preset.name, 40)}")

    async def _run(
        self,
        reply: Message,
        gateway: Gateway | None,
        params: SamplingParams | None,
        how: str,
    ) -> None:
        chat = self.chat
        if chat.streaming:
            chat.notify("A reply is still streaming: Esc stops it.", severity="warning")
            return
        if reply.parent is None:
            return
        if reply.parent not in {m.id for m in chat.conversation.thread()}:
            # The new reply would be shown under a question that is not on the screen.
            chat.notify(
                "Not replayed: the last request's question is on another branch; "
                "switch to that branch first.",
                severity="warning",
            )
            return
        await chat.messages_ui.trim_after(reply.parent)
        own = gateway is None or gateway is chat.service.gateway

        async def run(report: Reporter) -> Message | None:
            try:
                again = await chat.service.replay(reply, report, gateway=gateway, params=params)
            finally:
                if not own and gateway is not None:
                    # Only its own client: a later use builds a new one.
                    with contextlib.suppress(Exception):
                        await gateway.aclose(fallbacks=False)
            if again is None:
                # Refused (too long for the target, …): the thread is as it was, and so
                # is the screen (the original reply comes back).
                await chat.messages_ui.show_thread()
            else:
                chat.app.push_screen(ReplayComparison(reply, again, how))
            return again

        chat.turns.start(run, mount_now=True, replay=not own)
