"""The conversation as a tree: edits and regenerations are branches, the thread shown is
one of them, and the choice survives reopening the session."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmchat.core import branches
from llmchat.core.conversation import Conversation
from llmchat.core.messages import Message, Role
from llmchat.store import list_sessions, load_session, new_session, resume_session, session_load
from llmchat.store.session_fork import fork_session
from llmchat.store.session_open import DeferredSessionFile


def reply(text: str, parent: str | None = None) -> Message:
    return Message(Role.ASSISTANT, text, parent=parent)


def saved_conversation(tmp_path: Path) -> tuple[Conversation, DeferredSessionFile]:
    conversation = Conversation()
    sink = new_session(tmp_path, conversation)
    conversation.add_user("first question")
    conversation.add_reply(reply("first answer"))
    conversation.add_user("second question")
    conversation.add_reply(reply("second answer"))
    return conversation, sink


def texts(conversation: Conversation) -> list[str]:
    return [m.content for m in conversation.thread()]


def test_a_regenerated_reply_is_a_sibling_and_the_thread_follows_it(tmp_path: Path) -> None:
    conversation, _ = saved_conversation(tmp_path)
    asked = conversation.thread()[2]
    conversation.branch_from(asked.id)
    conversation.add_reply(reply("second answer, again"))
    assert texts(conversation)[-1] == "second answer, again"
    first, again = conversation.siblings(conversation.thread()[-1])
    assert (first.content, again.content) == ("second answer", "second answer, again")


def test_an_edited_question_branches_from_its_parent_and_keeps_the_original(
    tmp_path: Path,
) -> None:
    conversation, _ = saved_conversation(tmp_path)
    original = conversation.thread()[2]
    conversation.branch_from(original.parent)
    conversation.add_user("second question, edited")
    assert texts(conversation) == ["first question", "first answer", "second question, edited"]
    assert [m.content for m in conversation.siblings(conversation.thread()[-1])] == [
        "second question",
        "second question, edited",
    ]
    assert len(conversation.messages) == 5  # nothing was lost


def test_editing_the_first_message_starts_a_second_first_message(tmp_path: Path) -> None:
    conversation, _ = saved_conversation(tmp_path)
    conversation.branch_from(None)
    conversation.add_user("a different start")
    assert texts(conversation) == ["a different start"]
    assert len(conversation.siblings(conversation.thread()[0])) == 2
    assert conversation.build_request().messages[-1].content == "a different start"


def test_switching_branch_shows_the_newest_thread_below_the_sibling(tmp_path: Path) -> None:
    conversation, _ = saved_conversation(tmp_path)
    first_answer = conversation.thread()[1]
    conversation.branch_from(first_answer.parent)
    conversation.add_reply(reply("first answer, again"))
    again = conversation.thread()[-1]
    chosen = conversation.switch_branch(again, -1)
    assert chosen is first_answer
    # Below the first answer lies the rest of its thread, to its newest end.
    assert texts(conversation) == [
        "first question",
        "first answer",
        "second question",
        "second answer",
    ]
    assert conversation.switch_branch(first_answer, 1) is again
    assert texts(conversation) == ["first question", "first answer, again"]


def test_the_chosen_branch_is_where_a_reopened_session_continues(tmp_path: Path) -> None:
    conversation, sink = saved_conversation(tmp_path)
    first_answer = conversation.thread()[1]
    conversation.branch_from(first_answer.parent)
    conversation.add_reply(reply("first answer, again"))
    conversation.switch_branch(conversation.thread()[-1], -1)
    assert sink.file is not None
    sink.close()  # llmchat quits
    reopened = resume_session(sink.file.path)
    try:
        assert texts(reopened.conversation)[-1] == "second answer"
        reopened.conversation.add_user("third question")
        assert texts(reopened.conversation)[-2:] == ["second answer", "third question"]
    finally:
        reopened.close()


def test_a_session_reopens_on_the_newest_message_sent_after_a_switch(tmp_path: Path) -> None:
    conversation, sink = saved_conversation(tmp_path)
    first_answer = conversation.thread()[1]
    conversation.branch_from(first_answer.parent)
    conversation.add_reply(reply("first answer, again"))
    conversation.switch_branch(conversation.thread()[-1], -1)  # back to the first answer
    conversation.switch_branch(conversation.thread()[1], 1)  # and to the second again
    conversation.add_user("a question on the second answer")
    conversation.add_reply(reply("its answer"))
    assert sink.file is not None
    sink.close()
    reopened = resume_session(sink.file.path)
    try:
        assert texts(reopened.conversation) == [
            "first question",
            "first answer, again",
            "a question on the second answer",
            "its answer",
        ]
    finally:
        reopened.close()


def test_a_message_without_siblings_cannot_switch(tmp_path: Path) -> None:
    conversation, _ = saved_conversation(tmp_path)
    assert conversation.switch_branch(conversation.thread()[0], 1) is None


def test_a_file_without_parents_is_one_thread_in_its_order() -> None:
    messages = [Message(Role.USER, "a"), Message(Role.ASSISTANT, "b"), Message(Role.USER, "c")]
    conversation = Conversation(messages=messages)
    assert texts(conversation) == ["a", "b", "c"]
    assert conversation.siblings(messages[2]) == [messages[2]]


def test_a_fork_is_a_new_session_holding_the_thread_up_to_the_message(tmp_path: Path) -> None:
    conversation, sink = saved_conversation(tmp_path)
    first_answer = conversation.thread()[1]
    info = fork_session(tmp_path, conversation, first_answer)
    forks = [s for s in list_sessions(tmp_path) if s.id == info.id]
    assert len(forks) == 1
    fork = load_session(forks[0].path)
    assert [m.content for m in fork.messages] == ["first question", "first answer"]
    assert (fork.info.forked_from, fork.info.forked_at) == (conversation.info.id, first_answer.id)
    assert fork.info.title.endswith("(fork)")
    assert sink.file is not None
    assert len(load_session(sink.file.path).messages) == 4  # the original is untouched


def test_opening_a_found_session_reads_the_file_once_unless_it_changed_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmchat.store import find_session, session_list, session_open

    conversation, sink = saved_conversation(tmp_path)
    assert sink.file is not None
    sink.close()
    reads: list[Path] = []
    real = session_load.load_session

    def counting(path: Path) -> session_load.LoadedSession:
        reads.append(Path(path))
        return real(path)

    monkeypatch.setattr(session_list, "load_session", counting)
    monkeypatch.setattr(session_open, "load_session", counting)
    found = find_session(tmp_path, conversation.info.id)
    with resume_session(found.path, read=found.read) as opened:
        assert len(opened.conversation.messages) == 4
    assert len(reads) == 1

    found = find_session(tmp_path, conversation.info.id)
    with resume_session(found.path) as opened:  # someone else writes in between
        opened.conversation.add_user("written meanwhile")
    with resume_session(found.path, read=found.read) as opened:
        assert opened.conversation.thread()[-1].content == "written meanwhile"


# -- the walks that find them, against their plain definitions --------------------------------


def reference_thread(messages: list[Message], leaf: str | None) -> list[Message]:
    """The thread by its definition: up the parents by id from the leaf (the newest
    message without one); the file's order when a parent is missing or there is a loop."""
    if not messages:
        return []
    if branches.is_legacy(messages):
        return list(messages)
    by_id = {message.id: message for message in messages}
    last = by_id.get(leaf) if leaf is not None else messages[-1]
    if last is None:
        return list(messages)
    chain = [last]
    while (parent := chain[-1].parent) is not None:
        if parent not in by_id or len(chain) > len(messages):
            return list(messages)
        chain.append(by_id[parent])
    return chain[::-1]


def reference_places(messages: list[Message]) -> dict[str, tuple[int, int]]:
    if branches.is_legacy(messages):
        return {}
    places = {}
    for message in messages:
        if message.parent is None and message.role is not Role.USER:
            continue
        group = [m.id for m in messages if m.parent == message.parent and m.role is message.role]
        if len(group) > 1:
            places[message.id] = (group.index(message.id) + 1, len(group))
    return places


@st.composite
def trees(draw: st.DrawFn) -> list[Message]:
    """Mostly sound trees (each parent earlier in the file), sometimes damaged ones: a
    parent later in the file, missing, or the message itself."""
    messages: list[Message] = []
    for n in range(draw(st.integers(0, 12))):
        ids = [m.id for m in messages]
        parent = draw(
            st.sampled_from([None, *ids[-2:]])
            | (st.sampled_from(ids) if ids else st.none())
            | st.sampled_from([f"m{n}", f"m{n + 1}", "lost"])
        )
        role = draw(st.sampled_from(Role))
        messages.append(Message(role, "", id=f"m{n}", parent=parent))
    return messages


@settings(max_examples=500)
@given(messages=trees(), leaf=st.sampled_from([None, "m0", "m3", "m11", "lost"]))
def test_the_thread_found_by_position_is_the_thread_by_definition(
    messages: list[Message], leaf: str | None
) -> None:
    assert branches.thread(messages, leaf) == reference_thread(messages, leaf)


@settings(max_examples=500)
@given(messages=trees())
def test_the_places_counted_in_one_pass_are_the_places_by_definition(
    messages: list[Message],
) -> None:
    assert branches.sibling_places(messages) == reference_places(messages)
