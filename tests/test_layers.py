"""The layering rules from architecture.md, kept by tests rather than by memory."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "llmchat"


def imported_modules(package: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(SRC))] = names
    return found


@pytest.mark.parametrize("forbidden", ["textual", "httpx", "rich"])
def test_core_imports_neither_textual_nor_httpx(forbidden: str) -> None:
    offenders = [
        path for path, names in imported_modules(SRC / "core").items() if forbidden in names
    ]
    assert offenders == []


def test_the_tui_never_talks_http_itself() -> None:
    offenders = [path for path, names in imported_modules(SRC / "tui").items() if "httpx" in names]
    assert offenders == []


def test_starting_the_command_loads_no_http_client_nor_tokenizer() -> None:
    """httpx, tiktoken and the backends are imported after the first frame, not before it."""
    code = (
        "import sys, llmchat.cli, llmchat.launch, llmchat.tui.app;"
        "print(sorted(m for m in ('httpx', 'tiktoken', 'llmchat.backends.openai') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("forbidden", ["textual", "rich"])
def test_the_engine_has_no_ui(forbidden: str) -> None:
    offenders = [
        path for path, names in imported_modules(SRC / "engine").items() if forbidden in names
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "module", sorted(p.name for p in (SRC / "tui" / "screens").glob("chat*.py"))
)
def test_the_chat_screen_runs_no_turn_itself(module: str) -> None:
    """Turns are the engine's: the screen (nor any of its helpers) never streams from the
    gateway or saves replies."""
    source = (SRC / "tui" / "screens" / module).read_text(encoding="utf-8")
    for call in (".stream(", "add_reply(", "add_user(", "plan_request(", "build_retry("):
        assert call not in source, call


BACKEND_DOORS = {"gateway", "backends", "launch.py"}
"""Where a backend may be named: its own package, the gateway, and the launch code that
picks the kind."""


def _reaches_a_backend(node: ast.AST, where: Path) -> str | None:
    """What in `node` reaches a backend past the gateway, if anything."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name == "llmchat.backends" or alias.name.startswith("llmchat.backends."):
                return f"import {alias.name}"
    elif isinstance(node, ast.ImportFrom):
        module = node.module or ""
        if node.level:  # relative: resolve against the file's package
            package = ("llmchat", *where.parts[:-1])
            base = package[: len(package) - node.level + 1]
            module = ".".join((*base, module) if module else base)
        names = {alias.name for alias in node.names}
        # Only the error type the one-shot calls raise may be caught elsewhere.
        allowed = module == "llmchat.backends.base" and names == {"BackendError"}
        if (module == "llmchat.backends" or module.startswith("llmchat.backends.")) and (
            not allowed
        ):
            return f"from {module} import {', '.join(sorted(names))}"
    elif isinstance(node, ast.Attribute) and node.attr in ("backend", "_backend"):
        owner = node.value
        name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
        if name.endswith(("gateway", "gw")):
            return f"{name}.{node.attr}"
    return None


def test_the_app_reaches_a_backend_only_through_the_gateway() -> None:
    """Counting, the window and the model list go through the gateway, which asks a
    backend only for what its capabilities declare: nothing else imports a backend kind
    or reaches past the gateway for one (`gateway.backend`)."""
    offenders = []
    for path in SRC.rglob("*.py"):
        where = path.relative_to(SRC)
        if where.parts[0] in BACKEND_DOORS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (found := _reaches_a_backend(node, where)) is not None:
                offenders.append(f"{where}: {found}")
    assert offenders == []


@pytest.mark.parametrize(
    "line",
    [
        "from llmchat.backends import llamacpp",
        "import llmchat.backends.openai",
        "from ...backends.openai import OpenAIBackend",  # from tui/screens/
        "gw = chat.context.gateway\nprint(gw.backend)",
        "print(self.chat.context.gateway.backend.model)",
    ],
)
def test_the_gateway_rule_catches_each_way_past_it(line: str) -> None:
    where = Path("tui/screens/chat_server.py")
    found = [_reaches_a_backend(node, where) for node in ast.walk(ast.parse(line))]
    assert any(found), line
