"""What may reach the terminal: `visible` and `one_line` as specifications.

Any text that did not come from llmchat (model output, error bodies, titles, model names)
goes through `visible()` before display; the streaming view applies it to each chunk, so
it must not matter where a stream is cut.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmchat.core.safe_text import for_pipe, markup_literal, one_line, visible

pytestmark = pytest.mark.family("escapes")

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Embeddings, overrides and isolates: the controls that reorder displayed text."""


def is_forbidden(char: str) -> bool:
    """A character that must never reach the terminal raw."""
    code = ord(char)
    return (
        (code < 0x20 and char not in "\n\t")
        or 0x7F <= code <= 0x9F
        or 0xD800 <= code <= 0xDFFF
        or char in BIDI_CONTROLS
    )


CONTROL_SEQUENCES = [
    "\x1b[31m",  # CSI: colour
    "\x1b[2J\x1b[H",  # CSI: clear screen, cursor home
    "\x1b]0;owned\x07",  # OSC: window title, BEL-terminated
    "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",  # OSC 8 hyperlink, ST-terminated
    "\x1bP+q544e\x1b\\",  # DCS
    "\x1b_hidden\x1b\\",  # APC
    "\x9b31m",  # 8-bit CSI
    "\x9d0;owned\x9c",  # 8-bit OSC and ST
    "\x1bc",  # RIS: full reset
]

hostile_chars = st.one_of(
    st.characters(exclude_categories=()),  # everything, surrogates included
    st.characters(min_codepoint=0x00, max_codepoint=0x1F),
    st.characters(min_codepoint=0x7F, max_codepoint=0x9F),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.sampled_from(sorted(BIDI_CONTROLS)),
)
hostile_text = st.lists(
    st.one_of(hostile_chars, st.sampled_from(CONTROL_SEQUENCES)), max_size=60
).map("".join)
harmless_text = st.text(
    alphabet=st.characters(exclude_categories=()).filter(lambda c: not is_forbidden(c))
)


@st.composite
def split_anywhere(draw: st.DrawFn, text: str) -> list[str]:
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=12)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in pairwise(bounds)]


# -- visible -----------------------------------------------------------------------------


@settings(max_examples=400)
@given(hostile_text)
def test_visible_output_holds_no_control_surrogate_or_bidi_character(text: str) -> None:
    assert not any(is_forbidden(char) for char in visible(text))


@settings(max_examples=300)
@given(harmless_text)
def test_visible_returns_text_without_unsafe_characters_unchanged(text: str) -> None:
    assert visible(text) == text


def test_visible_keeps_newlines_and_tabs() -> None:
    assert visible("a\tb\nc") == "a\tb\nc"


@settings(max_examples=400)
@given(st.data(), hostile_text)
def test_visible_of_chunks_joined_equals_visible_of_the_whole(
    data: st.DataObject, text: str
) -> None:
    chunks = data.draw(split_anywhere(text))
    assert "".join(visible(chunk) for chunk in chunks) == visible(text)


@settings(max_examples=200)
@given(hostile_text)
def test_visible_is_idempotent(text: str) -> None:
    assert visible(visible(text)) == visible(text)


@settings(max_examples=200)
@given(hostile_text)
def test_visible_replaces_each_unsafe_character_in_place_and_keeps_the_rest(text: str) -> None:
    expected = "".join(visible(char) if is_forbidden(char) else char for char in text)
    assert visible(text) == expected


@given(st.one_of(hostile_chars.filter(is_forbidden)))
def test_every_unsafe_character_gets_a_non_empty_stand_in(char: str) -> None:
    assert visible(char) != ""
    assert visible(char) != char


@pytest.mark.parametrize("sequence", CONTROL_SEQUENCES)
def test_escape_sequence_shows_in_visible_form_with_surrounding_text_intact(
    sequence: str,
) -> None:
    shown = visible(f"before {sequence} after")
    assert shown.startswith("before ")
    assert shown.endswith(" after")
    assert "\x1b" not in shown
    assert len(shown) >= len(f"before {sequence} after")


def test_escape_shows_as_the_escape_symbol_followed_by_its_parameters() -> None:
    assert visible("\x1b[31mred") == "␛[31mred"


@pytest.mark.parametrize(
    ("char", "shown"),
    [
        ("\x00", "␀"),
        ("\x07", "␇"),
        ("\x08", "␈"),
        ("\r", "␍"),
        ("\x7f", "␡"),
        ("\x01", "␁"),
        ("\x9b", "⟨U+009B⟩"),
        ("\u202e", "⟨U+202E⟩"),
        ("\ud800", "\ufffd"),
        ("\udfff", "\ufffd"),
    ],
    ids=repr,
)
def test_unsafe_character_has_a_recognisable_stand_in(char: str, shown: str) -> None:
    assert visible(f"a{char}b") == f"a{shown}b"


def test_carriage_return_cannot_overwrite_the_start_of_the_line() -> None:
    assert visible("safe text\rEVIL") == "safe text␍EVIL"


def test_bidi_override_cannot_reverse_displayed_text() -> None:
    shown = visible("access = \u202eevil\u202c")
    assert not any(char in BIDI_CONTROLS for char in shown)
    assert "evil" in shown


# -- one_line ----------------------------------------------------------------------------


@settings(max_examples=300)
@given(hostile_text, st.integers(min_value=1, max_value=300))
def test_one_line_is_a_single_bounded_safe_line(text: str, limit: int) -> None:
    line = one_line(text, limit)
    assert len(line) <= limit
    assert len(line.splitlines()) <= 1
    assert "\n" not in line
    assert "\t" not in line
    assert not any(is_forbidden(char) for char in line)


def test_one_line_default_limit_is_200_characters() -> None:
    assert len(one_line("\x1b" * 1000)) == 200


def test_one_line_collapses_runs_of_whitespace_and_line_breaks() -> None:
    assert one_line("  first line\n\n\tsecond\u2028third  ") == "first line second third"


def test_one_line_keeps_short_text_whole() -> None:
    assert one_line("a short error", 13) == "a short error"


def test_one_line_cuts_long_text_with_an_ellipsis_at_the_limit() -> None:
    line = one_line("x" * 500, 80)
    assert line == "x" * 79 + "…"


def test_one_line_neutralises_escape_sequences() -> None:
    assert one_line("Hotel \x1b[31mLogin") == "Hotel ␛[31mLogin"


def test_one_line_of_blank_text_is_empty() -> None:
    assert one_line(" \n\t ") == ""


# -- markup_literal ----------------------------------------------------------------------


@settings(max_examples=300)
@given(st.text(alphabet="[]\\/@=ab \x1b"))
def test_markup_literal_shows_any_text_literally_where_markup_is_parsed(text: str) -> None:
    from textual.content import Content

    shown = Content.from_markup(f"{markup_literal(text)} [b]own[/b]")
    assert shown.plain == f"{visible(text)} own"


def test_markup_literal_runs_no_action_tag() -> None:
    from textual.content import Content

    shown = Content.from_markup(markup_literal("[@click=app.quit]quit[/]"))
    assert shown.plain == "[@click=app.quit]quit[/]"
    assert not shown.spans


# -- for_pipe ----------------------------------------------------------------------------


@settings(max_examples=200)
@given(st.text(alphabet=st.characters(exclude_categories=("Cs",))))
def test_for_pipe_keeps_every_encodable_text_exactly(text: str) -> None:
    assert for_pipe(text, "utf-8") == text


def test_for_pipe_turns_a_lone_surrogate_into_the_replacement_character() -> None:
    assert for_pipe("a\ud800b\udfffc", "utf-8") == "a\ufffdb\ufffdc"


def test_for_pipe_replaces_what_the_pipe_encoding_cannot_carry() -> None:
    assert for_pipe("café → \ud800", "ascii") == "caf? ? ?"
