"""Loading a session file: exact round trips, and every kind of damage skipped and named."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmchat.core.cache_explainer import system_at
from llmchat.core.messages import Message, Role, Status, Timing, Usage
from llmchat.core.params import SamplingParams
from llmchat.core.records import SessionHeader, SessionInfo, SystemChanged, TitleChanged
from llmchat.store import (
    SessionFile,
    SessionUnreadable,
    encode_record,
    load_session,
    resume_session,
    session_filename,
)
from llmchat.store.session_format import CURRENT_VERSION, params_to_json, to_json
from llmchat.store.session_load import KEPT_SYSTEM_PROMPTS, LineDecoder, json_value

pytestmark = pytest.mark.family("sessions")

INFO = SessionInfo(
    id="abc123def456",
    created="2026-03-04T05:06:07.123456Z",
    title="first title",
    backend="local",
    model="qwen3-8b",
    system="Be brief.",
    forked_from="0123456789ab",
)
PARAMS = SamplingParams(temperature=0.2, top_p=0.9, max_tokens=512, seed=7)
NO_HEADER = "no session header; id and start time taken from the file name"

# Any code point at all, lone surrogates and controls included.
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()))


def header() -> dict[str, Any]:
    return to_json(SessionHeader(INFO, PARAMS))


def user(text: str, **changes: Any) -> dict[str, Any]:
    return to_json(Message(role=Role.USER, content=text, **changes))


def assistant(status: Status = Status.COMPLETE, content: str = "an answer") -> Message:
    return Message(
        role=Role.ASSISTANT,
        content=content,
        id="reply0000001",
        parent="question0001",
        ts="2026-03-04T05:06:09.000001Z",
        tokens=95,
        status=status,
        backend="openrouter",
        model="some/model",
        params=PARAMS,
        usage=Usage(prompt=812, completion=95, cached=64, estimated=True),
        timing=Timing(
            ttft_ms=180.5,
            total_ms=1480.25,
            tok_s=73.1,
            prefill_ms=60.0,
            prefill_tokens=812,
            decode_ms=1300.0,
            decode_tokens=95,
            cache_tokens=64,
        ),
        cost_usd=0.00042,
        error="server said no" if status is Status.ERROR else None,
    )


def write(path: Path, *lines: dict[str, Any] | bytes, end: bytes = b"\n") -> Path:
    """Each dict as a record line, each bytes as a raw line; `end` closes the last one."""
    data = b"".join(encode_record(x) if isinstance(x, dict) else x + b"\n" for x in lines)
    path.write_bytes(data[:-1] + end if data.endswith(b"\n") else data)
    return path


def session_path(directory: Path) -> Path:
    return directory / session_filename(INFO)


def saved_and_loaded(directory: Path, *messages: Message) -> list[Message]:
    """The messages written and read back (each after a stand-in for its parent, as
    llmchat writes a parent before its children)."""
    written: set[str] = set()
    with SessionFile.create(directory, INFO) as file:
        file.append(SessionHeader(INFO, PARAMS))
        for message in messages:
            if message.parent is not None and message.parent not in written:
                file.append(Message(Role.USER, "the parent", id=message.parent))
                written.add(message.parent)
            file.append(message)
            written.add(message.id)
    loaded = load_session(file.path)
    assert loaded.warnings == []
    ids = {message.id for message in messages}
    return [message for message in loaded.messages if message.id in ids]


def as_json_reads_it(text: str) -> str:
    """JSON reads an escaped high surrogate followed by an escaped low one as one character."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


# -- round trips --------------------------------------------------------------------------


def test_user_message_round_trips(tmp_path: Path) -> None:
    message = Message(role=Role.USER, content="hi", tokens=3, parent="p0")
    assert saved_and_loaded(tmp_path, message) == [message]


@pytest.mark.parametrize("status", list(Status))
def test_assistant_message_round_trips_every_field(tmp_path: Path, status: Status) -> None:
    message = assistant(status)
    assert saved_and_loaded(tmp_path, message) == [message]


def test_assistant_message_without_optional_facts_round_trips(tmp_path: Path) -> None:
    message = Message(role=Role.ASSISTANT, content="", status=Status.ERROR, error="timeout")
    assert saved_and_loaded(tmp_path, message) == [message]


def test_header_gives_back_the_session_info_and_params(tmp_path: Path) -> None:
    loaded = load_session(write(session_path(tmp_path), header()))
    assert loaded.info == INFO
    assert loaded.params == PARAMS
    assert loaded.title == "first title"
    assert loaded.has_header


def test_a_params_record_overrides_the_header_params(tmp_path: Path) -> None:
    changed = SamplingParams(temperature=1.5, max_tokens=2048)
    path = write(
        session_path(tmp_path),
        header(),
        {"type": "params", "ts": "t", "params": {"temperature": 0.7}},
        {"type": "params", "ts": "t", "params": params_to_json(changed)},
    )
    assert load_session(path).params == changed


def test_a_title_record_overrides_the_header_title(tmp_path: Path) -> None:
    path = write(
        session_path(tmp_path),
        header(),
        {"type": "title", "ts": "t", "title": "second"},
        {"type": "title", "ts": "t", "title": "third"},
    )
    loaded = load_session(path)
    assert loaded.title == "third"
    assert loaded.info.title == "third"


def test_a_one_megabyte_message_round_trips(tmp_path: Path) -> None:
    big = Message(role=Role.USER, content="ab\x00\u00e9\U0001f600\n" * 180_000)
    assert saved_and_loaded(tmp_path, big) == [big]


@pytest.mark.parametrize(
    "text",
    [
        "NUL\x00inside",
        "\x1b[2J\x1b]0;title\x07\x1bP+q\x1b\\",
        "carriage\rreturn\r\n",
        "back\bspace\x7f",
        "C1 \x85\x9b\x9d",
        "lone high \ud800 and lone low \udfff",
        "low before high \udc00\ud800",
        "line\u2028separators\u2029",
        "\ufeffbom and \U0010ffff",
        "[bold]markup[/] [@click=quit]x[/]",
    ],
    ids=["nul", "esc", "cr", "bs-del", "c1", "lone-surrogates", "reversed-halves", "ls-ps",
         "bom-max", "markup"],
)  # fmt: skip
def test_hard_text_round_trips_exactly(tmp_path: Path, text: str) -> None:
    message = Message(role=Role.USER, content=text)
    assert saved_and_loaded(tmp_path, message)[0].content == text


def test_a_high_then_low_surrogate_reads_back_as_the_character_they_encode(
    tmp_path: Path,
) -> None:
    # JSON has no way to say "two lone halves" apart from "one pair"; what is stored is
    # what any JSON reader (and the model API) would make of them.
    message = Message(role=Role.USER, content="\ud83d\ude00")
    assert saved_and_loaded(tmp_path, message)[0].content == "\U0001f600"


@given(text=ANY_TEXT)
def test_any_text_is_encoded_as_one_ascii_line(text: str) -> None:
    line = encode_record({"type": "message", "role": "user", "content": text, "title": text})
    assert line.isascii()
    assert line.count(b"\n") == 1 and line.endswith(b"\n")


@settings(max_examples=60)
@given(content=ANY_TEXT, title=ANY_TEXT, error=ANY_TEXT)
def test_any_text_round_trips_through_a_session_file(
    tmp_path_factory: pytest.TempPathFactory, content: str, title: str, error: str
) -> None:
    directory = tmp_path_factory.mktemp("any-text")
    with SessionFile.create(directory, INFO) as file:
        file.append(SessionHeader(INFO, PARAMS))
        file.append(TitleChanged(title, "t"))
        file.append(Message(role=Role.ASSISTANT, content=content, error=error))
    data = file.path.read_bytes()
    assert data.isascii() and data.count(b"\n") == 3
    loaded = load_session(file.path)
    assert loaded.warnings == []
    assert loaded.title == as_json_reads_it(title)
    assert loaded.messages[0].content == as_json_reads_it(content)
    assert loaded.messages[0].error == as_json_reads_it(error)


# -- damage -------------------------------------------------------------------------------


def test_a_torn_last_line_is_reported_with_its_size(tmp_path: Path) -> None:
    torn = encode_record(user("cut off by the crash"))[:25]
    path = write(session_path(tmp_path), header(), user("one"), torn, end=b"")
    loaded = load_session(path)
    assert len(loaded.warnings) == 1
    assert loaded.warnings[0].startswith("line 3: the last record is incomplete (25 bytes")


def test_records_before_a_torn_last_line_all_load(tmp_path: Path) -> None:
    torn = encode_record(user("cut off"))[:-9]
    path = write(session_path(tmp_path), header(), user("one"), user("two"), torn, end=b"")
    loaded = load_session(path)
    assert [m.content for m in loaded.messages] == ["one", "two"]
    assert loaded.info == INFO


def test_a_complete_last_record_without_its_newline_loads_quietly(tmp_path: Path) -> None:
    path = write(session_path(tmp_path), header(), user("one"), user("two"), end=b"")
    loaded = load_session(path)
    assert [m.content for m in loaded.messages] == ["one", "two"]
    assert loaded.warnings == []


def test_a_malformed_line_in_the_middle_is_skipped_and_named(tmp_path: Path) -> None:
    path = write(session_path(tmp_path), header(), user("one"), b'{"type":"mess', user("two"))
    loaded = load_session(path)
    assert [m.content for m in loaded.messages] == ["one", "two"]
    assert len(loaded.warnings) == 1
    assert loaded.warnings[0].startswith("line 3: not valid JSON")


def test_a_line_that_is_not_utf8_is_skipped_and_named(tmp_path: Path) -> None:
    path = write(session_path(tmp_path), header(), b'{"type":"title","title":"\xff"}', user("x"))
    loaded = load_session(path)
    assert loaded.warnings == ["line 2: not UTF-8 text; skipped"]
    assert [m.content for m in loaded.messages] == ["x"]


def test_absurdly_deep_nesting_is_skipped_not_a_crash(tmp_path: Path) -> None:
    path = write(session_path(tmp_path), header(), b"[" * 200_000 + b"]" * 200_000, user("x"))
    loaded = load_session(path)
    assert [w[:24] for w in loaded.warnings] == ["line 2: not valid JSON ("]
    assert [m.content for m in loaded.messages] == ["x"]


@pytest.mark.parametrize(
    ("line", "warning"),
    [
        (b"[1, 2]", "line 2: not a record (a JSON object); skipped"),
        (b'"text"', "line 2: not a record (a JSON object); skipped"),
        (b'{"role": "user", "content": "x"}', "line 2: record has no type; skipped"),
        (b'{"type": 5}', "line 2: record has no type; skipped"),
        (
            b'{"type": "message", "role": "robot", "content": "x"}',
            "line 2: message record has no valid role: 'robot'; skipped",
        ),
        (
            b'{"type": "message", "role": "user", "content": 5}',
            "line 2: message record has no text content; skipped",
        ),
        (
            b'{"type": "message", "role": ["user"], "content": "x"}',
            "line 2: message record has no valid role: ['user']; skipped",
        ),
        (
            b'{"type": "params", "params": "hot"}',
            "line 2: params record without parameters; skipped",
        ),
        (b'{"type": "title", "title": 7}', "line 2: title record without a text title; skipped"),
        (b'{"type": "session", "id": "other"}', "line 2: a second session header; ignored"),
    ],
    ids=["array", "string", "no-type", "number-type", "bad-role", "bad-content", "list-role",
         "bad-params", "bad-title", "second-header"],
)  # fmt: skip
def test_a_record_of_the_wrong_shape_is_skipped_and_named(
    tmp_path: Path, line: bytes, warning: str
) -> None:
    path = write(session_path(tmp_path), header(), line, user("still here"))
    loaded = load_session(path)
    assert loaded.warnings == [warning]
    assert [m.content for m in loaded.messages] == ["still here"]
    assert loaded.info == INFO and loaded.params == PARAMS


def test_a_long_bad_value_is_not_quoted_in_full(tmp_path: Path) -> None:
    role = "r" * 100_000
    path = write(session_path(tmp_path), {"type": "message", "role": role, "content": "x"})
    assert all(len(w) < 200 for w in load_session(path).warnings)


def test_records_of_an_unknown_type_are_skipped_quietly(tmp_path: Path) -> None:
    path = write(session_path(tmp_path), header(), {"type": "bookmark", "at": 3}, user("x"))
    loaded = load_session(path)
    assert loaded.warnings == []
    assert [m.content for m in loaded.messages] == ["x"]


def test_blank_lines_are_ignored(tmp_path: Path) -> None:
    path = write(session_path(tmp_path), header(), b"", b"  \r", user("x"))
    loaded = load_session(path)
    assert loaded.warnings == []
    assert [m.content for m in loaded.messages] == ["x"]


def test_a_repeated_message_is_loaded_once(tmp_path: Path) -> None:
    record = user("once", id="same00000001")
    path = write(session_path(tmp_path), header(), record, record)
    loaded = load_session(path)
    assert [m.content for m in loaded.messages] == ["once"]
    assert loaded.warnings == ["line 3: message 'same00000001' appears again; skipped"]


def test_a_file_without_a_header_still_loads_its_messages(tmp_path: Path) -> None:
    path = write(session_path(tmp_path), user("one"), user("two"))
    loaded = load_session(path)
    assert [m.content for m in loaded.messages] == ["one", "two"]
    assert loaded.warnings == [NO_HEADER]
    assert not loaded.has_header


def test_without_a_header_the_id_and_start_come_from_the_file_name(tmp_path: Path) -> None:
    loaded = load_session(write(session_path(tmp_path), user("one")))
    assert loaded.info.id == "abc123def456"
    assert loaded.info.created.startswith("2026-03-04T05:06:07")


def test_a_torn_header_leaves_the_messages_after_it(tmp_path: Path) -> None:
    path = write(session_path(tmp_path), encode_record(header())[:30], user("one"))
    loaded = load_session(path)
    assert [m.content for m in loaded.messages] == ["one"]
    assert loaded.warnings[0] == NO_HEADER
    assert loaded.warnings[1].startswith("line 1: not valid JSON")


def test_a_header_field_of_the_wrong_type_falls_back_and_is_named(tmp_path: Path) -> None:
    bad = header() | {"title": 3, "model": ["m"], "params": "hot"}
    loaded = load_session(write(session_path(tmp_path), bad))
    assert loaded.warnings == [
        "line 1: session header has the wrong type for title, model, params; defaults used"
    ]
    assert (loaded.title, loaded.info.model, loaded.params) == ("", None, SamplingParams())
    assert loaded.info.backend == "local"


def test_a_file_from_a_newer_format_loads_what_it_can_and_says_so(tmp_path: Path) -> None:
    newer = CURRENT_VERSION + 1
    path = write(session_path(tmp_path), header() | {"v": newer}, user("x"))
    loaded = load_session(path)
    assert [m.content for m in loaded.messages] == ["x"]
    assert loaded.warnings == [
        f"line 1: written by a newer llmchat (format v{newer}); what it added is ignored"
    ]


def test_an_empty_file_is_an_empty_session_without_warnings(tmp_path: Path) -> None:
    path = session_path(tmp_path)
    path.touch()
    loaded = load_session(path)
    assert (loaded.messages, loaded.warnings) == ([], [])


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SessionUnreadable, match=r"cannot read the session file .*No such file"):
        load_session(tmp_path / "gone.jsonl")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_a_file_without_read_permission_is_a_clear_error(tmp_path: Path) -> None:
    path = write(session_path(tmp_path), header())
    path.chmod(0)
    with pytest.raises(SessionUnreadable, match="Permission denied"):
        load_session(path)


def test_a_cost_record_prices_the_reply_it_names(tmp_path: Path) -> None:
    from llmchat.core.conversation import Conversation

    info = SessionInfo(id="costs")
    conversation = Conversation(info)
    with SessionFile.create(tmp_path, info) as file:
        conversation.attach(file)
        conversation.add_user("q")
        reply = Message(Role.ASSISTANT, "a")
        conversation.add_reply(reply)
        conversation.set_cost(reply, 0.00042)
        path = file.path
    loaded = load_session(path)
    assert loaded.messages[-1].cost_usd == 0.00042
    assert loaded.warnings == []


# -- reading a line: the fast decoder reads what json reads -----------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=8,
)
LINES = (
    st.builds(json.dumps, JSON_VALUES).map(str.encode)
    | st.builds(lambda v: json.dumps(v, ensure_ascii=False), JSON_VALUES).map(
        lambda text: text.encode("utf-8", "surrogatepass")
    )
    | st.binary(max_size=40)
    | st.sampled_from(
        [b"NaN", b"[Infinity]", b'"\\ud800"', b"1" * 4301, b"1e400", b"2" * 25, b"[" * 5000]
    )
)


@settings(max_examples=500)
@given(line=LINES, cut=st.integers(min_value=0, max_value=100))
def test_a_line_is_read_as_the_json_module_reads_it_or_refused_for_its_reason(
    line: bytes, cut: int
) -> None:
    decode = LineDecoder()
    for raw in (line, line[: len(line) * cut // 100]):  # whole, and torn somewhere
        assert repr(decode(raw)) == repr(json_value(raw))


# -- a byte order mark ----------------------------------------------------------------------


def test_a_utf8_bom_before_the_header_is_not_part_of_it(tmp_path: Path) -> None:
    path = session_path(tmp_path)
    path.write_bytes(b"\xef\xbb\xbf" + encode_record(header()) + encode_record(user("hi")))
    loaded = load_session(path)
    assert loaded.warnings == []
    assert loaded.has_header
    assert (loaded.info.title, loaded.info.system, loaded.params) == (
        INFO.title,
        INFO.system,
        PARAMS,
    )
    assert [m.content for m in loaded.messages] == ["hi"]


def test_a_session_with_a_bom_is_continued_without_a_second_header(tmp_path: Path) -> None:
    from llmchat.store import find_session, resume_session

    path = session_path(tmp_path)
    path.write_bytes(b"\xef\xbb\xbf" + encode_record(header()))
    found = find_session(tmp_path, INFO.id)
    assert found.path == path and found.title == INFO.title
    with resume_session(path) as session:
        session.conversation.add_user("more")
    types = [json.loads(line)["type"] for line in path.read_bytes()[3:].splitlines()]
    assert types == ["session", "message"]
    assert load_session(path).info.title == INFO.title


def test_a_hand_made_tree_with_unknown_parents_and_loops_loads_as_one_thread(
    tmp_path: Path,
) -> None:
    lines = [
        header(),
        user("one", id="m1"),
        to_json(Message(Role.ASSISTANT, "two", id="m2", parent="nowhere")),  # an orphan
        user("three", id="m3", parent="m3"),  # its own parent
        user("four", id="m4", parent="m5"),  # a loop: m4 → m5 → m4
        to_json(Message(Role.ASSISTANT, "five", id="m5", parent="m4")),
    ]
    loaded = load_session(write(session_path(tmp_path), *lines))
    assert [m.parent for m in loaded.messages] == [None, "m1", "m2", "m3", "m4"]
    assert [w.split(":")[0] for w in loaded.warnings] == ["line 3", "line 4", "line 5"]
    assert all("unknown parent" in w for w in loaded.warnings)
    with resume_session(loaded.path) as opened:
        assert [m.content for m in opened.conversation.thread()] == [
            "one",
            "two",
            "three",
            "four",
            "five",
        ]


def test_absurd_stored_measures_are_read_as_unknown(tmp_path: Path) -> None:
    reply = to_json(assistant())
    reply["timing"]["tok_s"] = 1e308
    reply["usage"]["completion"] = 10**12
    reply["cost_usd"] = 1e300
    sound = to_json(assistant())
    sound["id"] = "reply0000002"
    loaded = load_session(
        write(session_path(tmp_path), header(), user("q", id="question0001"), reply, sound)
    )
    absurd, kept = loaded.messages[1], loaded.messages[2]
    assert absurd.timing is not None and absurd.timing.tok_s is None
    assert absurd.usage is not None and absurd.usage.completion == 0
    assert absurd.cost_usd is None
    assert kept.timing == assistant().timing and kept.cost_usd == assistant().cost_usd


# -- system prompts over time -----------------------------------------------------------------


def system(text: str, ts: str) -> dict[str, Any]:
    return to_json(SystemChanged(text, ts))


def test_only_the_latest_system_prompts_are_kept_from_a_file_full_of_them(
    tmp_path: Path,
) -> None:
    changes = [
        system(f"prompt {n} " + "x" * 100, f"2026-03-05T{n // 60:02d}:{n % 60:02d}:00Z")
        for n in range(200)
    ]
    loaded = load_session(write(session_path(tmp_path), header(), *changes))
    kept = loaded.system_changes
    assert len(kept) == KEPT_SYSTEM_PROMPTS
    assert kept[-1].system.startswith("prompt 199 ") and kept[0].system.startswith("prompt 136 ")
    assert loaded.info.system.startswith("prompt 199 ")
    # A turn sent before the oldest kept is not given the header's prompt.
    assert system_at(kept, "2026-03-05T00:30:00Z") is None


def test_a_header_after_system_records_does_not_claim_the_start(tmp_path: Path) -> None:
    loaded = load_session(
        write(session_path(tmp_path), system("later", "2026-03-05T00:00:00Z"), header())
    )
    assert [c.system for c in loaded.system_changes] == ["later"]


def test_the_header_prompt_comes_first_in_a_sound_file(tmp_path: Path) -> None:
    loaded = load_session(
        write(session_path(tmp_path), header(), system("then", "2026-03-05T00:00:00Z"))
    )
    assert [c.system for c in loaded.system_changes] == [INFO.system, "then"]
