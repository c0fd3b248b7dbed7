"""Switching the chat's backend and model (palette `model: switch…`): the picker, then
the next turn goes to the chosen one. The switch is recorded in the session file, so
`--continue` reopens on it; the old backend's HTTP client is closed."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from llmchat.config import ResolutionError
from llmchat.core.safe_text import one_line
from llmchat.tui.screens.model_picker import ModelChoice, ModelPicker
from llmchat.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from llmchat.gateway.gateway import Gateway
    from llmchat.tui.screens.chat import ChatScreen


class BackendSwitch:
    def __init__(self, chat: ChatScreen) -> None:
        self.chat = chat
        self._listed: list[Gateway] = []
        """The other backends' gateways asked for their models, closed once done."""

    def pick(self) -> None:
        context = self.chat.context
        if context.switch_to is None:
            self.chat.notify("This session cannot switch backends.", severity="warning")
            return
        backends = [(name, context.gateway_of(name)) for name in context.backends]
        # The chat's own gateway answers for its backend (it may have another model).
        backends = [
            (name, context.gateway if name == context.backend_name else gateway)
            for name, gateway in backends
        ]
        current = ModelChoice(context.backend_name, context.model_name)
        self.chat.app.push_screen(ModelPicker(backends, current), self._chosen)
        self._listed = [g for _, g in backends if g is not None and g is not context.gateway]

    def _chosen(self, choice: ModelChoice | None) -> None:
        context = self.chat.context
        listed, self._listed = self._listed, []
        try:
            self._switch(choice)
        finally:
            self._close(*(g for g in listed if g is not context.gateway))

    def _switch(self, choice: ModelChoice | None) -> None:
        chat, context = self.chat, self.chat.context
        if choice is None or choice == ModelChoice(context.backend_name, context.model_name):
            return
        if chat.streaming:
            chat.notify("Stop the reply first (Esc), then switch.", severity="warning")
            return
        assert context.switch_to is not None
        try:
            target = context.switch_to(choice.backend, choice.model)
        except ResolutionError as exc:
            chat.notify(one_line(str(exc), 200), severity="error", markup=False)
            return
        old = context.use(target)
        chat.service.gateway = chat.meter.gateway = target.gateway
        chat.meter.model = target.model_name
        chat.meter.configured_window = target.context_window
        if old is not target.gateway:
            self._close(old)
        chat.query_one(StatusBar).show(backend=target.backend_name, model=target.model_name)
        chat.sampling.show_locks()  # the dials the new model ignores
        chat.run_worker(chat.sampling.show_cuts(), exit_on_error=False, group="cuts")
        chat.notify(
            f"Next turn: {one_line(target.backend_name, 24)} · {one_line(target.model_name, 60)}",
            timeout=3,
            markup=False,
        )
        chat.server.prepare_again()

    def _close(self, *gateways: Gateway) -> None:
        for gateway in gateways:
            self.chat.run_worker(
                self._aclose(gateway),
                group="close-backend",
                exit_on_error=False,
                description="close the HTTP client of a backend no longer used",
            )

    @staticmethod
    async def _aclose(gateway: Gateway) -> None:
        # Only its own client: its fallbacks may be the backend now in use. A closed
        # backend builds a new client if it is used again.
        with contextlib.suppress(Exception):
            await gateway.aclose(fallbacks=False)
