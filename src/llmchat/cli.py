"""The `llmchat` command: arguments, configuration, then the TUI or non-interactive mode.

Start-up time matters (the first frame should appear within 0.3 s), so Textual, httpx
and everything else heavy are imported only on the path that needs them.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from llmchat import __version__

if TYPE_CHECKING:
    from llmchat.config import Config, Resolution
    from llmchat.core.attachments import Attachment
    from llmchat.core.structured import OutputSchema
    from llmchat.local.plan import LocalServerPlan
    from llmchat.reconnect import BackendFlags
    from llmchat.store import SessionSummary

EXIT_USAGE = 2


def _say(line: object) -> None:
    """One `llmchat: …` line on stderr. Every message here may carry outside text (a
    file name, a URL from the environment, a config key, a server's words), so all of
    them pass through `visible()`: no control sequence reaches the terminal."""
    from llmchat.core.safe_text import visible

    print(f"llmchat: {visible(str(line))}", file=sys.stderr)


def _show(line: object) -> None:
    """A result on stdout: exact for a script reading it, neutralised for a terminal."""
    from llmchat.core.safe_text import visible

    text = str(line)
    print(visible(text) if sys.stdout.isatty() else text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmchat",
        description="A keyboard-driven terminal chat client for large language models.",
        epilog="Other commands: `llmchat config init|path`, `llmchat sessions [--search "
        "TEXT]`, `llmchat export ID`. Keys inside the app: F1.",
    )
    parser.add_argument("--version", action="version", version=f"llmchat {__version__}")
    sessions = parser.add_mutually_exclusive_group()
    sessions.add_argument(
        "-c", "--continue", dest="continue_", action="store_true", help="reopen the last session"
    )
    sessions.add_argument(
        "-r",
        "--resume",
        nargs="?",
        const="",
        metavar="ID",
        help="open a saved session by id (or a unique prefix); without ID, pick from a list",
    )
    sessions.add_argument("--session", metavar="ID", help="same as --resume ID")
    parser.add_argument(
        "-p",
        "--print",
        dest="prompt",
        nargs="?",
        const="",
        metavar="TEXT",
        help="no TUI: send TEXT (and/or stdin) and stream the answer to stdout",
    )
    parser.add_argument(
        "-a",
        "--attach",
        action="append",
        default=[],
        metavar="FILE",
        help="attach a file to the first message (repeatable; with -p too): a text file goes "
        "in as a fenced block headed by its name, an image (PNG, JPEG, WebP, GIF) as an image",
    )
    parser.add_argument("--backend", help="a backend named in the config file")
    parser.add_argument("--model", help="the model to ask")
    parser.add_argument(
        "--base-url", help="an OpenAI-compatible API, e.g. http://127.0.0.1:8080/v1"
    )
    parser.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="send the key in environment variable VAR (needed to send a key to --base-url)",
    )
    parser.add_argument(
        "--model-file",
        metavar="GGUF",
        help="start llama-server with this model file and chat with it (stopped on exit)",
    )
    parser.add_argument(
        "--schema",
        metavar="FILE",
        help="structured output: replies must follow this JSON Schema (temperature 0 "
        "unless --temperature says otherwise)",
    )
    parser.add_argument("--system", help="the system prompt for a new session")
    parser.add_argument("--temperature", type=float, help="sampling temperature (0–2)")
    parser.add_argument("--top-p", type=float, help="nucleus sampling (0–1)")
    parser.add_argument("--max-tokens", type=int, help="longest reply, in tokens")
    return parser


def config_command(argv: Sequence[str]) -> int:
    from llmchat import paths
    from llmchat.config import write_starter_config

    parser = argparse.ArgumentParser(prog="llmchat config")
    sub = parser.add_subparsers(dest="action", required=True)
    init = sub.add_parser("init", help="write a commented starter config file (mode 0600)")
    init.add_argument(
        "--force", action="store_true", help="replace an existing file (kept as .bak)"
    )
    sub.add_parser("path", help="print where the config file is")
    args = parser.parse_args(argv)
    if args.action == "path":
        _show(paths.config_file())
        return 0
    try:
        written = write_starter_config(force=args.force)
    except FileExistsError as exc:
        _say(f"{exc.filename}: {exc.strerror}")
        return 1
    except OSError as exc:
        _say(f"cannot write the config file: {exc}")
        return 1
    _show(
        f"Wrote {written.path}"
        + (f" (previous file kept as {written.backup})" if written.backup else "")
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["config"]:
        return config_command(argv[1:])
    if argv[:1] == ["sessions"]:
        from llmchat.library_commands import sessions_command

        return sessions_command(argv[1:])
    if argv[:1] == ["export"]:
        from llmchat.library_commands import export_command

        return export_command(argv[1:])
    args = build_parser().parse_args(argv)

    from llmchat import paths
    from llmchat.config import CliOverrides, ConfigError, ResolutionError, load_config
    from llmchat.reconnect import BackendFlags, reconnect

    session = _session_choice(args, paths.sessions_dir())
    if isinstance(session, int):
        return session
    model_file = Path(args.model_file).expanduser() if args.model_file else None
    if model_file is not None and not model_file.is_file():
        _say(f"--model-file: no such file: {model_file}")
        return EXIT_USAGE
    flags = BackendFlags(
        CliOverrides(
            backend=args.backend,
            model=args.model,
            base_url=args.base_url,
            system=args.system,
            api_key_env=args.api_key_env,
        ),
        model_file,
    )
    try:
        loaded = load_config()
        # Flags first, then the reopened session's record, then environment and config.
        record = session.record if session and not isinstance(session, str) else None
        again = reconnect(loaded.config, os.environ, flags, record)
    except ConfigError as exc:
        _say(exc)
        return EXIT_USAGE
    except ResolutionError as exc:
        _say(exc)
        return EXIT_USAGE
    resolution = again.resolution
    problem = _sampling_problem(args)
    if problem:
        _say(problem)
        return EXIT_USAGE
    notices = [*loaded.warning_lines(), *resolution.notices]
    config = loaded.config
    sampling = config.sampling
    for name, value in (
        ("temperature", args.temperature),
        ("top_p", args.top_p),
        ("max_tokens", args.max_tokens),
    ):
        if value is not None:
            sampling = replace(sampling, **{name: value})
    schema = None
    if args.schema:
        from llmchat.core.structured import OutputSchema, SchemaError

        try:
            schema = OutputSchema.from_file(Path(args.schema).expanduser())
        except SchemaError as exc:
            _say(f"--schema: {exc}")
            return EXIT_USAGE
        if args.temperature is None:
            sampling = replace(sampling, temperature=0.0)
    config = replace(config, sampling=sampling)

    from llmchat.launch import with_local_server
    from llmchat.local.binary import BinaryNotFound

    try:
        resolution, local = with_local_server(resolution, again.model_file, config.llama_server)
    except BinaryNotFound as exc:
        _say(exc)
        return 1
    if args.prompt is not None:
        return _print_mode(args, resolution, config, notices, session, local, schema)
    files = _attached(args.attach)
    if isinstance(files, int):
        return files
    return _run_tui(resolution, config, notices, session, local, schema, flags, files)


def _sampling_problem(args: argparse.Namespace) -> str | None:
    """The same ranges the config file is held to."""
    if args.temperature is not None and not 0 <= args.temperature <= 2:
        return f"--temperature must be between 0 and 2 (got {args.temperature})"
    if args.top_p is not None and not 0 <= args.top_p <= 1:
        return f"--top-p must be between 0 and 1 (got {args.top_p})"
    if args.max_tokens is not None and args.max_tokens < 1:
        return f"--max-tokens must be at least 1 (got {args.max_tokens})"
    return None


def _session_choice(
    args: argparse.Namespace, sessions_dir: os.PathLike[str]
) -> SessionSummary | str | int | None:
    """The session to open, "" for the picker, None for a new one, or an exit code."""
    from llmchat.store import SessionError, find_session, latest_session

    if args.continue_:
        try:
            latest = latest_session(sessions_dir)
        except SessionError as exc:  # the folder or the newest file cannot be read
            _say(exc)
            return 1
        if latest is None:
            _say("no saved session to continue; starting a new one")
        return latest
    wanted = args.session or args.resume
    if not wanted:
        return args.resume  # "" (the picker) or None
    try:
        return find_session(sessions_dir, wanted)
    except SessionError as exc:
        _say(exc)
        return 1


def _attached(paths: Sequence[str]) -> list[Attachment] | int:
    """The files of `-a`, or an exit code after saying what cannot be attached."""
    from llmchat.core.attachments import AttachmentError, read_attachment

    files: list[Attachment] = []
    for name in paths:
        try:
            files.append(read_attachment(Path(name).expanduser()))
        except AttachmentError as exc:
            _say(f"-a: {exc}")
            return EXIT_USAGE
    return files


def _print_mode(
    args: argparse.Namespace,
    resolution: Resolution,
    config: Config,
    notices: list[str],
    session: SessionSummary | str | None,
    local: LocalServerPlan | None,
    schema: OutputSchema | None = None,
) -> int:
    import asyncio

    from llmchat import paths
    from llmchat.core.attachments import ImageFile, TextFile, with_files
    from llmchat.core.model_info import reply_cost
    from llmchat.engine.chat_service import ChatService
    from llmchat.engine.context_meter import ContextMeter
    from llmchat.headless import ask
    from llmchat.launch import SessionOpener
    from llmchat.store import SessionError

    for line in notices:
        _say(line)
    if resolution.backend is None:
        _say(resolution.reason)
        return EXIT_USAGE
    text = args.prompt or ""
    if not sys.stdin.isatty():
        piped = sys.stdin.read()
        text = f"{text}\n\n{piped}" if text and piped else text or piped
    files = _attached(args.attach)
    if isinstance(files, int):
        return files
    # A new session is titled from the words typed, not the files put before them.
    title = text.strip() or ", ".join(f.name for f in files)
    if files:
        text = with_files(text, [f for f in files if isinstance(f, TextFile)])
    if not text.strip() and not files:
        _say("nothing to send (give -p TEXT or pipe text on stdin)")
        return EXIT_USAGE
    if session == "":
        _say("--resume needs an ID with -p (there is no picker)")
        return EXIT_USAGE
    backend = resolution.backend
    opener = SessionOpener(paths.sessions_dir(), backend, config, resolution.system_prompt)
    try:
        opened = opener.open(session or None)
    except SessionError as exc:
        _say(exc)
        return 1
    for line in opened.warnings:
        _say(line)
    opened.conversation.schema = schema
    try:
        images = tuple(
            opener.images.put(f.data, f.media_type, f.name)
            for f in files
            if isinstance(f, ImageFile)
        )
    except OSError as exc:
        _say(f"-a: cannot keep the image beside the sessions: {exc}")
        opened.close()
        return 1

    async def run() -> int:
        if local is not None:
            from llmchat.local.plan import start_local_server

            try:
                await start_local_server(local, _say)
            except Exception as exc:  # ServerStartError, a bad bundled model, …
                _say(f"could not start llama-server: {exc}")
                return 1
        gateway = opener.gateway()
        try:
            # The same engine as the app's: planned against the window, saved and
            # priced the same way.
            meter = ContextMeter(
                opened.conversation,
                gateway,
                backend.model,
                configured_window=backend.context_window,
                threshold=config.context_threshold,
                truncation=config.context_truncation,
            )
            await meter.prepare()
            service = ChatService(
                opened.conversation,
                gateway,
                meter,
                model=lambda: backend.model,
                # Asked only of replies the gateway says are not free.
                pricer=lambda message: reply_cost(
                    message, model=backend.model, free=False, overrides=config.pricing
                ),
            )
            return await ask(service, text, images=images, title=title)
        finally:
            await gateway.aclose()

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        return 130
    finally:
        opened.close()
        if local is not None:
            local.server.stop()


def _run_tui(
    resolution: Resolution,
    config: Config,
    notices: list[str],
    session: SessionSummary | str | None,
    local: LocalServerPlan | None,
    schema: OutputSchema | None,
    flags: BackendFlags,
    attachments: Sequence[Attachment] = (),
) -> int:
    from llmchat.launch import build_launch
    from llmchat.reconnect import reconnect
    from llmchat.store import SessionError
    from llmchat.tui.app import LlmChatApp

    env = dict(os.environ)
    try:
        launch = build_launch(
            resolution,
            config,
            notices,
            session,
            local,
            schema,
            reconnect_to=lambda record: reconnect(config, env, flags, record),
            attachments=attachments,
        )
    except SessionError as exc:
        _say(exc)
        return 1
    app = LlmChatApp(launch)
    # What start-up made (the modules, the config, a resumed session's messages: 200,000
    # objects for 50 MB) lives until the app ends. Out of the cyclic collector's sight,
    # its collections stop walking all of it again (about 0.2 s each for 50 MB, several
    # during start-up); a session left later is still freed (its objects form no cycle).
    gc.freeze()
    try:
        app.run()
    finally:
        if local is not None:
            local.server.stop()
    return app.return_code or 0


if __name__ == "__main__":
    raise SystemExit(main())
