"""The files waiting to go with the next message, as a line of chips above the prompt."""

from __future__ import annotations

from dataclasses import dataclass

from textual.content import Content
from textual.widgets import Static

from llmchat.core.attachments import Attachment, ImageFile
from llmchat.core.reply_facts import format_tokens
from llmchat.core.safe_text import one_line


@dataclass(frozen=True, slots=True)
class Chip:
    file: Attachment
    tokens: int
    """Its share of the message, in tokens (≈ for an image)."""

    @property
    def label(self) -> str:
        name = one_line(self.file.name, 40)
        if isinstance(self.file, ImageFile):
            return f"{name} (image, ≈{format_tokens(self.tokens)} tok)"
        return f"{name} ({format_tokens(self.tokens)} tok)"


class AttachmentChips(Static):
    DEFAULT_CSS = """
    AttachmentChips {
        display: none; height: auto; max-height: 3; padding: 0 1; color: $text-muted;
    }
    """

    def show(self, chips: list[Chip]) -> None:
        self.display = bool(chips)
        if chips:
            listed = "  ".join(f"[{n}] {chip.label}" for n, chip in enumerate(chips, 1))
            self.update(Content(f"📎 {listed}  · ctrl+p attach: remove"))
