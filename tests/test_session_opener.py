"""Opening sessions for a backend: what a new one records, what a reopened one says."""

from __future__ import annotations

from pathlib import Path

from llmchat.config import Config, ResolvedBackend
from llmchat.core.backend_record import BackendRecord
from llmchat.core.messages import Message, Role
from llmchat.launch import SessionOpener
from llmchat.store import list_sessions, load_session, resume_session


def resolved(**changes: object) -> ResolvedBackend:
    values: dict[str, object] = {
        "name": "work",
        "kind": "openai",
        "base_url": "http://127.0.0.1:8011/v1",
        "model": "served-model",
        "api_key": None,
        "key_source": None,
        "max_tokens_field": "max_tokens",
    }
    values.update(changes)
    return ResolvedBackend(**values)  # type: ignore[arg-type]


def new_saved_session(sessions: Path, backend: ResolvedBackend) -> Path:
    opened = SessionOpener(sessions, backend, Config(), None).open(None)
    opened.conversation.add_user("hello")
    opened.close()
    [summary] = list_sessions(sessions)
    return summary.path


def test_a_new_session_records_the_backend_it_was_opened_with(tmp_path: Path) -> None:
    path = new_saved_session(tmp_path, resolved())
    record = load_session(path).info.backend_record
    assert record == BackendRecord(
        "work", "openai", "http://127.0.0.1:8011/v1", "served-model", None
    )


def test_reopening_with_the_same_backend_writes_nothing_new(tmp_path: Path) -> None:
    path = new_saved_session(tmp_path, resolved())
    before = path.read_bytes()
    [summary] = list_sessions(tmp_path)
    reopened = SessionOpener(tmp_path, resolved(), Config(), None).open(summary)
    reopened.conversation.add_user("again")
    reopened.close()
    assert reopened.warnings == []
    assert b'"type":"backend"' not in path.read_bytes()[len(before) :].replace(b" ", b"")


def test_reopening_with_another_backend_says_where_it_was_and_where_it_goes(
    tmp_path: Path,
) -> None:
    path = new_saved_session(tmp_path, resolved())
    with resume_session(path) as opened:
        opened.conversation.add_reply(Message(Role.ASSISTANT, "hi", model="served-model"))
    [summary] = list_sessions(tmp_path)
    other = resolved(name="openai", base_url="http://127.0.0.1:9999/v1", model="m2")
    reopened = SessionOpener(tmp_path, other, Config(), None).open(summary)
    reopened.close()
    assert reopened.warnings == [
        "This session was with work · served-model (http://127.0.0.1:8011/v1); "
        "it continues with openai · m2 (http://127.0.0.1:9999/v1)."
    ]


def test_a_replay_on_another_backend_does_not_pair_its_model_with_the_sessions_backend(
    tmp_path: Path,
) -> None:
    path = new_saved_session(tmp_path, resolved())
    with resume_session(path) as opened:
        opened.conversation.add_reply(
            Message(Role.ASSISTANT, "hi", model="served-model", backend="work")
        )
        opened.conversation.add_reply(
            Message(Role.ASSISTANT, "replayed", model="b-one", backend="beta")
        )
    [summary] = list_sessions(tmp_path)
    assert (summary.backend, summary.model) == ("work", "served-model")
    other = resolved(name="openai", base_url="http://127.0.0.1:9999/v1", model="m2")
    reopened = SessionOpener(tmp_path, other, Config(), None).open(summary)
    reopened.close()
    assert reopened.warnings == [
        "This session was with work · served-model (http://127.0.0.1:8011/v1); "
        "it continues with openai · m2 (http://127.0.0.1:9999/v1)."
    ]
