"""Files attached to the next message, on the chat screen: picked with `attach: file…`
(or `-a` on the command line), shown as chips above the prompt, counted by the gauge,
removable before sending, and put into the message when it is sent."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING

from textual.suggester import Suggester

from llmchat.core.attachments import (
    Attachment,
    AttachmentError,
    ImageFile,
    TextFile,
    read_attachment,
    with_files,
)
from llmchat.core.image_tokens import image_tokens
from llmchat.core.messages import ImageRef
from llmchat.core.request import WireImage
from llmchat.core.safe_text import one_line
from llmchat.core.tokens import IMAGE_TOKENS
from llmchat.tui.screens.text_line import TextLineScreen
from llmchat.tui.widgets.attachment_chips import AttachmentChips, Chip

if TYPE_CHECKING:
    from llmchat.tui.screens.chat import ChatScreen

_LISTED = 2000
"""Entries of a folder looked at for a completion (a huge folder is not read whole)."""


class PathSuggester(Suggester):
    """Completes a path from what is on disk: the first entry starting with what was
    typed; a folder gets its slash, so Tab-like completion walks down."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        return await asyncio.to_thread(_complete, value)


def _complete(value: str) -> str | None:
    if not value:
        return None
    folder, _, start = value.rpartition("/")
    where = Path(os.path.expanduser(folder or ".") if folder or value.startswith("/") else ".")
    if value.startswith("/") and not folder:
        where = Path("/")
    try:
        with os.scandir(where) as entries:
            names = []
            for n, entry in enumerate(entries):
                if n >= _LISTED:
                    break
                if entry.name.startswith(start) and (start or not entry.name.startswith(".")):
                    names.append(entry.name + ("/" if entry.is_dir() else ""))
    except OSError:
        return None
    if not names:
        return None
    prefix = value[: len(value) - len(start)]
    return prefix + min(names)


class Attachments:
    def __init__(self, chat: ChatScreen) -> None:
        self.chat = chat
        self.chips: list[Chip] = []
        self._reading = 0
        self._settled = asyncio.Event()
        self._settled.set()

    @property
    def image_tokens(self) -> int:
        """The attached images' tokens (by the provider's formula, or estimated)."""
        return sum(chip.tokens for chip in self.chips if isinstance(chip.file, ImageFile))

    def draft(self, text: str) -> str:
        """The draft as it will be sent: the text files' blocks, then the text."""
        texts = [chip.file for chip in self.chips if isinstance(chip.file, TextFile)]
        return with_files(text, texts) if texts else text

    def title(self, text: str) -> str:
        """What a new session is titled from: the words typed, else the files' names."""
        return text.strip() or ", ".join(chip.file.name for chip in self.chips)

    def pick(self) -> None:
        screen = TextLineScreen(
            "",
            prompt="File to attach (→ completes a path; Enter attaches, Esc cancels)",
            suggester=PathSuggester(),
        )
        self.chat.app.push_screen(screen, self._picked)

    def _picked(self, path: str | None) -> None:
        if path:
            self._begin()  # now, not when the worker starts: a send typed next waits
            self.chat.run_worker(self._add(Path(path).expanduser()), exit_on_error=False)

    async def ready(self) -> None:
        """Until every file being read has its chip (or was refused): a message sent
        right after attaching goes with the file, as the user meant."""
        await self._settled.wait()

    def _begin(self) -> None:
        self._reading += 1
        self._settled.clear()

    def _end(self) -> None:
        self._reading -= 1
        if self._reading == 0:
            self._settled.set()

    async def add(self, path: Path) -> None:
        self._begin()
        await self._add(path)

    async def _add(self, path: Path) -> None:
        try:
            file = await asyncio.to_thread(read_attachment, path)
            await self.add_file(file)
        except AttachmentError as exc:
            self.chat.notify(one_line(str(exc), 300), severity="error", markup=False)
        finally:
            self._end()

    async def add_file(self, file: Attachment) -> None:
        """Attach `file` unless it cannot fit the window, which is said with the numbers."""
        if isinstance(file, ImageFile):
            formula = self.chat.context.gateway.capabilities.image_formula
            counted_image = image_tokens(file.data, formula) if formula else None
            tokens = IMAGE_TOKENS if counted_image is None else counted_image
        else:
            counted = await asyncio.to_thread(self.chat.meter.counter.count_text, file.text)
            tokens = counted.tokens
        room = self._room()
        if room is not None and tokens > room:
            self.chat.notify(
                f"{one_line(file.name, 60)} is ≈{tokens:,} tokens: more than the "
                f"{room:,} left for the message in this window. Not attached.",
                severity="error",
                markup=False,
            )
            return
        self.chips.append(Chip(file, tokens))
        self._changed()

    def _room(self) -> int | None:
        meter = self.chat.meter
        if not meter.window:
            return None
        usable = int(meter.window * meter.threshold)
        taken = self.chat.conversation.params.max_tokens + sum(c.tokens for c in self.chips)
        return max(0, usable - taken)

    def remove_last(self) -> None:
        if self.chips:
            removed = self.chips.pop()
            self.chat.notify(f"Removed {one_line(removed.file.name, 60)}", markup=False)
            self._changed()

    def clear(self) -> None:
        if self.chips:
            self.chips.clear()
            self._changed()

    def images(self) -> tuple[WireImage, ...]:
        """The attached images as a request carries them (for the next request's view:
        nothing is kept)."""
        return tuple(
            WireImage(c.file.media_type, c.file.data)
            for c in self.chips
            if isinstance(c.file, ImageFile)
        )

    def keep_images(self) -> tuple[ImageRef, ...]:
        """Keep the attached images beside the sessions, for the message being sent;
        raises OSError. The chips stay until the message is accepted (`sent`): a
        refused message keeps its text and its files."""
        keep = self.chat.context.keep_image
        return tuple(keep(c.file) for c in self.chips if isinstance(c.file, ImageFile))

    def sent(self) -> None:
        """The message went out with the files: the chips go."""
        self.clear()

    def _changed(self) -> None:
        self.chat.query_one(AttachmentChips).show(self.chips)
        self.chat.gauge.draft_changed()
