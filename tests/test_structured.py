"""Structured output: schemas from files, the wire form, and checking replies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmchat.backends.openai import OpenAIBackend
from llmchat.core.params import SamplingParams
from llmchat.core.request import ChatRequest, WireMessage
from llmchat.core.structured import OutputSchema, SchemaError, check_reply

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


def schema_file(tmp_path: Path, schema: object, name: str = "person.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(schema))
    return path


def test_a_schema_file_is_read_and_named_after_the_file(tmp_path: Path) -> None:
    schema = OutputSchema.from_file(schema_file(tmp_path, PERSON))
    assert (schema.name, schema.schema) == ("person", PERSON)


@pytest.mark.parametrize(
    ("content", "problem"),
    [("{not json", "is not JSON"), ("[1, 2]", "is an object"), ('{"type": 12}', "not a valid")],
)
def test_a_bad_schema_file_is_refused_with_the_reason(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(SchemaError, match=problem):
        OutputSchema.from_file(path)


def test_a_valid_reply_is_marked_valid_and_pretty_printed() -> None:
    checked = check_reply('{"name":"Ada","age":36}', OutputSchema("person", PERSON))
    assert checked.valid and checked.problem is None
    assert checked.pretty == json.dumps({"name": "Ada", "age": 36}, indent=2)
    assert checked.mark() == "✓ valid JSON (schema)"


def test_a_reply_that_breaks_the_schema_names_the_first_problem() -> None:
    checked = check_reply('{"name":"Ada","age":-1}', OutputSchema("person", PERSON))
    assert not checked.valid
    assert "age" in (checked.problem or "") and "minimum" in (checked.problem or "")


def test_a_reply_that_is_not_json_is_flagged_not_crashed_on() -> None:
    checked = check_reply("Sure! Here is the JSON: {", OutputSchema("person", PERSON))
    assert not checked.valid and checked.pretty is None
    assert (checked.problem or "").startswith("not JSON")


def test_strict_mode_is_used_only_for_schemas_that_allow_it() -> None:
    assert OutputSchema("p", PERSON).strict_ok
    loose = {**PERSON, "additionalProperties": True}
    assert not OutputSchema("p", loose).strict_ok
    assert not OutputSchema("p", {**PERSON, "required": ["name"]}).strict_ok


def test_the_request_carries_the_nested_json_schema_form() -> None:
    backend = OpenAIBackend("t", "http://127.0.0.1:9/v1", "m")
    request = ChatRequest(
        (WireMessage("user", "x"),), SamplingParams(), schema=OutputSchema("person", PERSON)
    )
    assert backend.request_body(request)["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": PERSON, "strict": True},
    }
    plain = ChatRequest((WireMessage("user", "x"),), SamplingParams())
    assert "response_format" not in backend.request_body(plain)
