"""The `llmchat` command as a user runs it: a real process against the loopback server."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from llmchat.core.messages import Role, Status
from llmchat.paths import AppPaths
from llmchat.store import SessionFile, SessionSummary, list_sessions, load_session
from tests.support.openai_server import OpenAIServer, Script

SECRET = "sk-test-0123456789abcdefSECRET"


def llmchat(
    *args: str, home: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMCHAT_"))}
    environment.update(LLMCHAT_HOME=str(home), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "llmchat", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def sessions(home: Path) -> list[SessionSummary]:
    return list_sessions(AppPaths.from_env({"LLMCHAT_HOME": str(home)}).sessions_dir)


def test_print_mode_streams_the_answer_to_stdout_and_saves_the_turn(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(Script(reply="Forty-two."))
    result = llmchat("-p", "the answer?", home=tmp_path, env={"OPENAI_BASE_URL": server.base_url})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Forty-two.\n"
    [summary] = sessions(tmp_path)
    saved = load_session(summary.path).messages
    assert [(m.role, m.content) for m in saved] == [
        (Role.USER, "the answer?"),
        (Role.ASSISTANT, "Forty-two."),
    ]


def test_print_mode_adds_piped_stdin_to_the_prompt(server: OpenAIServer, tmp_path: Path) -> None:
    result = llmchat(
        "-p", "summarise:", home=tmp_path, env={"OPENAI_BASE_URL": server.base_url}, stdin="abc\n"
    )
    assert result.returncode == 0, result.stderr
    sent = server.chat_requests[0].body["messages"][-1]["content"]
    assert sent == "summarise:\n\nabc\n"


def test_print_mode_reports_a_failed_reply_on_stderr_with_exit_1(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(Script.http_error(404, "no such model"))
    result = llmchat("-p", "hi", home=tmp_path, env={"OPENAI_BASE_URL": server.base_url})
    assert result.returncode == 1
    assert "no such model" in result.stderr
    [summary] = sessions(tmp_path)
    assert load_session(summary.path).messages[-1].status is Status.ERROR


def test_continue_adds_the_next_turn_to_the_last_session(
    server: OpenAIServer, tmp_path: Path
) -> None:
    env = {"OPENAI_BASE_URL": server.base_url}
    assert llmchat("-p", "first", home=tmp_path, env=env).returncode == 0
    assert llmchat("-p", "second", "--continue", home=tmp_path, env=env).returncode == 0
    [summary] = sessions(tmp_path)
    users = [m.content for m in load_session(summary.path).messages if m.role is Role.USER]
    assert users == ["first", "second"]
    history = server.chat_requests[-1].body["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "user"]


def test_nothing_configured_and_no_local_server_says_how_to_connect_and_exits_2(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "no-such-llama-server"
    result = llmchat("-p", "hi", home=tmp_path, env={"LLAMA_SERVER": str(missing)})
    assert result.returncode == 2
    assert "OPENAI_API_KEY" in result.stderr
    assert "config init" in result.stderr


def test_a_broken_config_names_file_line_and_column_and_is_left_alone(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('default_backend = "x"\n[backends.x\nkind = "openai"\n')
    before = config.read_bytes()
    result = llmchat("-p", "hi", home=tmp_path, env={"LLMCHAT_CONFIG": str(config)})
    assert result.returncode == 2
    assert f"{config}:2" in result.stderr
    assert config.read_bytes() == before


def test_out_of_range_temperature_is_refused(server: OpenAIServer, tmp_path: Path) -> None:
    result = llmchat(
        "-p", "hi", "--temperature", "3", home=tmp_path, env={"OPENAI_BASE_URL": server.base_url}
    )
    assert result.returncode == 2
    assert "--temperature" in result.stderr
    assert server.chat_requests == []


def test_the_api_key_is_sent_but_never_saved_or_printed(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(Script.http_error(401, "invalid key"))
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": SECRET}
    llmchat("-p", "ok?", home=tmp_path, env=env)
    result = llmchat("-p", "again", "--continue", home=tmp_path, env=env)
    assert server.chat_requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert "OPENAI_API_KEY" in result.stderr or result.returncode == 0
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path
    assert SECRET not in result.stdout + result.stderr


def test_config_init_writes_a_private_starter_file_once(tmp_path: Path) -> None:
    first = llmchat("config", "init", home=tmp_path)
    assert first.returncode == 0, first.stderr
    path = Path(llmchat("config", "path", home=tmp_path).stdout.strip())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = llmchat("config", "init", home=tmp_path)
    assert again.returncode == 1
    assert "exists" in again.stderr


def test_resuming_a_session_another_llmchat_has_open_is_refused(
    server: OpenAIServer, tmp_path: Path
) -> None:
    env = {"OPENAI_BASE_URL": server.base_url}
    assert llmchat("-p", "mine", home=tmp_path, env=env).returncode == 0
    [summary] = sessions(tmp_path)
    with SessionFile(summary.path):
        result = llmchat("--resume", summary.id, home=tmp_path, env=env)
    assert result.returncode == 1
    assert "another llmchat" in result.stderr


def test_resuming_an_unknown_session_says_so(server: OpenAIServer, tmp_path: Path) -> None:
    result = llmchat("--resume", "nope", home=tmp_path, env={"OPENAI_BASE_URL": server.base_url})
    assert result.returncode == 1
    assert "nope" in result.stderr


def test_a_reply_cut_at_max_tokens_is_reported_on_stderr(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(Script.generated(40))
    env = {"OPENAI_BASE_URL": server.base_url}
    result = llmchat("-p", "long please", "--max-tokens", "3", home=tmp_path, env=env)
    assert result.returncode == 0
    assert "cut off at max_tokens (3)" in result.stderr
    [summary] = sessions(tmp_path)
    assert load_session(summary.path).messages[-1].finish_reason == "length"


def test_continuing_with_another_server_asks_that_servers_model(tmp_path: Path) -> None:
    with OpenAIServer(models=("first-model",)) as first:
        env = {"OPENAI_BASE_URL": first.base_url}
        assert llmchat("-p", "one", home=tmp_path, env=env).returncode == 0
    with OpenAIServer(models=("second-model",)) as second:
        # A flag, not the environment: the session's record comes before the environment.
        again = llmchat("-p", "two", "--continue", "--base-url", second.base_url, home=tmp_path)
        assert again.returncode == 0, again.stderr
        assert second.chat_requests[0].body["model"] == "second-model"
    assert "This session was with openai · first-model" in again.stderr


def test_continue_with_no_flags_goes_back_to_the_sessions_base_url(tmp_path: Path) -> None:
    with OpenAIServer(models=("served-model",)) as server:
        first = llmchat("-p", "first", "--base-url", server.base_url, home=tmp_path)
        assert first.returncode == 0, first.stderr
        again = llmchat("-p", "second", "--continue", home=tmp_path)
        assert again.returncode == 0, again.stderr
    assert [r.body["messages"][-1]["content"] for r in server.chat_requests] == [
        "first",
        "second",
    ]
    assert server.chat_requests[1].body["model"] == "served-model"
    [summary] = sessions(tmp_path)
    assert summary.record.base_url == server.base_url


def test_resume_by_id_goes_back_to_the_sessions_server_over_the_environment(
    tmp_path: Path,
) -> None:
    with OpenAIServer() as server, OpenAIServer() as other:
        assert llmchat("-p", "one", "--base-url", server.base_url, home=tmp_path).returncode == 0
        [summary] = sessions(tmp_path)
        env = {"OPENAI_BASE_URL": other.base_url}
        again = llmchat("-p", "two", "--resume", summary.id, home=tmp_path, env=env)
        assert again.returncode == 0, again.stderr
    assert len(server.chat_requests) == 2 and other.chat_requests == []


def test_flags_given_with_continue_win_over_the_sessions_record(tmp_path: Path) -> None:
    with OpenAIServer() as before, OpenAIServer() as after:
        assert llmchat("-p", "one", "--base-url", before.base_url, home=tmp_path).returncode == 0
        again = llmchat("-p", "two", "--continue", "--base-url", after.base_url, home=tmp_path)
        assert again.returncode == 0, again.stderr
    assert len(before.chat_requests) == 1 and len(after.chat_requests) == 1
    [summary] = sessions(tmp_path)
    assert summary.record.base_url == after.base_url


def test_no_secret_of_the_base_url_or_key_reaches_the_session_file(
    server: OpenAIServer, tmp_path: Path
) -> None:
    with_password = server.base_url.replace("http://", f"http://llm:{SECRET}@")
    env = {"OPENAI_BASE_URL": with_password, "OPENAI_API_KEY": SECRET}
    assert llmchat("-p", "one", home=tmp_path, env=env).returncode == 0
    again = llmchat("-p", "two", "--continue", home=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    [summary] = sessions(tmp_path)
    text = summary.path.read_text(encoding="utf-8")
    assert SECRET not in text and SECRET[-6:] not in text and "llm:" not in text
    assert summary.record.base_url == server.base_url
    # The same host as configured: it is used as configured, credentials and all.
    first, second = server.chat_requests
    assert second.headers["authorization"] == first.headers["authorization"]


def test_schema_mode_sends_the_schema_at_temperature_0_and_checks_the_reply(
    server: OpenAIServer, tmp_path: Path
) -> None:
    schema = tmp_path / "person.json"
    schema.write_text(
        '{"type":"object","properties":{"name":{"type":"string"}},"required":["name"],'
        '"additionalProperties":false}'
    )
    server.push(Script(reply='{"name": "Ada"}'), Script(reply='{"nom": "Ada"}'))
    env = {"OPENAI_BASE_URL": server.base_url}
    good = llmchat("-p", "who?", "--schema", str(schema), home=tmp_path, env=env)
    bad = llmchat("-p", "who?", "--schema", str(schema), home=tmp_path, env=env)
    body = server.chat_requests[0].body
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["name"]
    assert body["temperature"] == 0.0
    assert good.returncode == 0 and "✓ valid JSON (schema)" in good.stderr
    assert bad.returncode == 1 and "✗ invalid" in bad.stderr
    assert bad.stdout.strip() == '{"nom": "Ada"}'
