"""Minifying pretty-printed JSON in a draft (the token inspector's first tool)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from llmchat.core.json_draft import minify_json

PRETTY = json.dumps({"name": "llmchat", "tags": ["a", "b"], "n": {"x": 1}}, indent=2)


def test_a_draft_that_is_pretty_json_becomes_compact() -> None:
    assert minify_json(PRETTY) == '{"name":"llmchat","tags":["a","b"],"n":{"x":1}}'


def test_json_inside_prose_is_minified_and_the_prose_kept() -> None:
    draft = f"Extract the fields from this:\n{PRETTY}\nThanks!"
    result = minify_json(draft)
    assert result is not None
    assert result.startswith("Extract the fields from this:\n{")
    assert result.endswith("}\nThanks!")
    assert json.loads(result.split("\n")[1]) == json.loads(PRETTY)


def test_json_in_a_fence_is_minified_inside_the_fence() -> None:
    draft = f"Here:\n```json\n{PRETTY}\n```\nand here."
    result = minify_json(draft)
    assert result is not None and "```json\n{" in result and "\n```\nand here." in result


def test_compact_json_or_no_json_gives_nothing_to_do() -> None:
    assert minify_json('{"a":1}') is None
    assert minify_json("just a question?") is None
    assert minify_json("a {broken: json") is None


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_minifying_never_changes_the_data(value: object) -> None:
    pretty = json.dumps({"v": value}, indent=4)
    result = minify_json(pretty)
    assert json.loads(result if result is not None else pretty) == {"v": value}
