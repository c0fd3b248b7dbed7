"""A saved session as a document: Markdown to read or share, JSON to keep or re-import.

- Markdown: the title, when it started, the backend and model, the system prompt (said
  to be one), then the thread last shown, a heading per message saying whose it is (and
  which branch, where there are others), and under each reply its facts line (status,
  model, parameters, tokens, timings, cost: `core.reply_facts`). Messages on other
  branches are counted, not shown.
- JSON: `{"session": <the header record>, "messages": [<every message record>]}`, each
  record exactly as `session_format` writes it to a session file (every branch, with
  its price), so `session_format`'s decoders read the messages back as they were.

Nothing here adds what is not in the session: no key, no configuration, no environment.
Text is exported exactly as stored; what reaches a terminal is the caller's to
neutralise.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmchat.core import branches
from llmchat.core.messages import Message, Role
from llmchat.core.records import SessionHeader
from llmchat.core.reply_facts import reply_meta
from llmchat.core.safe_text import for_pipe
from llmchat.paths import atomic_write
from llmchat.store.session_format import header_to_json, message_to_json
from llmchat.store.session_load import LoadedSession

_ROLE_HEADINGS = {Role.USER: "User", Role.ASSISTANT: "Assistant", Role.SYSTEM: "System"}


def export_json(loaded: LoadedSession) -> dict[str, Any]:
    """The session as one JSON value: its header (with the title, system prompt, backend
    and parameters in force at the end, and the branch shown as `leaf`) and every
    message of every branch."""
    session = header_to_json(SessionHeader(loaded.info, loaded.params))
    session["leaf"] = thread(loaded)[-1].id if loaded.messages else None
    return {"session": session, "messages": [message_to_json(m) for m in loaded.messages]}


def export_json_text(loaded: LoadedSession) -> str:
    """`export_json` as text: indented, ASCII only (every other character escaped)."""
    return json.dumps(export_json(loaded), ensure_ascii=True, indent=2) + "\n"


def thread(loaded: LoadedSession) -> list[Message]:
    """The thread the session reopens on: the branch last chosen, else the newest."""
    return branches.thread(loaded.messages, loaded.leaf)


def export_markdown(loaded: LoadedSession) -> str:
    info = loaded.info
    shown = thread(loaded)
    places = branches.sibling_places(loaded.messages)
    title = " ".join(info.title.split()) or "Untitled session"
    out = [f"# {title}", ""]
    out.append(f"- Session: {_code(info.id)}")
    out.append(f"- Created: {_when(info.created)}")
    if info.backend or info.model:
        out.append(
            "- Backend: " + " · ".join(_flat(part) for part in (info.backend, info.model) if part)
        )
    if info.forked_from:
        at = f", after message {_code(info.forked_at)}" if info.forked_at else ""
        out.append(f"- Forked from session {_code(info.forked_from)}{at}")
    others = len(loaded.messages) - len(shown)
    if others:
        plural = "s" if others != 1 else ""
        counted = f"{others} message{plural} on other branches {'are' if plural else 'is'}"
        out.append(
            f"- Branches: this is the thread last shown; {counted} not included "
            "(the JSON export has every branch)"
        )
    out.append("")
    if info.system:
        out += ["## System prompt", "", _quoted(info.system), ""]
    for message in shown:
        heading = _ROLE_HEADINGS.get(message.role, str(message.role))
        place = places.get(message.id)
        if place is not None:
            heading += f" (branch {place[0]} of {place[1]})"
        out += [f"## {heading}", "", message.content.rstrip("\n") or "*(no text)*", ""]
        for image in message.images:  # named, not embedded: they stay in the image folder
            name = _flat(image.name) or "image"
            out += [
                f"*Attached image: {name} ({image.media_type}, {_code(image.sha256[:12])})*",
                "",
            ]
        if message.role is Role.ASSISTANT:
            out += [_code(reply_meta(message)), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _when(created: str) -> str:
    try:
        when = datetime.fromisoformat(created)
    except ValueError:
        return _flat(created)
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _flat(text: str) -> str:
    return " ".join(text.split())


def _code(text: str) -> str:
    """`text` as a Markdown code span that its own backticks cannot end early."""
    flat = _flat(text)
    fence = "`"
    while fence in flat:
        fence += "`"
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def _quoted(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.rstrip("\n").split("\n"))


class ExportError(Exception):
    """An export that cannot be written where asked; `usage` when the place itself is
    wrong (the session file, a folder) rather than the writing."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


def export_text(loaded: LoadedSession, target: Path | None, wanted: str | None = None) -> str:
    """The export in the format asked for, else the one `target`'s name implies (".json":
    JSON), else Markdown."""
    fmt = wanted or ("json" if target is not None and target.suffix == ".json" else "md")
    return export_json_text(loaded) if fmt == "json" else export_markdown(loaded)


def write_export(target: Path, text: str, session_path: Path, *, replace: bool = True) -> None:
    """Write the export to `target`, never the session file: a regular file (new, or
    replaced whole when `replace`: temp file + rename, mode 0600; through a symlink, the
    file it points to), or written straight into a pipe or a device (`/dev/stdout`).
    Raises ExportError saying why not."""
    data = for_pipe(text, "utf-8").encode("utf-8")
    with contextlib.suppress(OSError):
        if target.resolve() == session_path.resolve() or os.path.samefile(target, session_path):
            raise ExportError(
                f"{target} is the session file itself; give another file to write", usage=True
            )
    try:
        found = target.stat()
    except FileNotFoundError:
        found = None
    except OSError as exc:
        raise ExportError(f"could not write {target}: {exc.strerror or exc}") from exc
    if found is not None and stat.S_ISDIR(found.st_mode):
        raise ExportError(f"{target} is a folder; give a file to write", usage=True)
    if found is not None and not stat.S_ISREG(found.st_mode):
        if not (stat.S_ISFIFO(found.st_mode) or stat.S_ISCHR(found.st_mode)):
            raise ExportError(f"{target} is not a file to write to", usage=True)
        _write_into(target, data)  # a pipe or a terminal: never replaced by a file
        return
    if found is not None and not replace:
        raise ExportError(f"{target} exists already; give another name", usage=True)
    try:
        atomic_write(target.resolve(), data)
    except OSError as exc:
        raise ExportError(f"could not write {target}: {exc.strerror or exc}") from exc


def _write_into(target: Path, data: bytes) -> None:
    try:
        with open(target, "wb") as stream:
            stream.write(data)
    except OSError as exc:
        raise ExportError(f"could not write {target}: {exc.strerror or exc}") from exc


def free_name(target: Path) -> Path:
    """`target`, or `name-2.md`, `name-3.md`, … if it is taken."""
    for n in range(1, 1000):
        candidate = target if n == 1 else target.with_stem(f"{target.stem}-{n}")
        if not os.path.lexists(candidate):
            return candidate
    return target
