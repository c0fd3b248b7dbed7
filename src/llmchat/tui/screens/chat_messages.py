"""What the chat screen does with one message: edit it, regenerate it, switch between
its branches, fork from it, copy it.

One of `ChatScreen`'s helpers (one per job), kept apart so the screen stays a view. Each
action applies to the focused message, else to the newest message it fits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmchat import paths
from llmchat.core import branches
from llmchat.core.messages import Message, Role
from llmchat.core.safe_text import one_line
from llmchat.tui.widgets.conversation_view import ConversationView
from llmchat.tui.widgets.prompt_input import PromptInput
from llmchat.tui.widgets.reply_view import ReplyView, UserView
from llmchat.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from llmchat.tui.screens.chat import ChatScreen

MessageView = UserView | ReplyView


STILL_STREAMING = "A reply is still streaming: Esc stops it."


class MessageActions:
    """The chat screen's actions on one message (the screen's `action_message_*` call
    these)."""

    def __init__(self, chat: ChatScreen) -> None:
        self.chat = chat
        self.editing: Message | None = None
        """The question being edited in the prompt (sent as a new branch)."""
        self._draft_before_edit = ""
        self.editing_system = False
        """The system prompt is in the prompt box (Enter saves it)."""
        self._places: dict[str, tuple[int, int]] = {}

    def _busy(self) -> bool:
        """A reply is streaming: a key on a message would be lost without a word."""
        if self.chat.streaming:
            self.chat.notify(STILL_STREAMING, severity="warning")
        return self.chat.streaming

    @property
    def is_editing(self) -> bool:
        return self.editing is not None or self.editing_system

    # -- which message -----------------------------------------------------------------

    @property
    def _view(self) -> ConversationView:
        return self.chat.query_one(ConversationView)

    def _message_views(self) -> list[MessageView]:
        return list(self._view.message_views())

    def _target(self, role: Role | None = None) -> Message | None:
        """The focused message if it fits; the focused message's partner if it does not
        (a reply's question, a question's reply on the thread shown); else the newest
        message of `role`."""
        focused = self._view.focused_message
        if focused is not None and (role is None or focused.role is role):
            return focused
        if focused is not None:
            thread = self.chat.conversation.thread()
            if role is Role.USER:
                partner = next((m for m in thread if m.id == focused.parent), None)
            else:
                partner = next((m for m in thread if m.parent == focused.id), None)
            if partner is not None and partner.role is role:
                return partner
        for message in reversed(self.chat.conversation.thread()):
            if role is None or message.role is role:
                return message
        return None

    # -- branch labels -------------------------------------------------------------------

    def label_branches(self) -> None:
        """`‹i/n›` on every message that has alternatives: the ones shown now, and the
        ones the conversation view builds later as the user scrolls."""
        self._places = branches.sibling_places(self.chat.conversation.messages)
        self._view.decorate = self._label
        for view in self._message_views():
            self._label(view)

    def _label(self, view: MessageView) -> None:
        if view.message is not None:
            place = self._places.get(view.message.id)
            view.show_branch(f"‹{place[0]}/{place[1]}›" if place else "")

    # -- showing another part of the tree --------------------------------------------------

    async def trim_after(self, keep: str | None) -> None:
        """Show the thread only down to message `keep` (nothing for None): a new branch
        is about to be shown from there. A `keep` not in the thread shown trims nothing:
        a message of another branch is no reason to take this one off the screen."""
        thread = self.chat.conversation.thread()
        ids = [m.id for m in thread]
        if keep is not None and keep not in ids:
            return
        end = ids.index(keep) + 1 if keep is not None else 0
        await self._view.show_thread(thread[:end])
        self.label_branches()

    async def show_thread(self) -> None:
        """Show the thread as it now is (after a branch switch): the views above the
        switch stay, the new branch is built below it, in the same place on screen."""
        await self._view.switch_thread(self.chat.conversation.thread())
        self.label_branches()
        self.chat.gauge.measure_soon()

    # -- the actions ------------------------------------------------------------------------

    async def branch(self, step: int) -> None:
        """Show the previous or next alternative of the focused (or newest) message that
        has any, and the thread below it."""
        if self._busy():
            return
        places = branches.sibling_places(self.chat.conversation.messages)
        focused = self._target()
        candidates = [focused] if focused is not None and focused.id in places else []
        candidates += [m for m in reversed(self.chat.conversation.thread()) if m.id in places]
        if not candidates:
            self.chat.notify(
                "No other branch here: edit a question or regenerate a reply to make one."
            )
            return
        message = candidates[0]
        chosen = self.chat._record(lambda: self.chat.conversation.switch_branch(message, step))
        if chosen is None:
            return
        await self.show_thread()
        n, total = branches.sibling_places(self.chat.conversation.messages)[chosen.id]
        self.chat.notify(f"Branch {n} of {total}", timeout=2)

    def edit(self) -> None:
        """Put a question in the prompt; Enter sends it as a new branch, Esc gives up."""
        if self._busy():
            return
        message = self._target(Role.USER)
        if message is None:
            return
        prompt = self.chat.query_one(PromptInput)
        if self.editing is None:
            self._draft_before_edit = prompt.text
        self.editing = message
        prompt.text = message.content
        prompt.move_cursor(prompt.document.end)
        prompt.focus()
        self.chat.query_one(StatusBar).show(state="editing: Enter sends a new branch, Esc cancels")
        self.chat.refresh_bindings()  # Esc now cancels the edit

    def edit_system(self) -> None:
        """Put the system prompt in the prompt box; Enter saves it (written to the
        session), Esc gives up. An empty box removes it."""
        prompt = self.chat.query_one(PromptInput)
        if not self.is_editing:
            self._draft_before_edit = prompt.text
        self.editing, self.editing_system = None, True
        prompt.text = self.chat.conversation.info.system
        prompt.move_cursor(prompt.document.end)
        prompt.focus()
        self.chat.query_one(StatusBar).show(state="system prompt: Enter saves, Esc cancels")
        self.chat.refresh_bindings()

    def remove_system(self) -> None:
        if self.chat.conversation.info.system:
            self.save_system("")

    def save_system(self, text: str) -> None:
        self.editing_system = False
        system = text.strip()
        self.chat._record(lambda: self.chat.conversation.set_system(system))
        self.chat.query_one(PromptInput).text = self._draft_before_edit
        self.chat.query_one(StatusBar).show(state="ready")
        self.chat.refresh_bindings()
        self.chat.show_system()
        self.chat.gauge.measure_soon()
        self.chat.notify("System prompt saved." if system else "System prompt removed.")

    def cancel_edit(self) -> bool:
        if not self.is_editing:
            return False
        self.editing, self.editing_system = None, False
        self.chat.query_one(PromptInput).text = self._draft_before_edit
        self.chat.query_one(StatusBar).show(state="ready")
        self.chat.refresh_bindings()
        return True

    async def send_edit(self, text: str) -> None:
        edited, self.editing = self.editing, None
        assert edited is not None
        self.chat.refresh_bindings()
        await self.trim_after(edited.parent)
        self.chat.turns.start(
            lambda report: self.chat.service.edit(edited, text, report), mount_now=False
        )

    async def regenerate(self) -> None:
        """Ask again the question the focused (or newest) reply answers: a sibling reply."""
        if self._busy():
            return
        reply = self._target(Role.ASSISTANT)
        if reply is None or reply.parent is None:
            return
        await self.trim_after(reply.parent)
        self.chat.turns.start(
            lambda report: self.chat.service.regenerate(reply, report), mount_now=True
        )

    def resample(self, reply: Message, index: int, token: str) -> None:
        """Let the model go on from `token` at the reply's token `index` (llama-server):
        a sibling of `reply`, its words up to there kept."""
        self.chat.run_worker(self._resample(reply, index, token), exit_on_error=False)

    async def _resample(self, reply: Message, index: int, token: str) -> None:
        if self._busy() or reply.parent is None:
            return
        cannot = self.chat.service.cannot_resample(reply, index)
        if cannot is not None:  # said before the thread below is taken down
            self.chat.notify(f"Not resampled: {cannot}.", severity="warning", markup=False)
            return
        await self.trim_after(reply.parent)
        self.chat.turns.start(
            lambda report: self.chat.service.resample(reply, index, token, report),
            mount_now=True,
        )

    async def fork(self) -> None:
        """A new session holding the thread up to the focused (or newest) message."""
        if self._busy():
            return
        message = self._target()
        if message is None:
            return
        from llmchat.store.session_fork import fork_session

        try:
            info = fork_session(paths.sessions_dir(), self.chat.conversation, message)
        except (OSError, ValueError) as exc:
            self.chat.notify(one_line(str(exc)), title="Not forked", severity="error", markup=False)
            return
        # Through the app's action (ids are hex), not an import of the app module.
        await self.chat.app.run_action(f"open_session({info.id!r})")
        self.chat.app.notify(f"Forked into a new session: {one_line(info.title, 60)}", markup=False)

    async def copy(self) -> None:
        message = self._target()
        if message is None:
            return
        from llmchat.tui.clipboard import copy_text

        await copy_text(self.chat.app, message.content, what=f"{message.role} message")
