"""Copying a reply, or one of its code blocks, to the clipboard and to a file.

The text goes to the terminal's clipboard with OSC 52 (Textual's `copy_to_clipboard`),
but many terminals ignore it or cap its size, and tmux only passes it on with
`set-clipboard on`. Nothing tells an application whether it arrived, so every copy is
also written to `clipboard.txt` in the state folder, and the notice names that file: a
copy is never lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from textual.app import App

from llmchat import paths
from llmchat.core.copy_text import CodeBlock, code_blocks, last_reply, paste_safe
from llmchat.core.messages import Message
from llmchat.core.safe_text import one_line, visible


async def copy_text(app: App[object], text: str, what: str) -> None:
    """Put `text` (made paste-safe) on the clipboard and in the clipboard file; say so."""
    text = paste_safe(text)
    app.copy_to_clipboard(text)
    summary = f"Copied {what} ({len(text):,} chars)"
    try:
        path = await asyncio.to_thread(_save, text)
    except OSError as exc:
        app.notify(
            f"{summary} — not saved to a file: {one_line(exc.strerror or str(exc))}",
            title="Copy",
            severity="warning",
            markup=False,
        )
        return
    app.notify(f"{summary} — also in {visible(_shown(path))}", title="Copy", markup=False)


def _save(text: str) -> Path:
    path = paths.clipboard_file()
    paths.ensure_private_dir(path.parent)
    paths.atomic_write(path, text.encode("utf-8"))
    return path


def _shown(path: Path) -> str:
    """The path as the user would type it: under the home folder it starts with ~."""
    try:
        return "~/" + path.relative_to(Path.home()).as_posix()
    except ValueError:
        return str(path)


async def copy_last_reply(app: App[object], thread: Sequence[Message]) -> None:
    """The raw Markdown of the newest reply."""
    reply = last_reply(thread)
    if reply is None:
        app.notify("No reply to copy yet.", title="Copy", markup=False)
        return
    await copy_text(app, reply.content, "last reply")


async def copy_code_block(app: App[object], thread: Sequence[Message]) -> None:
    """One fenced code block of the newest reply: the only one at once, else a picker."""
    reply = last_reply(thread)
    blocks = code_blocks(reply.content) if reply is not None else []
    if not blocks:
        app.notify("The last reply has no code blocks.", title="Copy", markup=False)
        return
    if len(blocks) == 1:
        await copy_text(app, blocks[0].code, _block_name(blocks[0]))
        return

    from llmchat.tui.screens.code_picker import CodeBlockPicker

    async def chosen(block: CodeBlock | None) -> None:
        if block is not None:
            await copy_text(app, block.code, _block_name(block))

    await app.push_screen(CodeBlockPicker(blocks), chosen)


def _block_name(block: CodeBlock) -> str:
    language = one_line(block.language, 30)
    return f"{language} code block" if language else "code block"
