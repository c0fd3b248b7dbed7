"""`llmchat sessions` and `llmchat export`, as a user or a script runs them."""

from __future__ import annotations

import io
import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from llmchat.cli import main
from llmchat.core.conversation import Conversation
from llmchat.core.messages import ImageRef, Message, Role, Timing, Usage
from llmchat.core.params import SamplingParams
from llmchat.core.records import SessionInfo
from llmchat.paths import AppPaths
from llmchat.store import SessionFile, load_session
from llmchat.store.session_format import header_from_json, message_from_json
from llmchat.store.session_trash import move_to_trash, trash_dir
from tests.support.openai_server import OpenAIServer, Script
from tests.test_cli import SECRET, llmchat

T0 = 1_780_000_000
HOSTILE = "\x1b]0;pwned\x07\x1b[31mred\x9b\u202e"


def sessions_dir(home: Path) -> Path:
    return AppPaths.from_env({"LLMCHAT_HOME": str(home)}).sessions_dir


def write_session(
    home: Path,
    *turns: str,
    updated: int = T0,
    title: str = "",
    system: str = "",
    session_id: str | None = None,
) -> Conversation:
    """A session written by the real writer: user, reply, user, reply, …"""
    info = SessionInfo(title=title, system=system, backend="local", model="qwen-7b")
    if session_id is not None:
        info.id = session_id
    conversation = Conversation(info, SamplingParams(temperature=0.7))
    with SessionFile.create(sessions_dir(home), info) as file:
        conversation.attach(file)
        for n, text in enumerate(turns):
            if n % 2 == 0:
                conversation.add_user(text)
            else:
                conversation.add_reply(reply(text))
    os.utime(session_path(home, conversation), (updated, updated))
    return conversation


def reply(text: str) -> Message:
    return Message(
        Role.ASSISTANT,
        text,
        backend="local",
        model="qwen-7b",
        params=SamplingParams(temperature=0.7),
        usage=Usage(prompt=812, completion=95),
        timing=Timing(ttft_ms=180.0, tok_s=73.1),
        cost_usd=0.0,
    )


def session_path(home: Path, conversation: Conversation) -> Path:
    [path] = sessions_dir(home).glob(f"*-{conversation.info.id}.jsonl")
    return path


class Run:
    """One in-process run of `llmchat …`: exit code, stdout, stderr."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


def run(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


class Terminal(io.StringIO):
    """stdout as a terminal would be: `isatty()` says so."""

    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


def on_terminal(monkeypatch: pytest.MonkeyPatch) -> Terminal:
    """stdout becomes a terminal (set in the test itself: capture resets it after setup)."""
    screen = Terminal()
    monkeypatch.setattr("sys.stdout", screen)
    return screen


# -- llmchat sessions ---------------------------------------------------------------------


def test_sessions_are_listed_newest_first_with_id_model_count_and_title(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = write_session(home, "Sorting lists", "Use sorted().", updated=T0)
    new = write_session(home, "Owls at night", updated=T0 + 60)
    result = run(capsys, "sessions")
    assert result.code == 0
    first, second = result.out.splitlines()
    assert first.split()[0] == new.info.id and first.endswith("Owls at night")
    assert second.split()[0] == old.info.id and second.endswith("Sorting lists")
    assert "qwen-7b" in second and " 2 " in second


def test_sessions_limit_shows_only_the_newest(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(3):
        write_session(home, f"session {n}", updated=T0 + n)
    result = run(capsys, "sessions", "--limit", "2")
    assert [line.split()[-1] for line in result.out.splitlines()] == ["2", "1"]


def test_sessions_json_is_one_document_with_the_exact_facts(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = write_session(home, "hello", title=f"A {HOSTILE} title\nsecond line")
    result = run(capsys, "sessions", "--json")
    [entry] = json.loads(result.out)
    assert entry["id"] == session.info.id
    assert entry["title"] == f"A {HOSTILE} title\nsecond line"
    assert (entry["model"], entry["backend"], entry["messages"]) == ("qwen-7b", "local", 1)
    assert entry["path"] == str(session_path(home, session))
    assert result.out.isascii()


def test_sessions_json_of_an_empty_library_is_an_empty_list(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(capsys, "sessions", "--json")
    assert (result.code, json.loads(result.out)) == (0, [])


@pytest.mark.family("escapes")
def test_a_hostile_title_is_neutralised_on_a_terminal(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_session(home, "hi", title=f"A {HOSTILE} title")
    terminal = on_terminal(monkeypatch)
    assert run(capsys, "sessions").code == 0
    shown = terminal.getvalue()
    assert "A ␛]0;pwned" in shown
    assert not any(char in shown for char in "\x1b\x07\x9b\u202e")


def test_a_title_of_several_lines_stays_on_its_own_line_in_a_pipe(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_session(home, "hi", title="one\ntwo\rthree")
    result = run(capsys, "sessions")
    assert len(result.out.splitlines()) == 1


@pytest.mark.parametrize("limit", ["0", "-1", "many"])
def test_a_bad_limit_is_a_usage_error(
    home: Path, capsys: pytest.CaptureFixture[str], limit: str
) -> None:
    result = run(capsys, "sessions", "--limit", limit)
    assert result.code == 2
    assert "--limit" in result.err


def test_search_prints_session_role_and_matching_line(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = write_session(home, "What is a monad?", "A monad is a monoid.\nThat is all.")
    result = run(capsys, "sessions", "--search", "monoid")
    assert result.code == 0
    [line] = result.out.splitlines()
    assert line.split()[:2] == [session.info.id, "assistant"]
    assert line.endswith("A monad is a monoid.")


def test_search_json_gives_every_fact_of_a_hit(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = write_session(home, "What is a monad?", "A monad is a monoid.")
    [hit] = json.loads(run(capsys, "sessions", "--search", "monoid", "--json").out)
    assert hit["id"] == session.info.id
    assert hit["message_id"] == session.messages[1].id
    assert (hit["role"], hit["line"], hit["title"]) == (
        "assistant",
        "A monad is a monoid.",
        "What is a monad?",
    )


def test_search_finding_nothing_exits_1_like_grep(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_session(home, "hello")
    result = run(capsys, "sessions", "--search", "zeppelin")
    assert (result.code, result.out) == (1, "")
    assert "zeppelin" in result.err


def test_search_json_finding_nothing_prints_an_empty_list_and_exits_1(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_session(home, "hello")
    result = run(capsys, "sessions", "--search", "zeppelin", "--json")
    assert (result.code, json.loads(result.out)) == (1, [])


@pytest.mark.parametrize("query", ['"', "AND", "NEAR(", "*", "-", ""], ids=repr)
def test_search_syntax_in_the_text_is_no_error(
    home: Path, capsys: pytest.CaptureFixture[str], query: str
) -> None:
    write_session(home, "hello")
    assert run(capsys, "sessions", "--search", query).code == 1


def test_search_keeps_its_index_in_the_cache_folder(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_session(home, "hello")
    run(capsys, "sessions", "--search", "hello")
    index = AppPaths.from_env({"LLMCHAT_HOME": str(home)}).cache_dir / "search.sqlite3"
    assert stat.S_IMODE(index.stat().st_mode) == 0o600


@pytest.mark.family("escapes")
def test_a_hostile_matching_line_is_neutralised_on_a_terminal(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_session(home, f"kiwi {HOSTILE}")
    terminal = on_terminal(monkeypatch)
    assert run(capsys, "sessions", "--search", "kiwi").code == 0
    shown = terminal.getvalue()
    assert "kiwi ␛]0;pwned" in shown
    assert not any(char in shown for char in "\x1b\x07\x9b\u202e")


def test_sessions_help_says_what_the_exit_codes_mean(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "sessions", "--help")
    assert result.code == 0
    assert "1 if --search finds nothing" in " ".join(result.out.split())


def test_purge_trash_deletes_the_trashed_sessions_for_good(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = write_session(home, "keep me", session_id="aaaa0000aaaa")
    gone = write_session(home, "bin me", session_id="bbbb1111bbbb")
    move_to_trash(session_path(home, gone))
    result = run(capsys, "sessions", "--purge-trash")
    assert result.code == 0
    assert "deleted 1 session from the trash for good" in result.err
    assert list(trash_dir(sessions_dir(home)).iterdir()) == []
    listed = json.loads(run(capsys, "sessions", "--json").out)
    assert [s["id"] for s in listed] == [kept.info.id]
    assert listed[0]["first_line"] == "keep me" and "cost_usd" in listed[0]


# -- llmchat export -----------------------------------------------------------------------


def test_markdown_export_states_title_created_backend_and_system_prompt(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = write_session(
        home, "Sort this", "Done.", title="Sorting", system="Be brief.\nUse Python."
    )
    result = run(capsys, "export", session.info.id[:6])
    assert result.code == 0, result.err
    text = result.out
    assert text.startswith("# Sorting\n")
    assert f"- Session: `{session.info.id}`" in text
    assert "- Created: " in text and " UTC" in text
    assert "- Backend: local · qwen-7b" in text
    assert "## System prompt\n\n> Be brief.\n> Use Python.\n" in text


def test_markdown_export_gives_each_message_a_heading_and_each_reply_its_facts(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = write_session(home, "Sort this", "Use sorted().")
    text = run(capsys, "export", session.info.id).out
    assert "## User\n\nSort this\n\n## Assistant\n\nUse sorted().\n\n`✓ · qwen-7b" in text
    facts = text.rsplit("\n`", 1)[1]
    for fact in ("T 0.70 p 1.00", "812→95 tok", "TTFT 180 ms", "73 tok/s", "$0"):
        assert fact in facts


def test_markdown_export_names_the_images_a_message_carried(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = SessionInfo(title="Chart", backend="local", model="qwen-7b")
    conversation = Conversation(info)
    chart = ImageRef("ab" * 32, "image/png", "chart.png")
    with SessionFile.create(sessions_dir(home), info) as file:
        conversation.attach(file)
        conversation.add_user("What does it show?", images=(chart,))
    text = run(capsys, "export", info.id).out
    assert "What does it show?\n\n*Attached image: chart.png (image/png, `abababababab`)*" in text
    assert "base64" not in text  # named, not embedded


def test_markdown_export_says_which_branch_each_message_is_and_that_others_exist(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = write_session(home, "Tell me about owls", "Owls hunt at night.")
    with SessionFile(session_path(home, session)) as file:
        session.attach(file)
        session.branch_from(session.messages[0].id)
        session.add_reply(reply("Owls are birds of prey."))
    text = run(capsys, "export", session.info.id).out
    assert "## Assistant (branch 2 of 2)\n\nOwls are birds of prey." in text
    assert "Owls hunt at night." not in text
    assert "1 message on other branches" in text


def test_json_export_reads_back_as_the_session_it_came_from(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = write_session(home, "one", "two", "three", "four", system="sys", title="T")
    with SessionFile(session_path(home, session)) as file:
        session.attach(file)
        session.branch_from(session.messages[0].id)
        session.add_reply(reply("two, again \x00 \ud800 " + HOSTILE))
        session.set_cost(session.messages[-1], 0.00042)
    document = json.loads(run(capsys, "export", session.info.id, "--format", "json").out)
    loaded = load_session(session_path(home, session))
    warnings: list[str] = []
    header = header_from_json(document["session"], warnings.append, loaded.info)
    messages = [message_from_json(record, warnings.append) for record in document["messages"]]
    assert messages == loaded.messages
    assert (header.info, header.params) == (loaded.info, loaded.params)
    assert document["session"]["leaf"] == loaded.messages[-1].id
    assert warnings == []


def test_export_output_file_is_written_whole_and_private(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = write_session(home, "hello", "hi")
    target = tmp_path / "out.md"
    target.write_text("an older export")
    result = run(capsys, "export", session.info.id, "-o", str(target))
    assert (result.code, result.out) == (0, "")
    assert target.read_text().startswith("# hello\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_output_file_named_json_gets_the_json_export(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = write_session(home, "hello")
    target = tmp_path / "out.json"
    assert run(capsys, "export", session.info.id, "-o", str(target)).code == 0
    assert json.loads(target.read_text())["session"]["id"] == session.info.id


@pytest.mark.family("limits")
def test_export_into_a_pipe_writes_into_it_and_leaves_it_a_pipe(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    session = write_session(home, "Sort this", "Use sorted().")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    result = run(capsys, "export", session.info.id, "-o", str(fifo))
    reader.join(timeout=10)
    assert result.code == 0, result.err
    assert b"Use sorted()." in got[0]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)  # not replaced by a regular file


def test_export_through_a_symlink_writes_the_file_it_points_to(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    session = write_session(home, "Sort this", "Use sorted().")
    real = tmp_path / "real.md"
    real.write_text("old", encoding="utf-8")
    link = tmp_path / "link.md"
    link.symlink_to(real)
    assert run(capsys, "export", session.info.id, "-o", str(link)).code == 0
    assert link.is_symlink() and "Use sorted()." in real.read_text(encoding="utf-8")


def test_export_refuses_to_write_over_the_session_file(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = write_session(home, "hello")
    path = session_path(home, session)
    before = path.read_bytes()
    result = run(capsys, "export", session.info.id, "-o", str(path))
    assert result.code == 2
    assert "session file itself" in result.err
    assert path.read_bytes() == before


def test_export_to_a_folder_that_does_not_exist_says_so(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = write_session(home, "hello")
    result = run(capsys, "export", session.info.id, "-o", str(tmp_path / "no" / "out.md"))
    assert result.code == 1
    assert "could not write" in result.err


def test_export_of_an_ambiguous_prefix_names_the_matches_and_exits_2(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_session(home, "one", session_id="abc111")
    write_session(home, "two", session_id="abc222")
    result = run(capsys, "export", "abc")
    assert (result.code, result.out) == (2, "")
    assert "abc111" in result.err and "abc222" in result.err


def test_export_of_an_unknown_id_exits_2(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_session(home, "one")
    result = run(capsys, "export", "zzzz")
    assert (result.code, result.out) == (2, "")
    assert "zzzz" in result.err


@pytest.mark.family("escapes")
def test_exported_text_is_neutralised_on_a_terminal_and_exact_in_a_pipe(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    session = write_session(home, f"look: {HOSTILE}")
    assert HOSTILE in run(capsys, "export", session.info.id).out
    screen = on_terminal(monkeypatch)
    run(capsys, "export", session.info.id)
    assert "look: ␛]0;pwned" in screen.getvalue()
    assert "\x1b" not in screen.getvalue()


@pytest.mark.family("secrets")
def test_no_api_key_reaches_an_export(server: OpenAIServer, tmp_path: Path) -> None:
    server.push(Script(reply="Forty-two."))
    config = tmp_path / "config.toml"
    config.write_text(
        f'[backends.main]\nkind = "openai"\nbase_url = "{server.base_url}"\n'
        f'api_key = "{SECRET}"\nmodel = "m"\n'
    )
    config.chmod(0o600)
    env: dict[str, Any] = {"LLMCHAT_CONFIG": str(config), "OPENAI_API_KEY": SECRET}
    assert llmchat("-p", "the answer?", home=tmp_path, env=env).returncode == 0
    [listed] = json.loads(llmchat("sessions", "--json", home=tmp_path, env=env).stdout)
    for form in ("md", "json"):
        result = llmchat("export", listed["id"], "--format", form, home=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert "Forty-two." in result.stdout
        assert SECRET not in result.stdout + result.stderr


@pytest.mark.family("sessions")
def test_export_of_a_damaged_session_gives_what_loads_and_names_what_did_not(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = write_session(home, "kept question", "kept answer")
    with session_path(home, session).open("ab") as file:
        file.write(b'\x00\xffgarbage\n{"type":"message","role":"user","content":"torn')
    result = run(capsys, "export", session.info.id)
    assert result.code == 0
    assert "kept question" in result.out and "kept answer" in result.out
    assert "line 4" in result.err and "line 5" in result.err


def test_an_empty_library_lists_nothing_and_is_no_error(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(capsys, "sessions")
    assert (result.code, result.out) == (0, "")
