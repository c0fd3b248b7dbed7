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


def test_the_app_reaches_a_backend_only_through_the_gateway() -> None:
    """Counting, the window and the model list go through the gateway, which asks a
    backend only for what its capabilities declare: nothing else imports a backend kind
    or reaches past the gateway for one (`gateway.backend`)."""
    offenders = []
    for path in SRC.rglob("*.py"):
        where = path.relative_to(SRC)
        if where.parts[0] in BACKEND_DOORS:
            continue
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.ImportFrom) or node.module is None:
                continue
            # Only the error type the one-shot calls raise may be caught elsewhere.
            names = {alias.name for alias in node.names}
            allowed = node.module == "llmchat.backends.base" and names == {"BackendError"}
            if node.module.startswith("llmchat.backends.") and not allowed:
                offenders.append(f"{where}: from {node.module} import …")
        if "gateway.backend" in source:
            offenders.append(f"{where}: gateway.backend")
    assert offenders == []
