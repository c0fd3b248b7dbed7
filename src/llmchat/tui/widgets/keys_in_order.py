"""Editing keys handled in the order they were typed.

Textual runs a focused widget's printable keys in the widget itself, but its *bound*
keys (Backspace, Delete, the arrows, Home/End) only after the key has bubbled up to the
app, through other message queues. Keys that arrive together (fast typing, a held key,
a terminal that sends a burst) are then applied out of order: "End, Backspace×4, 3, 0,
0" typed at once into "1024" left "30", not "300". A widget with this mixin runs its own
bindings as it receives each key, so every key lands where it was typed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events

if TYPE_CHECKING:
    from textual.widget import Widget

    _Base = Widget
else:
    _Base = object


class KeysInOrder(_Base):
    async def _on_key(self, event: events.Key) -> None:
        if not event.is_printable:
            for key in event.aliases:
                bindings = self._bindings.key_to_bindings.get(key)
                if bindings:
                    event.stop()
                    event.prevent_default()
                    await self.run_action(bindings[0].action)
                    return
        await super()._on_key(event)
