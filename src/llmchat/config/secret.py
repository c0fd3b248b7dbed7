"""A value that must never be shown: API keys."""

from __future__ import annotations

import hmac
from typing import Any, NoReturn

_MIN_LEN_FOR_HINT = 20
"""Shorter keys are fully masked: a 7-character hint would give away too much of them."""


class Secret:
    """Wraps a key so that repr, str, f-strings and logging show only a masked hint.

    ``reveal()`` is the one way to the real value, and its name makes every use easy to
    find in review. Deliberately not a dataclass: ``dataclasses.asdict()`` on a settings
    object would otherwise unwrap the key into a plain dict. Not JSON-serialisable
    either, so a Secret that reaches a session file or an export fails loudly.
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        object.__setattr__(self, "_value", value)

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def reveal(self) -> str:
        """The real key, for the Authorization header and nothing else."""
        return self._value

    @property
    def masked(self) -> str:
        """``sk-…abcd`` for long keys (enough to tell two keys apart), else ``****``."""
        value = self._value
        if len(value) < _MIN_LEN_FOR_HINT:
            return "****"
        return f"{value[:3]}…{value[-4:]}"

    def __repr__(self) -> str:
        return f"Secret({self.masked!r})"

    def __str__(self) -> str:
        return self.masked

    def __format__(self, spec: str) -> str:
        return format(self.masked, spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant time: equality on keys should not leak how much of a prefix matched.
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __copy__(self) -> Secret:
        return self  # immutable: copies can share it

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret is not picklable: it would write the key out")
