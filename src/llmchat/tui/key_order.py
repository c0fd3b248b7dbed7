"""Keys are handled one after another, in the order they were typed.

Textual hands a key to the focused widget's queue and goes straight on to the next one.
A key the widget does not take itself (Tab, Backspace, Enter, F9: anything bound) then
bubbles back up through the screen to the app, whose bindings run it; by then the keys
behind it may already have been handed out. Typed quickly (a held key, tmux send-keys, a
terminal that delivers a burst) they were applied out of order: "Tab, 4, 0" put 40 in
the field Tab was leaving, and "End, Backspace×4, 3, 0, 0" into 1024 left 30.

Screens coming and going need the same care. Enter or Esc on a dialog (the command
palette, a text prompt) closes it by a message handled after the key itself, and a
command chosen in the palette opens its own dialog later still: keys typed meanwhile
went to the closing dialog and were lost ("abc" typed right after choosing `session:
rename` kept only "c"). So after Enter or Esc on a screen above the first, the next key
waits until the screens have changed (at most `SETTLE_S`), and a screen that has just
come up gets its first field focused before a key goes to it.

So the app hands out one key at a time: behind each it sends a `KeyHandled` marker along
the same road (the same widget, bubbling through the same queues), and the next key
goes out when the marker comes back, i.e. when the key has been handled or has run its
binding, and once what it set going (a focus change) has happened. A marker that never
comes back (its widget removed meanwhile) is given up on after a moment, so no key
waits for long.
"""

from __future__ import annotations

import asyncio
from collections import deque

from textual import events
from textual.app import App
from textual.message import Message

GIVE_UP_S = 0.25
SETTLE_S = 0.3
"""How long a key waits for a dialog to close, or for a new screen to focus a field."""
CLOSING_KEYS = frozenset({"enter", "escape"})
"""Keys that may close the dialog they are typed in."""
SETTLE_POLL_S = 0.01


class KeyHandled(Message):
    """Follows key `serial` up the DOM; back at the app, that key is done."""

    def __init__(self, serial: int) -> None:
        super().__init__()
        self.serial = serial


class KeysInOrderApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self._waiting_keys: deque[events.Key | events.Paste] = deque()
        self._in_flight: int | None = None
        self._key_serial = 0
        self._give_up: asyncio.TimerHandle | None = None
        self._releasing = False
        self._last_screen: object | None = None
        self._screen_since = 0.0
        self._closing_from: tuple[int, ...] | None = None
        """The screens when a key that may close a dialog went out (else None)."""
        self._closing_since = 0.0

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.Paste) and not self.screen_stack:
            return  # a key still on its way while the app closes
        if isinstance(event, events.Key | events.Paste) and not event.is_forwarded:
            # Behind any key still waiting, even between one key's end and the next
            # one's start: a key arriving then must not jump the queue.
            if self._in_flight is not None or self._waiting_keys:
                self._waiting_keys.append(event)
            else:
                await self._hand_out(event)
            return
        await super().on_event(event)

    async def _hand_out(self, event: events.Key | events.Paste) -> None:
        if not self.screen_stack:  # closing: nothing left to type into
            self._waiting_keys.clear()
            return
        if self._still_closing() or self._screen_settling():
            # Back to the front of the queue, tried again in a moment; meanwhile it is
            # in flight, so no key behind it goes first.
            self._waiting_keys.appendleft(event)
            self._in_flight = 0
            asyncio.get_running_loop().call_later(SETTLE_POLL_S, self._settle_retry)
            return
        target = self.focused or self.screen  # where Textual forwards it
        if (
            isinstance(event, events.Key)
            and event.key in CLOSING_KEYS
            and len(self.screen_stack) > 1
        ):
            self._closing_from = self._screens()
            self._closing_since = asyncio.get_running_loop().time()
        await super().on_event(event)
        self._key_serial += 1
        serial = self._in_flight = self._key_serial
        target.post_message(KeyHandled(serial))
        # A plain event-loop callback, not a Textual timer (a task per key, which showed
        # in the latency of every keystroke): it sends the marker the app would get.
        loop = asyncio.get_running_loop()
        self._give_up = loop.call_later(GIVE_UP_S, self.post_message, KeyHandled(serial))

    def _screen_settling(self) -> bool:
        """A screen that has just come up and has not yet focused a field."""
        screen = self.screen
        now = asyncio.get_running_loop().time()
        if screen is not self._last_screen:
            self._last_screen, self._screen_since = screen, now
        if now - self._screen_since > SETTLE_S or screen.focused is not None:
            return False
        return not screen.is_mounted or bool(screen.focus_chain)

    def _settle_retry(self) -> None:
        self._in_flight = None
        self.call_later(self._next_key)

    def _screens(self) -> tuple[int, ...]:
        return tuple(id(screen) for screen in self.screen_stack)

    def _still_closing(self) -> bool:
        """A dialog asked to close (Enter, Esc) that has not closed yet, for a moment."""
        if self._closing_from is None:
            return False
        now = asyncio.get_running_loop().time()
        if self._screens() != self._closing_from or now - self._closing_since > SETTLE_S:
            self._closing_from = None
            return False
        return True

    async def on_key_handled(self, message: KeyHandled) -> None:
        message.stop()
        await self._key_done(message.serial)

    async def _key_done(self, serial: int) -> None:
        if serial != self._in_flight or self._releasing:
            return  # a late marker, or the give-up after the marker came back
        self._releasing = True
        if self._give_up is not None:
            self._give_up.cancel()
            self._give_up = None
        # Not at once: what the key set going (a focus change, a screen being pushed)
        # is queued behind this marker, and the next key must find it done. Until then
        # the key counts as in flight, so no newly arrived key goes first.
        self.call_later(self._next_key)

    async def _next_key(self) -> None:
        self._releasing = False
        self._in_flight = None
        if self._waiting_keys:
            await self._hand_out(self._waiting_keys.popleft())
