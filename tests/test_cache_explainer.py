"""The cache explainer: for a turn whose reuse dropped, where its prompt first differs
from the one sent just before it, and the cause llmchat knows of (or that it does not)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from llmchat.backends.openai import OpenAIBackend
from llmchat.core import branches
from llmchat.core.cache_explainer import PromptSent, ReuseDrop, explain_drops, system_at
from llmchat.core.conversation import Conversation
from llmchat.core.messages import Message, Role, Status, Timing, Usage
from llmchat.core.params import SamplingParams
from llmchat.core.records import SessionInfo, SystemChanged
from llmchat.engine.chat_service import ChatService
from llmchat.engine.context_meter import ContextMeter
from llmchat.engine.events import EngineEvent
from llmchat.gateway.gateway import Gateway
from llmchat.store.session_open import resume_session, start_session
from tests.support.openai_server import OpenAIServer, Script

SYSTEM = "You are terse."


@dataclass
class Session:
    """A conversation tree built turn by turn, as the engine would have sent it."""

    messages: list[Message] = field(default_factory=list)
    sent: dict[str, PromptSent] = field(default_factory=dict)
    llama: bool = True

    def ask(
        self,
        after: Message | None,
        reused: int,
        prompt: int,
        *,
        system: str = SYSTEM,
        left_out: int = 0,
        params: SamplingParams | None = None,
        model: str = "m",
        ts: str = "2026-12-01T10:00:00Z",
        known: bool = True,
    ) -> Message:
        """A question following `after` (None: a first message) and its reply."""
        parent = after.id if after is not None else None
        question = Message(Role.USER, f"q{len(self.messages)}", parent=parent)
        question.tokens, question.ts = 10, ts
        if self.llama:
            timing = Timing(ttft_ms=50.0, prefill_tokens=prompt - reused, cache_tokens=reused)
            usage = Usage(prompt=prompt, completion=20)
        else:
            timing, usage = Timing(ttft_ms=50.0), Usage(prompt=prompt, completion=20, cached=reused)
        reply = Message(
            Role.ASSISTANT,
            "a",
            parent=question.id,
            ts=ts,
            usage=usage,
            timing=timing,
            model=model,
            params=params or SamplingParams(temperature=0.7),
        )
        self.messages += [question, reply]
        if known:
            self.sent[reply.id] = PromptSent(system, left_out)
        return reply

    def drops(
        self, leaf: Message, kind: str | None = None, systems: list[SystemChanged] | None = None
    ) -> list[ReuseDrop]:
        thread = branches.thread(self.messages, leaf.id)
        return explain_drops(self.messages, thread, self.sent, kind=kind, systems=systems or [])

    def fail(self, after: Message) -> Message:
        """A question whose reply failed before any text; returns the failed reply."""
        question = Message(Role.USER, f"q{len(self.messages)}", parent=after.id)
        question.tokens = 10
        failed = Message(
            Role.ASSISTANT, "", parent=question.id, status=Status.ERROR, usage=Usage(estimated=True)
        )
        self.messages += [question, failed]
        return failed

    def answer(self, question: Message, reused: int, prompt: int) -> Message:
        """Another reply to `question` (a retry, or a regenerated reply)."""
        reply = Message(
            Role.ASSISTANT,
            "b",
            parent=question.id,
            ts="2026-12-01T10:00:00Z",
            usage=Usage(prompt=prompt, completion=20),
            timing=Timing(ttft_ms=50.0, prefill_tokens=prompt - reused, cache_tokens=reused),
            model="m",
            params=SamplingParams(temperature=0.7),
        )
        self.messages.append(reply)
        self.sent[reply.id] = PromptSent(SYSTEM, 0)
        return reply

    def three_turns(self) -> Message:
        one = self.ask(None, 0, 100)
        two = self.ask(one, 120, 200)
        return self.ask(two, 220, 300)


def test_turns_whose_reuse_kept_up_have_nothing_to_explain() -> None:
    session = Session()
    assert session.drops(session.three_turns()) == []


def test_a_new_system_prompt_is_named_and_the_prompt_differs_from_its_start() -> None:
    session = Session()
    last = session.ask(session.three_turns(), 1, 400, system="You are verbose.")
    [drop] = session.drops(last)
    assert (drop.turn, drop.reused_before, drop.reused) == (4, 220, 1)
    assert drop.where == "The prompt differs from its very start: the system prompt."
    assert drop.causes == ("the system prompt changed",)


def test_a_system_prompt_added_or_removed_is_said_so() -> None:
    session = Session()
    added = session.ask(session.three_turns(), 1, 400, system="")
    assert session.drops(added)[0].causes == ("the system prompt was removed",)
    back = session.ask(added, 300, 500, system="")
    again = session.ask(back, 2, 600, system="Be kind.")
    assert session.drops(again)[-1].causes == ("a system prompt was added",)


def test_old_turns_left_out_by_the_window_are_named_with_where_the_prompt_now_starts() -> None:
    session = Session()
    last = session.ask(session.three_turns(), 30, 280, left_out=2)
    [drop] = session.drops(last)
    # Message 3 now follows the system prompt (≈ 7 tokens with its framing), where
    # message 1 did.
    assert drop.where.startswith("The prompt differs from message 3 (the user) on (token ≈ 7)")
    assert drop.causes == (
        "old turns left out by the window policy (the oldest 2 messages not sent; 0 before)",
    )


def test_an_edited_question_is_named_with_its_place_in_the_thread() -> None:
    session = Session()
    one = session.ask(None, 0, 100)
    two = session.ask(one, 120, 200)
    session.ask(two, 220, 300)
    edited = session.ask(two, 20, 290)  # question 3 asked again, changed: a sibling
    [drop] = session.drops(edited)
    assert drop.turn == 3
    # The system prompt (≈ 7), two questions (10 each), two replies (20 + 3 framing).
    assert "message 5 (the user)" in drop.where and "token ≈ 73" in drop.where
    assert drop.causes == ("an edited message: message 5 was edited (a new branch from there)",)


def test_a_branch_switch_is_named_against_the_request_sent_just_before() -> None:
    session = Session()
    one = session.ask(None, 0, 100)
    two = session.ask(one, 120, 200)
    session.ask(one, 110, 190)  # question 2 edited: the cache now holds that branch
    back = session.ask(two, 40, 300)  # back on the first branch, asking on from it
    [drop] = session.drops(back)
    assert drop.turn == 3
    assert drop.causes == ("a branch switch: from message 3 on, this turn follows another branch",)


def test_a_drop_on_another_branch_is_not_listed_for_the_thread_shown() -> None:
    session = Session()
    one = session.ask(None, 0, 100)
    two = session.ask(one, 120, 200)
    session.ask(one, 5, 190)  # an edit whose reply dropped, then back
    assert [d.turn for d in session.drops(two)] == []


def test_sampling_parameters_are_named_but_not_blamed_on_llama_server() -> None:
    session = Session()
    last = session.ask(session.three_turns(), 2, 400, params=SamplingParams(temperature=1.2))
    [drop] = session.drops(last, kind="llamacpp")
    assert drop.where == "The prompt starts as the one before did."
    assert "llama-server recomputed" in drop.causes[0]
    [also] = drop.also
    assert also.startswith("temperature 0.7 → 1.2")
    assert "on llama-server they do not change what the cache can serve" in also


def test_another_model_is_named() -> None:
    session = Session()
    last = session.ask(session.three_turns(), 0, 400, model="other")
    [drop] = session.drops(last)
    assert drop.causes == ("another model (m → other): each model has its own cache",)
    assert drop.where == ""


def test_a_provider_cache_left_idle_past_five_minutes_is_named() -> None:
    session = Session(llama=False)
    one = session.ask(None, 0, 2000)
    two = session.ask(one, 1920, 2100, ts="2026-12-01T10:01:00Z")
    late = session.ask(two, 0, 2200, ts="2026-12-01T10:20:00Z")
    [drop] = session.drops(late, kind="openai")
    assert drop.causes == (
        "19 minutes passed since the turn before: provider prompt caches drop a prefix "
        "unused for about 5 minutes",
    )


def test_a_provider_prompt_under_the_minimum_is_named() -> None:
    session = Session(llama=False)
    one = session.ask(None, 0, 1500)
    two = session.ask(one, 1024, 1600)
    short = session.ask(two, 0, 1000)
    [drop] = session.drops(short, kind="openai")
    assert drop.causes == (
        "the prompt is 1,000 tokens: OpenAI and Anthropic cache no prompt under 1,024 "
        "(some Anthropic models need more)",
    )


def test_a_provider_drop_with_no_known_cause_says_it_is_not_known() -> None:
    session = Session(llama=False)
    one = session.ask(None, 0, 1500)
    two = session.ask(one, 1024, 1600)
    three = session.ask(two, 0, 1700)
    [drop] = session.drops(three, kind="anthropic")
    assert drop.causes[0].startswith("not one llmchat knows: provider caches are best effort")


def test_turns_sent_before_the_session_was_opened_say_what_is_not_known() -> None:
    session = Session()
    one = session.ask(None, 0, 100, known=False)
    two = session.ask(one, 120, 300, known=False)
    three = session.ask(two, 10, 250, known=False)
    [drop] = session.drops(three)
    assert drop.where == "The thread goes on from the one before."
    assert drop.causes[0].startswith(
        "not known: a system prompt change or old turns left out by the window policy "
        "would explain it"
    )
    assert drop.causes[1].startswith("the prompt shrank (300 → 250 tokens)")


def test_the_system_prompt_of_earlier_turns_is_read_from_the_sessions_records() -> None:
    session = Session()
    one = session.ask(None, 0, 100, known=False, ts="2026-12-01T10:00:00Z")
    two = session.ask(one, 120, 200, known=False, ts="2026-12-01T10:01:00Z")
    three = session.ask(two, 3, 300, known=False, ts="2026-12-01T10:03:00Z")
    systems = [
        SystemChanged(SYSTEM, "2026-12-01T09:59:00Z"),
        SystemChanged("Answer in French.", "2026-12-01T10:02:00Z"),
    ]
    thread = branches.thread(session.messages, three.id)
    [drop] = explain_drops(session.messages, thread, {}, systems=systems)
    assert drop.where == "The prompt differs from its very start: the system prompt."
    assert drop.causes == ("the system prompt changed",)
    # The same prompt throughout, and the prompt grew: the window is not blamed.
    same = [SystemChanged(SYSTEM, "2026-12-01T09:59:00Z")]
    [drop] = explain_drops(session.messages, thread, {}, systems=same)
    assert not any("window policy" in cause for cause in drop.causes)


def test_system_at_is_the_last_prompt_set_before_the_moment() -> None:
    systems = [
        SystemChanged("a", "2026-12-01T10:00:00Z"),
        SystemChanged("b", "2026-12-01T11:00:00Z"),
    ]
    assert system_at(systems, "2026-12-01T09:00:00Z") is None
    assert system_at(systems, "2026-12-01T10:30:00.5Z") == "a"
    assert system_at(systems, "2026-12-02T00:00:00Z") == "b"
    assert system_at(systems, "not a time") is None


def test_a_reopened_session_knows_every_system_prompt_it_had(tmp_path: Path) -> None:
    conversation = Conversation(SessionInfo(system="first"))
    with start_session(tmp_path, conversation):
        conversation.add_user("q1")
        conversation.set_system("second")
        conversation.add_user("q2")
        conversation.set_system("third")
    with resume_session(next(tmp_path.glob("*.jsonl"))) as reopened:
        changes = reopened.conversation.system_changes
        assert [c.system for c in changes] == ["first", "second", "third"]
        assert changes[0].ts == conversation.info.created
        reopened.conversation.set_system("fourth")
        assert reopened.conversation.system_changes[-1].system == "fourth"


def test_a_drop_reads_as_lines_with_its_numbers_and_causes() -> None:
    session = Session()
    last = session.ask(session.three_turns(), 1, 400, system="New.")
    lines = session.drops(last)[0].lines()
    assert lines[0] == "Turn 4: 220 → 1 tokens reused."
    assert lines[2] == "  Cause: the system prompt changed"
    no_cause = ReuseDrop(2, 100, 0, "", ())
    assert no_cause.lines()[1] == "  Cause: unknown."


def test_a_model_name_with_line_breaks_and_escapes_stays_on_one_line() -> None:
    session = Session()
    last = session.ask(session.three_turns(), 0, 400, model="evil\n\x1b[2Jmodel")
    [drop] = session.drops(last)
    [cause] = drop.causes
    assert "\n" not in cause and "\x1b" not in cause


async def test_the_engine_records_what_the_window_left_out_and_the_explainer_names_it(
    server: OpenAIServer,
) -> None:
    """Four turns through the engine against a 300-token window: the fourth leaves the
    first turn out, and the server's cache reuse drops with it."""
    conversation = Conversation(params=SamplingParams(max_tokens=16))
    gateway = Gateway(OpenAIBackend("local", server.base_url, "test-model"))
    meter = ContextMeter(conversation, gateway, "test-model", configured_window=300)
    await meter.prepare()
    service = ChatService(conversation, gateway, meter, model=lambda: "test-model")
    reply = "r" * 100  # about 25 tokens
    for cached in (0, 80, 160, 10):
        server.push(Script(reply=reply, prompt_tokens=400, cached_tokens=cached))

    async def ignore(_: EngineEvent) -> None:
        return None

    try:
        for n in range(4):
            await service.send(f"{n} " + "q" * 200, ignore)  # about 50 tokens each
    finally:
        await gateway.aclose()
    replies = [m for m in conversation.messages if m.role is Role.ASSISTANT]
    # Chunked (the default): a block of two turns, down to the low-water mark.
    assert [service.prompts_sent[r.id].left_out for r in replies] == [0, 0, 0, 4]
    [drop] = explain_drops(conversation.messages, conversation.thread(), service.prompts_sent)
    assert (
        drop.turn == 4
        and drop.where == "The prompt differs from its very start: message 5 (the user)."
    )
    assert drop.causes == (
        "old turns left out by the window policy (the oldest 4 messages not sent; 0 before)",
    )


# The first turn after the session was opened again.


def _reopened(session: Session) -> Message:
    """Three turns from an earlier run (nothing of what they sent is kept), then one
    sent in this run the next morning, whose reuse fell to nothing."""
    one = session.ask(None, 0, 100, known=False, ts="2026-12-01T10:00:00Z")
    two = session.ask(one, 90, 200, known=False, ts="2026-12-01T10:01:00Z")
    three = session.ask(two, 190, 3000, known=False, ts="2026-12-01T10:02:00Z")
    return session.ask(three, 0, 3100, ts="2026-12-02T09:00:00Z")


REOPENED_SYSTEMS = [SystemChanged(SYSTEM, "2026-12-01T09:59:00Z")]


def test_the_first_turn_after_reopening_names_the_reopening_and_a_restarted_llama_server() -> None:
    session = Session()
    [drop] = session.drops(_reopened(session), systems=REOPENED_SYSTEMS)
    assert drop.causes == (
        "the session was opened again since the turn before: if llama-server was started "
        "again since, its KV cache (kept in memory) was empty",
    )


def test_the_first_turn_after_reopening_names_a_provider_cache_left_idle() -> None:
    session = Session(llama=False)
    [drop] = session.drops(_reopened(session), kind="openai", systems=REOPENED_SYSTEMS)
    assert drop.causes[0] == "the session was opened again since the turn before"
    assert drop.causes[1].startswith("1378 minutes passed since the turn before")


def test_turns_from_before_the_reopening_do_not_blame_the_window_when_the_prompt_grew() -> None:
    session = Session()
    [drop] = session.drops(_reopened(session), systems=REOPENED_SYSTEMS)
    assert not any("window" in cause for cause in drop.causes)


# What is not a drop.


def test_an_earlier_question_asked_again_whose_prompt_the_cache_served_is_no_drop() -> None:
    """Regenerating an earlier reply sends the start of the previous prompt; llama-server
    reuses all of it but the last token."""
    session = Session()
    one = session.ask(None, 0, 100)
    two = session.ask(one, 120, 200)
    three = session.ask(two, 220, 3000)
    session.ask(three, 2990, 3100)
    again = session.answer(next(m for m in session.messages if m.id == two.parent), 199, 200)
    assert session.drops(again, kind="llamacpp") == []


def test_an_earlier_question_asked_again_the_cache_did_not_serve_says_it_could_have() -> None:
    session = Session()
    one = session.ask(None, 0, 100)
    two = session.ask(one, 120, 2000)
    session.ask(two, 1990, 3000)
    again = session.answer(next(m for m in session.messages if m.id == two.parent), 0, 2000)
    [drop] = session.drops(again, kind="llamacpp")
    assert drop.where.startswith("The prompt is the start of the one before")
    assert "the cache could serve all of it" in drop.where
    assert "llama-server recomputed" in drop.causes[0]


def test_a_drop_of_a_few_tokens_is_no_drop() -> None:
    session = Session()
    one = session.ask(None, 0, 500)
    two = session.ask(one, 3, 600)
    assert session.drops(session.ask(two, 0, 700)) == []


def test_a_turn_that_reused_all_but_its_new_question_is_no_drop() -> None:
    """A short branch after a long one: less reused, but all the cache could serve."""
    session = Session()
    one = session.ask(None, 0, 100)
    two = session.ask(one, 90, 3000)
    session.ask(two, 2990, 3100)
    short = session.ask(one, 110, 125)  # question 2 edited: a short sibling
    assert session.drops(short) == []


# Each reply's own evidence, and the turn before that recorded its reuse.


def test_a_llama_server_reply_is_explained_as_llama_server_whatever_the_session_uses_now() -> None:
    session = Session()
    one = session.ask(None, 0, 500)
    two = session.ask(one, 490, 600)
    three = session.ask(two, 3, 700)
    [drop] = session.drops(three, kind="openai")  # the session moved to OpenAI since
    assert "llama-server recomputed" in drop.causes[0]
    assert "1,024" not in " ".join(drop.causes)


def test_a_failed_turn_in_between_does_not_hide_the_next_drop() -> None:
    session = Session()
    one = session.ask(None, 0, 100)
    two = session.ask(one, 120, 2000)
    three = session.ask(two, 1990, 2100)
    failed = session.fail(three)
    retry = session.answer(next(m for m in session.messages if m.id == failed.parent), 0, 2200)
    [drop] = session.drops(retry, kind="llamacpp")
    assert (drop.turn, drop.reused_before, drop.reused) == (4, 1990, 0)
    assert "the server was restarted: its KV cache is in memory" in drop.causes[0]


def test_older_turns_sent_again_are_named() -> None:
    session = Session()
    a = session.ask(None, 0, 1000)
    b = session.ask(a, 990, 2000)
    c = session.ask(b, 1990, 3000, left_out=4)
    d = session.ask(c, 2500, 3100, left_out=4)
    e = session.ask(d, 30, 3900, left_out=2)
    [drop] = session.drops(e)
    assert drop.causes == (
        "older turns sent again (2 left out, 4 before): the window policy had room for more "
        "of the thread",
    )


def test_messages_are_numbered_as_the_thread_shows_them_failed_replies_included() -> None:
    session = Session()
    one = session.ask(None, 0, 100)
    failed = session.fail(one)  # messages 3 and 4, not sent again
    two = session.ask(failed, 120, 200)  # the next question follows the failed reply
    three = session.ask(two, 220, 300)
    edited = session.ask(two, 20, 290)  # message 7 asked again, changed
    assert session.drops(three) == []
    [drop] = session.drops(edited)
    assert "message 7 (the user)" in drop.where
    assert drop.causes == ("an edited message: message 7 was edited (a new branch from there)",)


# Reading the system prompts of a session.


def test_system_at_skips_a_time_it_cannot_read_and_reads_the_rest_in_time_order() -> None:
    systems = [
        SystemChanged("a", "2026-12-01T10:00:00Z"),
        SystemChanged("bad", "yesterday"),
        SystemChanged("c", "2026-12-01T12:00:00Z"),
        SystemChanged("b", "2026-12-01T11:00:00Z"),  # out of order in the file
    ]
    assert system_at(systems, "2026-12-01T11:30:00Z") == "b"
    assert system_at(systems, "2026-12-01T12:30:00Z") == "c"


def test_a_long_session_full_of_drops_is_explained_in_one_pass() -> None:
    """Every other turn of 2,000 drops (1,000 drops): each thread is built from the one
    before, not walked again; the explanation of the last is as for a short session."""
    session = Session()
    last = None
    for n in range(2000):
        last = session.ask(last, n * 10 if n % 2 else 1, n * 10 + 5)
    assert last is not None
    drops = session.drops(last, kind="llamacpp")
    assert len(drops) == 996
    assert drops[-1].where == "The prompt starts as the one before did."


def test_a_file_from_before_messages_named_their_parents_is_explained_in_its_order() -> None:
    session = Session()
    last = session.ask(session.three_turns(), 1, 400, system="You are verbose.")
    for message in session.messages:
        message.parent = None
    [drop] = session.drops(last)
    assert drop.turn == 4 and drop.causes == ("the system prompt changed",)
