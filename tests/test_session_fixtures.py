"""Session files written by earlier llmchat versions keep loading, forever.

`tests/fixtures/sessions/` holds files as each format version wrote them (see its
README). Never regenerate or edit them: add new ones when the format grows.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from llmchat.core.messages import Role, Status
from llmchat.core.params import SamplingParams
from llmchat.store import list_sessions, load_session, resume_session

FIXTURES = Path(__file__).parent / "fixtures" / "sessions"


def test_a_plain_v1_session_loads_whole() -> None:
    loaded = load_session(FIXTURES / "v1-plain.jsonl")
    assert loaded.warnings == []
    assert loaded.has_header
    assert loaded.info.backend == "openai"
    assert loaded.info.model == "default"
    assert [(m.role, m.content, m.status) for m in loaded.messages] == [
        (Role.USER, "What is the capital of France?", Status.COMPLETE),
        (Role.ASSISTANT, "Paris.", Status.COMPLETE),
    ]
    reply = loaded.messages[1]
    assert reply.usage is not None and reply.usage.completion == 3
    assert reply.timing is not None and reply.timing.ttft_ms == 120.0
    assert reply.parent == loaded.messages[0].id


def test_a_v1_session_with_params_title_and_cost_records_loads_them() -> None:
    loaded = load_session(FIXTURES / "v1-params-title-cost.jsonl")
    assert loaded.warnings == []
    assert loaded.title == "Primes \x1b[31m and more"  # stored as given; shown neutralised
    assert loaded.params == SamplingParams(temperature=0.2, top_p=0.9, max_tokens=512, seed=42)
    assert loaded.info.system == "Answer briefly."
    assert [m.status for m in loaded.messages if m.role is Role.ASSISTANT] == [
        Status.COMPLETE,
        Status.ERROR,
        Status.CANCELLED,
    ]
    assert loaded.messages[1].cost_usd == 0.00042
    assert loaded.messages[3].error == "cannot connect to http://127.0.0.1:9/v1"
    assert loaded.messages[5].content == "Eleven, or maybe thir"


def test_a_v1_session_with_a_torn_tail_loads_all_before_it_and_says_so() -> None:
    loaded = load_session(FIXTURES / "v1-torn-tail.jsonl")
    assert [m.content for m in loaded.messages] == ["What is the capital of France?", "Paris."]
    [warning] = loaded.warnings
    assert warning.startswith("line 4: the last record is incomplete")


def test_v1_sessions_are_listed_with_their_counts(tmp_path: Path) -> None:
    for path in FIXTURES.glob("v1-*.jsonl"):
        shutil.copy(path, tmp_path / path.name)
    counts = [(s.message_count, s.warning_count) for s in list_sessions(tmp_path)]
    assert sorted(counts) == [(2, 0), (2, 1), (6, 0)]


def test_a_resumed_v1_session_takes_new_turns_after_its_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "v1-torn-tail.jsonl"
    shutil.copy(FIXTURES / path.name, path)
    with resume_session(path) as opened:
        opened.conversation.add_user("after the crash")
    loaded = load_session(path)
    assert [m.content for m in loaded.messages][-1] == "after the crash"
    assert len(loaded.warnings) == 1  # the torn bytes, still reported; nothing else


def test_a_v2_session_has_its_latest_system_prompt_and_its_interrupted_reply() -> None:
    loaded = load_session(FIXTURES / "v2-system-checkpoints.jsonl")
    assert loaded.warnings == []
    assert loaded.info.system == "Answer like a pirate."
    assert [(m.role, m.content, m.status) for m in loaded.messages] == [
        (Role.USER, "Name a prime number", Status.COMPLETE),
        (Role.ASSISTANT, "Seven is prime.", Status.COMPLETE),
        (Role.USER, "Tell me a story", Status.COMPLETE),
        (Role.ASSISTANT, "Arr, once upon a tide, a ship", Status.INTERRUPTED),
    ]
    assert loaded.messages[3].parent == loaded.messages[2].id
