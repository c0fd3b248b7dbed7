"""From a failed HTTP exchange to one `ChatError` the user can act on.

Owns the mapping of HTTP status and error-body codes to `ErrorKind`, the parsing of
retry hints (`retry-after-ms`, `retry-after`), and short sanitised excerpts of error
bodies. Pure functions over already-read values: no httpx, so they test directly.

A server's words are masked (`SecretMask`: any run of a configured secret) after they
are decoded and before they are cut: a key straddling the cut would otherwise leave its
first half behind, no longer whole enough to be found.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from llmchat.core.events import ChatError, ErrorKind
from llmchat.core.safe_text import one_line
from llmchat.core.secrets import NO_SECRETS, SecretMask, shown_url

EXCERPT_CHARS = 160

_TAG = re.compile(r"<[^>]*>")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
# OpenAI's overflow message: "maximum context length is 8192 tokens. However, your
# messages resulted in 9000 tokens." The numbers are only in the prose.
_OPENAI_CTX = re.compile(r"maximum context length is (\d+)")
_OPENAI_PROMPT = re.compile(r"resulted in (\d+) tokens")


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait, from `retry-after-ms` (read first) or `retry-after`.

    `retry-after` may be a number of seconds or an HTTP date. Negative or unparsable
    values give None; a date in the past gives 0.
    """
    raw_ms = _header(headers, "retry-after-ms")
    if raw_ms is not None:
        seconds = _number(raw_ms)
        if seconds is not None:
            return seconds / 1000
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    seconds = _number(raw)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name, from httpx headers or a plain dict."""
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if value >= 0 and math.isfinite(value) else None


def error_object(body: str) -> dict[str, Any] | None:
    """The `error` object of an OpenAI/llama.cpp-style JSON error body, if it is one."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, dict):
        return error
    if isinstance(error, str):
        return {"message": error}
    if isinstance(data.get("message"), str):  # some proxies answer {"message": "…"}
        return data
    return None


def excerpt(body: str, mask: SecretMask = NO_SECRETS) -> str:
    """A short one-line excerpt of a body: an HTML page's title or its text, else the body;
    secrets masked."""
    text = body
    if "<" in body and ">" in body:
        title = _TITLE.search(body)
        if title and title.group(1).strip():
            text = title.group(1)
        else:
            text = _TAG.sub(" ", _SCRIPT_OR_STYLE.sub(" ", body))
        text = html.unescape(text)  # `&#115;k-…` is a key too
    return one_line(mask(text), EXCERPT_CHARS) or "(empty body)"


def error_message(error: Mapping[str, Any] | None, body: str, mask: SecretMask = NO_SECRETS) -> str:
    """The server's own message, sanitised and with secrets masked, or an excerpt of the body."""
    if error is not None and isinstance(error.get("message"), str) and error["message"]:
        return one_line(mask(error["message"]), EXCERPT_CHARS)
    return excerpt(body, mask)


def _code(error: Mapping[str, Any] | None) -> set[str]:
    """The error's machine-readable labels (`code` and `type`), lower-cased."""
    if error is None:
        return set()
    return {str(error[key]).lower() for key in ("code", "type") if error.get(key) is not None}


def _int_field(error: Mapping[str, Any] | None, key: str) -> int | None:
    value = None if error is None else error.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def http_error(
    status: int,
    headers: Mapping[str, str],
    body: str,
    *,
    backend: str,
    url: str,
    key_hint: str,
    mask: SecretMask = NO_SECRETS,
) -> ChatError:
    """The error for a non-200 answer. `key_hint` says which key to check on 401/403;
    `url` is shown without its secrets, and `mask` hides the backend's secrets."""
    error = error_object(body)
    labels = _code(error)
    message = error_message(error, body, mask)
    retry_after = parse_retry_after(headers)

    def made(kind: ErrorKind, text: str, **extra: Any) -> ChatError:
        return ChatError(
            kind, text, status=status, retry_after_s=retry_after, backend=backend, **extra
        )

    if status in (401, 403):
        refused = "refused the API key" if status == 401 else "denied access"
        return made(ErrorKind.AUTH, f"the server {refused} ({message}); {key_hint}")
    if status == 404:
        return made(
            ErrorKind.NOT_FOUND,
            f"not found at {mask(shown_url(url))} ({message}); check base_url and model",
        )
    if status == 429 and "insufficient_quota" in labels:
        return made(ErrorKind.QUOTA, f"quota exhausted ({message}); check the plan and billing")
    if status in (408, 409, 429):
        return made(ErrorKind.RATE_LIMIT, f"rate limited ({message})")
    if status == 400 and labels & {"context_length_exceeded", "exceed_context_size_error"}:
        return _context_overflow(error, message, made)
    if status == 503 and "loading model" in message.lower():
        return made(ErrorKind.LOADING, "the server is still loading the model")
    if 400 <= status < 500:
        return made(ErrorKind.BAD_REQUEST, f"request rejected ({message})")
    if status >= 500:
        return made(ErrorKind.SERVER, f"server error ({message})")
    # 1xx/3xx: typically a proxy or captive portal redirecting us somewhere else.
    location = _header(headers, "location")
    where = f" to {one_line(mask(shown_url(location)), EXCERPT_CHARS)}" if location else ""
    return made(ErrorKind.PROTOCOL, f"unexpected answer{where} ({message})")


def _context_overflow(
    error: Mapping[str, Any] | None, message: str, made: Callable[..., ChatError]
) -> ChatError:
    """llama.cpp gives the numbers as fields; OpenAI only in its (unshortened) prose."""
    prompt = _int_field(error, "n_prompt_tokens")
    window = _int_field(error, "n_ctx")
    prose = str(error.get("message", "")) if error is not None else ""
    if prompt is None and (found := _OPENAI_PROMPT.search(prose)):
        prompt = int(found.group(1))
    if window is None and (found := _OPENAI_CTX.search(prose)):
        window = int(found.group(1))
    if prompt is not None and window is not None:
        text = f"the prompt ({prompt} tokens) does not fit the context window ({window} tokens)"
    else:
        text = f"the prompt does not fit the context window ({message})"
    return made(ErrorKind.CONTEXT_OVERFLOW, text, prompt_tokens=prompt, context_window=window)


def stream_error(payload: str, *, backend: str, mask: SecretMask = NO_SECRETS) -> ChatError:
    """An error the server sent inside a stream that had already started."""
    error = error_object(payload)
    message = error_message(error, payload, mask)
    return ChatError(
        ErrorKind.STREAM, f"the server reported an error mid-reply: {message}", backend=backend
    )
