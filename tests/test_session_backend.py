"""A session records the backend it talks to, with no secret in it, and reads it back."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from llmchat.config import ResolvedBackend, Secret
from llmchat.core.backend_record import BackendRecord, url_without_secrets
from llmchat.core.conversation import Conversation, SessionInfo
from llmchat.core.records import Record
from llmchat.reconnect import backend_record
from llmchat.store import list_sessions, load_session, new_session, resume_session
from llmchat.store.session_format import to_json

FIXTURES = Path(__file__).parent / "fixtures" / "sessions"
SECRET = "sk-test-0123456789abcdefSECRET"


def resolved(**changes: object) -> ResolvedBackend:
    values: dict[str, object] = {
        "name": "work",
        "kind": "openai",
        "base_url": "http://127.0.0.1:8011/v1",
        "model": "served-model",
        "api_key": Secret(SECRET),
        "key_source": "environment variable WORK_KEY",
        "max_tokens_field": "max_tokens",
    }
    values.update(changes)
    return ResolvedBackend(**values)  # type: ignore[arg-type]


def new_saved_session(sessions: Path, backend: ResolvedBackend) -> Path:
    info = SessionInfo()
    info.use_backend(backend_record(backend))
    conversation = Conversation(info)
    sink = new_session(sessions, conversation)
    conversation.add_user("hello")
    sink.close()
    [summary] = list_sessions(sessions)
    return summary.path


def test_a_new_session_records_its_backend_and_reads_it_back(tmp_path: Path) -> None:
    path = new_saved_session(tmp_path, resolved())
    record = load_session(path).info.backend_record
    assert record == BackendRecord(
        "work", "openai", "http://127.0.0.1:8011/v1", "served-model", None
    )
    assert list_sessions(tmp_path)[0].record == record


def test_no_key_and_no_secret_from_the_url_is_ever_written(tmp_path: Path) -> None:
    url = f"https://user:{SECRET}@llm.example.com:8443/v1?api-version=2024-06-01&key={SECRET}"
    path = new_saved_session(tmp_path, resolved(base_url=url))
    text = path.read_text(encoding="utf-8")
    assert SECRET not in text
    assert SECRET[-12:] not in text and "user:" not in text
    record = load_session(path).info.backend_record
    assert record.base_url == "https://llm.example.com:8443/v1?api-version=2024-06-01"


def test_a_server_llmchat_starts_is_recorded_by_its_model_file_not_its_port(
    tmp_path: Path,
) -> None:
    model = tmp_path / "tiny.gguf"
    backend = resolved(
        name="local",
        kind="llamacpp",
        base_url="http://127.0.0.1:41234/v1",
        model="tiny",
        api_key=None,
        key_source=None,
        model_file=model,
    )
    record = load_session(new_saved_session(tmp_path / "s", backend)).info.backend_record
    assert record == BackendRecord("local", "llamacpp", None, "tiny", str(model))


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
        ("https://u:p@host.example/v1", "https://host.example/v1"),
        ("https://host.example/v1?key=abc", "https://host.example/v1"),
        ("https://host.example/v1?access_token=x&x-api-key=y", "https://host.example/v1"),
        ("https://host.example/v1?sig=Zm9vYmFy", "https://host.example/v1"),
        ("https://host.example/v1?q=AbCdEf0123456789xyz", "https://host.example/v1"),
        ("https://host.example/openai?api-version=2024-02-15-preview", None),
        ("https://host.example/v1#frag", "https://host.example/v1"),
        ("http://[::1]:8080/v1", "http://[::1]:8080/v1"),
        ("http://host:notaport/v1", ""),
    ],
)
def test_urls_are_recorded_without_secrets(url: str, kept: str | None) -> None:
    assert url_without_secrets(url) == (url if kept is None else kept)


def test_a_session_that_moves_records_where_it_went_with_its_next_record(
    tmp_path: Path,
) -> None:
    path = new_saved_session(tmp_path, resolved())
    elsewhere = backend_record(resolved(name="openai", base_url="http://127.0.0.1:9999/v1"))
    with resume_session(path) as opened:
        opened.conversation.move_to(elsewhere)
    assert load_session(path).info.backend_record.base_url == "http://127.0.0.1:8011/v1"
    with resume_session(path) as opened:
        opened.conversation.move_to(elsewhere)
        opened.conversation.add_user("now from here")
    loaded = load_session(path)
    assert loaded.warnings == []
    assert loaded.info.backend_record == elsewhere
    assert '"type":"backend"' in path.read_text(encoding="utf-8").replace(" ", "")


def test_a_bad_backend_record_is_skipped_with_its_line_and_the_rest_loads(
    tmp_path: Path,
) -> None:
    path = new_saved_session(tmp_path, resolved())
    with path.open("a", encoding="utf-8") as file:
        file.write('{"type":"backend","backend":["not","text"],"base_url":"http://x/v1"}\n')
    loaded = load_session(path)
    assert loaded.info.backend_record.base_url == "http://127.0.0.1:8011/v1"
    assert loaded.warnings == ["line 3: backend record with a value that is not text; skipped"]


def test_v1_files_record_only_the_backends_name(tmp_path: Path) -> None:
    for path in FIXTURES.glob("v1-*.jsonl"):
        shutil.copy(path, tmp_path / path.name)
    for summary in list_sessions(tmp_path):
        assert summary.record == BackendRecord("openai", None, None, "default", None)


def test_a_conversation_without_a_header_yet_records_a_move_in_its_header() -> None:
    conversation = Conversation(SessionInfo())
    records: list[dict[str, object]] = []

    class Sink:
        def append(self, record: Record) -> None:
            records.append(to_json(record))

    conversation.attach(Sink())
    conversation.move_to(BackendRecord("b", "openai", "http://h/v1", "m", None))
    conversation.add_user("x")
    assert [r["type"] for r in records] == ["session", "message"]
    assert records[0]["base_url"] == "http://h/v1"
