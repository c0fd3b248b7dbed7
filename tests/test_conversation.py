"""The `Conversation`: what each request is compiled from, and what reaches the session sink.

The sink here is an in-memory list that can be told to fail like a full disk; the real
session file has its own tests.
"""

from __future__ import annotations

import errno
import math
from typing import Any

import pytest

from llmchat.core.conversation import (
    TITLE_LENGTH,
    Conversation,
    PersistError,
    SessionInfo,
    title_from,
)
from llmchat.core.messages import Message, Role, Status
from llmchat.core.params import SamplingParams
from llmchat.core.records import Record
from llmchat.core.request import WireMessage
from llmchat.store.session_format import CURRENT_VERSION, params_to_json, to_json


class ListSink:
    """Keeps every appended record as the session file would have it; while `failing`,
    raises like a full disk instead."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.failing = False
        self.attempts = 0

    def append(self, record: Record) -> None:
        self.attempts += 1
        if self.failing:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.records.append(to_json(record))

    @property
    def types(self) -> list[str]:
        return [record["type"] for record in self.records]


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def conversation(sink: ListSink) -> Conversation:
    return Conversation(SessionInfo(model="session-model"), sink=sink)


def reply(text: str, status: Status = Status.COMPLETE) -> Message:
    return Message(role=Role.ASSISTANT, content=text, status=status)


def wire(conversation: Conversation, model: str | None = None) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in conversation.build_request(model).messages]


# -- the compiled request -------------------------------------------------------------------


def test_request_starts_with_the_system_prompt(conversation: Conversation) -> None:
    conversation.set_system("Be brief.")
    conversation.add_user("Hello?")
    assert conversation.build_request().messages[0] == WireMessage("system", "Be brief.")


def test_request_without_a_system_prompt_has_no_system_message(
    conversation: Conversation,
) -> None:
    conversation.add_user("Hello?")
    assert wire(conversation) == [("user", "Hello?")]


def test_request_carries_the_history_in_order(conversation: Conversation) -> None:
    conversation.set_system("Be brief.")
    conversation.add_user("one")
    conversation.add_reply(reply("two"))
    conversation.add_user("three")
    conversation.add_reply(reply("four"))
    conversation.add_user("five")
    assert wire(conversation) == [
        ("system", "Be brief."),
        ("user", "one"),
        ("assistant", "two"),
        ("user", "three"),
        ("assistant", "four"),
        ("user", "five"),
    ]


@pytest.mark.parametrize("status", [Status.ERROR, Status.INCOMPLETE, Status.CANCELLED], ids=str)
def test_request_leaves_out_an_assistant_turn_that_ended_before_any_text(
    conversation: Conversation, status: Status
) -> None:
    conversation.add_user("first try")
    conversation.add_reply(reply("", status))
    conversation.add_user("again")
    assert wire(conversation) == [("user", "first try"), ("user", "again")]


@pytest.mark.parametrize("status", [Status.CANCELLED, Status.INCOMPLETE, Status.ERROR], ids=str)
def test_request_keeps_a_partial_reply_as_the_user_saw_it(
    conversation: Conversation, status: Status
) -> None:
    conversation.add_user("tell me")
    conversation.add_reply(reply("Once upon a", status))
    conversation.add_user("go on")
    assert wire(conversation) == [
        ("user", "tell me"),
        ("assistant", "Once upon a"),
        ("user", "go on"),
    ]


def test_failed_empty_turn_stays_in_the_history(conversation: Conversation) -> None:
    conversation.add_user("Hello?")
    conversation.add_reply(reply("", Status.ERROR))
    assert conversation.count(Role.ASSISTANT, Status.ERROR) == 1


def test_request_carries_the_params_exactly_as_set(conversation: Conversation) -> None:
    params = SamplingParams(temperature=0.0, top_p=0.35, max_tokens=77, seed=1234)
    conversation.set_params(params)
    conversation.add_user("Hello?")
    assert conversation.build_request().params == params


def test_request_uses_the_session_model_by_default(conversation: Conversation) -> None:
    conversation.add_user("Hello?")
    assert conversation.build_request().model == "session-model"


def test_model_override_replaces_the_session_model(conversation: Conversation) -> None:
    conversation.add_user("Hello?")
    assert conversation.build_request("other-model").model == "other-model"


def test_request_model_is_left_to_the_backend_when_none_is_known() -> None:
    conversation = Conversation()
    conversation.add_user("Hello?")
    assert conversation.build_request().model is None


def test_request_text_is_sent_exactly_as_typed(conversation: Conversation) -> None:
    text = "  spaces kept \x1b[31m\r\n\ud800 and é  "
    conversation.add_user(text)
    assert wire(conversation) == [("user", text)]


def test_each_request_is_compiled_from_the_state_at_that_moment(
    conversation: Conversation,
) -> None:
    conversation.add_user("one")
    first = conversation.build_request()
    conversation.add_reply(reply("two"))
    conversation.set_params(conversation.with_params(temperature=0.5))
    assert len(first.messages) == 1
    assert first.params.temperature == 1.0
    assert conversation.build_request().params.temperature == 0.5


# -- title ----------------------------------------------------------------------------------


def test_first_message_names_the_session(conversation: Conversation) -> None:
    conversation.add_user("How do I sort a list?")
    assert conversation.info.title == "How do I sort a list?"


def test_title_collapses_the_spaces_of_its_line(conversation: Conversation) -> None:
    conversation.add_user("  How do I\tsort   a list?  ")
    assert conversation.info.title == "How do I sort a list?"


def test_title_is_the_first_line_of_the_first_message(conversation: Conversation) -> None:
    conversation.add_user("Why does this fail?\n\nTraceback (most recent call last):\n  ...")
    assert conversation.info.title == "Why does this fail?"


@pytest.mark.parametrize(
    "text",
    ["\n\n  Explain this code  \n", "```python\nExplain this code\n```", "---\nExplain this code"],
    ids=["blank lines", "code fence", "a rule"],
)
def test_title_passes_over_lines_without_words(conversation: Conversation, text: str) -> None:
    conversation.add_user(text)
    assert conversation.info.title == "Explain this code"


def test_a_first_message_of_only_punctuation_is_its_own_title() -> None:
    assert title_from(" ?!\n?? ") == "?! ??"


def test_a_title_taken_after_the_header_is_written_as_a_title_record(sink: ListSink) -> None:
    conversation = Conversation(sink=sink)
    conversation.set_params(conversation.with_params(temperature=0.2))  # writes the header
    conversation.add_user("How do I sort a list?")
    assert sink.types == ["session", "params", "message", "title"]
    assert sink.records[0]["title"] == ""
    assert sink.records[-1]["title"] == "How do I sort a list?"


def test_an_untitled_session_resumed_empty_is_titled_by_its_next_message(sink: ListSink) -> None:
    conversation = Conversation(sink=sink, header_written=True)
    conversation.add_user("hi there")
    assert sink.types == ["message", "title"]
    assert sink.records[-1]["title"] == "hi there"


def test_an_untitled_session_resumed_with_questions_is_not_named_by_a_later_one(
    sink: ListSink,
) -> None:
    asked = Message(role=Role.USER, content="the first question")
    conversation = Conversation(messages=[asked], sink=sink, header_written=True)
    conversation.add_user("a later question")
    assert sink.types == ["message"]
    assert conversation.info.title == ""


def test_long_first_message_gives_a_shortened_title(conversation: Conversation) -> None:
    conversation.add_user("word " * 100)
    title = conversation.info.title
    assert len(title) <= TITLE_LENGTH
    assert title.endswith("…")
    assert title.startswith("word word")
    assert " …" not in title


def test_title_of_exactly_the_limit_is_kept_whole() -> None:
    text = "x" * TITLE_LENGTH
    assert title_from(text) == text


def test_later_messages_do_not_change_the_title(conversation: Conversation) -> None:
    conversation.add_user("first")
    conversation.add_user("second")
    assert conversation.info.title == "first"


def test_blank_first_message_leaves_the_title_for_the_next_one(
    conversation: Conversation,
) -> None:
    conversation.add_user(" \n\t ")
    assert conversation.info.title == ""
    conversation.add_user("a real question")
    assert conversation.info.title == "a real question"


def test_session_header_carries_the_title_from_the_first_message(
    conversation: Conversation, sink: ListSink
) -> None:
    conversation.add_user("How do I sort a list?")
    assert sink.records[0]["type"] == "session"
    assert sink.records[0]["title"] == "How do I sort a list?"


def test_existing_title_is_not_replaced_by_the_first_message() -> None:
    conversation = Conversation(SessionInfo(title="Sorting"))
    conversation.add_user("How do I sort a list?")
    assert conversation.info.title == "Sorting"


# -- records --------------------------------------------------------------------------------


def test_header_is_written_once_before_the_first_message(
    conversation: Conversation, sink: ListSink
) -> None:
    conversation.add_user("one")
    conversation.add_reply(reply("two"))
    assert sink.types == ["session", "message", "message"]


def test_header_records_the_session_facts_and_params(sink: ListSink) -> None:
    params = SamplingParams(temperature=0.3, max_tokens=99)
    info = SessionInfo(
        backend="local", model="m", system="Be brief.", forked_from="abc", forked_at="m1"
    )
    Conversation(info, params, sink=sink).add_user("hi")
    header = sink.records[0]
    assert header["v"] == CURRENT_VERSION
    assert (header["id"], header["created"]) == (info.id, info.created)
    assert (header["backend"], header["model"], header["system"]) == ("local", "m", "Be brief.")
    assert header["forked_from"] == {"session": "abc", "message": "m1"}
    assert header["params"] == params_to_json(params)


def test_resumed_session_does_not_write_a_second_header(sink: ListSink) -> None:
    conversation = Conversation(SessionInfo(title="Named"), sink=sink, header_written=True)
    conversation.add_user("hi")
    assert sink.types == ["message"]


def test_messages_are_written_as_their_records(conversation: Conversation, sink: ListSink) -> None:
    user = conversation.add_user("one")
    answer = reply("two")
    conversation.add_reply(answer)
    assert sink.records[1:] == [to_json(user), to_json(answer)]


def test_each_message_names_the_one_before_it_as_parent(conversation: Conversation) -> None:
    first = conversation.add_user("one")
    answer = reply("two")
    answer.parent = first.id
    conversation.add_reply(answer)
    second = conversation.add_user("three")
    assert first.parent is None
    assert second.parent == answer.id


def test_rename_writes_a_title_record(conversation: Conversation, sink: ListSink) -> None:
    conversation.add_user("first")
    conversation.rename("  Sorting\n lists ")
    assert conversation.info.title == "Sorting lists"
    assert sink.records[-1]["type"] == "title"
    assert sink.records[-1]["title"] == "Sorting lists"
    assert isinstance(sink.records[-1]["ts"], str)


@pytest.mark.parametrize("title", ["", "   ", "\n\t", "first"], ids=repr)
def test_blank_or_unchanged_rename_writes_nothing(
    conversation: Conversation, sink: ListSink, title: str
) -> None:
    conversation.add_user("first")
    written = len(sink.records)
    conversation.rename(title)
    assert len(sink.records) == written
    assert conversation.info.title == "first"


def test_changing_params_writes_a_params_record(conversation: Conversation, sink: ListSink) -> None:
    conversation.add_user("first")
    params = conversation.with_params(temperature=0.2, seed=42)
    conversation.set_params(params)
    assert conversation.params == params
    assert sink.records[-1]["type"] == "params"
    assert sink.records[-1]["params"] == params_to_json(params)


def test_setting_the_same_params_writes_nothing(conversation: Conversation, sink: ListSink) -> None:
    conversation.add_user("first")
    written = len(sink.records)
    conversation.set_params(SamplingParams())
    assert len(sink.records) == written


def test_with_params_changes_nothing_until_set(conversation: Conversation) -> None:
    proposed = conversation.with_params(temperature=0.1)
    assert proposed.temperature == 0.1
    assert conversation.params == SamplingParams()


# -- when saving fails ----------------------------------------------------------------------


def test_failed_write_raises_persist_error_saying_why(
    conversation: Conversation, sink: ListSink
) -> None:
    sink.failing = True
    with pytest.raises(PersistError, match="No space left on device"):
        conversation.add_user("Hello?")


def test_message_stays_in_memory_when_it_cannot_be_saved(
    conversation: Conversation, sink: ListSink
) -> None:
    sink.failing = True
    with pytest.raises(PersistError):
        conversation.add_user("Hello?")
    assert [m.content for m in conversation.messages] == ["Hello?"]
    assert wire(conversation) == [("user", "Hello?")]
    assert conversation.unsaved == 2  # the header and the message


def test_reply_stays_in_memory_when_it_cannot_be_saved(
    conversation: Conversation, sink: ListSink
) -> None:
    conversation.add_user("Hello?")
    sink.failing = True
    answer = reply("Hi!")
    with pytest.raises(PersistError):
        conversation.add_reply(answer)
    assert conversation.messages[-1] is answer
    assert conversation.unsaved == 1


def test_held_records_are_all_written_in_order_on_the_next_write(
    conversation: Conversation, sink: ListSink
) -> None:
    sink.failing = True
    with pytest.raises(PersistError):
        conversation.add_user("one")
    with pytest.raises(PersistError):
        conversation.rename("Renamed")
    with pytest.raises(PersistError):
        conversation.set_params(conversation.with_params(temperature=0.4))
    sink.failing = False
    answer = reply("two")
    conversation.add_reply(answer)
    assert sink.types == ["session", "message", "title", "params", "message"]
    assert sink.records[1] == to_json(conversation.messages[0])
    assert sink.records[-1] == to_json(answer)
    assert conversation.unsaved == 0


def test_header_is_written_first_after_a_failed_first_write(
    conversation: Conversation, sink: ListSink
) -> None:
    sink.failing = True
    with pytest.raises(PersistError):
        conversation.add_user("one")
    sink.failing = False
    conversation.add_user("two")
    assert sink.types == ["session", "message", "message"]
    assert sink.records[0]["title"] == "one"


def test_flush_writes_held_records_without_a_new_change(
    conversation: Conversation, sink: ListSink
) -> None:
    sink.failing = True
    with pytest.raises(PersistError):
        conversation.add_user("one")
    sink.failing = False
    conversation.flush()
    assert sink.types == ["session", "message"]
    assert conversation.unsaved == 0


def test_a_record_already_written_is_not_written_again(
    conversation: Conversation, sink: ListSink
) -> None:
    class FailsOnSecondAppend(ListSink):
        def append(self, record: dict[str, Any]) -> None:
            self.failing = self.attempts == 1
            super().append(record)

    flaky = FailsOnSecondAppend()
    conversation.attach(flaky)
    with pytest.raises(PersistError):
        conversation.add_user("one")  # the header is saved, the message is not
    assert flaky.types == ["session"]
    conversation.flush()
    assert flaky.types == ["session", "message"]


def test_failed_flush_keeps_every_held_record(conversation: Conversation, sink: ListSink) -> None:
    sink.failing = True
    with pytest.raises(PersistError):
        conversation.add_user("one")
    with pytest.raises(PersistError):
        conversation.flush()
    assert conversation.unsaved == 2
    assert sink.records == []


def test_without_a_sink_records_are_held_until_one_is_attached() -> None:
    conversation = Conversation()
    conversation.add_user("one")
    conversation.rename("Named")
    assert conversation.unsaved == 3
    sink = ListSink()
    conversation.attach(sink)
    conversation.flush()
    assert sink.types == ["session", "message", "title"]
    assert conversation.unsaved == 0


def test_a_retry_asks_the_same_question_without_the_failed_reply(
    conversation: Conversation,
) -> None:
    asked = conversation.add_user("why?")
    conversation.add_reply(reply("half an ans", Status.CANCELLED))
    retry = conversation.build_retry()
    assert retry is not None
    request, question = retry
    assert question is asked
    assert [(m.role, m.content) for m in request.messages][-1] == ("user", "why?")
    assert all(m.content != "half an ans" for m in request.messages)


def test_after_a_retry_the_thread_skips_the_reply_it_replaced(
    conversation: Conversation,
) -> None:
    asked = conversation.add_user("why?")
    conversation.add_reply(reply("broken", Status.ERROR))
    second = reply("because")
    second.parent = asked.id
    conversation.add_reply(second)
    conversation.add_user("and then?")
    assert [m.content for m in conversation.thread()] == ["why?", "because", "and then?"]
    assert len(conversation.messages) == 4


def test_a_complete_last_reply_offers_no_retry(conversation: Conversation) -> None:
    conversation.add_user("q")
    conversation.add_reply(reply("a"))
    assert conversation.build_retry() is None


def test_a_broken_parent_chain_falls_back_to_the_file_order(conversation: Conversation) -> None:
    conversation.add_user("one")
    orphan = reply("two")
    orphan.parent = "not-in-this-session"
    conversation.add_reply(orphan)
    assert [m.content for m in conversation.thread()] == ["one", "two"]


def test_messages_without_parents_are_sent_in_the_files_order() -> None:
    loaded = Conversation(
        messages=[
            Message(Role.USER, "one"),
            Message(Role.ASSISTANT, "two"),
            Message(Role.USER, "3"),
        ]
    )
    assert [m.content for m in loaded.thread()] == ["one", "two", "3"]


# -- the system prompt ------------------------------------------------------------------------


def test_a_system_prompt_set_before_the_first_message_goes_in_the_header(
    conversation: Conversation, sink: ListSink
) -> None:
    conversation.set_system("Be brief.")
    assert sink.records == []  # a session only set up leaves no file behind
    conversation.add_user("hi")
    assert sink.types == ["session", "message"]
    assert sink.records[0]["system"] == "Be brief."


def test_changing_the_system_prompt_later_writes_a_system_record(
    conversation: Conversation, sink: ListSink
) -> None:
    conversation.add_user("hi")
    conversation.set_system("Answer in French.")
    assert sink.records[-1]["type"] == "system"
    assert sink.records[-1]["system"] == "Answer in French."
    assert conversation.build_request().messages[0] == WireMessage("system", "Answer in French.")


def test_setting_the_same_system_prompt_writes_nothing(
    conversation: Conversation, sink: ListSink
) -> None:
    conversation.add_user("hi")
    conversation.set_system("")
    assert sink.types == ["session", "message"]


def test_clearing_the_system_prompt_is_written_too(
    conversation: Conversation, sink: ListSink
) -> None:
    conversation.set_system("Be brief.")
    conversation.add_user("hi")
    conversation.set_system("")
    assert (sink.records[-1]["type"], sink.records[-1]["system"]) == ("system", "")
    assert wire(conversation) == [("user", "hi")]


@pytest.mark.family("sessions")
@pytest.mark.parametrize(
    "dials",
    [
        {"temperature": math.nan, "top_p": -7.0, "max_tokens": -100},
        {"temperature": 1e308, "top_p": math.inf, "max_tokens": 0, "seed": 2**70},
        {"temperature": -0.0001, "top_p": 1.0001, "max_tokens": 10**12},
    ],
    ids=["nan-negative", "huge", "just-outside"],
)
def test_a_request_never_carries_a_parameter_out_of_range(dials: dict[str, Any]) -> None:
    conversation = Conversation(params=SamplingParams(**dials))
    conversation.add_user("hi")
    sent = conversation.build_request("m").params
    assert sent == SamplingParams()
    assert math.isfinite(sent.temperature) and math.isfinite(sent.top_p)


def test_parameters_in_range_are_sent_exactly() -> None:
    params = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=1, seed=-(2**63))
    assert Conversation(params=params).build_request("m").params == params
