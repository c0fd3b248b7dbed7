"""No part of a key reaches the screen or a session file: by URL, echo or a cut message.

The backend against the loopback server (no mocks): a key in the base URL's
user:password or query, a server that echoes part of the key, a key straddling the
160-character cut of a server message; then `llmchat -p` end to end, reading what it
printed and what it saved.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from llmchat.backends.discovery import discover
from llmchat.backends.errors import http_error
from llmchat.backends.llamacpp import LlamaCppBackend
from llmchat.backends.openai import OpenAIBackend
from llmchat.core.events import ChatError, ErrorKind, Failed, RequestSent, StreamEvent
from llmchat.core.params import SamplingParams
from llmchat.core.request import SERVER_DEFAULT_MODEL, ChatRequest, WireMessage
from llmchat.core.secrets import MIN_RUN, SecretMask, public_prefix
from tests.support.openai_server import Fault, OpenAIServer, Script

pytestmark = pytest.mark.family("secrets")

KEY = "sk-proj-Zq8xW3vR5tY7uI9oP1aS2dF4gH6jK0lM"
PASSWORD = "hunter2Passw0rdXyz"
REQUEST = ChatRequest(
    messages=(WireMessage("user", "Hello?"),),
    params=SamplingParams(temperature=0.2, top_p=0.9, max_tokens=64),
)


def leaked(text: str, *secrets: str) -> list[str]:
    """Every run of MIN_RUN characters of `secrets` (past a public prefix) in `text`."""
    return [
        secret[i : i + MIN_RUN]
        for secret in secrets
        for i in range(max(0, len(public_prefix(secret)) - MIN_RUN + 1), len(secret) - MIN_RUN + 1)
        if secret[i : i + MIN_RUN] in text
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def failure(backend: OpenAIBackend) -> ChatError:
    events: list[StreamEvent] = [event async for event in backend.stream(REQUEST)]
    await backend.aclose()
    end = events[-1]
    assert isinstance(end, Failed), events
    return end.error


@pytest.mark.parametrize(
    "base_url",
    [
        "http://llm:{password}@127.0.0.1:{port}/v1",
        "http://{key}@127.0.0.1:{port}/v1",
        "http://127.0.0.1:{port}/v1?api-key={password}",
    ],
)
async def test_cannot_connect_names_the_url_without_its_secrets(base_url: str) -> None:
    port = free_port()
    url = base_url.format(key=KEY, password=PASSWORD, port=port)
    error = await failure(OpenAIBackend("local", url, "m", KEY))
    assert error.kind is ErrorKind.CONNECT
    assert f"cannot connect to http://127.0.0.1:{port}/v1" in error.message
    assert leaked(error.one_line() + repr(error), KEY, PASSWORD) == []
    assert "llm:" not in error.message and "@" not in error.message


async def test_not_found_names_the_url_without_user_and_password(server: OpenAIServer) -> None:
    url = server.base_url.replace("http://", f"http://llm:{PASSWORD}@")
    server.push(Script.http_error(404, "no such model"))
    error = await failure(OpenAIBackend("local", url, "m"))
    assert error.kind is ErrorKind.NOT_FOUND
    assert f"not found at {server.base_url}/chat/completions" in error.message
    assert leaked(error.one_line(), PASSWORD) == [] and "llm:" not in error.message


def test_not_found_and_redirects_name_urls_without_token_like_query_values() -> None:
    for status, headers in ((404, {}), (302, {"location": f"https://h/login?token={KEY}"})):
        error = http_error(
            status,
            headers,
            "{}",
            backend="b",
            url=f"https://h/v1/chat/completions?api-key={KEY}",
            key_hint="check K",
        )
        assert leaked(error.one_line(), KEY) == [], error.one_line()


@pytest.mark.parametrize(
    "echo",
    [
        pytest.param(f"Incorrect API key provided: {KEY}", id="whole"),
        pytest.param(f"Incorrect API key provided: …{KEY[-12:]}", id="last-12"),
        pytest.param(f"{'x' * 140} {KEY} and more", id="straddling-the-cut"),
        pytest.param(f"key={KEY[8:20]}", id="a-middle-piece"),
    ],
)
async def test_an_echoed_key_is_masked_in_http_errors(server: OpenAIServer, echo: str) -> None:
    server.push(Script.http_error(401, echo))
    error = await failure(OpenAIBackend("local", server.base_url, "m", KEY))
    assert error.kind is ErrorKind.AUTH
    assert leaked(error.one_line(), KEY) == [], error.one_line()


async def test_an_echoed_key_is_masked_in_an_html_error_page(server: OpenAIServer) -> None:
    encoded = "".join(f"&#{ord(c)};" for c in KEY[-12:])  # decoded before it is masked
    page = f"<html><body><p>bad key {encoded} / {KEY[-16:]}</p></body></html>"
    server.push(Script(status=500, body=page, content_type="text/html"))
    error = await failure(OpenAIBackend("local", server.base_url, "m", KEY))
    assert leaked(error.one_line(), KEY) == [], error.one_line()


async def test_an_echoed_key_is_masked_in_an_error_mid_stream(server: OpenAIServer) -> None:
    server.push(
        Script(
            reply="one two three",
            fault=Fault.ERROR_EVENT,
            fault_after=1,
            error_message=f"{'y' * 150}{KEY}",
        )
    )
    error = await failure(OpenAIBackend("local", server.base_url, "m", KEY))
    assert error.kind is ErrorKind.STREAM
    assert leaked(error.one_line(), KEY) == [], error.one_line()


def test_one_mask_serves_every_error_path() -> None:
    """The backend's secrets are its key and whatever its URL carries."""
    backend = OpenAIBackend("b", f"http://u:{PASSWORD}@h/v1?sig=abc123def456ghi789", "m", KEY)
    assert PASSWORD not in repr(backend) and "abc123def456ghi789" not in repr(backend)
    mask = SecretMask.of([KEY, "u", PASSWORD, basic(f"u:{PASSWORD}"), "abc123def456ghi789"])
    assert backend._mask == mask


def basic(userpass: str) -> str:
    """The credentials of an `Authorization: Basic …` header."""
    return base64.b64encode(userpass.encode()).decode()


SERVER_PASSWORD = "SECRETKEY9876543210XYZ"


async def test_a_server_echoing_basic_auth_from_the_url_has_it_masked(
    server: OpenAIServer,
) -> None:
    server.push(Script(status=404, echo_header="authorization", error_message="no such model"))
    url = server.base_url.replace("http://", f"http://user:{SERVER_PASSWORD}@")
    error = await failure(OpenAIBackend("local", url, "m"))
    token = basic(f"user:{SERVER_PASSWORD}")
    assert server.chat_requests[0].headers["authorization"] == f"Basic {token}"
    assert error.kind is ErrorKind.NOT_FOUND and "no such model" in error.message
    assert leaked(error.one_line() + repr(error), SERVER_PASSWORD, token) == [], error


# -- a query in the base URL (Azure-style ?api-version=…&api-key=…) ---------------------------

QUERY = f"api-version=2024-02-15-preview&api-key={PASSWORD}"


async def test_a_query_in_the_base_url_goes_with_every_request(server: OpenAIServer) -> None:
    backend = OpenAIBackend("azure", f"{server.base_url}?{QUERY}", SERVER_DEFAULT_MODEL)
    try:
        found = await discover(backend)
        events = [event async for event in found.stream(REQUEST)]
    finally:
        await backend.aclose()
    assert [(r.method, r.route, r.query) for r in server.requests] == [
        ("GET", "/v1/models", QUERY),
        ("GET", "/props", QUERY),
        ("POST", "/v1/chat/completions", QUERY),
    ]
    assert server.chat_requests[0].body["model"] == "test-model"
    [sent] = [event for event in events if isinstance(event, RequestSent)]
    assert sent.url == f"{server.base_url}/chat/completions?api-version=2024-02-15-preview"


async def test_a_query_in_the_base_url_goes_to_llama_server_routes(
    server: OpenAIServer,
) -> None:
    server.answer("/tokenize", Script(body={"tokens": [1, 2, 3]}))
    backend = LlamaCppBackend("llama", f"{server.base_url}/?{QUERY}", "m")
    try:
        assert await backend.count_text("hello") == 3
    finally:
        await backend.aclose()
    [asked] = server.requests
    assert (asked.route, asked.query) == ("/tokenize", QUERY)


async def test_an_error_names_the_request_url_with_its_query_secret_hidden(
    server: OpenAIServer,
) -> None:
    server.push(Script.http_error(404, "no such deployment"))
    error = await failure(OpenAIBackend("azure", f"{server.base_url}?{QUERY}", "m"))
    assert error.kind is ErrorKind.NOT_FOUND
    where = f"{server.base_url}/chat/completions?api-version=2024-02-15-preview"
    assert f"not found at {where} " in error.message, error.message
    assert leaked(error.one_line(), PASSWORD) == []


# -- end to end: what `llmchat -p` prints and saves ----------------------------------------


def llmchat(*args: str, home: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLMCHAT_"))}
    environment.update(LLMCHAT_HOME=str(home), **env)
    return subprocess.run(
        [sys.executable, "-m", "llmchat", *args],
        input="",
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def every_file(home: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in home.rglob("*") if p.is_file())


def test_print_mode_neither_prints_nor_saves_an_echoed_or_url_borne_key(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(Script.http_error(401, f"Incorrect API key provided: …{KEY[-12:]}"))
    echoed = llmchat(
        "-p", "hi", home=tmp_path, env={"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": KEY}
    )
    assert echoed.returncode == 1 and "Incorrect API key" in echoed.stderr
    unreachable = llmchat(
        "-p",
        "hi",
        home=tmp_path,
        env={"OPENAI_BASE_URL": f"http://llm:{PASSWORD}@127.0.0.1:{free_port()}/v1"},
    )
    assert unreachable.returncode == 1 and "cannot connect to http://127.0.0.1" in (
        unreachable.stderr
    )
    shown = echoed.stdout + echoed.stderr + unreachable.stdout + unreachable.stderr
    assert leaked(shown, KEY, PASSWORD) == [], shown
    saved = every_file(tmp_path)
    assert '"error"' in saved
    assert leaked(saved, KEY, PASSWORD) == [] and "llm:" not in saved


def test_print_mode_neither_prints_nor_saves_basic_auth_a_server_echoes(
    server: OpenAIServer, tmp_path: Path
) -> None:
    server.push(Script(status=404, echo_header="authorization", error_message="no such model"))
    url = server.base_url.replace("http://", f"http://user:{SERVER_PASSWORD}@")
    result = llmchat("-p", "hi", "--model", "m", home=tmp_path, env={"LLMCHAT_BASE_URL": url})
    assert result.returncode == 1 and "no such model" in result.stderr, result.stderr
    token = basic(f"user:{SERVER_PASSWORD}")
    assert leaked(result.stdout + result.stderr, SERVER_PASSWORD, token) == [], result.stderr
    saved = every_file(tmp_path)
    assert '"error"' in saved and "no such model" in saved
    assert leaked(saved, SERVER_PASSWORD, token) == []


# -- session files: the recorded base URL --------------------------------------------------


def test_a_session_file_holding_a_url_with_secrets_neither_shows_nor_keeps_them(
    tmp_path: Path,
) -> None:
    """A header edited by hand (or written by an older llmchat) with user:password and
    ?api-key=: the "this session was with…" notice and every record written after do
    not carry them on."""
    from llmchat.config import Config, ResolvedBackend
    from llmchat.core.messages import Message, Role
    from llmchat.launch import SessionOpener
    from llmchat.store import list_sessions, resume_session

    here = ResolvedBackend(
        name="work",
        kind="openai",
        base_url="http://127.0.0.1:8011/v1",
        model="m",
        api_key=None,
        key_source=None,
        max_tokens_field="max_tokens",
    )
    opened = SessionOpener(tmp_path, here, Config(), None).open(None)
    opened.conversation.add_user("hello")
    opened.close()
    [summary] = list_sessions(tmp_path)
    secret_url = f"http://llm:{PASSWORD}@10.0.0.9:8000/v1?api-key={KEY}"
    text = summary.path.read_text(encoding="utf-8")
    summary.path.write_text(
        text.replace('"http://127.0.0.1:8011/v1"', f'"{secret_url}"', 1), encoding="utf-8"
    )
    with resume_session(summary.path) as again:
        again.conversation.add_reply(Message(Role.ASSISTANT, "hi", model="m"))
    [summary] = list_sessions(tmp_path)
    reopened = SessionOpener(tmp_path, here, Config(), None).open(summary)
    reopened.conversation.add_user("and now?")
    reopened.close()
    assert any("http://10.0.0.9:8000/v1" in w for w in reopened.warnings), reopened.warnings
    assert leaked(" ".join(reopened.warnings), KEY, PASSWORD) == []
    after = summary.path.read_text(encoding="utf-8")[len(text) :]
    assert leaked(after, KEY, PASSWORD) == [] and "llm:" not in after
