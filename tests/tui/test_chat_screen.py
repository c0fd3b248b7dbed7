"""The chat screen, driven with Pilot against the loopback server, as a user would."""

from __future__ import annotations

import json
from pathlib import Path

from llmchat.config import BackendConfig, Config
from llmchat.core.messages import Role, Status
from llmchat.core.params import SamplingParams
from llmchat.tui.screens.chat import ChatScreen
from llmchat.tui.widgets.context_gauge import ContextGauge
from llmchat.tui.widgets.prompt_input import PromptInput
from llmchat.tui.widgets.reply_view import ReplyView, UserView
from tests.support.openai_server import Fault, OpenAIServer, Script
from tests.tui.helpers import chat_app, only_session, wait_for_reply


async def send(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press(*text)
    await pilot.press("enter")


async def test_a_sent_message_streams_its_reply_and_both_are_saved(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply="Paris is the capital of **France**."))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await send(pilot, "capital?")
        await wait_for_reply(app)
        await pilot.pause()
        reply = app.screen.query(ReplyView).last()
        assert reply.body.source == "Paris is the capital of **France**."
        assert "✓" in str(reply.meta.render())
    saved = only_session()
    assert [(m.role, m.content, m.status) for m in saved.messages] == [
        (Role.USER, "capital?", Status.COMPLETE),
        (Role.ASSISTANT, "Paris is the capital of **France**.", Status.COMPLETE),
    ]


async def test_the_request_carries_exactly_the_sampling_params_and_history(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply="first"), Script(reply="second"))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await send(pilot, "one")
        await wait_for_reply(app)
        await send(pilot, "two")
        await wait_for_reply(app)
    body = server.chat_requests[-1].body
    assert [(m["role"], m["content"]) for m in body["messages"]] == [
        ("user", "one"),
        ("assistant", "first"),
        ("user", "two"),
    ]
    assert body["temperature"] == 1.0
    assert body["top_p"] == 1.0
    assert body["max_tokens"] == 1024
    assert body["stream"] is True


async def test_escape_stops_a_reply_keeps_its_text_and_closes_the_connection(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply="partial text then nothing", fault=Fault.STALL, fault_after=3))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await send(pilot, "go")
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        while not screen.query(ReplyView).last().body.source:
            await pilot.pause(0.01)
        await pilot.press("escape")
        await wait_for_reply(app)
        await pilot.pause()
        assert "cancelled" in str(screen.query(ReplyView).last().meta.render())
    assert server.chat_requests[0].wait_ended() is not None
    assert server.chat_requests[0].client_disconnected
    reply = only_session().messages[-1]
    assert reply.status is Status.CANCELLED
    assert reply.content
    assert "partial text then nothing".startswith(reply.content.rstrip())


async def test_a_server_error_keeps_the_question_and_shows_what_failed(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script.http_error(400, "model 'x' does not exist"))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await send(pilot, "hello?")
        await wait_for_reply(app)
        await pilot.pause()
        meta = str(app.screen.query(ReplyView).last().meta.render())
        assert "error" in meta
        assert "does not exist" in meta
    saved = only_session().messages
    assert saved[0].content == "hello?"
    assert saved[1].status is Status.ERROR


async def test_escape_sequences_from_the_model_are_shown_harmlessly_and_stored_exactly(
    server: OpenAIServer, home: Path
) -> None:
    hostile = "red \x1b[31mtext\x1b[0m \x1b]0;pwned\x07 [@click=app.quit]quit[/] [bold]x"
    server.push(Script(reply=hostile))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await send(pilot, "hi")
        await wait_for_reply(app)
        await pilot.pause()
        shown = app.screen.query(ReplyView).last().body.source
        assert "\x1b" not in shown and "\x07" not in shown
        assert "␛[31mtext" in shown
        assert app.is_running
    assert only_session().messages[-1].content == hostile


async def test_user_text_with_markup_is_shown_literally(server: OpenAIServer, home: Path) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await send(pilot, "[b]not bold[/b]")
        await wait_for_reply(app)
        user = app.screen.query(UserView).first()
        assert "[b]not bold[/b]" in str(user.render())


async def test_a_saved_session_reopens_with_every_message_and_its_status(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script(reply="kept", fault=Fault.DROP, fault_after=1), Script(reply="done"))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await send(pilot, "first")
        await wait_for_reply(app)
        await send(pilot, "second")
        await wait_for_reply(app)
    session_id = only_session().info.id

    again = chat_app(server, session=session_id)
    async with again.run_test() as pilot:
        await pilot.pause()
        users = [v.message.content for v in again.screen.query(UserView)]
        replies = [v.message for v in again.screen.query(ReplyView)]
        assert users == ["first", "second"]
        assert [r.status for r in replies] == [Status.INCOMPLETE, Status.COMPLETE]
        assert "incomplete" in str(again.screen.query(ReplyView).first().meta.render())


async def test_f4_switches_theme_and_the_choice_is_remembered(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        assert app.theme == "llmchat-dark"
        await pilot.press("f4")
        assert app.theme == "llmchat-light"
    again = chat_app(server)
    async with again.run_test():
        assert again.theme == "llmchat-light"


async def test_nothing_configured_opens_the_first_run_screen(home: Path) -> None:
    app = chat_app(None)
    async with app.run_test() as pilot:
        await pilot.pause()
        text = " ".join(str(w.render()) for w in app.screen.query("MarkdownBlock"))
        assert "OPENAI_API_KEY" in text
        assert "llmchat config init" in text


async def test_a_server_error_with_markup_and_escapes_is_shown_literally(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script.http_error(400, "bad [@click=app.quit]thing[/] \x1b[2J here"))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await send(pilot, "x")
        await wait_for_reply(app)
        await pilot.pause()
        assert app.is_running
        [note] = [n for n in app._notifications if n.title == "Reply failed"]
        assert "[@click=app.quit]thing[/]" in note.message
        assert "\x1b" not in note.message
        meta = str(app.screen.query(ReplyView).last().meta.render())
        assert "[@click=app.quit]" in meta and "\x1b" not in meta


async def test_ctrl_r_asks_a_failed_question_again_and_the_new_reply_follows_it(
    server: OpenAIServer, home: Path
) -> None:
    server.push(Script.http_error(400, "try later"), Script(reply="second time lucky"))
    app = chat_app(server)
    async with app.run_test() as pilot:
        await send(pilot, "please")
        await wait_for_reply(app)
        await pilot.press("ctrl+r")
        await wait_for_reply(app)
        await pilot.pause()
        assert app.screen.query(ReplyView).last().body.source == "second time lucky"
    retried = server.chat_requests[-1].body["messages"]
    assert [(m["role"], m["content"]) for m in retried] == [("user", "please")]
    saved = only_session().messages
    assert [m.status for m in saved] == [Status.COMPLETE, Status.ERROR, Status.COMPLETE]
    assert saved[2].parent == saved[0].id


async def test_stop_is_offered_only_while_a_reply_streams(server: OpenAIServer, home: Path) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        screen = app.screen
        assert screen.check_action("stop_reply", ()) is False
        assert screen.check_action("retry", ()) is False
        await pilot.pause()


async def test_typing_moves_the_context_gauge(server: OpenAIServer, home: Path) -> None:
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        gauge = app.screen.query_one(ContextGauge)
        before = gauge.budget
        assert before is not None
        await pilot.press(*"a fairly long question about the context window")
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        after = gauge.budget
        assert after is not None and after.draft > 0
        assert after.used > before.used
        assert after.reserved == 1024


async def test_a_configured_window_is_shown_and_wins(server: OpenAIServer, home: Path) -> None:
    config = Config(
        backends={"small": BackendConfig("small", "openai", server.base_url, context_window=2000)}
    )
    app = chat_app(None, config=config)
    async with app.run_test() as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        budget = app.screen.query_one(ContextGauge).budget
        assert budget is not None and budget.window == 2000


def small_window(server: OpenAIServer, window: int) -> Config:
    return Config(
        backends={
            "small": BackendConfig("small", "openai", server.base_url, context_window=window)
        },
        sampling=SamplingParams(max_tokens=40),
    )


async def test_a_long_conversation_in_a_small_window_leaves_old_turns_out_visibly(
    server: OpenAIServer, home: Path
) -> None:
    server.default = Script(reply=" ".join(["word"] * 60))
    app = chat_app(None, config=small_window(server, 300))
    async with app.run_test() as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        for n in range(5):
            app.screen.query_one(PromptInput).text = f"question {n} " + "padding " * 20
            await pilot.press("enter")
            await wait_for_reply(app)
        await pilot.pause()
        markers = app.screen.query(".unsent-marker")
        assert len(markers) == 1
        await app.workers.wait_for_complete()
        budget = app.screen.query_one(ContextGauge).budget
        assert budget is not None and budget.skipped > 0
        # One number for both: the marker and the gauge speak of the next request.
        marker = str(markers.first().render())
        assert f"▲ {budget.skipped} earlier not sent" in marker
        assert f"{budget.skipped} earlier not sent" in str(
            app.screen.query_one(ContextGauge).render()
        )
        assert budget.used <= 300  # what will be sent fits the window
    last = server.chat_requests[-1].body["messages"]
    assert last[0]["role"] == "user"
    assert last[-1]["content"].startswith("question 4")
    assert len(last) < 9
    assert len(only_session().messages) == 10  # the file keeps everything


async def test_the_marker_and_the_gauge_count_what_the_next_request_leaves_out(
    server: OpenAIServer, home: Path
) -> None:
    server.default = Script(reply=" ".join(["word"] * 30))
    app = chat_app(None, config=small_window(server, 800))
    async with app.run_test() as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        for n in range(12):
            screen.query_one(PromptInput).text = f"question {n} " + "padding " * 10
            await pilot.press("enter")
            await wait_for_reply(app)
        screen.query_one(PromptInput).text = "question 12 " + "padding " * 10
        await screen.gauge.measure()  # the count the debounce would start
        await pilot.pause()
        budget = screen.query_one(ContextGauge).budget
        assert budget is not None and budget.skipped > 0
        # Chunked: the start is kept below the threshold too, and still shown.
        assert budget.used <= 800 * 0.9
        marker = str(screen.query(".unsent-marker").first().render())
        assert f"▲ {budget.skipped} earlier not sent: left out a block at a time" in marker
        history = len(screen.conversation.wire_history())
        await pilot.press("enter")
        await wait_for_reply(app)
    sent = server.chat_requests[-1].body["messages"]
    assert sent[-1]["content"].startswith("question 12")
    assert len(sent) == history + 1 - budget.skipped


async def test_a_message_too_big_for_the_window_is_refused_and_kept_in_the_prompt(
    server: OpenAIServer, home: Path
) -> None:
    app = chat_app(None, config=small_window(server, 100))
    async with app.run_test() as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        text = "far too long " * 60
        app.screen.query_one(PromptInput).text = text
        for _ in range(3):
            await pilot.press("enter")
            await pilot.pause()
        notes = [str(n.render()) for n in app.screen.query(".notice")]
        refusals = [note for note in notes if "Not sent" in note]
        assert len(refusals) == 1 and "tokens" in refusals[0]  # replaced, not stacked
        assert app.screen.query_one(PromptInput).text == text
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        budget = app.screen.query_one(ContextGauge).budget
        assert budget is not None
        # The note and the gauge count the message alike.
        assert f"message is ≈{budget.draft:,} tokens" in refusals[0].replace("\n", " ")
    assert server.chat_requests == []


async def test_a_priced_model_shows_its_cost_and_an_unknown_one_says_n_a(
    home: Path,
) -> None:
    with OpenAIServer(models=("gpt-4o-mini",)) as priced, OpenAIServer() as unknown:
        for server, expect in ((priced, "$"), (unknown, "cost n/a")):
            server.push(Script(reply="ok", prompt_tokens=1000))
            app = chat_app(server)
            async with app.run_test() as pilot:
                await pilot.pause()
                await app.workers.wait_for_complete()
                await send(pilot, "price?")
                await wait_for_reply(app)
                meta = str(app.screen.query(ReplyView).last().meta.render())
                status = str(app.screen.query_one("#status").render())
            assert expect in meta
            assert f"session {expect}" in status


async def test_f5_minifies_pretty_json_in_the_draft_after_the_gauge_offers_it(
    server: OpenAIServer, home: Path
) -> None:
    pretty = json.dumps({"user": {"id": 7, "roles": ["admin", "dev"]}, "ok": True}, indent=4)
    app = chat_app(server)
    async with app.run_test() as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        prompt = app.screen.query_one(PromptInput)
        prompt.text = f"Parse this:\n{pretty}"
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        gauge = app.screen.query_one(ContextGauge)
        assert gauge.budget is not None and gauge.budget.minify_saving > 0
        assert "F5 minifies the JSON" in str(gauge.render())
        assert app.screen.check_action("minify_json", ()) is True
        await pilot.press("f5")
        await pilot.pause()
        assert prompt.text == 'Parse this:\n{"user":{"id":7,"roles":["admin","dev"]},"ok":true}'
