"""The sampling rules servers taught llmchat, kept in the cache folder between runs.

`model-rules.json` maps a model name to what its server refused (a dial, both dials
together, `max_tokens`). It can be rebuilt (the next 400 teaches it again), so a damaged
file is ignored with a warning, and every save replaces it atomically, after merging in
what another llmchat may have learnt meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmchat import paths
from llmchat.core.model_rules import DIALS, DialRule, ModelRules

FILE_NAME = "model-rules.json"
VERSION = 1


def rules_file() -> Path:
    return paths.cache_dir() / FILE_NAME


@dataclass(frozen=True, slots=True)
class LoadedRules:
    learnt: dict[str, DialRule]
    warnings: tuple[str, ...] = ()


def load_learnt(path: Path | None = None) -> LoadedRules:
    """The learnt rules (none if the file is missing); never raises for a bad file."""
    path = rules_file() if path is None else path
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return LoadedRules({})
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return LoadedRules({}, (f"{path}: learnt model rules ignored ({reason})",))
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        return LoadedRules({}, (f"{path}: learnt model rules ignored (not a rules file)",))
    learnt = {}
    for model, entry in models.items():
        rule = _rule(entry)
        if isinstance(model, str) and rule is not None:
            learnt[model] = rule
    return LoadedRules(learnt)


def _rule(entry: Any) -> DialRule | None:
    if not isinstance(entry, dict):
        return None
    refused = entry.get("refuses", [])
    field = entry.get("max_tokens_field")
    if not isinstance(refused, list) or field not in (None, "max_tokens", "max_completion_tokens"):
        return None
    return DialRule(
        refused=frozenset(d for d in DIALS if d in refused),
        one_of=entry.get("one_of") is True,
        max_tokens_field=field,
        why="learnt from the server",
    )


def save_learnt(learnt: Mapping[str, DialRule], path: Path | None = None) -> None:
    """Write `learnt` (merged with the file's own) atomically, mode 0600. Raises OSError."""
    if path is None:
        paths.ensure_cache_dir()
        path = rules_file()
    else:
        paths.ensure_private_dir(path.parent)
    merged = dict(load_learnt(path).learnt)
    for model, rule in learnt.items():
        merged[model] = merged[model].merged(rule) if model in merged else rule
    models = {
        model: {
            "refuses": sorted(rule.refused),
            "one_of": rule.one_of,
            "max_tokens_field": rule.max_tokens_field,
        }
        for model, rule in sorted(merged.items())
    }
    text = json.dumps({"v": VERSION, "models": models}, indent=1, ensure_ascii=True)
    paths.atomic_write(path, (text + "\n").encode("ascii"))


def model_rules(path: Path | None = None) -> ModelRules:
    """The table plus the file's lessons, saved back as they grow; a damaged file's
    warning waits in `warnings` for the first turn to tell."""
    loaded = load_learnt(path)
    return ModelRules(
        dict(loaded.learnt), lambda learnt: save_learnt(learnt, path), list(loaded.warnings)
    )
