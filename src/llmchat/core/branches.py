"""The conversation as a tree: every message names its parent, and the thread shown is
one path from a first message down to a leaf. Pure functions over the message list."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import islice

from llmchat.core.messages import Message, Role


def is_legacy(messages: Sequence[Message]) -> bool:
    """A file from before messages named their parents (or made by hand without them):
    its messages are one thread, in the file's order."""
    return len(messages) > 1 and messages[1].parent is None


def is_one_line(messages: Sequence[Message]) -> bool:
    """Every message answers the one before it: a tree without a branch, in the file's
    order (the usual session). Checked by position, far cheaper than a walk by id."""
    if not messages or messages[0].parent is not None:
        return False
    before = messages[0].id
    for message in islice(messages, 1, None):
        if message.parent != before:
            return False
        before = message.id
    return True


def thread(
    messages: Sequence[Message], leaf: str | None, *, at_root: bool = False
) -> list[Message]:
    """The path from the first message down to `leaf`."""
    if at_root or not messages:
        return []
    if is_legacy(messages):
        return list(messages)
    if (leaf is None or leaf == messages[-1].id) and is_one_line(messages):
        return list(messages)
    # A parent is written before its replies, so the path is found walking up the file:
    # each parent is looked for above the message before, and the whole walk reads each
    # message at most once. A parent that is not above (a damaged or hand-made file) is
    # looked up by id instead.
    chain: list[Message] = []
    wanted = leaf if leaf is not None else messages[-1].id
    for position in range(len(messages) - 1, -1, -1):
        message = messages[position]
        if message.id == wanted:
            chain.append(message)
            if message.parent is None:
                chain.reverse()
                return chain
            wanted = message.parent
    return _thread_by_id(messages, leaf)


def _thread_by_id(messages: Sequence[Message], leaf: str | None) -> list[Message]:
    by_id = {message.id: message for message in messages}
    last = by_id.get(leaf) if leaf is not None else messages[-1]
    if last is None:
        return list(messages)
    chain = [last]
    while (parent := chain[-1].parent) is not None:
        if parent not in by_id or len(chain) > len(messages):
            # A parent missing from a damaged file, or a loop: keep the file's order.
            return list(messages)
        chain.append(by_id[parent])
    chain.reverse()
    return chain


def siblings(messages: Sequence[Message], message: Message) -> list[Message]:
    """Messages in the same place: the same parent and the same role, oldest first."""
    if is_legacy(messages):
        return [message]
    if message.parent is None and message.role is not Role.USER:
        return [message]
    return [m for m in messages if m.parent == message.parent and m.role is message.role]


def newest_leaf(messages: Sequence[Message], start: Message) -> Message:
    """Down from `start`, always into the newest child: the end of its newest thread."""
    children: dict[str, list[Message]] = {}
    for message in messages:
        if message.parent is not None:
            children.setdefault(message.parent, []).append(message)
    node = start
    seen = {node.id}
    while (below := children.get(node.id)) and below[-1].id not in seen:
        node = below[-1]
        seen.add(node.id)
    return node


def sibling_places(messages: Sequence[Message]) -> dict[str, tuple[int, int]]:
    """For each message with alternatives: (its place, how many), counted from 1, in one
    pass (a label on every message of a long thread must not cost a pass each)."""
    if is_legacy(messages) or is_one_line(messages):
        return {}
    # Only a parent with several replies can have alternatives: counted first (in C),
    # so the grouping below sees few messages.
    replies = Counter(message.parent for message in messages)
    groups: dict[tuple[str | None, Role], list[str]] = {}
    for message in messages:
        if replies[message.parent] < 2:
            continue
        if message.parent is None and message.role is not Role.USER:
            continue
        groups.setdefault((message.parent, message.role), []).append(message.id)
    places: dict[str, tuple[int, int]] = {}
    for ids in groups.values():
        if len(ids) > 1:
            for n, message_id in enumerate(ids, 1):
                places[message_id] = (n, len(ids))
    return places
