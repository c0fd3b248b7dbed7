"""Structured output: a JSON Schema the reply must follow, and checking that it did.

The schema travels with the request (`ChatRequest.schema`); each backend puts it in the
wire form its server understands. The reply is parsed as JSON and validated with the
`jsonschema` library (a maintained validator; never a regex), and the result says
plainly whether it is valid and, if not, what the first problem is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class SchemaError(Exception):
    """The schema file cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class OutputSchema:
    name: str
    schema: dict[str, Any]

    @classmethod
    def from_file(cls, path: Path) -> OutputSchema:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SchemaError(f"cannot read {path}: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise SchemaError(f"{path} is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise SchemaError(f"{path}: a JSON Schema is an object")
        from jsonschema import exceptions, validators

        try:
            validators.validator_for(data).check_schema(data)
        except exceptions.SchemaError as exc:
            raise SchemaError(f"{path}: not a valid JSON Schema: {exc.message}") from exc
        name = "".join(c if c.isalnum() or c in "_-" else "_" for c in path.stem)[:64]
        return cls(name or "reply", data)

    @property
    def strict_ok(self) -> bool:
        """Whether OpenAI's strict mode accepts it: every object closed, every key required."""
        return _strict_ok(self.schema)


def _strict_ok(node: Any) -> bool:
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            properties = node.get("properties", {})
            if node.get("additionalProperties") is not False:
                return False
            if set(node.get("required", [])) != set(properties):
                return False
        return all(_strict_ok(value) for value in node.values())
    if isinstance(node, list):
        return all(_strict_ok(item) for item in node)
    return True


@dataclass(frozen=True, slots=True)
class Checked:
    """What became of a reply that had to follow a schema."""

    valid: bool
    pretty: str | None
    """The reply re-indented, when it parsed as JSON."""
    problem: str | None
    """The first reason it is not valid: not JSON, or the first schema violation."""

    def mark(self) -> str:
        return "✓ valid JSON (schema)" if self.valid else f"✗ invalid: {self.problem}"


def check_reply(text: str, schema: OutputSchema) -> Checked:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return Checked(False, None, f"not JSON ({exc.msg} at line {exc.lineno})")
    except RecursionError:
        return Checked(False, None, "not JSON (nested too deeply)")
    pretty = json.dumps(value, indent=2, ensure_ascii=False)
    from jsonschema import validators

    validator = validators.validator_for(schema.schema)(schema.schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
    if not errors:
        return Checked(True, pretty, None)
    first = errors[0]
    where = "/".join(str(p) for p in first.path) or "the top level"
    return Checked(False, pretty, f"{first.message} (at {where})")
