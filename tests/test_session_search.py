"""Full-text search over saved sessions, against files written by the real session writer."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from llmchat.core.conversation import Conversation
from llmchat.core.messages import Message, Role
from llmchat.core.records import SessionInfo
from llmchat.store import SessionFile, session_search
from llmchat.store.session_search import LINE_LIMIT, SessionSearch

T0 = 1_780_000_000  # fixed mtimes: the tests set times, they never wait for them


class Library:
    """A sessions folder and its search index, as the app keeps them."""

    def __init__(self, root: Path) -> None:
        self.sessions = root / "sessions"
        self.index = root / "cache" / "search.sqlite3"
        self.search_index = SessionSearch(self.sessions, self.index)
        self._made = 0

    def session(
        self, *turns: str, title: str = "", system: str = "", updated: int | None = None
    ) -> Conversation:
        """A session written by the real writer: user, reply, user, reply, …"""
        info = SessionInfo(title=title, system=system)
        conversation = Conversation(info)
        with SessionFile.create(self.sessions, info) as file:
            conversation.attach(file)
            for n, text in enumerate(turns):
                if n % 2 == 0:
                    conversation.add_user(text)
                else:
                    conversation.add_reply(Message(Role.ASSISTANT, text))
        self._made += 1
        self.touch(conversation, T0 + self._made if updated is None else updated)
        return conversation

    def path(self, conversation: Conversation) -> Path:
        [path] = self.sessions.glob(f"*-{conversation.info.id}.jsonl")
        return path

    def touch(self, conversation: Conversation, when: int) -> None:
        os.utime(self.path(conversation), (when, when))

    def append(self, conversation: Conversation, text: str) -> None:
        with SessionFile(self.path(conversation)) as file:
            conversation.attach(file)
            conversation.add_user(text)

    def find(self, query: str, limit: int = 50) -> list[session_search.SearchHit]:
        self.search_index.refresh()
        return self.search_index.search(query, limit=limit)

    def lines(self, query: str) -> list[str]:
        return [hit.line for hit in self.find(query)]


@pytest.fixture
def library(tmp_path: Path) -> Library:
    return Library(tmp_path)


# -- what a hit says ------------------------------------------------------------------------


def test_a_word_in_a_reply_is_found_with_its_session_message_and_line(library: Library) -> None:
    session = library.session("What is a monad?", "A monad is a monoid.\nThat is all.")
    [reply] = [hit for hit in library.find("monoid")]
    answer = session.messages[1]
    assert (reply.session_id, reply.message_id, reply.role) == (
        session.info.id,
        answer.id,
        "assistant",
    )
    assert reply.path == library.path(session)
    assert reply.title == "What is a monad?"
    assert reply.line == "A monad is a monoid."


def test_a_hit_carries_when_the_session_was_last_written(library: Library) -> None:
    library.session("needle", updated=T0 + 500)
    [hit] = library.find("needle")
    assert hit.updated.timestamp() == T0 + 500
    assert hit.updated.utcoffset() is not None


def test_the_title_and_the_system_prompt_match_without_a_message(library: Library) -> None:
    library.session("hello", title="Sorting algorithms", system="You know quicksort well.")
    title = library.find("sorting")
    system = library.find("quicksort")
    assert [(hit.role, hit.message_id, hit.line) for hit in title] == [
        ("title", None, "Sorting algorithms")
    ]
    assert [(hit.role, hit.message_id) for hit in system] == [("system", None)]


def test_a_message_matching_on_several_lines_is_one_hit_showing_its_best_line(
    library: Library,
) -> None:
    library.session("x", "tea first\nno match here\ntea and biscuits at four\ntea again")
    [hit] = library.find("tea biscuits")
    assert hit.line == "tea and biscuits at four"


def test_a_long_line_is_cut_to_the_part_around_the_match(library: Library) -> None:
    text = "filler " * 300 + "the zeppelin lands " + "filler " * 300
    library.session(text)
    [hit] = library.find("zeppelin")
    assert "zeppelin" in hit.line
    assert len(hit.line) <= LINE_LIMIT + 2  # the cut and its two "…"
    assert hit.line.startswith("…") and hit.line.endswith("…")


def test_messages_on_every_branch_are_found(library: Library) -> None:
    session = library.session("Tell me about owls", "Owls hunt at night.")
    with SessionFile(library.path(session)) as file:
        session.attach(file)
        session.branch_from(session.messages[0].id)
        session.add_reply(Message(Role.ASSISTANT, "Owls are birds of prey (retry)."))
    assert len(library.find("owls")) == 3  # the question and both replies


# -- the query language ---------------------------------------------------------------------


def test_a_plain_word_also_finds_longer_words_it_starts(library: Library) -> None:
    library.session("monads and monoids")
    assert library.lines("monad") == ["monads and monoids"]
    assert library.lines("mono*") == ["monads and monoids"]


def test_every_word_must_be_in_the_same_message(library: Library) -> None:
    library.session("apples here", "pears there")
    assert library.find("apples pears") == []
    assert library.lines("apples here") == ["apples here"]


def test_a_quoted_phrase_matches_the_words_in_that_order_only(library: Library) -> None:
    library.session("the red balloon", "a balloon that is red")
    assert library.lines('"red balloon"') == ["the red balloon"]


def test_case_and_accents_do_not_matter(library: Library) -> None:
    library.session("Un CAFÉ crème")
    assert library.lines("cafe") == ["Un CAFÉ crème"]
    assert library.lines("Crème") == ["Un CAFÉ crème"]


@pytest.mark.family("escapes")
def test_control_characters_in_a_query_are_spaces_not_the_end_of_it(library: Library) -> None:
    library.session("hello monads")
    for query in ("hello\x00 monads", "hello monads\x00", "hello\x07monads"):
        assert library.lines(query) == ["hello monads"], repr(query)


def test_search_operators_are_searched_as_words(library: Library) -> None:
    library.session("This is NOT a drill", "Nothing near here")
    assert library.lines("NOT drill") == ["This is NOT a drill"]
    assert library.lines("NEAR(") == ["Nothing near here"]


@pytest.mark.parametrize(
    "query",
    ['"', '""', '"unclosed phrase', "AND", "OR", "NOT", "NEAR(", "NEAR(a b", "*", "**", "-",
     "-word", "(", ")", "a:b", "body:word", "^word", "+", "{body}: x", "'", "\x00", "\ud800",
     "word*word", "a AND OR NOT b", "x" * 10_000, "🦉"],
    ids=repr,
)  # fmt: skip
def test_no_query_text_raises(library: Library, query: str) -> None:
    library.session("a word and another", "body: x")
    hits = library.find(query)
    assert all(isinstance(hit, session_search.SearchHit) for hit in hits)


@pytest.mark.parametrize("query", ["", "   ", "*", "-", '"', "?!", "\t\n"], ids=repr)
def test_a_query_without_words_finds_nothing(library: Library, query: str) -> None:
    library.session("anything at all")
    assert library.find(query) == []


# -- order and limit ------------------------------------------------------------------------


def test_hits_come_from_the_most_recently_written_sessions_first(library: Library) -> None:
    old = library.session("kiwi old", updated=T0 + 10)
    new = library.session("kiwi new", updated=T0 + 30)
    middle = library.session("kiwi middle", updated=T0 + 20)
    ids = [hit.session_id for hit in library.find("kiwi")]
    assert ids == [new.info.id, middle.info.id, old.info.id]


def test_a_session_written_again_moves_to_the_front(library: Library) -> None:
    first = library.session("kiwi one", updated=T0 + 10)
    second = library.session("kiwi two", updated=T0 + 20)
    library.find("kiwi")
    library.append(first, "more kiwi")
    library.touch(first, T0 + 30)
    assert [hit.session_id for hit in library.find("kiwi")][:1] == [first.info.id]
    assert library.find("kiwi")[-1].session_id == second.info.id


def test_the_limit_bounds_the_number_of_hits(library: Library) -> None:
    for n in range(5):
        library.session(f"kiwi {n}", f"kiwi again {n}")
    assert len(library.find("kiwi", limit=3)) == 3
    assert len(library.find("kiwi")) == 10


# -- keeping up with the files --------------------------------------------------------------


def test_a_new_session_is_found_after_the_next_refresh(library: Library) -> None:
    library.session("first")
    library.find("first")
    library.session("second kiwi")
    assert library.lines("kiwi") == ["second kiwi"]


def test_a_message_added_to_a_session_is_found_after_the_next_refresh(library: Library) -> None:
    session = library.session("first")
    library.find("first")
    library.append(session, "a later mango")
    assert library.lines("mango") == ["a later mango"]


def test_a_deleted_session_is_dropped_by_the_next_refresh(library: Library) -> None:
    gone = library.session("durian gone")
    library.session("durian kept")
    library.find("durian")
    library.path(gone).unlink()
    assert library.lines("durian") == ["durian kept"]


def test_a_refresh_with_nothing_changed_reads_no_file(library: Library) -> None:
    library.session("one")
    library.session("two")
    first: list[tuple[int, int]] = []
    again: list[tuple[int, int]] = []
    library.search_index.refresh(lambda done, total: first.append((done, total)))
    library.search_index.refresh(lambda done, total: again.append((done, total)))
    assert first == [(1, 2), (2, 2)]
    assert again == []


def test_only_the_changed_session_is_read_again(library: Library) -> None:
    session = library.session("one")
    library.session("two")
    library.search_index.refresh()
    library.append(session, "three")
    told: list[tuple[int, int]] = []
    library.search_index.refresh(lambda done, total: told.append((done, total)))
    assert told == [(1, 1)]


def test_a_search_before_any_refresh_finds_nothing(library: Library) -> None:
    library.session("kiwi")
    assert library.search_index.search("kiwi") == []


def test_the_index_is_private_to_its_owner(library: Library) -> None:
    library.session("kiwi")
    library.find("kiwi")
    assert stat.S_IMODE(library.index.stat().st_mode) == 0o600


def test_a_refresh_in_a_worker_thread_is_searchable_from_another(library: Library) -> None:
    library.session("kiwi in a thread")
    worker = threading.Thread(target=library.search_index.refresh)
    worker.start()
    worker.join()
    assert library.search_index.search("kiwi")[0].line == "kiwi in a thread"


def test_two_refreshes_at_once_leave_one_hit_per_message(library: Library) -> None:
    for n in range(20):
        library.session(f"kiwi {n}", f"reply {n}")
    other = SessionSearch(library.sessions, library.index)
    threads = [
        threading.Thread(target=library.search_index.refresh),
        threading.Thread(target=other.refresh),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    hits = library.search_index.search("kiwi")
    assert len(hits) == 20
    assert len({hit.message_id for hit in hits}) == 20


# -- a missing, damaged, old or locked index ------------------------------------------------

damaged = pytest.mark.family("sessions")


@damaged
def test_a_deleted_index_is_built_again(library: Library) -> None:
    library.session("kiwi")
    library.find("kiwi")
    library.index.unlink()
    assert library.lines("kiwi") == ["kiwi"]


@damaged
@pytest.mark.parametrize(
    "damage",
    [b"", b"garbage, not a database" * 100, b"SQLite format 3\x00" + b"\xff" * 5000],
    ids=["empty", "text", "torn header"],
)
def test_a_damaged_index_is_deleted_and_built_again(library: Library, damage: bytes) -> None:
    library.session("kiwi")
    library.find("kiwi")
    library.index.write_bytes(damage)
    assert library.lines("kiwi") == ["kiwi"]


@damaged
def test_an_index_damaged_inside_is_built_again(library: Library) -> None:
    for n in range(30):
        library.session(f"kiwi {n} " + "padding " * 200)
    library.find("kiwi")
    data = bytearray(library.index.read_bytes())
    data[4096:] = b"\x5a" * (len(data) - 4096)  # every page after the first
    library.index.write_bytes(bytes(data))
    assert len(library.find("kiwi")) == 30


@damaged
def test_an_index_of_another_schema_version_is_built_again(library: Library) -> None:
    library.index.parent.mkdir(parents=True)
    with sqlite3.connect(library.index) as db:
        db.execute("create table files (name text)")
        db.execute("create table texts (body text)")
        db.execute("pragma user_version = 0")
    library.session("kiwi")
    assert library.lines("kiwi") == ["kiwi"]
    with sqlite3.connect(library.index) as db:
        assert db.execute("pragma user_version").fetchone() == (session_search.SCHEMA_VERSION,)


@damaged
def test_a_locked_index_is_left_alone_and_searched_as_it_is(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    library.session("kiwi old")
    library.find("kiwi")
    library.session("kiwi new")
    monkeypatch.setattr(session_search, "_WRITE_WAIT_S", 0.05)
    holder = sqlite3.connect(library.index, isolation_level=None)
    try:
        holder.execute("begin immediate")  # another llmchat in the middle of a refresh
        library.search_index.refresh()
        assert library.search_index.search("kiwi")[0].line == "kiwi old"
    finally:
        holder.execute("rollback")
        holder.close()
    assert library.lines("kiwi") == ["kiwi new", "kiwi old"]


@damaged
def test_an_index_that_cannot_be_written_costs_only_the_search(library: Library) -> None:
    library.session("kiwi")
    library.index.mkdir(parents=True)  # a folder where the file should be
    library.search_index.refresh()
    assert library.search_index.search("kiwi") == []


# -- damaged and hostile session files ------------------------------------------------------


@damaged
def test_a_file_of_binary_garbage_is_skipped_and_the_rest_found(library: Library) -> None:
    library.sessions.mkdir(parents=True)
    (library.sessions / "20260102T030405Z-garbage.jsonl").write_bytes(os.urandom(20_000))
    library.session("kiwi")
    assert library.lines("kiwi") == ["kiwi"]


@damaged
def test_a_torn_last_line_keeps_every_message_before_it(library: Library) -> None:
    session = library.session("kiwi one", "kiwi two")
    with library.path(session).open("ab") as file:
        file.write(b'{"type":"message","role":"user","content":"kiwi thr')
    assert library.lines("kiwi") == ["kiwi two", "kiwi one"]


@damaged
def test_a_five_megabyte_line_is_found_and_shown_cut_short(library: Library) -> None:
    library.session("small", "word " * 1_000_000 + "quetzal " + "word " * 10)
    [hit] = library.find("quetzal")
    assert "quetzal" in hit.line
    assert len(hit.line) <= LINE_LIMIT + 2


@damaged
def test_control_characters_come_back_raw_for_the_caller_to_neutralise(library: Library) -> None:
    text = "kiwi \x1b]0;pwned\x07 \x1b[31mred\x00\r\u202e"
    library.session(text)
    assert library.lines("kiwi") == [text]


@damaged
def test_a_lone_surrogate_is_indexed_as_a_replacement_character(library: Library) -> None:
    library.session("kiwi \ud800 end")
    assert library.lines("kiwi") == ["kiwi \ufffd end"]


@damaged
def test_text_holding_the_highlight_marks_still_gives_a_line(library: Library) -> None:
    library.session("first line\nkiwi \ue000 \ue001 marks")
    [hit] = library.find("kiwi")
    assert hit.line == "first line"  # the marks cannot be trusted: the first line


@damaged
def test_a_session_deleted_between_refresh_and_search_is_not_returned(library: Library) -> None:
    gone = library.session("kiwi gone")
    library.session("kiwi kept")
    library.search_index.refresh()
    library.path(gone).unlink()
    assert [hit.line for hit in library.search_index.search("kiwi")] == ["kiwi kept"]


@damaged
def test_files_that_are_not_sessions_are_not_indexed(library: Library) -> None:
    library.session("kiwi")
    (library.sessions / "notes.txt").write_text("kiwi in notes")
    (library.sessions / "folder.jsonl").mkdir()
    (library.sessions / "20260102T030405Z-empty.jsonl").touch()
    assert library.lines("kiwi") == ["kiwi"]


@damaged
@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_session_is_skipped(library: Library) -> None:
    hidden = library.session("kiwi hidden")
    library.session("kiwi shown")
    library.path(hidden).chmod(0)
    assert library.lines("kiwi") == ["kiwi shown"]


@damaged
def test_a_missing_sessions_folder_holds_nothing_to_find(tmp_path: Path) -> None:
    search = SessionSearch(tmp_path / "none", tmp_path / "cache" / "search.sqlite3")
    search.refresh()
    assert search.search("kiwi") == []


# -- start-up -------------------------------------------------------------------------------


def test_starting_the_command_does_not_load_sqlite() -> None:
    code = (
        "import sys, llmchat.cli, llmchat.launch, llmchat.store, llmchat.tui.app;"
        "print('sqlite3' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_a_progress_callback_that_raises_stops_the_refresh_keeping_what_was_done(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        library.session(f"kiwi {n}")
    monkeypatch.setattr(session_search, "_BATCH_BYTES", 1)  # one file per transaction

    def cancel(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        library.search_index.refresh(cancel)
    assert len(library.search_index.search("kiwi")) == 1
    assert len(library.find("kiwi")) == 3
