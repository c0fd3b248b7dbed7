"""The session-file format: every record survives its line, bad values become defaults with a
warning, older versions are upgraded, and no other module spells a record's shape."""

from __future__ import annotations

import ast
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmchat.core import token_probs
from llmchat.core.backend_record import BackendRecord
from llmchat.core.messages import ImageRef, Message, Role, Status, Timing, Usage
from llmchat.core.params import (
    MAX_TOKENS_RANGE,
    MIN_P_RANGE,
    SEED_RANGE,
    TEMPERATURE_RANGE,
    TOP_K_RANGE,
    TOP_P_RANGE,
    SamplingParams,
)
from llmchat.core.records import (
    BackendChanged,
    CostKnown,
    ParamsChanged,
    Record,
    ReplyCheckpoint,
    SessionHeader,
    SessionInfo,
    SystemChanged,
    TitleChanged,
)
from llmchat.core.token_probs import Alternative, TokenProb, TokenProbs
from llmchat.store import SessionFile, encode_record, load_session, resume_session
from llmchat.store.session_format import (
    CURRENT_VERSION,
    MOST,
    UPGRADES,
    checked_message,
    from_json,
    message_to_json,
    params_from_json,
    sound_line,
    sound_message,
    to_json,
    upgrade,
)

SRC = Path(__file__).resolve().parents[1] / "src" / "llmchat"
FALLBACK = SessionInfo(id="fallback0001", created="2026-01-01T00:00:00.000000Z")


def reads_back_exactly(text: str) -> bool:
    """JSON reads an escaped high surrogate followed by an escaped low one as one character,
    so only text without such a pair can come back identical (see test_session_load)."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass") == text


# Any code point at all: controls, NUL, ESC, C1, separators, lone surrogates.
TEXT = st.text(alphabet=st.characters(exclude_categories=())).filter(reads_back_exactly)
SOME_TEXT = TEXT.filter(bool)
OPTIONAL_TEXT = st.none() | TEXT
COUNT = st.integers(min_value=0, max_value=MOST)  # what llmchat can write
AMOUNT = st.floats(min_value=0, max_value=MOST, allow_nan=False)

PARAMS = st.builds(
    SamplingParams,
    temperature=st.floats(*TEMPERATURE_RANGE),
    top_p=st.floats(*TOP_P_RANGE),
    max_tokens=st.integers(*MAX_TOKENS_RANGE),
    seed=st.none() | st.integers(*SEED_RANGE),
    top_k=st.none() | st.integers(*TOP_K_RANGE),
    min_p=st.none() | st.floats(*MIN_P_RANGE),
)
# Stored to four decimals, so generated that way (and never -0.0, read as 0.0).
LOGPROB = st.floats(token_probs.FLOOR, 0).map(lambda x: round(x, token_probs.DECIMALS) + 0.0)
TOKEN = TEXT.filter(lambda t: len(t) <= token_probs.MAX_TOKEN_CHARS)
PROBABILITIES = st.builds(
    TokenProbs,
    st.lists(
        st.builds(
            TokenProb,
            TOKEN,
            LOGPROB,
            st.lists(st.builds(Alternative, TOKEN, LOGPROB), max_size=3).map(tuple),
        ),
        max_size=4,
    ).map(tuple),
    st.integers(0, token_probs.MAX_ALTERNATIVES),
    st.booleans(),
)
USAGE = st.builds(Usage, COUNT, COUNT, COUNT, st.booleans(), st.just(0) | COUNT)
TIMING = st.builds(
    Timing,
    ttft_ms=st.none() | AMOUNT,
    total_ms=st.none() | AMOUNT,
    tok_s=st.none() | AMOUNT,
    prefill_ms=st.none() | AMOUNT,
    prefill_tokens=st.none() | COUNT,
    decode_ms=st.none() | AMOUNT,
    decode_tokens=st.none() | COUNT,
    cache_tokens=st.none() | COUNT,
)
IMAGE = st.builds(
    ImageRef,
    sha256=st.text("0123456789abcdef", min_size=64, max_size=64),
    media_type=st.sampled_from(["image/png", "image/jpeg", "image/webp", "image/gif"]),
    name=TEXT,
)
ASKED = st.builds(
    Message,
    role=st.sampled_from([Role.USER, Role.SYSTEM]),
    content=TEXT,
    id=SOME_TEXT,
    parent=OPTIONAL_TEXT,
    ts=SOME_TEXT,
    tokens=st.none() | COUNT,
    images=st.lists(IMAGE, max_size=2).map(tuple),
    tokenizer=OPTIONAL_TEXT,
)
ANSWERED = st.builds(
    Message,
    role=st.just(Role.ASSISTANT),
    content=TEXT,
    id=SOME_TEXT,
    parent=OPTIONAL_TEXT,
    ts=SOME_TEXT,
    tokens=st.none() | COUNT,
    tokenizer=OPTIONAL_TEXT,
    status=st.sampled_from(Status),
    backend=OPTIONAL_TEXT,
    model=OPTIONAL_TEXT,
    params=st.none() | PARAMS,
    usage=st.none() | USAGE,
    timing=st.none() | TIMING,
    cost_usd=st.none() | AMOUNT,
    error=OPTIONAL_TEXT,
    finish_reason=OPTIONAL_TEXT,
    fell_back_from=OPTIONAL_TEXT,
    probabilities=st.none() | PROBABILITIES,
    resampled_at=st.none() | COUNT,
)
INFO = st.builds(
    SessionInfo,
    id=SOME_TEXT,
    created=SOME_TEXT,
    title=TEXT,
    backend=OPTIONAL_TEXT,
    model=OPTIONAL_TEXT,
    system=TEXT,
    forked_from=OPTIONAL_TEXT,
    kind=OPTIONAL_TEXT,
    base_url=OPTIONAL_TEXT,
    model_file=OPTIONAL_TEXT,
)
RECORDS: st.SearchStrategy[Record] = st.one_of(
    st.builds(SessionHeader, INFO, PARAMS),
    ASKED,
    ANSWERED,
    st.builds(ParamsChanged, PARAMS, TEXT),
    st.builds(TitleChanged, TEXT, TEXT),
    st.builds(SystemChanged, TEXT, TEXT),
    st.builds(CostKnown, TEXT, AMOUNT, TEXT),
    st.builds(
        BackendChanged,
        st.builds(BackendRecord, *[OPTIONAL_TEXT] * 5),
        TEXT,
    ),
    st.builds(ReplyCheckpoint, SOME_TEXT, OPTIONAL_TEXT, TEXT, TEXT),
)


def through_a_line(record: Record) -> tuple[Record | None, list[str]]:
    """The record as written to a session file line and read back from it."""
    line = encode_record(to_json(record))
    assert line.isascii() and line.count(b"\n") == 1 and line.endswith(b"\n")
    warnings: list[str] = []
    [current] = upgrade(json.loads(line), CURRENT_VERSION)
    return from_json(current, warnings.append, fallback=FALLBACK), warnings


# -- round trips --------------------------------------------------------------------------


@settings(max_examples=300)
@given(record=RECORDS)
def test_every_record_round_trips_through_its_line(record: Record) -> None:
    assert through_a_line(record) == (record, [])


def test_a_huge_text_round_trips_in_each_record_that_holds_text() -> None:
    huge = "\x00\x1b[31m\u2028\ud800é😀\r\n" * 120_000  # about 1.3 MB of characters
    for record in (
        Message(Role.USER, huge),
        Message(Role.ASSISTANT, huge, error=huge),
        SystemChanged(huge),
        TitleChanged(huge),
        ReplyCheckpoint("reply", "asked", huge),
    ):
        assert through_a_line(record) == (record, [])


# -- values out of range --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "named"),
    [
        ({"temperature": math.nan}, "temperature nan"),
        ({"temperature": math.inf}, "temperature inf"),
        ({"temperature": -0.5}, "temperature -0.5"),
        ({"temperature": 9}, "temperature 9"),
        ({"top_p": 1.5}, "top_p 1.5"),
        ({"top_p": "high"}, "top_p 'high'"),
        ({"max_tokens": -1}, "max_tokens -1"),
        ({"max_tokens": 0}, "max_tokens 0"),
        ({"max_tokens": 10**12}, "max_tokens 1000000000000"),
        ({"max_tokens": 1.5}, "max_tokens 1.5"),
        ({"max_tokens": True}, "max_tokens True"),
        ({"seed": 2**64}, "seed 18446744073709551616"),
        ({"seed": "7"}, "seed '7'"),
    ],
    ids=repr,
)
def test_a_stored_parameter_out_of_range_becomes_its_default_with_a_warning(
    stored: dict[str, Any], named: str
) -> None:
    warnings: list[str] = []
    params = params_from_json({"temperature": 0.5, **stored}, warnings.append)
    [key] = stored
    default = SamplingParams()
    expected = SamplingParams(temperature=0.5) if key != "temperature" else default
    assert getattr(params, key) == getattr(default, key)
    assert params == expected
    assert warnings == [f"parameters out of range ({named}); defaults used"]


def test_whole_numbers_written_as_floats_are_read_as_whole_numbers() -> None:
    warnings: list[str] = []
    params = params_from_json({"max_tokens": 512.0, "seed": 7.0}, warnings.append)
    assert (params.max_tokens, params.seed, warnings) == (512, 7, [])


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=5,
)


@given(
    stored=st.dictionaries(
        st.sampled_from(["temperature", "top_p", "max_tokens", "seed"]), JSON_VALUES
    )
)
def test_whatever_a_file_holds_the_parameters_read_are_in_range(stored: dict[str, Any]) -> None:
    params = params_from_json(stored, lambda warning: None)
    assert TEMPERATURE_RANGE[0] <= params.temperature <= TEMPERATURE_RANGE[1]
    assert TOP_P_RANGE[0] <= params.top_p <= TOP_P_RANGE[1]
    assert MAX_TOKENS_RANGE[0] <= params.max_tokens <= MAX_TOKENS_RANGE[1]
    assert params.seed is None or SEED_RANGE[0] <= params.seed <= SEED_RANGE[1]


def test_nan_parameters_in_a_file_keep_the_values_before_them_with_a_warning_naming_the_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "nan.jsonl"
    header = to_json(SessionHeader(SessionInfo(id="nan"), SamplingParams(temperature=0.3)))
    path.write_bytes(
        encode_record(header)
        + b'{"type":"params","ts":"t","params":{"temperature":NaN,"top_p":0.5,"max_tokens":-4}}\n'
    )
    loaded = load_session(path)
    assert loaded.params == SamplingParams(temperature=0.3, top_p=0.5)
    assert loaded.warnings == [
        "line 2: parameters out of range (temperature nan, max_tokens -4); the previous values kept"
    ]


@pytest.mark.parametrize(
    "stored",
    [
        b'{"temperature":NaN,"top_p":-7,"max_tokens":-100,"seed":null}',
        b'{"temperature":1e308,"top_p":1e308,"max_tokens":1e308,"seed":1e308}',
        b'{"temperature":Infinity,"top_p":-Infinity,"max_tokens":0.5,"seed":"x"}',
        b'{"temperature":"hot","top_p":null,"max_tokens":true,"seed":[]}',
    ],
    ids=["nan-negative", "1e308", "infinities", "wrong-types"],
)
def test_a_bad_params_record_keeps_every_value_in_force_before_it(
    tmp_path: Path, stored: bytes
) -> None:
    before = SamplingParams(temperature=0.3, top_p=0.8, max_tokens=200, seed=5)
    path = tmp_path / "bad.jsonl"
    header = to_json(SessionHeader(SessionInfo(id="bad"), before))
    path.write_bytes(
        encode_record(header)
        + b'{"type":"params","ts":"t","params":'
        + stored
        + b"}\n"
        + encode_record(to_json(ParamsChanged(replace(before, temperature=0.7))))
    )
    loaded = load_session(path)
    assert loaded.params == replace(before, temperature=0.7)  # a later sound record wins
    [warning] = loaded.warnings
    assert warning.startswith("line 2: parameters out of range (")
    assert warning.endswith("the previous values kept")
    path.write_bytes(path.read_bytes().rsplit(b"\n", 2)[0] + b"\n")  # without the last one
    again = load_session(path)
    assert again.params.temperature == 0.3 and again.params.max_tokens == 200
    assert again.params.top_p == 0.8


# -- the fast path for sound messages -----------------------------------------------------

MESSAGE_FIELDS = [
    *message_to_json(Message(Role.ASSISTANT, "", params=SamplingParams())),
    "probabilities",
    "resampled_at",
]
NESTED_FIELDS = {
    "params": ["temperature", "top_p", "max_tokens", "seed", "top_k", "min_p"],
    "probabilities": ["asked", "tokens", "cut"],
    "usage": ["prompt", "completion", "cached", "estimated"],
    "timing": [*Timing.__dataclass_fields__, "unknown"],
}


@settings(max_examples=300)
@given(message=ASKED | ANSWERED)
def test_a_message_as_written_takes_the_fast_path_to_what_the_checks_give(
    message: Message,
) -> None:
    line = encode_record(to_json(message))
    record = json.loads(line)
    warnings: list[str] = []
    assert sound_message(record) == checked_message(record, warnings.append) == message
    assert warnings == []
    assert sound_line(line) == (None if holds_a_lone_surrogate(message) else message)


@given(cost=st.builds(CostKnown, TEXT, AMOUNT, TEXT))
def test_a_price_as_written_takes_the_fast_path(cost: CostKnown) -> None:
    line = encode_record(to_json(cost))
    assert sound_line(line) == (None if holds_a_lone_surrogate(cost) else cost)


def holds_a_lone_surrogate(record: Record) -> bool:
    """msgspec refuses the escape of a lone surrogate; json reads it (the usual path)."""
    try:
        json.dumps(to_json(record), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


@settings(max_examples=500)
@given(
    message=ANSWERED,
    field=st.sampled_from(
        MESSAGE_FIELDS + [f"{k}.{n}" for k, v in NESTED_FIELDS.items() for n in v]
    ),
    value=JSON_VALUES,
)
def test_the_fast_path_declines_what_it_would_read_otherwise_than_the_checks(
    message: Message, field: str, value: Any
) -> None:
    record = json.loads(encode_record(to_json(message)))
    outer, _, inner = field.partition(".")
    if inner and not isinstance(record.get(outer), dict):
        record[outer] = {}
    if inner:
        record[outer][inner] = value
    else:
        record[outer] = value
    line = encode_record(record)
    record = json.loads(line)  # as a file holds it (NaN and infinities become null)
    for read in (sound_message(record), sound_line(line)):
        if read is not None:
            warnings: list[str] = []
            # repr: also the same types (180 is not 180.0 in a timing) and signs of zero
            assert repr(read) == repr(checked_message(record, warnings.append))
            assert warnings == []


@settings(max_examples=300)
@given(
    cost=st.builds(CostKnown, TEXT, AMOUNT, TEXT),
    field=st.sampled_from(["type", "id", "cost_usd", "ts"]),
    value=JSON_VALUES,
)
def test_the_fastest_path_reads_a_price_as_the_checks_do_or_not_at_all(
    cost: CostKnown, field: str, value: Any
) -> None:
    line = encode_record({**to_json(cost), field: value})
    fastest = sound_line(line)
    if fastest is not None:
        checked = from_json(json.loads(line), lambda warning: None, fallback=FALLBACK)
        assert repr(fastest) == repr(checked)


# -- versions -------------------------------------------------------------------------------


def test_every_older_version_has_an_upgrade_to_the_next() -> None:
    assert set(UPGRADES) == set(range(1, CURRENT_VERSION))


def test_a_v1_record_reads_as_the_current_format_unchanged() -> None:
    record = {"type": "title", "ts": "t", "title": "kept"}
    assert upgrade(record, 1) == [record]


def test_records_of_a_newer_version_are_not_touched() -> None:
    record = {"type": "hologram", "v": CURRENT_VERSION + 1}
    assert upgrade(record, CURRENT_VERSION + 1) == [record]


def test_a_new_session_is_written_in_the_current_format(tmp_path: Path) -> None:
    info = SessionInfo(id="fresh")
    with SessionFile.create(tmp_path, info) as file:
        file.append(SessionHeader(info, SamplingParams()))
    header = json.loads(file.path.read_bytes())
    assert header["v"] == CURRENT_VERSION
    assert load_session(file.path).version == CURRENT_VERSION


def test_continuing_an_older_file_says_once_that_newer_records_follow(tmp_path: Path) -> None:
    info = SessionInfo(id="older")
    path = tmp_path / "older.jsonl"
    v1_header = to_json(SessionHeader(info, SamplingParams())) | {"v": 1}
    path.write_bytes(encode_record(v1_header) + encode_record(to_json(Message(Role.USER, "a"))))
    with resume_session(path) as opened:
        assert opened.conversation.messages[0].content == "a"
        opened.conversation.set_system("Be brief.")
        opened.conversation.add_user("b")
    kinds = [json.loads(line)["type"] for line in path.read_bytes().splitlines()]
    assert kinds == ["session", "message", "format", "system", "message"]
    loaded = load_session(path)
    assert (loaded.version, loaded.warnings, loaded.info.system) == (2, [], "Be brief.")
    assert [m.content for m in loaded.messages] == ["a", "b"]


# -- one place --------------------------------------------------------------------------------

RECORD_TYPES = {
    "session",
    "message",
    "params",
    "title",
    "system",
    "cost",
    "backend",
    "checkpoint",
    "format",
}


def test_no_module_but_the_format_spells_a_record() -> None:
    """A dict literal `{"type": "message", …}` outside session_format is a second copy."""
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "session_format.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Dict):
                continue
            for key, value in zip(node.keys, node.values, strict=True):
                if (
                    isinstance(key, ast.Constant)
                    and key.value == "type"
                    and isinstance(value, ast.Constant)
                    and value.value in RECORD_TYPES
                ):
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert offenders == []


def test_a_stored_count_says_which_tokenizer_made_it() -> None:
    counted = Message(Role.USER, "hello", tokens=4, tokenizer="tiktoken o200k_base")
    guessed = Message(Role.USER, "hello", tokens=5, tokenizer="estimate")
    for message in (counted, guessed):
        record = message_to_json(message)
        assert record["tokenizer"] == message.tokenizer
        line = json.dumps(record).encode()
        # Every loading path keeps it: msgspec's, the sound dict's and the checking one.
        assert sound_line(line) == message
        assert sound_message(json.loads(line)) == message
        assert checked_message(json.loads(line), lambda _: None) == message
