"""The sampling panel: sliders for temperature and top-p, fields for max_tokens and seed,
and the presets. It sits beside the chat (it never hides it) and only edits values; the
chat screen applies them to the conversation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from llmchat.core.model_rules import DialRule
from llmchat.core.params import SamplingParams
from llmchat.core.presets import NEUTRAL_TEMPERATURE, NEUTRAL_TOP_P, Preset, both_dials_moved
from llmchat.core.probability_pool import ServerCuts
from llmchat.core.safe_text import one_line
from llmchat.tui.widgets.number_field import NumberField
from llmchat.tui.widgets.slider import Slider

HINT = "Tip: tune one dial at a time; leave the other at 1.0."
# Beyond any model's window, and a seed every server can hold (a signed 64-bit integer).
MAX_TOKENS_LIMIT = 10_000_000
SEED_LIMIT = 2**63 - 1


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
    ParamsPanel #params-rule { color: $text-warning; height: auto; }
    ParamsPanel OptionList { height: auto; max-height: 10; }
    ParamsPanel #top-k, ParamsPanel #min-p, ParamsPanel #cuts-label { display: none; }
    """

    @dataclass
    class NumberSet(Message):
        """The user committed a valid max_tokens or seed (None: no seed)."""

        name: Literal["max_tokens", "seed"]
        value: int | None

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
        # llama-server's own cuts, shown only for a backend that takes them (show_cuts).
        self.cuts: ServerCuts | None = None
        self.top_k = Slider(
            "top-k", minimum=0, maximum=200, step=1, value=40, neutral=40, id="top-k", decimals=0
        )
        self.min_p = Slider(
            "min-p", minimum=0.0, maximum=1.0, step=0.01, value=0.05, neutral=0.05, id="min-p"
        )
        self.max_tokens = NumberField(params.max_tokens, id="max-tokens")
        self.seed = NumberField(params.seed, placeholder="none", id="seed")

    def compose(self) -> ComposeResult:
        yield Static(Content("Sampling (F9 closes)"))
        yield Label("temperature 0–2 · top-p 0–1   (←/→, shift ×10, n neutral, type + Enter)")
        yield self.temperature
        yield self.top_p
        yield Label("llama-server's cuts: top-k (0 off) · min-p", id="cuts-label")
        yield self.top_k
        yield self.min_p
        yield Static("", id="params-rule")
        yield Label("max_tokens (reply reserve; Enter sets)")
        yield self.max_tokens
        yield Label("seed")
        yield self.seed
        yield Static("", id="params-hint")
        yield Label("Presets (Enter applies)")
        yield OptionList(
            # Names from the config file: literal Content, so markup in them never runs.
            *(Option(Content(one_line(p.name, 40)), id=str(i)) for i, p in enumerate(self.presets)),
            id="presets",
        )

    def show(self, params: SamplingParams) -> None:
        """Reflect values changed elsewhere (hotkeys, presets, a resumed session)."""
        self.temperature.set_value(params.temperature)
        self.top_p.set_value(params.top_p)
        self.max_tokens.show(params.max_tokens)
        self.seed.show(params.seed)
        if self.cuts is not None:
            self.top_k.set_value(self.cuts.top_k if params.top_k is None else params.top_k)
            self.min_p.set_value(self.cuts.min_p if params.min_p is None else params.min_p)
        hint = HINT if both_dials_moved(params.temperature, params.top_p) else ""
        self.query_one("#params-hint", Static).update(hint)

    def show_cuts(self, cuts: ServerCuts | None, params: SamplingParams) -> None:
        """Show the top-k and min-p sliders (at the server's defaults until moved) for a
        backend that cuts with them; hide them for one that does not."""
        self.cuts = cuts
        for widget in (self.top_k, self.min_p, self.query_one("#cuts-label")):
            widget.display = cuts is not None
        if cuts is not None:
            self.top_k.neutral, self.min_p.neutral = cuts.top_k, cuts.min_p
            self.show(params)

    def show_rule(self, model: str, rule: DialRule) -> None:
        """Lock the dials `model` ignores, and say in one line why."""
        self.temperature.set_locked(rule.locked("temperature"))
        self.top_p.set_locked(rule.locked("top_p"))
        said = []
        if rule.refused:
            said.append(f"{one_line(model, 30)} ignores {' and '.join(sorted(rule.refused))}")
        elif rule.one_of:
            said.append(f"{one_line(model, 30)}: only the dial moved last is sent")
        low, high = rule.temperature_range
        if (low, high) != (0.0, 2.0) and "temperature" not in rule.refused:
            said.append(f"temperature {low:g}–{high:g}")
        text = " · ".join(said)
        self.query_one("#params-rule", Static).update(
            Content(f"{text} ({rule.why})" if text else "")
        )

    @on(NumberField.Committed, "#max-tokens")
    def _max_tokens_committed(self, event: NumberField.Committed) -> None:
        event.stop()
        if event.text.isdigit() and 1 <= int(event.text) <= MAX_TOKENS_LIMIT:
            self.post_message(self.NumberSet("max_tokens", int(event.text)))
            return
        event.field.revert()
        self.notify(
            f"max_tokens must be a whole number from 1 to {MAX_TOKENS_LIMIT:,}: "
            f"kept {event.field.value}.",
            title="Sampling",
            severity="warning",
            markup=False,
        )

    @on(NumberField.Committed, "#seed")
    def _seed_committed(self, event: NumberField.Committed) -> None:
        event.stop()
        if not event.text:
            self.post_message(self.NumberSet("seed", None))
        elif _whole(event.text) and abs(int(event.text)) <= SEED_LIMIT:
            self.post_message(self.NumberSet("seed", int(event.text)))
        else:
            event.field.revert()
            self.notify(
                f"The seed must be a whole number within ±{SEED_LIMIT} (empty: none).",
                title="Sampling",
                severity="warning",
                markup=False,
            )


def _whole(text: str) -> bool:
    digits = text[1:] if text.startswith("-") else text
    return digits.isdigit()
