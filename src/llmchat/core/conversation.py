"""The Conversation owns the history and compiles every (stateless) request from it."""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from llmchat.core import branches
from llmchat.core.backend_record import BackendRecord
from llmchat.core.messages import ImageRef, Message, Role, Status
from llmchat.core.model_rules import Dial, dial_moved_last, first_dial
from llmchat.core.params import SamplingParams
from llmchat.core.records import (
    BackendChanged,
    BranchChosen,
    CostKnown,
    ParamsChanged,
    Record,
    ReplyCheckpoint,
    SessionHeader,
    SessionInfo,
    SystemChanged,
    TitleChanged,
)
from llmchat.core.request import ChatRequest, WireImage, WireMessage
from llmchat.core.structured import OutputSchema

TITLE_LENGTH = 60
IMAGE_BYTES_PER_REQUEST = 50 * 1024 * 1024
"""Image bytes one request carries at most (OpenAI takes 50 MB of images a request);
the images past it are named in the text instead."""


class RecordSink(Protocol):
    """Where records go (a session file). May raise OSError; the conversation keeps them."""

    def append(self, record: Record) -> None: ...


class PersistError(Exception):
    """A record could not be saved. The conversation still holds it and retries later."""


class RecordSinkLost(OSError):
    """The sink's file is no longer where it was (deleted, moved, cut short): appending
    to it would write where nobody will ever read. `restore` writes a new file at the
    old place from the whole conversation's records; the conversation calls it."""

    def __init__(self, reason: str, restore: Callable[[Iterable[Record]], None]) -> None:
        super().__init__(errno.ESTALE, reason)
        self.restore = restore


def title_from(text: str) -> str:
    """A title from the first user message: its first line with a letter or digit in it
    (blank lines and a code fence above it are passed over), spaces collapsed, at most
    TITLE_LENGTH characters; "" for a message of blanks."""
    flat = [" ".join(line.split()) for line in text.splitlines()]
    worded = (line for line in flat if not line.startswith("```") and _has_word(line))
    line = next(worded, None) or " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


def _has_word(line: str) -> bool:
    return any(char.isalnum() for char in line)


class Conversation:
    """History, parameters and session facts; every change is also handed to the sink."""

    def __init__(
        self,
        info: SessionInfo | None = None,
        params: SamplingParams | None = None,
        messages: list[Message] | None = None,
        sink: RecordSink | None = None,
        *,
        header_written: bool = False,
        leaf: str | None = None,
        system_changes: Sequence[SystemChanged] = (),
    ) -> None:
        self.info = info or SessionInfo()
        self.system_changes: list[SystemChanged] = list(system_changes) or [
            SystemChanged(self.info.system, self.info.created)
        ]
        """Every system prompt the session had, from its start, each with when it was
        set (what the session file's header and `system` records say)."""
        self.params = params or SamplingParams()
        self.messages: list[Message] = list(messages or [])
        self._sink = sink
        self._unsaved: list[Record] = []
        self._header_written = header_written
        self._moved = False
        self._leaf = leaf
        """The message the next turn follows on from; None: the newest message."""
        self.image_data: Callable[[ImageRef], bytes | None] = lambda ref: None
        self._images: dict[str, bytes] = {}
        """The bytes of an attached image (the image folder's `get`); None: gone."""
        self._streaming: dict[str, tuple[str | None, list[str]]] = {}
        """Checkpointed text of replies still streaming (id -> parent, parts), so a file
        written again from the conversation keeps them too."""
        self.on_restored: Callable[[str], None] | None = None
        """Told (one line for the user) when the session file had gone and was written
        again from the conversation."""
        self._at_root = False
        """The next message starts a new first message (an edit of the first one)."""
        self.schema: OutputSchema | None = None
        """Structured output for the next requests (schema mode), or None."""
        self.last_dial: Dial = first_dial(self.params)
        """The sampling dial moved last (what a model taking only one of them gets)."""

    # -- persistence -----------------------------------------------------------------

    def attach(self, sink: RecordSink) -> None:
        self._sink = sink

    @property
    def unsaved(self) -> int:
        """Records held in memory because the last write failed."""
        return len(self._unsaved)

    def _persist(self, record: Record) -> None:
        if not self._header_written:
            # A copy: the header says how the session started, whatever changes later.
            self._unsaved.append(SessionHeader(replace(self.info), self.params))
            self._header_written = True
            self._moved = False
        if self._moved:
            self._unsaved.append(BackendChanged(self.info.backend_record))
            self._moved = False
        self._unsaved.append(record)
        self.flush()

    def flush(self) -> None:
        """Write every held record, oldest first. Raises PersistError, keeping the rest."""
        if self._sink is None:
            return
        while self._unsaved:
            try:
                self._sink.append(self._unsaved[0])
            except RecordSinkLost as lost:
                self._restore(lost)
                return
            except OSError as exc:
                raise PersistError(f"could not save the session: {exc.strerror or exc}") from exc
            self._unsaved.pop(0)

    def _restore(self, lost: RecordSinkLost) -> None:
        """The file went away: write the whole conversation again where it was. What was
        held unsaved is in it (every record's change is in the conversation already)."""
        try:
            lost.restore(self.snapshot())
        except OSError as exc:
            raise PersistError(
                f"could not save the session: {lost.strerror}, and writing it again "
                f"failed: {exc.strerror or exc}"
            ) from exc
        self._unsaved.clear()
        self._header_written, self._moved = True, False
        if self.on_restored is not None:
            self.on_restored(f"{lost.strerror}; it was written again with the whole conversation")

    def snapshot(self) -> list[Record]:
        """The records a file needs to reopen this conversation as it stands: the header
        (with today's title, system prompt, backend and parameters), every message of
        every branch, the replies still streaming as checkpoints, and the branch shown."""
        records: list[Record] = [SessionHeader(replace(self.info), self.params)]
        records.extend(replace(message) for message in self.messages)
        records.extend(
            ReplyCheckpoint(reply_id, parent, "".join(parts))
            for reply_id, (parent, parts) in self._streaming.items()
        )
        if self._leaf is not None and not self._at_root:
            records.append(BranchChosen(self._leaf))
        return records

    # -- history ---------------------------------------------------------------------

    @property
    def last_id(self) -> str | None:
        """The message the next turn follows on from: the end of the thread shown."""
        if self._at_root:
            return None
        if self._leaf is not None:
            return self._leaf
        return self.messages[-1].id if self.messages else None

    def _follow(self, message: Message) -> None:
        self._leaf, self._at_root = message.id, False

    def branch_from(self, message_id: str | None) -> None:
        """The next message follows `message_id` (None: a new first message), leaving the
        messages after it on a branch of their own. Written with the next message."""
        self._leaf, self._at_root = message_id, message_id is None

    @property
    def position(self) -> tuple[str | None, bool]:
        """Where the next message goes (to go back there after a refused edit)."""
        return self._leaf, self._at_root

    def return_to(self, position: tuple[str | None, bool]) -> None:
        self._leaf, self._at_root = position

    def siblings(self, message: Message) -> list[Message]:
        """The alternatives at this message's place in the tree, oldest first: the
        replies to the same question, or the versions of an edited question."""
        return branches.siblings(self.messages, message)

    def switch_branch(self, message: Message, step: int) -> Message | None:
        """Show the sibling `step` places from `message` (wrapping round) and the newest
        thread below it; the choice is written. Returns the sibling, or None if it has
        none."""
        siblings = self.siblings(message)
        if len(siblings) < 2:
            return None
        chosen = siblings[(siblings.index(message) + step) % len(siblings)]
        leaf = branches.newest_leaf(self.messages, chosen)
        self._leaf, self._at_root = leaf.id, False
        self._persist(BranchChosen(leaf.id))
        return chosen

    def add_user(
        self,
        text: str,
        *,
        tokens: int | None = None,
        tokenizer: str | None = None,
        images: tuple[ImageRef, ...] = (),
        title: str | None = None,
    ) -> Message:
        """Append the user's message; it is in memory before any attempt to save it.

        `tokens` (its count, framing included) is stored in its record, so a resumed
        session need not count it again. `images` are already in the image folder.
        `title`: what to title a new session from instead of `text` (the words typed,
        not the attached files put before them)."""
        message = Message(
            role=Role.USER,
            content=text,
            parent=self.last_id,
            tokens=tokens,
            tokenizer=tokenizer,
            images=images,
        )
        self.messages.append(message)
        self._follow(message)
        titled = not self.info.title and self._first_words(message, title)
        if titled:
            self.info.title = title_from(title or text)
        # Without a header yet, the header carries the title; after one (a session whose
        # parameters changed before its first message, an untitled session resumed), a
        # title record does, so the session reopens with the name it was shown with.
        written_before = self._header_written
        self._persist(replace(message))
        if titled and written_before:
            self._persist(TitleChanged(self.info.title))
        return message

    def _first_words(self, message: Message, title: str | None = None) -> bool:
        """Whether `message` (titled by `title` if given) is the first user message with
        words for a title (blank ones before it do not count; a session resumed with
        some is not renamed)."""
        if not title_from(title or message.content):
            return False
        earlier = (m for m in self.messages if m is not message and m.role is Role.USER)
        return not any(title_from(m.content) for m in earlier)

    def add_reply(self, message: Message) -> None:
        """Record an assistant turn, whatever its status (it follows the last message
        unless it names the message it answers)."""
        if message.parent is None:
            message.parent = self.last_id
        self._streaming.pop(message.id, None)
        self.messages.append(message)
        self._follow(message)
        # A copy, so a record held after a failed write says what was true when it was made.
        self._persist(replace(message))

    def set_cost(self, message: Message, cost_usd: float) -> None:
        """A reply's price, known after the reply was recorded (the price list loads late)."""
        message.cost_usd = cost_usd
        self._persist(CostKnown(message.id, cost_usd))

    def set_params(self, params: SamplingParams) -> None:
        if params == self.params:
            return
        self.last_dial = dial_moved_last(self.params, params, self.last_dial)
        self.params = params
        self._persist(ParamsChanged(params))

    def move_to(self, record: BackendRecord) -> None:
        """The session goes on with another backend. Recorded with the next record, so
        a session only looked at (opened, then left) is not changed."""
        if record == self.info.backend_record:
            return
        self.info.use_backend(record)
        self._moved = self._header_written

    def rename(self, title: str) -> None:
        title = " ".join(title.split())
        if not title or title == self.info.title:
            return
        self.info.title = title
        self._persist(TitleChanged(title))

    def set_system(self, system: str) -> None:
        """Use `system` as the system prompt from the next request on ("" for none).

        Written as a record of its own once the session has a header, so a resumed session
        has the latest one; before that the header carries it (and no file appears for a
        session that is only set up, never used)."""
        if system == self.info.system:
            return
        self.info.system = system
        change = SystemChanged(system)
        self.system_changes.append(change)
        if self._header_written:
            self._persist(change)

    def checkpoint(self, reply_id: str, parent: str | None, text: str) -> None:
        """Save `text` that the streaming reply `reply_id` gained since its last checkpoint.

        The reply's final record (`add_reply` with a message of the same id) supersedes its
        checkpoints; without one (a crash), loading makes them an interrupted reply. See
        `core.checkpoints.ReplyCheckpoints` for the once-a-second pacing."""
        if text:
            self._streaming.setdefault(reply_id, (parent, []))[1].append(text)
            self._persist(ReplyCheckpoint(reply_id, parent, text))

    # -- compiling requests ----------------------------------------------------------

    def thread(self) -> list[Message]:
        """The messages the next turn follows on from: the `parent` chain of `last_id`,
        the branch shown. Other branches (a retried reply, an edited question) stay in
        the history and the file."""
        return branches.thread(self.messages, self.last_id, at_root=self._at_root)

    def wire_history(self, upto: str | None = None) -> list[WireMessage]:
        """What the model will be shown: the thread's user turns and assistant texts,
        up to and including message `upto` if given.

        A turn that failed before any text is left out, so a retry does not send an empty
        assistant message; cancelled and incomplete partials are kept, as the user saw them.
        """
        wire = []
        budget = [IMAGE_BYTES_PER_REQUEST]
        for message in self.thread():
            if message.images:
                wire.append(self._with_images(message, budget))
            elif not (message.role is Role.ASSISTANT and not message.content):
                wire.append(WireMessage(str(message.role), message.content))
            if message.id == upto:
                break
        return wire

    def _with_images(self, message: Message, budget: list[int]) -> WireMessage:
        """A message with its images' bytes. One no longer in the image folder, or past
        the request's `budget` of image bytes (a hand-made file naming one image a
        thousand times), is named in the text instead: the model and the user know."""
        images: list[WireImage] = []
        notes: list[str] = []
        for ref in message.images:
            data = self._image(ref)
            if data is None:
                notes.append(f"[image {ref.name} is missing]")
            elif len(data) > budget[0]:
                mb = IMAGE_BYTES_PER_REQUEST // (1024 * 1024)
                notes.append(f"[image {ref.name} not sent: the request holds {mb} MB of images]")
            else:
                budget[0] -= len(data)
                images.append(WireImage(ref.media_type, data))
        text = message.content + "".join(f"\n\n{note}" for note in notes)
        return WireMessage(str(message.role), text, tuple(images))

    def _image(self, ref: ImageRef) -> bytes | None:
        """An image's bytes, read once while they fit the cache (requests are built
        again for every count and every send)."""
        data = self._images.get(ref.sha256)
        if data is None:
            data = self.image_data(ref)
            kept = sum(map(len, self._images.values()))
            if data is not None and kept + len(data) <= IMAGE_BYTES_PER_REQUEST:
                self._images[ref.sha256] = data
        return data

    def retry_point(self) -> Message | None:
        """The user message to ask again, if the last reply did not complete."""
        if len(self.messages) < 2:
            return None
        last, before = self.messages[-1], self.messages[-2]
        if last.role is not Role.ASSISTANT or last.status is Status.COMPLETE:
            return None
        asked = next((m for m in self.messages if m.id == last.parent), before)
        return asked if asked.role is Role.USER else None

    def build_retry(self, model: str | None = None) -> tuple[ChatRequest, Message] | None:
        """The request that asks the last question again, and the message it answers."""
        asked = self.retry_point()
        if asked is None:
            return None
        request = self.build_request(model, upto=asked.id)
        return request, asked

    def build_request(
        self,
        model: str | None = None,
        *,
        skip: int = 0,
        max_tokens: int | None = None,
        upto: str | None = None,
        params: SamplingParams | None = None,
    ) -> ChatRequest:
        """The next request. `skip` leaves out the oldest history messages (never the
        system prompt); `max_tokens` clips the reply's reserve (see core.budget); `upto`
        ends the history at that message (a retry asks it again); `params` are other
        dials than the session's (a replay with a preset)."""
        system = [WireMessage("system", self.info.system)] if self.info.system else []
        params = (params or self.params).in_range()
        if max_tokens is not None and max_tokens != params.max_tokens:
            params = replace(params, max_tokens=max_tokens)
        return ChatRequest(
            messages=tuple(system + self.wire_history(upto)[skip:]),
            params=params,
            model=model or self.info.model,
            schema=self.schema,
            last_dial=self.last_dial,
        )

    def count(self, role: Role | None = None, status: Status | None = None) -> int:
        return sum(
            1
            for m in self.messages
            if (role is None or m.role is role) and (status is None or m.status is status)
        )

    def with_params(self, **changes: Any) -> SamplingParams:
        return replace(self.params, **changes)
