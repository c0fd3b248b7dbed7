"""The session-file format: the one place that knows how each record looks as JSON.

Every record type has a pair here: `*_to_json` (what the writer puts on the line) and
`*_from_json` (how the loader reads it back, replacing bad values by defaults and saying
so through `warn`). `to_json` and `from_json` dispatch on the record's type; nothing else
in llmchat spells a record's keys.

Versions: the header's `v` says which format the records after it were written in, and a
`format` record says so again when a newer llmchat continues an older file. `UPGRADES`
maps each older version to a function that brings one record of it to the next version;
`upgrade` runs the chain, so the decoders only ever see the current format.

- v1: header, message, params, title, cost, backend.
- v2: adds `system` (every change of the system prompt), `checkpoint` (the text a reply
  gained while streaming) and the status `interrupted`. v1 records are v2 records as they
  are; a v1 reader skips what v2 adds, and says the file is newer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import fields
from typing import Annotated, Any, Literal

import msgspec

from llmchat.core import token_probs
from llmchat.core.backend_record import BackendRecord
from llmchat.core.messages import (
    ImageRef,
    Message,
    Role,
    Status,
    Timing,
    Usage,
    new_id,
    now_iso,
)
from llmchat.core.params import (
    MAX_TOKENS_RANGE,
    MIN_P_RANGE,
    SEED_RANGE,
    TEMPERATURE_RANGE,
    TOP_K_RANGE,
    TOP_P_RANGE,
    SamplingParams,
)
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

CURRENT_VERSION = 2
JSON = dict[str, Any]
Warn = Callable[[str], None]
_DETAIL_LIMIT = 120
"""Warnings quote what was wrong, but a 1 MB bad value must not become a 1 MB warning."""
_BACKEND_KEYS = ("backend", "kind", "base_url", "model", "model_file")
"""A BackendRecord's fields as the header and `backend` records spell them."""


class BadRecord(ValueError):
    """A record that cannot be used at all; `str()` says why, for the loader's warning."""


def detail(text: str) -> str:
    """`text` cut short enough to quote in a warning."""
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"


# -- versions ----------------------------------------------------------------------------


def _v1_to_v2(record: JSON) -> list[JSON]:
    # v2 only added record types and a status: every v1 record reads as it is.
    return [record]


UPGRADES: dict[int, Callable[[JSON], list[JSON]]] = {1: _v1_to_v2}
"""Version n -> a function bringing one record of version n to version n + 1 (it may
split a record in several, or drop it)."""


def upgrade(record: JSON, version: int) -> list[JSON]:
    """`record`, written in format `version`, as records of the current format.

    Records of a newer version are returned as they are (the decoders skip what they do
    not know); versions older than the table (a 0, a negative) are read as v1."""
    records = [record]
    if version >= CURRENT_VERSION:
        return records  # the common case, without building the chain
    for step in range(max(version, min(UPGRADES)), CURRENT_VERSION):
        records = [new for old in records for new in UPGRADES[step](old)]
    return records


def format_mark_to_json(version: int = CURRENT_VERSION) -> JSON:
    """Written before the first record a newer llmchat adds to an older file."""
    return {"type": "format", "v": version}


def version_of(record: JSON) -> int:
    """The format version a header or `format` record declares (v1 if it says none)."""
    version = record.get("v")
    return version if isinstance(version, int) and not isinstance(version, bool) else 1


# -- the session header ------------------------------------------------------------------


def header_to_json(header: SessionHeader) -> JSON:
    info = header.info
    return {
        "type": "session",
        "v": CURRENT_VERSION,
        "id": info.id,
        "created": info.created,
        "title": info.title,
        **backend_fields(info.backend_record),
        "params": params_to_json(header.params),
        "system": info.system,
        "forked_from": (
            {"session": info.forked_from, "message": info.forked_at}
            if info.forked_from is not None
            else None
        ),
    }


def header_from_json(record: JSON, warn: Warn, fallback: SessionInfo) -> SessionHeader:
    """The header; fields of the wrong type take `fallback`'s value, with one warning."""
    wrong: list[str] = []

    def text(key: str, default: str) -> str:
        value = record.get(key, default)
        if isinstance(value, str):
            return value
        wrong.append(key)
        return default

    def optional_text(key: str) -> str | None:
        value = record.get(key)
        if value is None or isinstance(value, str):
            return value
        wrong.append(key)
        return None

    info = SessionInfo(
        id=text("id", fallback.id) or fallback.id,
        created=text("created", fallback.created) or fallback.created,
        title=text("title", ""),
        backend=optional_text("backend"),
        model=optional_text("model"),
        system=text("system", ""),
        forked_from=_fork_source(record.get("forked_from"))[0],
        forked_at=_fork_source(record.get("forked_from"))[1],
        kind=optional_text("kind"),
        base_url=optional_text("base_url"),
        model_file=optional_text("model_file"),
    )
    params = record.get("params")
    if params is not None and not isinstance(params, dict):
        wrong.append("params")
    if wrong:
        warn(f"session header has the wrong type for {', '.join(wrong)}; defaults used")
    return SessionHeader(info, params_from_json(params, warn))


# -- sampling parameters (inside other records) ------------------------------------------


def params_to_json(params: SamplingParams) -> JSON:
    record: JSON = {
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_tokens": params.max_tokens,
        "seed": params.seed,
    }
    # llama.cpp's cuts only when set: a file without them reads as "server default".
    if params.top_k is not None:
        record["top_k"] = params.top_k
    if params.min_p is not None:
        record["min_p"] = params.min_p
    return record


def params_from_json(
    data: Any, warn: Warn, previous: SamplingParams | None = None
) -> SamplingParams:
    """Parameters as stored; a value out of its range (NaN, 1e308, a negative max_tokens)
    is replaced by its value in `previous` (the parameters in force before this record)
    or, without one, by its default, with a warning, so nothing out of range is ever sent."""
    if not isinstance(data, dict):
        return previous or SamplingParams()
    base = previous or SamplingParams()
    bad: list[str] = []

    def number(key: str, low: float, high: float, kept: float) -> float:
        raw = data.get(key)
        if raw is None:
            return kept
        if _is_number(raw) and low <= raw <= high:  # False for NaN
            return float(raw)
        bad.append(f"{key} {detail(repr(raw))}")
        return kept

    def whole(key: str, low: int, high: int, missing: int | None, kept: int | None) -> int | None:
        raw = data.get(key)
        if raw is None:
            return missing
        if isinstance(raw, int) and not isinstance(raw, bool) and low <= raw <= high:
            return raw
        if isinstance(raw, float) and raw.is_integer() and low <= raw <= high:
            return int(raw)  # a 512.0 from a hand-edited file means 512
        bad.append(f"{key} {detail(repr(raw))}")
        return kept

    temperature = number("temperature", *TEMPERATURE_RANGE, base.temperature)
    top_p = number("top_p", *TOP_P_RANGE, base.top_p)
    max_tokens = whole("max_tokens", *MAX_TOKENS_RANGE, base.max_tokens, base.max_tokens)
    # null is "no seed", not a value missing: only a bad seed keeps the one before.
    seed = whole("seed", *SEED_RANGE, None, base.seed)
    top_k = whole("top_k", *TOP_K_RANGE, None, base.top_k)
    min_p = None if data.get("min_p") is None else number("min_p", *MIN_P_RANGE, -1.0)
    if bad:
        kept = "the previous values kept" if previous is not None else "defaults used"
        warn(f"parameters out of range ({', '.join(bad)}); {kept}")
    return SamplingParams(
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens or base.max_tokens,
        seed=seed,
        top_k=top_k,
        min_p=base.min_p if min_p == -1.0 else min_p,
    )


# -- messages ----------------------------------------------------------------------------


def message_to_json(message: Message) -> JSON:
    record: JSON = {
        "type": "message",
        "id": message.id,
        "parent": message.parent,
        "role": str(message.role),
        "content": message.content,
        "ts": message.ts,
    }
    if message.tokens is not None:
        record["tokens"] = message.tokens
    if message.tokenizer is not None:
        record["tokenizer"] = message.tokenizer
    if message.images:
        record["images"] = [
            {"sha256": i.sha256, "media_type": i.media_type, "name": i.name} for i in message.images
        ]
    if message.role is Role.ASSISTANT:
        record.update(
            status=str(message.status),
            backend=message.backend,
            model=message.model,
            params=params_to_json(message.params) if message.params else None,
            usage=usage_to_json(message.usage) if message.usage else None,
            timing=timing_to_json(message.timing) if message.timing else None,
            cost_usd=message.cost_usd,
            error=message.error,
            finish_reason=message.finish_reason,
        )
        if message.fell_back_from is not None:
            record["fell_back_from"] = message.fell_back_from
        if message.probabilities is not None:
            record["probabilities"] = token_probs.to_json(message.probabilities)
        if message.resampled_at is not None:
            record["resampled_at"] = message.resampled_at
    return record


def message_from_json(record: JSON, warn: Warn) -> Message:
    """A message; raises BadRecord without a role or a text. Other bad fields are dropped."""
    if not isinstance(record, dict):
        raise BadRecord(f"message record is not an object: {type(record).__name__}")
    return sound_message(record) or checked_message(record, warn)


def checked_message(record: JSON, warn: Warn) -> Message:
    """`message_from_json` checking every field on its own: for records that are not sound."""
    try:
        role = Role(record["role"])
    except (KeyError, ValueError, TypeError) as exc:
        raise BadRecord(
            f"message record has no valid role: {detail(repr(record.get('role')))}"
        ) from exc
    content = record.get("content")
    if not isinstance(content, str):
        raise BadRecord("message record has no text content")
    try:
        status = Status(record.get("status") or "complete")
    except (ValueError, TypeError):
        status = Status.INCOMPLETE  # a status from a newer llmchat: it did not complete here
    params = record.get("params")
    return Message(
        role=role,
        content=content,
        id=_text(record.get("id")) or new_id(),
        parent=_text(record.get("parent")),
        ts=_text(record.get("ts")) or now_iso(),
        tokens=_count(record.get("tokens")),
        tokenizer=_text(record.get("tokenizer")),
        images=images_from_json(record.get("images"), warn),
        status=status,
        backend=_text(record.get("backend")),
        model=_text(record.get("model")),
        params=params_from_json(params, warn) if isinstance(params, dict) else None,
        usage=usage_from_json(record.get("usage")),
        timing=timing_from_json(record.get("timing")),
        cost_usd=_cost(record.get("cost_usd")),
        error=_text(record.get("error")),
        finish_reason=_text(record.get("finish_reason")),
        fell_back_from=_text(record.get("fell_back_from")),
        probabilities=token_probs.from_json(record.get("probabilities")),
        resampled_at=_count(record.get("resampled_at")),
    )


_ROLES = {role.value: role for role in Role}
_STATUSES = {status.value: status for status in Status}


def sound_message(record: JSON) -> Message | None:
    """The message a record holds if every field has its right type and range (what
    llmchat writes), else None: the fast path of loading, taken by nearly every record.

    It gives exactly what the checking path below gives for such a record, without its
    per-field calls; anything doubtful (a missing id, a count that is a float, a value out
    of range, a key it does not know in a timing) goes to the checking path instead."""
    get = record.get
    role, content, message_id, ts = get("role"), get("content"), get("id"), get("ts")
    if not (
        type(role) is str
        and type(content) is str
        and type(message_id) is str
        and message_id
        and type(ts) is str
        and ts
    ):
        return None
    parent, tokens, status = get("parent"), get("tokens"), get("status")
    tokenizer, images = get("tokenizer"), get("images")
    sound_images = () if images is None else _sound_images(images)
    if sound_images is None:
        return None
    backend, model, error = get("backend"), get("model"), get("error")
    finish_reason, cost = get("finish_reason"), get("cost_usd")
    fell_back_from, probs = get("fell_back_from"), get("probabilities")
    resampled_at = get("resampled_at")
    if not (
        (parent is None or type(parent) is str)
        and (tokens is None or (type(tokens) is int and 0 <= tokens <= MOST))
        and (tokenizer is None or type(tokenizer) is str)
        and (status is None or type(status) is str)
        and (backend is None or type(backend) is str)
        and (model is None or type(model) is str)
        and (error is None or type(error) is str)
        and (finish_reason is None or type(finish_reason) is str)
        and (fell_back_from is None or type(fell_back_from) is str)
        and (resampled_at is None or (type(resampled_at) is int and 0 <= resampled_at <= MOST))
        and (cost is None or (type(cost) is float and 0 <= cost <= MOST))
    ):
        return None
    known_role = _ROLES.get(role)
    known_status = _STATUSES.get(status or "complete")
    if known_role is None or known_status is None:
        return None
    params, usage, timing = get("params"), get("usage"), get("timing")
    sound_params = None if params is None else _sound_params(params)
    sound_usage = None if usage is None else _sound_usage(usage)
    sound_timing = None if timing is None else _sound_timing(timing)
    if (
        (params is not None and sound_params is None)
        or (usage is not None and sound_usage is None)
        or (timing is not None and sound_timing is None)
    ):
        return None
    return Message(
        role=known_role,
        content=content,
        id=message_id,
        parent=parent,
        ts=ts,
        tokens=tokens,
        tokenizer=tokenizer,
        images=sound_images,
        status=known_status,
        backend=backend,
        model=model,
        params=sound_params,
        usage=sound_usage,
        timing=sound_timing,
        cost_usd=cost,
        error=error,
        finish_reason=finish_reason,
        fell_back_from=fell_back_from,
        probabilities=None if probs is None else token_probs.from_json(probs),
        resampled_at=resampled_at,
    )


def _sound_params(data: Any) -> SamplingParams | None:
    """`params_from_json` for parameters that need no default and no warning."""
    if type(data) is not dict or len(data) != 4 + ("top_k" in data) + ("min_p" in data):
        return None
    temperature, top_p = data.get("temperature"), data.get("top_p")
    max_tokens, seed = data.get("max_tokens"), data.get("seed")
    top_k, min_p = data.get("top_k"), data.get("min_p")
    if (
        (top_k is None or (type(top_k) is int and TOP_K_RANGE[0] <= top_k <= TOP_K_RANGE[1]))
        and (min_p is None or (type(min_p) is float and MIN_P_RANGE[0] <= min_p <= MIN_P_RANGE[1]))
        and type(temperature) is float
        and TEMPERATURE_RANGE[0] <= temperature <= TEMPERATURE_RANGE[1]
        and type(top_p) is float
        and TOP_P_RANGE[0] <= top_p <= TOP_P_RANGE[1]
        and type(max_tokens) is int
        and MAX_TOKENS_RANGE[0] <= max_tokens <= MAX_TOKENS_RANGE[1]
        and (seed is None or (type(seed) is int and SEED_RANGE[0] <= seed <= SEED_RANGE[1]))
    ):
        return SamplingParams(temperature, top_p, max_tokens, seed, top_k, min_p)
    return None


IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
MAX_IMAGES = 100
"""Images read from one message record; a longer list is cut (a hostile file)."""
_SHA256 = re.compile(r"[0-9a-f]{64}")


MOST = 1_000_000_000
"""The largest count or measure a session file may hold (tokens, milliseconds, tokens a
second, dollars): a larger one is a damaged or hand-edited file, read as unknown rather
than shown as a 300-digit number."""


def _sound_usage(data: Any) -> Usage | None:
    """`usage_from_json` for counts that need no default."""
    if type(data) is not dict or len(data) != 4 + ("cache_write" in data):
        return None
    prompt, completion = data.get("prompt"), data.get("completion")
    cached, estimated = data.get("cached"), data.get("estimated")
    written = data.get("cache_write", 0)
    if (
        type(written) is int
        and 0 <= written <= MOST
        and type(prompt) is int
        and 0 <= prompt <= MOST
        and type(completion) is int
        and 0 <= completion <= MOST
        and type(cached) is int
        and 0 <= cached <= MOST
        and type(estimated) is bool
    ):
        return Usage(prompt, completion, cached, estimated, written)
    return None


_TIMING_KEYS = frozenset(f.name for f in fields(Timing))


def _sound_timing(data: Any) -> Timing | None:
    """`timing_from_json` for a timing of known keys with sound values only."""
    if type(data) is not dict:
        return None
    for key, value in data.items():
        kind = type(value)
        if key not in _TIMING_KEYS or not (
            value is None
            or (kind is int and 0 <= value <= MOST)
            or (kind is float and 0 <= value <= MOST)
        ):
            return None
    return Timing(**data)


def usage_to_json(usage: Usage) -> JSON:
    return {
        "prompt": usage.prompt,
        "completion": usage.completion,
        "cached": usage.cached,
        "estimated": usage.estimated,
        # Only when there were some: a reply without cache writes is written as before.
        **({"cache_write": usage.cache_write} if usage.cache_write else {}),
    }


def usage_from_json(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    return Usage(
        prompt=_count(data.get("prompt")) or 0,
        completion=_count(data.get("completion")) or 0,
        cached=_count(data.get("cached")) or 0,
        estimated=bool(data.get("estimated", False)),
        cache_write=_count(data.get("cache_write")) or 0,
    )


_TIMING_FIELDS = tuple(f.name for f in fields(Timing))


def timing_to_json(timing: Timing) -> JSON:
    values = {name: getattr(timing, name) for name in _TIMING_FIELDS}
    return {name: value for name, value in values.items() if value is not None}


def timing_from_json(data: Any) -> Timing | None:
    if not isinstance(data, dict):
        return None
    values: dict[str, Any] = {name: _amount(data.get(name)) for name in _TIMING_FIELDS}
    return Timing(**{name: value for name, value in values.items() if value is not None})


# -- records of a change -----------------------------------------------------------------


def params_changed_to_json(record: ParamsChanged) -> JSON:
    return {"type": "params", "ts": record.ts, "params": params_to_json(record.params)}


def params_changed_from_json(
    record: JSON, warn: Warn, previous: SamplingParams | None = None
) -> ParamsChanged:
    """A change of parameters; a value out of range keeps the one in force before it."""
    params = record.get("params")
    if not isinstance(params, dict):
        raise BadRecord("params record without parameters")
    return ParamsChanged(params_from_json(params, warn, previous), _ts(record))


def title_changed_to_json(record: TitleChanged) -> JSON:
    return {"type": "title", "ts": record.ts, "title": record.title}


def title_changed_from_json(record: JSON, warn: Warn) -> TitleChanged:
    title = record.get("title")
    if not isinstance(title, str):
        raise BadRecord("title record without a text title")
    return TitleChanged(title, _ts(record))


def system_changed_to_json(record: SystemChanged) -> JSON:
    return {"type": "system", "ts": record.ts, "system": record.system}


def system_changed_from_json(record: JSON, warn: Warn) -> SystemChanged:
    system = record.get("system")
    if not isinstance(system, str):
        raise BadRecord("system record without a text system prompt")
    return SystemChanged(system, _ts(record))


def cost_known_to_json(record: CostKnown) -> JSON:
    return {"type": "cost", "ts": record.ts, "id": record.id, "cost_usd": record.cost_usd}


def cost_known_from_json(record: JSON, warn: Warn) -> CostKnown:
    cost = _cost(record.get("cost_usd"))
    if cost is None:
        raise BadRecord("cost record without a number")
    target = record.get("id")
    if not isinstance(target, str):
        raise BadRecord(f"cost for an unknown message {detail(str(target))!r}")
    return CostKnown(target, cost, _ts(record))


def backend_fields(backend: BackendRecord) -> JSON:
    values = (backend.name, backend.kind, backend.base_url, backend.model, backend.model_file)
    return dict(zip(_BACKEND_KEYS, values, strict=True))


def backend_changed_to_json(record: BackendChanged) -> JSON:
    return {"type": "backend", "ts": record.ts, **backend_fields(record.backend)}


def backend_changed_from_json(record: JSON, warn: Warn) -> BackendChanged:
    values = [record.get(key) for key in _BACKEND_KEYS]
    if not all(value is None or isinstance(value, str) for value in values):
        raise BadRecord("backend record with a value that is not text")
    return BackendChanged(BackendRecord(*values), _ts(record))


def checkpoint_to_json(record: ReplyCheckpoint) -> JSON:
    return {
        "type": "checkpoint",
        "ts": record.ts,
        "id": record.id,
        "parent": record.parent,
        "text": record.text,
    }


def checkpoint_from_json(record: JSON, warn: Warn) -> ReplyCheckpoint:
    reply, text = record.get("id"), record.get("text")
    if not isinstance(reply, str) or not reply or not isinstance(text, str):
        raise BadRecord("checkpoint record without a reply id and text")
    return ReplyCheckpoint(reply, _text(record.get("parent")), text, _ts(record))


# -- the fastest path: a sound line straight to its record ---------------------------------
#
# Nearly every line of a long session is a message or a price, written by llmchat and so
# sound. msgspec checks such a line against the types below while it parses it, without
# building a dict of it; `sound_line` then builds the record. Each type and range here is
# the one `sound_message` and `cost_known_from_json` accept, so the record is the one the
# checking path makes; whatever fails them (or is not a message or a price) is None,
# and the line takes the usual path. Meta bounds are inclusive, like the checks.

_Count = Annotated[int, msgspec.Meta(ge=0, le=MOST)]
_Amount = (
    Annotated[int, msgspec.Meta(ge=0, le=MOST)] | Annotated[float, msgspec.Meta(ge=0, le=MOST)]
)
_Id = Annotated[str, msgspec.Meta(min_length=1)]


class _ParamsLine(msgspec.Struct):
    temperature: Annotated[float, msgspec.Meta(ge=TEMPERATURE_RANGE[0], le=TEMPERATURE_RANGE[1])]
    top_p: Annotated[float, msgspec.Meta(ge=TOP_P_RANGE[0], le=TOP_P_RANGE[1])]
    max_tokens: Annotated[int, msgspec.Meta(ge=MAX_TOKENS_RANGE[0], le=MAX_TOKENS_RANGE[1])]
    seed: Annotated[int, msgspec.Meta(ge=SEED_RANGE[0], le=SEED_RANGE[1])] | None
    top_k: Annotated[int, msgspec.Meta(ge=TOP_K_RANGE[0], le=TOP_K_RANGE[1])] | None = None
    min_p: Annotated[float, msgspec.Meta(ge=MIN_P_RANGE[0], le=MIN_P_RANGE[1])] | None = None


class _UsageLine(msgspec.Struct):
    prompt: _Count
    completion: _Count
    cached: _Count
    estimated: bool
    cache_write: _Count = 0


class _TimingLine(msgspec.Struct):
    ttft_ms: _Amount | None = None
    total_ms: _Amount | None = None
    tok_s: _Amount | None = None
    prefill_ms: _Amount | None = None
    prefill_tokens: _Amount | None = None
    decode_ms: _Amount | None = None
    decode_tokens: _Amount | None = None
    cache_tokens: _Amount | None = None


class _ImageLine(msgspec.Struct, forbid_unknown_fields=True):
    sha256: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
    media_type: Literal["image/png", "image/jpeg", "image/webp", "image/gif"]
    name: str


class _MessageLine(msgspec.Struct, tag_field="type", tag="message"):
    role: Role
    content: str
    id: _Id
    ts: _Id
    parent: str | None = None
    tokens: _Count | None = None
    tokenizer: str | None = None
    images: Annotated[list[_ImageLine], msgspec.Meta(max_length=MAX_IMAGES)] | None = None
    status: Status = Status.COMPLETE
    backend: str | None = None
    model: str | None = None
    params: _ParamsLine | None = None
    usage: _UsageLine | None = None
    timing: _TimingLine | None = None
    cost_usd: Annotated[float, msgspec.Meta(ge=0, le=MOST)] | None = None
    error: str | None = None
    finish_reason: str | None = None
    fell_back_from: str | None = None
    probabilities: Any = None
    """Checked by `token_probs.from_json`, like the other paths."""
    resampled_at: _Count | None = None


class _CostLine(msgspec.Struct, tag_field="type", tag="cost"):
    id: str
    cost_usd: Annotated[float, msgspec.Meta(ge=0, le=MOST)]
    ts: str = ""


_SOUND_LINES = msgspec.json.Decoder(_MessageLine | _CostLine)


def sound_line(raw: bytes) -> Message | CostKnown | None:
    """The message or price a sound line of the current format holds, else None."""
    try:
        line = _SOUND_LINES.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    if type(line) is _CostLine:
        return CostKnown(line.id, line.cost_usd, line.ts)
    assert type(line) is _MessageLine
    params, usage, timing = line.params, line.usage, line.timing
    return Message(
        role=line.role,
        content=line.content,
        id=line.id,
        parent=line.parent,
        ts=line.ts,
        tokens=line.tokens,
        tokenizer=line.tokenizer,
        images=()
        if line.images is None
        else tuple(ImageRef(i.sha256, i.media_type, i.name) for i in line.images),
        status=line.status,
        backend=line.backend,
        model=line.model,
        params=None
        if params is None
        else SamplingParams(
            params.temperature,
            params.top_p,
            params.max_tokens,
            params.seed,
            params.top_k,
            params.min_p,
        ),
        usage=None
        if usage is None
        else Usage(
            usage.prompt, usage.completion, usage.cached, usage.estimated, usage.cache_write
        ),
        timing=None if timing is None else Timing(*msgspec.structs.astuple(timing)),
        cost_usd=line.cost_usd,
        error=line.error,
        finish_reason=line.finish_reason,
        fell_back_from=line.fell_back_from,
        probabilities=None
        if line.probabilities is None
        else token_probs.from_json(line.probabilities),
        resampled_at=line.resampled_at,
    )


# -- dispatch ----------------------------------------------------------------------------


def branch_chosen_to_json(record: BranchChosen) -> JSON:
    return {"type": "branch", "ts": record.ts, "leaf": record.leaf}


def branch_chosen_from_json(record: JSON, warn: Warn) -> BranchChosen:
    leaf = record.get("leaf")
    if not isinstance(leaf, str) or not leaf:
        raise BadRecord("branch record without the id of the message it chose")
    return BranchChosen(leaf, _ts(record))


_ENCODERS: dict[type[Any], Callable[[Any], JSON]] = {
    SessionHeader: header_to_json,
    Message: message_to_json,
    ParamsChanged: params_changed_to_json,
    TitleChanged: title_changed_to_json,
    SystemChanged: system_changed_to_json,
    CostKnown: cost_known_to_json,
    BackendChanged: backend_changed_to_json,
    ReplyCheckpoint: checkpoint_to_json,
    BranchChosen: branch_chosen_to_json,
}
_DECODERS: dict[str, Callable[[JSON, Warn], Record]] = {
    "message": message_from_json,
    "params": params_changed_from_json,
    "title": title_changed_from_json,
    "system": system_changed_from_json,
    "cost": cost_known_from_json,
    "backend": backend_changed_from_json,
    "checkpoint": checkpoint_from_json,
    "branch": branch_chosen_from_json,
}


def to_json(record: Record) -> JSON:
    """The JSON object for a record, as one line of a session file holds it."""
    return _ENCODERS[type(record)](record)


def from_json(
    record: JSON, warn: Warn, *, fallback: SessionInfo, params: SamplingParams | None = None
) -> Record | None:
    """The record a current-format JSON object holds (see `upgrade` for older ones).

    None for a type this version does not know (written by a newer one: skip it quietly)
    and for `format` records (the loader reads their version with `version_of`). Raises
    BadRecord when the record cannot be used. `params`: the parameters in force so far,
    which a `params` record's out-of-range values fall back to."""
    kind = record.get("type")
    if kind == "session":
        return header_from_json(record, warn, fallback)
    if kind == "params":
        return params_changed_from_json(record, warn, params)
    decoder = _DECODERS.get(kind) if isinstance(kind, str) else None
    return decoder(record, warn) if decoder is not None else None


# -- values ------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    # bool is an int in Python, but `true` in a file is not a number of anything.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _count(value: Any) -> int | None:
    whole = isinstance(value, int) and not isinstance(value, bool)
    return value if whole and 0 <= value <= MOST else None


def _amount(value: Any) -> int | float | None:
    """A stored measure (a time, a price): a finite number from zero to MOST."""
    return value if _is_number(value) and math.isfinite(value) and 0 <= value <= MOST else None


def _cost(value: Any) -> float | None:
    amount = _amount(value)
    return None if amount is None else float(amount)


def _sound_images(data: Any) -> tuple[ImageRef, ...] | None:
    """The images of a record as llmchat writes them, else None (the checking path)."""
    if type(data) is not list or len(data) > MAX_IMAGES:
        return None
    images = []
    for item in data:
        if type(item) is not dict or len(item) != 3:
            return None
        sha, media_type, name = item.get("sha256"), item.get("media_type"), item.get("name")
        if not (
            type(sha) is str
            and _SHA256.fullmatch(sha)
            and type(media_type) is str
            and media_type in IMAGE_TYPES
            and type(name) is str
        ):
            return None
        images.append(ImageRef(sha, media_type, name))
    return tuple(images)


def images_from_json(data: Any, warn: Warn) -> tuple[ImageRef, ...]:
    """A message's images; an entry that does not name a stored image by its hash (a
    hand-edited path, an unknown type) is dropped with a warning."""
    if data is None:
        return ()
    if not isinstance(data, list):
        warn(f"images is not a list: {detail(repr(data))}; ignored")
        return ()
    if len(data) > MAX_IMAGES:
        warn(f"{len(data) - MAX_IMAGES:,} image entries past the first {MAX_IMAGES}; ignored")
    images: list[ImageRef] = []
    for item in data[:MAX_IMAGES]:
        sha = item.get("sha256") if isinstance(item, dict) else None
        media_type = item.get("media_type") if isinstance(item, dict) else None
        name = item.get("name") if isinstance(item, dict) else None
        if (
            isinstance(sha, str)
            and _SHA256.fullmatch(sha)
            and isinstance(media_type, str)  # a list or a dict is not hashable
            and media_type in IMAGE_TYPES
        ):
            images.append(ImageRef(sha, media_type, name if isinstance(name, str) else ""))
        else:
            warn(f"an image entry is not a stored image: {detail(repr(item))}; ignored")
    return tuple(images)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _ts(record: JSON) -> str:
    return _text(record.get("ts")) or ""


def _fork_source(value: Any) -> tuple[str | None, str | None]:
    """`forked_from`: {"session": id, "message": id} (v2), or the session id alone (v1)."""
    if isinstance(value, str):
        return value, None
    if isinstance(value, dict):
        return _text(value.get("session")), _text(value.get("message"))
    return None, None
