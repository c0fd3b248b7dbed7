"""What a copy puts on the clipboard: `paste_safe`, `code_blocks` and `last_reply`.

A copied reply is pasted into shells and editors, so no control character may survive
(`ESC[201~` would end a bracketed paste and run the rest), while every other character,
newlines and tabs included, is kept in order.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmchat.core.copy_text import CodeBlock, code_blocks, last_reply, paste_safe
from llmchat.core.messages import Message, Role, Status

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def is_control(char: str) -> bool:
    """A character that must not reach a clipboard."""
    code = ord(char)
    return (
        (code < 0x20 and char not in "\n\t")
        or 0x7F <= code <= 0x9F
        or 0xD800 <= code <= 0xDFFF
        or char in BIDI_CONTROLS
    )


SEQUENCES = [
    "\x1b[201~",  # ends a bracketed paste
    "\x1b[200~",
    "\x1b]52;c;aGk=\x07",  # OSC 52: sets the clipboard itself
    "\x1b[2J",
    "\x9b201~",  # 8-bit CSI
    "\r\n",
    "\r",
    "\x08\x08\x08",
    "\x00",
]
any_text = st.lists(
    st.one_of(
        st.characters(exclude_categories=()),  # everything, surrogates included
        st.characters(max_codepoint=0x9F),
        st.sampled_from(sorted(BIDI_CONTROLS)),
        st.sampled_from(SEQUENCES),
    ),
    max_size=80,
).map("".join)
clean_text = st.text(
    alphabet=st.characters(exclude_categories=()).filter(lambda c: not is_control(c))
)


@given(any_text)
def test_no_control_character_survives(text: str) -> None:
    assert not any(is_control(char) for char in paste_safe(text))


@given(any_text)
def test_every_other_character_is_kept_in_order(text: str) -> None:
    expected = "".join(c for c in text.replace("\r\n", "\n") if not is_control(c))
    assert paste_safe(text) == expected


@given(clean_text)
def test_clean_text_is_unchanged(text: str) -> None:
    assert paste_safe(text) == text


@given(any_text)
def test_cleaning_twice_changes_nothing_more(text: str) -> None:
    once = paste_safe(text)
    assert paste_safe(once) == once


@given(any_text)
def test_the_result_can_always_be_encoded_for_the_clipboard(text: str) -> None:
    paste_safe(text).encode("utf-8")  # OSC 52 carries UTF-8: a lone surrogate cannot go


@given(st.lists(st.sampled_from(["ls", "\x1b[201~", "rm -rf ~", "\n", "\x1b", "[201~"])))
def test_a_bracketed_paste_end_never_survives(pieces: list[str]) -> None:
    assert "\x1b" not in paste_safe("".join(pieces))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("echo hi\x1b[201~; rm -rf ~", "echo hi[201~; rm -rf ~"),
        ("line one\r\nline two\r\n", "line one\nline two\n"),
        ("tab\tkept\nnewline kept", "tab\tkept\nnewline kept"),
        ("over\rwrite", "overwrite"),
        ("bell\x07 and del\x7f", "bell and del"),
        ("caf\u00e9 \u4e2d\u6587 \U0001f600", "caf\u00e9 \u4e2d\u6587 \U0001f600"),
    ],
)
def test_examples(text: str, expected: str) -> None:
    assert paste_safe(text) == expected


def test_code_blocks_are_found_in_order_without_their_fences() -> None:
    reply = (
        "Intro.\n\n"
        "```python\ndef f():\n    return 1\n```\n\n"
        "Then:\n\n"
        "~~~sh title=run\nls -l\n~~~\n\n"
        "````\n```nested```\n````\n"
    )
    assert code_blocks(reply) == [
        CodeBlock("def f():\n    return 1", "python"),
        CodeBlock("ls -l", "sh"),
        CodeBlock("```nested```", ""),
    ]


def test_a_code_block_inside_a_list_item_counts() -> None:
    reply = "1. Install:\n\n   ```sh\n   pip install x\n   ```\n2. Done\n"
    assert code_blocks(reply) == [CodeBlock("pip install x", "sh")]


def test_inline_code_and_indented_text_are_not_code_blocks() -> None:
    assert code_blocks("Use `ls` here.\n\n    indented, not fenced\n") == []


def test_a_fence_left_open_by_a_cut_off_reply_runs_to_the_end() -> None:
    assert code_blocks("Here:\n\n```js\nlet a = 1;\nlet b") == [
        CodeBlock("let a = 1;\nlet b", "js")
    ]


def test_a_block_knows_its_size_and_first_line() -> None:
    block = CodeBlock("\n  first()\nsecond()", "py")
    assert block.line_count == 3
    assert block.first_line == "first()"
    assert CodeBlock("").line_count == 0


def test_the_last_reply_is_the_newest_assistant_message_with_text() -> None:
    thread = [
        Message(role=Role.USER, content="q1"),
        Message(role=Role.ASSISTANT, content="a1"),
        Message(role=Role.USER, content="q2"),
        Message(role=Role.ASSISTANT, content="", status=Status.ERROR),
    ]
    reply = last_reply(thread)
    assert reply is not None and reply.content == "a1"
    assert last_reply(thread[:1]) is None
