"""The chat screen's sampling: the F9 panel, the Alt+arrow nudges, the presets and schema
mode's temperature. A change is recorded in the session and used from the next request.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from textual.widgets import OptionList

from llmchat.core.params import SamplingParams
from llmchat.core.presets import BUILT_IN, Preset, both_dials_moved, matching_preset
from llmchat.core.probability_pool import ServerCuts
from llmchat.core.safe_text import one_line
from llmchat.core.structured import OutputSchema
from llmchat.tui.widgets.params_panel import ParamsPanel
from llmchat.tui.widgets.prompt_input import PromptInput
from llmchat.tui.widgets.slider import Slider
from llmchat.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from llmchat.tui.screens.chat import ChatScreen

SamplingChange = Slider.Changed | ParamsPanel.NumberSet | OptionList.OptionSelected
"""What the panel posts when the user moves a dial, sets a number or picks a preset."""


class SamplingControls:
    """The chat screen's sampling (its `action_toggle_params`, `action_nudge` and the
    panel's messages come here)."""

    def __init__(self, chat: ChatScreen) -> None:
        self.chat = chat
        self.presets: tuple[Preset, ...] = (*BUILT_IN, *chat.context.presets)
        """The built-in presets, then the user's own from the config."""
        self._temperature_before_schema: float | None = None
        self.cuts: ServerCuts | None = None
        """The backend's default top-k and min-p (llama-server), once it has said."""
        self._chosen_preset: Preset | None = None

    def show_locks(self) -> None:
        """Lock the sliders of dials the model ignores (the table, and what servers
        taught, from the cache folder), with the reason."""
        from llmchat.store.model_rules_file import model_rules

        model = self.chat.context.model_name
        rule = model_rules().rule_for(model)
        self.chat.query_one(ParamsPanel).show_rule(model, rule)

    async def show_cuts(self) -> None:
        """The top-k and min-p sliders, for a backend that cuts with them (llama-server)."""
        self.cuts = cuts = await self.chat.context.gateway.sampler_cuts()
        self.chat.query_one(ParamsPanel).show_cuts(cuts, self.chat.conversation.params)

    def show_cuts_soon(self) -> None:
        """Ask the backend for its cuts in the background, once. Not at start-up: it may
        probe the server, and that cost the first frame ~300 ms (benchmark figure 4)."""
        if self.cuts is None:
            self.chat.run_worker(
                self.show_cuts(), exit_on_error=False, group="cuts", exclusive=True
            )

    def toggle_panel(self) -> None:
        panel = self.chat.query_one(ParamsPanel)
        panel.toggle_class("-open")
        if panel.has_class("-open"):
            self.show_cuts_soon()
            panel.temperature.focus()
        else:
            self.chat.query_one(PromptInput).focus()

    def nudge(self, dial: str, steps: int) -> None:
        params = self.chat.conversation.params
        if dial == "temperature":
            value = min(2.0, max(0.0, round(params.temperature + 0.05 * steps, 2)))
            self.apply_params(replace(params, temperature=value))
        else:
            value = min(1.0, max(0.0, round(params.top_p + 0.01 * steps, 2)))
            self.apply_params(replace(params, top_p=value))

    def changed(self, event: SamplingChange) -> None:
        """A dial moved, a number was set or a preset was picked in the panel."""
        params = self.chat.conversation.params
        match event:
            case Slider.Changed(slider=slider, value=value) if slider.id == "temperature":
                self.apply_params(replace(params, temperature=value))
            case Slider.Changed(slider=slider, value=value) if slider.id == "top-k":
                default_k = self.cuts.top_k if self.cuts else None
                self.apply_params(replace(params, top_k=_unless_default(round(value), default_k)))
            case Slider.Changed(slider=slider, value=value) if slider.id == "min-p":
                default_p = self.cuts.min_p if self.cuts else None
                self.apply_params(replace(params, min_p=_unless_default(value, default_p)))
            case Slider.Changed(value=value):
                self.apply_params(replace(params, top_p=value))
            case ParamsPanel.NumberSet(name="max_tokens", value=int(value)):
                self.apply_params(replace(params, max_tokens=value))
            case ParamsPanel.NumberSet(name="seed", value=value):
                self.apply_params(replace(params, seed=value))
            case OptionList.OptionSelected(option=option) if option.id is not None:
                self.apply_preset(self.presets[int(option.id)])

    def set_schema(self, schema: OutputSchema | None) -> None:
        """Schema mode on (or off). On, temperature goes to 0 unless the user moved it."""
        conversation = self.chat.conversation
        conversation.schema = schema
        self.chat.query_one(StatusBar).show(schema=schema.name if schema else None)
        params = conversation.params
        if schema is not None and params.temperature == self.chat.context.default_temperature:
            self._temperature_before_schema = params.temperature
            self.apply_params(replace(params, temperature=0.0))
        elif schema is None and self._temperature_before_schema is not None:
            # Back to what it was, unless the user moved it while in schema mode.
            before, self._temperature_before_schema = self._temperature_before_schema, None
            if params.temperature == 0.0:
                self.apply_params(replace(params, temperature=before))

    def apply_preset(self, preset: Preset) -> None:
        chat, conversation = self.chat, self.chat.conversation
        params = replace(
            conversation.params,
            temperature=preset.temperature,
            top_p=preset.top_p,
            max_tokens=preset.max_tokens or conversation.params.max_tokens,
        )
        if preset.system is not None:
            chat._record(lambda: conversation.set_system(preset.system or ""))
            chat.show_system()
        self._chosen_preset = preset
        self.apply_params(params)
        chat.query_one(StatusBar).show(preset=self.preset_name(params))
        chat.notify(f"Preset: {one_line(preset.name, 40)}", markup=False, timeout=3)
        if preset.json_output and conversation.schema is None:
            chat.notify(
                "For JSON, attach a schema: command palette → schema: attach file.",
                title="Structured output",
                timeout=6,
            )

    def apply_params(self, params: SamplingParams) -> None:
        """Use these values from the next request on; recorded in the session."""
        chat = self.chat
        before = chat.conversation.params
        if params == before:
            return
        chat._record(lambda: chat.conversation.set_params(params))
        panel = chat.query_one(ParamsPanel)
        panel.show(params)
        chat.query_one(StatusBar).show(params=params, preset=self.preset_name(params))
        moved_now = both_dials_moved(params.temperature, params.top_p)
        # The open panel shows the hint in place; otherwise a short notice, once.
        if (
            moved_now
            and not panel.has_class("-open")
            and not both_dials_moved(before.temperature, before.top_p)
        ):
            chat.notify(
                "Both temperature and top-p are off neutral: tune one dial at a time.",
                title="Sampling",
                timeout=4,
            )
        chat.gauge.measure_soon()

    def preset_name(self, params: SamplingParams) -> str | None:
        """The preset these values are: the one the user chose while they still match it
        (SQL and JSON extraction share their values), else the first that matches."""
        chosen = self._chosen_preset
        if chosen is not None and matching_preset(params.temperature, params.top_p, (chosen,)):
            return chosen.name
        preset = matching_preset(params.temperature, params.top_p, self.presets)
        return preset.name if preset else None


Number = TypeVar("Number", int, float)


def _unless_default(value: Number, default: Number | None) -> Number | None:
    """The value to record: None (the server's own default) when it is that default, so
    `n` on the slider goes back to "whatever this server uses"."""
    return None if default is not None and abs(value - default) < 1e-9 else value
