"""Pretty-printed JSON in a draft: find it and minify it, to spend fewer tokens.

Developers paste indented JSON into prompts; its whitespace costs tokens and tells the
model nothing. This finds the JSON (the whole draft, a ```json fence, or the outermost
{…} / […] span) and returns the draft with that JSON minified.
"""

from __future__ import annotations

import json
import re

_FENCE = re.compile(r"```(?:json)?[ \t]*\n(.*?)\n```", re.DOTALL | re.IGNORECASE)


def _minified(candidate: str) -> str | None:
    try:
        value = json.loads(candidate)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict | list):
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def minify_json(draft: str) -> str | None:
    """The draft with its JSON minified, or None when there is nothing to gain."""
    whole = _minified(draft.strip())
    if whole is not None:
        return whole if len(whole) < len(draft) else None
    result, changed = draft, False
    for match in reversed(list(_FENCE.finditer(draft))):
        small = _minified(match.group(1))
        if small is not None and len(small) < len(match.group(1)):
            start, end = match.span(1)
            result = result[:start] + small + result[end:]
            changed = True
    if changed:
        return result
    starts = [i for i in (draft.find("{"), draft.find("[")) if i >= 0]
    if not starts:
        return None
    start = min(starts)
    end = max(draft.rfind("}"), draft.rfind("]"))
    if end <= start:
        return None
    small = _minified(draft[start : end + 1])
    if small is None or len(small) >= end + 1 - start:
        return None
    return draft[:start] + small + draft[end + 1 :]
