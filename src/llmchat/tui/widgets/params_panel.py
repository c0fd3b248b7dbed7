"""The sampling panel: sliders for temperature and top-p, fields for max_tokens and seed,
and the presets. It sits beside the chat (it never hides it) and only edits values; the
chat screen applies them to the conversation."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from llmchat.core.params import SamplingParams
from llmchat.core.presets import NEUTRAL_TEMPERATURE, NEUTRAL_TOP_P, Preset, both_dials_moved
from llmchat.tui.widgets.slider import Slider

HINT = "Tip: tune one dial at a time; leave the other at 1.0."


class ParamsPanel(VerticalScroll):
    DEFAULT_CSS = """
    ParamsPanel {
        dock: right; width: 46; display: none;
        padding: 0 1; background: $panel; border-left: tall $accent;
    }
    ParamsPanel.-open { display: block; }
    ParamsPanel Label { margin-top: 1; color: $text-muted; }
    ParamsPanel Input { width: 1fr; }
    ParamsPanel #params-hint { color: $warning; height: auto; margin-top: 1; }
    ParamsPanel OptionList { height: auto; max-height: 10; }
    """

    def __init__(self, params: SamplingParams, presets: tuple[Preset, ...]) -> None:
        super().__init__(id="params")
        self.presets = presets
        self.temperature = Slider(
            "T    ",
            minimum=0.0,
            maximum=2.0,
            step=0.05,
            value=params.temperature,
            neutral=NEUTRAL_TEMPERATURE,
            id="temperature",
        )
        self.top_p = Slider(
            "top-p",
            minimum=0.0,
            maximum=1.0,
            step=0.01,
            value=params.top_p,
            neutral=NEUTRAL_TOP_P,
            id="top-p",
        )
        self.max_tokens = Input(str(params.max_tokens), type="integer", id="max-tokens")
        self.seed = Input(
            "" if params.seed is None else str(params.seed),
            type="integer",
            placeholder="none",
            id="seed",
        )

    def compose(self) -> ComposeResult:
        yield Static(Content("Sampling (F9 closes)"))
        yield Label("temperature 0–2 · top-p 0–1   (←/→, shift ×10, n neutral, type + Enter)")
        yield self.temperature
        yield self.top_p
        yield Label("max_tokens (reply reserve)")
        yield self.max_tokens
        yield Label("seed")
        yield self.seed
        yield Static("", id="params-hint")
        yield Label("Presets (Enter applies)")
        yield OptionList(
            *(Option(p.name, id=str(i)) for i, p in enumerate(self.presets)), id="presets"
        )

    def show(self, params: SamplingParams) -> None:
        """Reflect values changed elsewhere (hotkeys, presets, a resumed session)."""
        self.temperature.set_value(params.temperature)
        self.top_p.set_value(params.top_p)
        if self.max_tokens.value != str(params.max_tokens):
            self.max_tokens.value = str(params.max_tokens)
        seed = "" if params.seed is None else str(params.seed)
        if self.seed.value != seed:
            self.seed.value = seed
        hint = HINT if both_dials_moved(params.temperature, params.top_p) else ""
        self.query_one("#params-hint", Static).update(hint)
