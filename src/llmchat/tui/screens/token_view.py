"""`inspect: tokens`: a text as the model's tokenizer splits it, in alternating colours,
with the count: llama-server's own `/tokenize` pieces, tiktoken's for OpenAI models.
Non-English text and pretty-printed JSON show their cost at a glance.

Every piece is model or user text: shown through `visible()`, never raw.
"""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from llmchat.core.safe_text import visible
from llmchat.core.tokens import encoding_name_for, estimate, load_pieces
from llmchat.gateway.gateway import Gateway

SHOWN_PIECES = 20_000
"""Pieces coloured at most; a longer text shows its count and the first ones."""
_STYLES = ("on #24415e", "on #4a3160")


async def split(text: str, gateway: Gateway, model: str) -> tuple[list[str] | None, str]:
    """The pieces and who split them; (None, why not) when nobody here can."""
    pieces = await gateway.token_pieces(text)
    if pieces is not None:
        return pieces, "the server's own tokenizer (/tokenize)"
    encoding = encoding_name_for(model)
    if encoding is not None:
        split_by = await asyncio.to_thread(load_pieces, encoding)
        if split_by is not None:
            return await asyncio.to_thread(split_by, text), f"tiktoken {encoding}"
    return None, f"no tokenizer for {model} here: about {estimate(text):,} tokens (an estimate)"


def coloured(pieces: list[str]) -> Text:
    text = Text()
    for n, piece in enumerate(pieces[:SHOWN_PIECES]):
        text.append(visible(piece), style=_STYLES[n % 2])
    if len(pieces) > SHOWN_PIECES:
        text.append(f"\n⋯ {len(pieces) - SHOWN_PIECES:,} more tokens")
    return text


class TokenView(ModalScreen[None]):
    DEFAULT_CSS = """
    TokenView { align: center middle; }
    TokenView > VerticalScroll {
        width: 96%; height: 85%; padding: 0 1;
        background: $panel; border: round $primary;
    }
    TokenView #token-count { text-style: bold; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Close", id="token_view.close")]

    def __init__(self, what: str, text: str, gateway: Gateway, model: str) -> None:
        super().__init__()
        self.what = what
        self.text = text
        self.gateway = gateway
        self.model = model
        self.pieces: list[str] | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Content(f"{self.what}: counting…"), id="token-count")
            yield Static(Content(""), id="token-pieces")
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self._split(), exit_on_error=False, group="tokens")

    async def _split(self) -> None:
        self.pieces, source = await split(self.text, self.gateway, self.model)
        count = self.query_one("#token-count", Static)
        if self.pieces is None:
            count.update(Content(visible(f"{self.what}: {source}")))
            return
        n = len(self.pieces)
        count.update(
            Content(visible(f"{self.what}: {n:,} token{'s' if n != 1 else ''} by {source}"))
        )
        self.query_one("#token-pieces", Static).update(coloured(self.pieces))
