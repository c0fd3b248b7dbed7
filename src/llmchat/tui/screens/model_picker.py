"""Pick a backend and one of its models (palette `model: switch…`).

Each backend's server is asked for its models (`/v1/models`, Anthropic's models list)
in a worker, all at once, each within the backend's own discovery deadline; a backend
that does not answer is listed with why. Names are shown neutralised and handed back raw,
as they are sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from llmchat.backends.base import BackendError
from llmchat.core.safe_text import one_line
from llmchat.gateway.gateway import Gateway


@dataclass(frozen=True, slots=True)
class ModelChoice:
    backend: str
    model: str
    """Raw, exactly as the server listed it."""


@dataclass(frozen=True, slots=True)
class BackendModels:
    """What one backend's server said: its models, or why it could not say."""

    backend: str
    models: tuple[str, ...] = ()
    problem: str = ""


async def ask_models(backend: str, gateway: Gateway | None) -> BackendModels:
    if gateway is None:
        return BackendModels(backend, problem="cannot be used from inside the app")
    try:
        return BackendModels(backend, tuple(await gateway.list_models()))
    except BackendError as exc:
        return BackendModels(backend, problem=exc.error.message)


class ModelPicker(ModalScreen[ModelChoice | None]):
    DEFAULT_CSS = """
    ModelPicker { align: center middle; }
    ModelPicker > Vertical {
        width: 90; max-width: 95%; height: auto; max-height: 80%; padding: 1 2;
        background: $panel; border: round $primary;
    }
    ModelPicker OptionList { height: auto; max-height: 20; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="model_picker.cancel")]

    def __init__(
        self,
        backends: Sequence[tuple[str, Gateway | None]],
        current: ModelChoice,
        *,
        question: str = "Switch to which model? (Enter switches, Esc cancels)",
    ) -> None:
        super().__init__()
        self._question = question
        self._backends = list(backends)
        self._current = current
        self._choices: list[ModelChoice | None] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._question)
            yield OptionList(Option(Content("asking the servers for their models…")), id="models")

    def on_mount(self) -> None:
        self.run_worker(
            self._ask(),
            group="models",
            exclusive=True,
            exit_on_error=False,
            description="ask each backend's server for its models",
        )

    async def _ask(self) -> None:
        answers = await asyncio.gather(*(ask_models(n, g) for n, g in self._backends))
        self.show(answers)

    def show(self, answers: Sequence[BackendModels]) -> None:
        options: list[Option] = []
        self._choices = []
        for answer in answers:
            name = one_line(answer.backend, 24)
            models = list(answer.models)
            if answer.backend == self._current.backend and self._current.model not in models:
                models.insert(0, self._current.model)
            for model in models:
                here = " (now)" if ModelChoice(answer.backend, model) == self._current else ""
                # Content, not str: an option's str prompt is read as markup.
                options.append(Option(Content(f"{name} · {one_line(model, 60)}{here}")))
                self._choices.append(ModelChoice(answer.backend, model))
            if answer.problem:
                text = f"{name}: no models listed ({one_line(answer.problem, 80)})"
                options.append(Option(Content(text), disabled=True))
                self._choices.append(None)
        listing = self.query_one(OptionList)
        listing.clear_options()
        listing.add_options(options)
        listing.highlighted = next(
            (i for i, c in enumerate(self._choices) if c == self._current), None
        )
        listing.focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        if event.option_index < len(self._choices):
            choice = self._choices[event.option_index]
            if choice is not None:
                self.dismiss(choice)
