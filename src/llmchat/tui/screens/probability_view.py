"""`inspect: probabilities`: the pool each token of a reply was picked from.

The reply is coloured by each token's probability; ←/→ select a token and its
alternatives are drawn as bars, the model's probability beside its chance with the
current dials (re-weighted by temperature, cut by top-p, and on llama-server by top-k
and min-p: `core.probability_pool`). The dials move from here (t/T, p/P, k/K, m/M) and
the pool is redrawn at once. On llama-server, Enter lets the model go on from the
selected alternative as a new branch ("resample from here").

Every token is model text: shown through `visible()`, never raw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import HorizontalScroll, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from llmchat.core.messages import Message
from llmchat.core.params import SamplingParams
from llmchat.core.probability_pool import Dials, Pool, Sampler, ServerCuts, reweigh
from llmchat.core.safe_text import one_line, visible
from llmchat.core.token_probs import TokenProbs

AROUND = 300
"""Tokens shown on each side of the selected one (a long reply scrolls with it)."""
BAR = 20
_BANDS = ((0.9, ""), (0.5, "#e5c07b"), (0.2, "#d19a66"), (0.0, "bold #e06c75"))
"""Colours by probability: likely tokens plain, unlikely ones warmer."""


def band(probability: float) -> str:
    return next(style for floor, style in _BANDS if probability >= floor)


def coloured_reply(probs: TokenProbs, selected: int) -> Text:
    """The reply around the selected token, each token coloured by its probability."""
    text = Text()
    start = max(0, selected - AROUND)
    end = min(len(probs), selected + AROUND + 1)
    if start:
        text.append(f"⋯ {start:,} tokens before ⋯ ", style="dim")
    for i in range(start, end):
        token = probs.tokens[i]
        style = band(token.probability)
        if i == selected:
            style = f"{style} reverse".strip()
        text.append(visible(token.token) or "∅", style=style or None)
    if end < len(probs):
        text.append(f" ⋯ {len(probs) - end:,} tokens after", style="dim")
    if probs.cut:
        text.append("\n(probabilities were kept for the first tokens only)", style="dim")
    if probs.unreadable:
        entries = "entry" if probs.unreadable == 1 else "entries"
        text.append(f"\n({probs.unreadable:,} unreadable stored {entries} skipped)", style="dim")
    return text


_MARKS = str.maketrans({" ": "␣", "\n": "↵", "\t": "⇥"})


def token_label(token: str, width: int = 16) -> str:
    """A token as a row names it: spaces, newlines and tabs made visible (" The" is not
    "The"), an empty one as ∅, cut to `width`."""
    if not token:
        return "∅"
    shown = visible(token.translate(_MARKS))
    return shown if len(shown) <= width else shown[: width - 1] + "…"


def _moved(value: float, step: float, steps: int, most: float) -> float:
    return min(most, max(0.0, round(value + step * steps, 2)))


def _bar(share: float) -> str:
    filled = round(share * BAR)
    return "█" * filled + "·" * (BAR - filled)


def pool_table(pool: Pool, chosen: int) -> Text:
    """One row per alternative: the model's probability and its chance with the dials."""
    text = Text()
    text.append(f"{'':2}{'token':<18} {'model':>7} {'':{BAR}}  {'with dials':>10}\n", "bold")
    for n, row in enumerate(pool.rows):
        mark = "▶ " if n == chosen else "  "
        token = token_label(row.token)
        picked = " (written)" if row.chosen else ""
        text.append(mark)
        if row.rest:
            text.append(f"{'(all the others)':<18}", style="italic")
        else:
            text.append(f"{token:<18}", style="bold" if row.chosen else None)
        text.append(f" {row.model:>7.1%} {_bar(row.model)}  ")
        if row.survives:
            text.append(f"{row.share:>10.1%} {_bar(row.share)}", style="green")
        else:
            text.append(f"{'cut':>10} by {row.cut_by}", style="dim")
        text.append(f"{picked}\n")
    return text


def dials_line(dials: Dials, pool: Pool) -> str:
    parts = [f"T {dials.temperature:.2f}", f"top-p {dials.top_p:.2f}"]
    if pool.sampler == "llama.cpp":
        parts += [f"top-k {dials.top_k}", f"min-p {dials.min_p:.2f}"]
    order = (
        "llama.cpp cuts (top-k, top-p, min-p) then applies temperature"
        if pool.sampler == "llama.cpp"
        else "temperature first, then top-p"
    )
    damaged = (
        "The stored numbers add up to more than 100 % (a damaged file?). " if pool.overfull else ""
    )
    return (
        f"{' · '.join(parts)}  →  {pool.survivors} of {pool.returned} survive. {damaged}"
        f"An approximation over the {pool.returned} alternatives returned, which hold "
        f"{pool.covered:.0%} of the model's probability (the others are one row, each "
        f"taken as likely as the least returned); {order}."
    )


@dataclass(frozen=True, slots=True)
class PoolSource:
    """What the view needs besides the reply: who wrote it and what it can do."""

    backend: str
    """The backend that wrote the reply."""
    gives_probabilities: bool
    """The backend in use now returns them (for the next replies)."""
    cannot_resample: str
    """Why this reply cannot be continued from a chosen token here; "" when it can (by
    the llama-server and model that wrote it)."""
    cuts: ServerCuts | None
    """The server's default top-k and min-p (llama-server), else None."""
    why_not: str
    """Why there are no probabilities, when the backend gives none."""


class ProbabilityView(ModalScreen[None]):
    DEFAULT_CSS = """
    ProbabilityView { align: center middle; }
    ProbabilityView > VerticalScroll {
        width: 96%; height: 90%; padding: 0 1;
        background: $panel; border: round $primary;
    }
    ProbabilityView #prob-title { text-style: bold; }
    ProbabilityView #prob-reply { max-height: 12; overflow-y: auto; margin-bottom: 1; }
    ProbabilityView #prob-dials { color: $text-muted; margin-top: 1; }
    ProbabilityView #prob-pool-box { height: auto; overflow-x: auto; }
    ProbabilityView #prob-pool { width: auto; text-wrap: nowrap; }
    """
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close", id="probabilities.close"),
        Binding("left", "move(-1)", "Token ←", id="probabilities.left"),
        Binding("right", "move(1)", "Token →", id="probabilities.right"),
        Binding("shift+left", "move(-10)", show=False),
        Binding("shift+right", "move(10)", show=False),
        Binding("home", "move(-1_000_000)", show=False),
        Binding("end", "move(1_000_000)", show=False),
        Binding("up", "pick(-1)", "Alternative ↑", show=False),
        Binding("down", "pick(1)", "Alternative ↓", show=False),
        Binding("enter", "resample", "Resample from here", id="probabilities.resample"),
        Binding("t", "dial('temperature', -1)", "T−", show=False),
        Binding("T", "dial('temperature', 1)", "T+", show=False),
        Binding("p", "dial('top_p', -1)", "top-p−", show=False),
        Binding("P", "dial('top_p', 1)", "top-p+", show=False),
        Binding("k", "dial('top_k', -1)", "top-k−", show=False),
        Binding("K", "dial('top_k', 1)", "top-k+", show=False),
        Binding("m", "dial('min_p', -1)", "min-p−", show=False),
        Binding("M", "dial('min_p', 1)", "min-p+", show=False),
        Binding("alt+up", "dial('temperature', 1)", show=False),
        Binding("alt+down", "dial('temperature', -1)", show=False),
        Binding("alt+right", "dial('top_p', 1)", show=False),
        Binding("alt+left", "dial('top_p', -1)", show=False),
    ]

    def __init__(
        self,
        reply: Message | None,
        source: PoolSource,
        *,
        params: Callable[[], SamplingParams],
        set_params: Callable[[SamplingParams], None],
        resample: Callable[[Message, int, str], None],
        streaming: bool = False,
    ) -> None:
        super().__init__()
        self.streaming = streaming
        """A reply is streaming now: the view has none of it yet."""
        self.reply = reply
        self.source = source
        self._params = params
        self._set_params = set_params
        self._resample = resample
        self.selected = 0
        self.picked = 0
        self.pool: Pool | None = None

    @property
    def probs(self) -> TokenProbs | None:
        return self.reply.probabilities if self.reply is not None else None

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Content(""), id="prob-title")
            yield Static(Content(""), id="prob-reply")
            with HorizontalScroll(id="prob-pool-box"):
                yield Static(Content(""), id="prob-pool")
            yield Static(Content(""), id="prob-dials")
            yield Static(Content(self._keys()), id="prob-keys")
        yield Footer()

    def on_mount(self) -> None:
        self.redraw()

    def _keys(self) -> str:
        """The keys that do something for this reply: resampling and llama-server's
        cuts only where they apply."""
        keys = ["←/→ token"]
        if not self.source.cannot_resample:
            keys.append("↑/↓ alternative · Enter resample from here")
        keys.append("t/T temperature · p/P top-p")
        if self.source.cuts is not None:
            keys.append("k/K top-k · m/M min-p")
        return " · ".join([*keys, "Esc close"])

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "resample" and self.source.cannot_resample:
            return None  # shown disabled in the footer; Enter says why
        return True

    @property
    def sampler(self) -> Sampler:
        return "llama.cpp" if self.source.cuts is not None else "openai"

    def dials(self) -> Dials:
        params, cuts = self._params(), self.source.cuts
        if cuts is None:
            return Dials(params.temperature, params.top_p)
        return Dials(
            params.temperature,
            params.top_p,
            cuts.top_k if params.top_k is None else params.top_k,
            cuts.min_p if params.min_p is None else params.min_p,
        )

    def redraw(self) -> None:
        title = self.query_one("#prob-title", Static)
        probs = self.probs
        if probs is None or not len(probs):
            title.update(Content(self._empty_reason()))
            return
        self.selected = max(0, min(self.selected, len(probs) - 1))
        token = probs.tokens[self.selected]
        self.pool = reweigh(token, self.dials(), self.sampler)
        self.picked = max(0, min(self.picked, len(self.pool.rows) - 1))
        chosen_here = self.reply is not None and self.reply.resampled_at == self.selected
        who = (
            "chosen by you: the reply was resampled from here"
            if chosen_here
            else f"written by {one_line(self.source.backend, 30)}"
        )
        title.update(
            Content(
                f"Token {self.selected + 1:,} of {len(probs):,}: "
                f"{token_label(token.token, 40)} at {token.probability:.1%} ({who})"
            )
        )
        self.query_one("#prob-reply", Static).update(coloured_reply(probs, self.selected))
        self.query_one("#prob-pool", Static).update(pool_table(self.pool, self.picked))
        self.query_one("#prob-dials", Static).update(Content(dials_line(self.dials(), self.pool)))

    def _empty_reason(self) -> str:
        if self.probs is not None and self.probs.damaged:
            return (
                "This reply's stored probabilities could not be read (the session file "
                "was changed by hand, or damaged); the reply itself is intact."
            )
        if self.streaming:
            return "The reply is still coming: open this view again once it has ended."
        if not self.source.gives_probabilities:
            return self.source.why_not
        if self.reply is None:
            return (
                "No reply yet. Probabilities are on: the next replies come with each "
                "token's alternatives. Send a message, then open this view again."
            )
        return (
            "This reply was written without probabilities. They are on now: the next "
            "replies come with each token's alternatives."
        )

    def action_move(self, steps: int) -> None:
        self.selected += steps
        self.picked = 0
        self.redraw()

    def action_pick(self, steps: int) -> None:
        self.picked += steps
        self.redraw()

    def action_dial(self, dial: str, steps: int) -> None:
        params, dials = self._params(), self.dials()
        match dial:
            case "temperature":
                params = replace(params, temperature=_moved(params.temperature, 0.05, steps, 2.0))
            case "top_p":
                params = replace(params, top_p=_moved(params.top_p, 0.01, steps, 1.0))
            case "top_k" if dials.top_k is not None:
                params = replace(params, top_k=min(1000, max(0, dials.top_k + steps)))
            case "min_p" if dials.min_p is not None:
                params = replace(params, min_p=_moved(dials.min_p, 0.01, steps, 1.0))
            case _:
                self.notify(
                    f"{self.source.backend} takes no {dial.replace('_', '-')}: only "
                    "llama-server cuts with top-k and min-p.",
                    markup=False,
                    timeout=4,
                )
                return
        self._set_params(params)
        self.redraw()

    def action_resample(self) -> None:
        if self.reply is None or self.pool is None:
            return
        if self.source.cannot_resample:
            self.notify(
                self.source.cannot_resample,
                title="Resample",
                markup=False,
                timeout=8,
            )
            return
        row = self.pool.rows[self.picked]
        if row.rest:
            self.notify("Pick one of the tokens returned: the others are not known.", timeout=4)
            return
        token = row.token
        self.dismiss(None)
        self._resample(self.reply, self.selected, token)
