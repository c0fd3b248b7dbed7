"""`llmchat sessions` and `llmchat export`: the library of saved sessions from a shell.

Both read the sessions folder only (`paths.sessions_dir()`); neither loads a
configuration, a backend or a key. Text a session holds is outside text: on a terminal it
is shown through `safe_text`, in a pipe it is written as stored (`for_pipe`), and
`--json` output is ASCII with every other character escaped.

Exit codes: 0 done; 1 `--search` found nothing (as grep does), a session or the folder
could not be read, or the output could not be written; 2 a usage error, or no session
(or more than one) matches the ID given to `export`.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmchat.store import SessionSummary
    from llmchat.store.session_search import SearchHit

EXIT_NO_MATCH = 1
EXIT_USAGE = 2
_ID_WIDTH = 12


def _say(line: object) -> None:
    from llmchat.core.safe_text import visible

    print(f"llmchat: {visible(str(line))}", file=sys.stderr)


def _write(text: str) -> bool:
    """`text` on stdout: neutralised for a terminal, as stored for a pipe. False if the
    reader went away (`| head`), which is not an error."""
    from llmchat.core.safe_text import for_pipe, visible

    out = sys.stdout
    try:
        out.write(visible(text) if out.isatty() else for_pipe(text, out.encoding))
        out.flush()
    except OSError as exc:
        _stop_writing()
        if exc.errno != errno.EPIPE:
            _say(f"could not write to stdout: {exc.strerror or exc}")
            raise SystemExit(1) from exc
        return False
    return True


def _stop_writing() -> None:
    """Whatever stdout still buffers goes nowhere (no "BrokenPipeError" at exit)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


# -- llmchat sessions ---------------------------------------------------------------------


def sessions_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmchat sessions",
        description="List saved sessions, newest first, or search their text.",
        epilog="Exit status: 0 on success; 1 if --search finds nothing (like grep) or the "
        "sessions cannot be read; 2 on a usage error.",
    )
    parser.add_argument(
        "--search",
        metavar="TEXT",
        help="find messages holding every word of TEXT (words match their start: monad "
        'finds monads; "quoted words" match as a phrase)',
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document (a list) for scripts"
    )
    parser.add_argument(
        "--limit", type=_positive, metavar="N", help="at most N (default: all; 50 hits)"
    )
    parser.add_argument(
        "--purge-trash",
        action="store_true",
        help="delete for good the sessions deleted in the browser (and the images only they named)",
    )
    return parser


def sessions_command(argv: Sequence[str]) -> int:
    args = sessions_parser().parse_args(argv)
    from llmchat import paths

    if args.purge_trash:
        return _purge(paths.sessions_dir())
    if args.search is not None:
        return _search(paths.sessions_dir(), paths.cache_dir(), args)
    return _list(paths.sessions_dir(), args)


def _purge(sessions_dir: Path) -> int:
    from llmchat.store.session_trash import TrashError, purge_trash

    try:
        deleted = purge_trash(sessions_dir)
    except TrashError as exc:
        _say(exc)
        return 1
    plural = "" if deleted == 1 else "s"
    _say(f"deleted {deleted} session{plural} from the trash for good")
    return 0


def _list(sessions_dir: Path, args: argparse.Namespace) -> int:
    from llmchat.core.safe_text import one_line
    from llmchat.store import scan_sessions

    listing = scan_sessions(sessions_dir)
    for problem in listing.unreadable:
        _say(problem)
    sessions = listing.sessions[: args.limit] if args.limit else listing.sessions
    if args.json:
        _write(_json([_summary_json(summary) for summary in sessions]))
    else:
        lines = [
            "  ".join(
                (
                    summary.id.ljust(_ID_WIDTH),
                    summary.updated.astimezone().strftime("%Y-%m-%d %H:%M"),
                    one_line(summary.model or "–", 24).ljust(24),
                    f"{summary.message_count:>5}",
                    one_line(summary.title or "(untitled)", 80),
                )
            )
            for summary in sessions
        ]
        if lines:
            _write("\n".join(lines) + "\n")
    return 1 if listing.unreadable and not listing.sessions else 0


def _search(sessions_dir: Path, cache_dir: Path, args: argparse.Namespace) -> int:
    from llmchat.core.safe_text import one_line
    from llmchat.store.session_search import INDEX_FILE_NAME, SessionSearch

    search = SessionSearch(sessions_dir, cache_dir / INDEX_FILE_NAME)
    search.refresh(_progress if sys.stderr.isatty() else None)
    hits = search.search(args.search, limit=args.limit or 50)
    if args.json:
        _write(_json([_hit_json(hit) for hit in hits]))
    elif hits:
        _write(
            "".join(
                f"{hit.session_id.ljust(_ID_WIDTH)}  {hit.role:<9}  {one_line(hit.line)}\n"
                for hit in hits
            )
        )
    if not hits:
        if not args.json:
            _say(f"no message matches {args.search!r}")
        return EXIT_NO_MATCH
    return 0


def _progress(done: int, total: int) -> None:
    end = "\n" if done == total else ""
    print(f"\rllmchat: indexing sessions for search: {done}/{total}", end=end, file=sys.stderr)


def _summary_json(summary: SessionSummary) -> dict[str, object]:
    return {
        "id": summary.id,
        "path": str(summary.path),
        "title": summary.title,
        "created": summary.created.isoformat(),
        "updated": summary.updated.isoformat(),
        "backend": summary.backend,
        "model": summary.model,
        "messages": summary.message_count,
        "cost_usd": summary.cost_usd,
        "first_line": summary.first_line,
        "warnings": summary.warning_count,
    }


def _hit_json(hit: SearchHit) -> dict[str, object]:
    return {
        "id": hit.session_id,
        "path": str(hit.path),
        "title": hit.title,
        "message_id": hit.message_id,
        "role": hit.role,
        "line": hit.line,
        "updated": hit.updated.isoformat(),
    }


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=True, indent=2) + "\n"


# -- llmchat export -----------------------------------------------------------------------


def export_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmchat export",
        description="Write a saved session as Markdown (to read) or JSON (every branch, "
        "to keep or re-import).",
        epilog="Exit status: 0 on success; 1 if the session or the output file cannot be "
        "read or written; 2 on a usage error or an ID that matches no session, or several.",
    )
    parser.add_argument("id", metavar="ID", help="a session id, or its first few characters")
    parser.add_argument(
        "--format",
        choices=("md", "json"),
        help="md (the default) or json; -o FILE.json alone also means json",
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="write FILE (replaced whole) instead of stdout"
    )
    return parser


def export_command(argv: Sequence[str]) -> int:
    args = export_parser().parse_args(argv)
    from llmchat import paths
    from llmchat.store import (
        AmbiguousSession,
        SessionError,
        SessionNotFound,
        find_session,
        load_session,
    )
    from llmchat.store.session_export import ExportError, export_text, write_export

    try:
        summary = find_session(paths.sessions_dir(), args.id)
        loaded = summary.read[0] if summary.read is not None else load_session(summary.path)
    except (SessionNotFound, AmbiguousSession) as exc:
        _say(exc)
        return EXIT_USAGE
    except SessionError as exc:
        _say(exc)
        return 1
    for warning in loaded.warnings:
        _say(f"{summary.path.name}: {warning}")
    to_file = args.output not in (None, "-")
    target = Path(args.output).expanduser() if to_file else None
    text = export_text(loaded, target, args.format)
    if target is None:
        _write(text)
        return 0
    try:
        write_export(target, text, summary.path)
    except ExportError as exc:
        _say(exc)
        return EXIT_USAGE if exc.usage else 1
    return 0
