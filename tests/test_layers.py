"""The layering rules from architecture.md, kept by tests rather than by memory."""

from __future__ import annotations

import ast
import os
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


def test_the_inspect_views_load_when_opened_not_with_the_chat_screen() -> None:
    """The chat screen and the engine name the inspect views' small types only."""
    views = (
        "llmchat.core.cache_explainer",
        "llmchat.core.latency_chart",
        "llmchat.tui.screens.turn_history",
        "llmchat.tui.screens.inspect_chooser",
    )
    code = (
        "import sys, llmchat.cli, llmchat.launch, llmchat.tui.app, llmchat.tui.screens.chat,"
        " llmchat.engine.chat_service;"
        f"print(sorted(m for m in {views!r} if m in sys.modules))"
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


# -- no import circle ----------------------------------------------------------------------


def module_name(path: Path, root: Path = SRC) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def load_time_imports(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """The imports that run when the module is imported: at module level, in class bodies
    and in `if`/`try`/`with` blocks there; not inside functions, nor under TYPE_CHECKING."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                found += load_time_imports(node.body)
            found += load_time_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                found += load_time_imports(block)
            for handler in node.handlers:
                found += load_time_imports(handler.body)
        elif isinstance(node, ast.With | ast.ClassDef | ast.For | ast.While):
            found += load_time_imports(node.body)
    return found


def import_graph(root: Path = SRC) -> dict[str, set[str]]:
    """Which modules of the package at `root` each of its modules imports when it is
    imported.

    `import a.b` and `from a.b import c` also run the `__init__` of each package above
    the target (`a`), unless the importer is inside that package (then it is already
    being imported); `from . import c` and `from .b import c` are resolved against the
    importer's package; `from a import c` names the module `a.c` when there is one.
    """
    paths = {module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        edges: set[str] = set()
        for node in load_time_imports(ast.parse(path.read_text(encoding="utf-8")).body):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names
                ]
            for target in targets:
                if target not in paths:
                    continue  # outside the package
                edges.add(target)
                parents = target.split(".")
                edges.update(
                    parent
                    for parent in (".".join(parents[:i]) for i in range(1, len(parents)))
                    if parent not in own
                )
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (its first module repeated at the end), or None."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in done and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done and (cycle := visit(start)) is not None:
            return cycle
    return None


def write_package(root: Path, modules: dict[str, str]) -> Path:
    for name, source in modules.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return root


def test_the_import_graph_follows_every_form_of_import_run_at_load_time(tmp_path: Path) -> None:
    pkg = write_package(
        tmp_path / "pkg",
        {
            "__init__.py": "",
            "a.py": (
                "from __future__ import annotations\n"
                "from typing import TYPE_CHECKING\n"
                "import pkg.sub.x\n"
                "from . import b\n"
                "from .sub import y\n"
                "from pkg.sub.z import Z\n"
                "try:\n    import pkg.c\nexcept ImportError:\n    pass\n"
                "if TYPE_CHECKING:\n    from pkg import typed\n"
                "def later():\n    from pkg import lazy\n"
            ),
            "b.py": "",
            "c.py": "",
            "typed.py": "",
            "lazy.py": "",
            "sub/__init__.py": "from .x import X\n",
            "sub/x.py": "from .. import b\nX = 1\n",
            "sub/y.py": "",
            "sub/z.py": "Z = 1\n",
        },
    )
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.b", "pkg.c", "pkg.sub", "pkg.sub.x", "pkg.sub.y", "pkg.sub.z"}
    assert graph["pkg.sub"] == {"pkg.sub.x"}
    assert graph["pkg.sub.x"] == {"pkg.b"}  # its own package is being imported already


def test_a_circle_is_found_and_named_module_by_module(tmp_path: Path) -> None:
    pkg = write_package(
        tmp_path / "pkg",
        {
            "__init__.py": "",
            "a.py": "from pkg.b import B\nA = 1\n",
            "b.py": "from pkg import c\nB = 1\n",
            "c.py": "import pkg.a\n",
            "d.py": "from pkg.a import A\n",
        },
    )
    assert find_cycle(import_graph(pkg)) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_llmchat_imports_are_read_as_they_run() -> None:
    graph = import_graph()
    assert "llmchat.core.events" in graph["llmchat.backends.openai"]
    assert "llmchat.config.model" in graph["llmchat.config"]  # the package's __init__
    assert "llmchat.backends.openai" not in graph["llmchat.cli"]  # imported in a function


def test_llmchat_has_no_import_circle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_command_imports_and_answers_help(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMCHAT_"))}
    env["LLMCHAT_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "llmchat", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout and done.stderr == ""
