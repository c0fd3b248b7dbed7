"""Which sampling dials a model accepts, and how a request is fitted to them.

One table of known families (OpenAI's reasoning models take no temperature or top_p and
want `max_completion_tokens`; recent Claude models take only one of temperature/top_p;
every Claude model takes temperature 0–1), plus what a server taught us with its own
400 ("`temperature` and `top_p` cannot both be specified", `param: "temperature"`),
remembered per model name. The same table says which Claude models Anthropic's
structured outputs can hold to a JSON Schema. Pure: the learnt rules are saved through a
callable the caller passes (the store's file in the cache folder).

A dial that is not sent is recorded at its neutral value (1.0): that is what the server
then uses, so the reply's record says what really shaped it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from llmchat.core.params import TEMPERATURE_RANGE, SamplingParams
from llmchat.core.presets import NEUTRAL_TEMPERATURE, NEUTRAL_TOP_P
from llmchat.core.safe_text import one_line

Dial = Literal["temperature", "top_p"]
DIALS: tuple[Dial, ...] = ("temperature", "top_p")
MaxTokensField = Literal["max_tokens", "max_completion_tokens"]
Protocol = Literal["openai", "anthropic"]

NEUTRAL: dict[Dial, float] = {"temperature": NEUTRAL_TEMPERATURE, "top_p": NEUTRAL_TOP_P}
ANTHROPIC_TEMPERATURE_RANGE = (0.0, 1.0)
SHOWN = {"temperature": "temperature", "top_p": "top-p"}


@dataclass(frozen=True, slots=True)
class DialRule:
    """What one model accepts of the sampling dials (and of an output schema)."""

    refused: frozenset[Dial] = frozenset()
    """Dials never sent (the server uses its default, 1.0)."""
    one_of: bool = False
    """Temperature and top_p may not be sent together: only the one moved last goes."""
    temperature_range: tuple[float, float] = TEMPERATURE_RANGE
    max_tokens_field: MaxTokensField | None = None
    """The reply-reserve field the model needs; None: the backend's own setting."""
    why: str = ""
    """The family, or "learnt from the server", for the locked slider's reason."""
    structured_output: bool = False
    """Anthropic's structured outputs hold the reply to a JSON Schema (Messages
    `output_config.format`). Chat Completions servers say for themselves."""

    def merged(self, other: DialRule) -> DialRule:
        """Both rules' restrictions at once."""
        low = max(self.temperature_range[0], other.temperature_range[0])
        high = min(self.temperature_range[1], other.temperature_range[1])
        return DialRule(
            refused=self.refused | other.refused,
            one_of=self.one_of or other.one_of,
            temperature_range=(low, max(low, high)),
            max_tokens_field=other.max_tokens_field or self.max_tokens_field,
            why=" · ".join(w for w in (self.why, other.why) if w),
            structured_output=self.structured_output or other.structured_output,
        )

    def locked(self, dial: Dial) -> str | None:
        """Why the slider for `dial` does nothing for this model, or None."""
        if dial in self.refused:
            return f"ignored: not accepted by this model ({self.why})"
        return None


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    pattern: re.Pattern[str]
    rule: DialRule


def _claude_version(model: str) -> tuple[str, int, int] | None:
    """("opus" | "sonnet" | "haiku", major, minor) of a Claude 4-style name in any
    host's spelling (`claude-sonnet-4-5-20250929`, `anthropic/claude-opus-4.1`); None for
    other names, Claude 3's `claude-3-5-sonnet` included."""
    found = re.search(r"claude-(opus|sonnet|haiku)-(\d+)(?:[-.](\d{1,2}))?(?!\d)", model)
    if found is None:
        return None
    return found.group(1), int(found.group(2)), int(found.group(3) or 0)


def _claude_recent(model: str) -> bool:
    """Sonnet/Haiku 4.5 and later, Opus 4.1 and later."""
    version = _claude_version(model)
    if version is None:
        return False
    kind, major, minor = version
    least = (4, 1) if kind == "opus" else (4, 5)
    return (major, minor) >= least


STRUCTURED_OUTPUT_MODELS = "Claude Opus, Sonnet and Haiku 4.5 and later"
"""The models Anthropic's structured outputs serve, in the user's words. Opus 4.1 had
them in the 2025 beta only; the generally available `output_config.format` lists
Opus 4.5/4.6, Sonnet 4.5/4.6 and Haiku 4.5."""


def _claude_structured(model: str) -> bool:
    """Whether `model` is one of `STRUCTURED_OUTPUT_MODELS`."""
    version = _claude_version(model)
    return version is not None and version[1:] >= (4, 5)


OPENAI_REASONING = DialRule(
    refused=frozenset(DIALS),
    max_tokens_field="max_completion_tokens",
    why="OpenAI reasoning models take only the default temperature and top-p",
)
CLAUDE = DialRule(temperature_range=ANTHROPIC_TEMPERATURE_RANGE, why="Claude takes temperature 0–1")
CLAUDE_ONE_DIAL = DialRule(
    one_of=True,
    temperature_range=ANTHROPIC_TEMPERATURE_RANGE,
    why="recent Claude models take temperature or top-p, not both",
)
CLAUDE_STRUCTURED = DialRule(structured_output=True)

FAMILIES: tuple[Family, ...] = (
    # o1, o3, o4-mini, o1-pro…; gpt-5, gpt-5-mini, gpt-5.1… (not the -chat models,
    # which take the dials: a rule too strict could never be unlearnt, one too loose is
    # corrected by the server's first 400).
    Family(
        "OpenAI reasoning",
        re.compile(r"^(o[134](-.*)?|gpt-5(?!.*-chat).*)$"),
        OPENAI_REASONING,
    ),
    Family("Claude", re.compile(r"claude"), CLAUDE),
)
"""Known model families; a model name matches after any `provider/` prefix."""


def table_rule(model: str, protocol: Protocol = "openai") -> DialRule:
    """The rule the table gives `model` over `protocol` (no restrictions if unknown)."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    name = name.removeprefix("anthropic.").removeprefix("openai.")
    rule = DialRule()
    for family in FAMILIES:
        if family.pattern.search(name):
            rule = rule.merged(family.rule)
    if "claude" in name and _claude_recent(name):
        rule = rule.merged(CLAUDE_ONE_DIAL)
    if "claude" in name and _claude_structured(name):
        rule = rule.merged(CLAUDE_STRUCTURED)
    if protocol == "anthropic":
        rule = rule.merged(DialRule(temperature_range=ANTHROPIC_TEMPERATURE_RANGE))
        rule = replace(rule, max_tokens_field=None)  # Messages always says max_tokens
    return rule


# -- what a server's 400 says ------------------------------------------------------------

_BOTH = re.compile(r"temperature.{0,20}top_p.{0,40}(cannot|can't|not).{0,20}(both|together)", re.I)
_REFUSES = re.compile(
    r"(unsupported|not supported|does not support|isn't supported|is not allowed|"
    r"not allowed|only the default)",
    re.I,
)
_MAX_TOKENS = re.compile(r"max_tokens.{0,60}max_completion_tokens", re.I)


@dataclass(frozen=True, slots=True)
class Refusal:
    """What a server refused, as a rule to add."""

    rule: DialRule
    said: str
    """What to tell the user it refused ("temperature", "temperature and top-p together")."""

    def note(self, model: str, kept: str) -> str:
        """The line for the user once the body went out again without it."""
        who = one_line(model, 60)
        if self.said == "max_tokens":
            return f"{who} does not accept max_tokens: sent max_completion_tokens ({kept})"
        if self.rule.one_of:
            return f"{who} does not accept {self.said}: sent only the dial moved last ({kept})"
        return f"{who} does not accept {self.said}: sent without it ({kept})"


def refusal_in(error: Mapping[str, Any] | None) -> Refusal | None:
    """The dial a 400's error object refuses (its `param`, or its message naming it)."""
    if not error:
        return None
    message = str(error.get("message") or "")
    param = error.get("param")
    learnt = "learnt from the server"
    if _BOTH.search(message):
        return Refusal(DialRule(one_of=True, why=learnt), "temperature and top-p together")
    named: list[Dial] = [d for d in DIALS if param == d]
    if not named and _REFUSES.search(message):
        named = [d for d in DIALS if re.search(rf"\b{d}\b", message)][:1]
    if named and (param in DIALS or _REFUSES.search(message)):
        return Refusal(DialRule(refused=frozenset(named), why=learnt), SHOWN[named[0]])
    if param == "max_tokens" or _MAX_TOKENS.search(message):
        rule = DialRule(max_tokens_field="max_completion_tokens", why=learnt)
        return Refusal(rule, "max_tokens")
    return None


# -- fitting a request -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fitted:
    """The dials as they go out for one model."""

    params: SamplingParams
    """What the server uses: clamped values, unsent dials at their neutral 1.0."""
    omit: frozenset[Dial] = frozenset()
    """Dials left out of the body."""
    max_tokens_field: MaxTokensField | None = None
    notes: tuple[str, ...] = ()
    """One line each for the user: what was changed and why."""

    def shape(self, body: dict[str, Any]) -> dict[str, Any]:
        """`body` (a backend's, with both dials and `max_tokens`) as this fit sends it."""
        for dial in self.omit:
            body.pop(dial, None)
        field_ = self.max_tokens_field
        if field_ is not None:
            limit = body.pop("max_tokens", None)
            limit = body.pop("max_completion_tokens", limit)
            if limit is not None:
                body[field_] = limit
        return body


def fit(params: SamplingParams, rule: DialRule, model: str, prefer: Dial = "temperature") -> Fitted:
    """`params` as `model` accepts them under `rule`; `prefer` is the dial the user moved
    last (sent when the model takes only one)."""
    who = one_line(model, 60)
    notes: list[str] = []
    values: dict[Dial, float] = {"temperature": params.temperature, "top_p": params.top_p}
    low, high = rule.temperature_range
    if not low <= values["temperature"] <= high:
        clamped = min(high, max(low, values["temperature"]))
        notes.append(
            f"{who} takes temperature {low:g}–{high:g}: "
            f"{values['temperature']:g} sent as {clamped:g}"
        )
        values["temperature"] = clamped
    omit = set(rule.refused)
    if rule.one_of and not omit:
        other: Dial = "top_p" if prefer == "temperature" else "temperature"
        omit.add(other)
        if values[other] != NEUTRAL[other]:
            notes.append(
                f"{who} takes temperature or top-p, not both: sent {SHOWN[prefer]} "
                f"{values[prefer]:g} (moved last), not {SHOWN[other]} {values[other]:g}"
            )
    for dial in DIALS:
        if dial in rule.refused and values[dial] != NEUTRAL[dial]:
            notes.append(f"{who} does not accept {SHOWN[dial]}: sent without it")
    for dial in omit:
        values[dial] = NEUTRAL[dial]
    sent = replace(params, temperature=values["temperature"], top_p=values["top_p"])
    return Fitted(sent, frozenset(omit), rule.max_tokens_field, tuple(notes))


def changes_body(before: Fitted, after: Fitted, body: Mapping[str, Any]) -> bool:
    """Whether `after` sends something other than `body` (sent under `before`)."""
    return after.shape(dict(body)) != before.shape(dict(body))


# -- the rules of this run ---------------------------------------------------------------

Save = Callable[[Mapping[str, DialRule]], None]


@dataclass
class ModelRules:
    """The table plus what servers taught us, by model name. One per process, shared by
    every backend; `save` writes the learnt rules (the store's file) after each lesson."""

    learnt: dict[str, DialRule] = field(default_factory=dict)
    save: Save | None = None
    warnings: list[str] = field(default_factory=list)
    """Why the saved lessons could not be read; told once, with the first turn's dials."""

    def take_warnings(self) -> tuple[str, ...]:
        told, self.warnings = tuple(self.warnings), []
        return told

    def rule_for(self, model: str, protocol: Protocol = "openai") -> DialRule:
        rule = table_rule(model, protocol)
        taught = self.learnt.get(model)
        if taught is not None:
            rule = rule.merged(taught)
            if protocol == "anthropic":
                rule = replace(rule, max_tokens_field=None)
        return rule

    def learn(self, model: str, refusal: Refusal) -> str:
        """Remember `refusal` for `model`; returns how it is kept, for the user's note."""
        before = self.learnt.get(model, DialRule(why=refusal.rule.why))
        self.learnt[model] = replace(before.merged(refusal.rule), why=refusal.rule.why)
        if self.save is None:
            return "for this run"
        try:
            self.save(dict(self.learnt))
        except OSError as exc:
            return f"for this run only: {exc.strerror or exc}"
        return "remembered"


def dial_moved_last(before: SamplingParams, after: SamplingParams, previous: Dial) -> Dial:
    """The dial the user moved last, after a change from `before` to `after`. When both
    changed at once (a preset), the one left off neutral; else `previous`."""
    moved = [d for d in DIALS if getattr(before, d) != getattr(after, d)]
    if len(moved) == 1:
        return moved[0]
    return first_dial(after, previous)


def first_dial(params: SamplingParams, default: Dial = "temperature") -> Dial:
    """The dial these values tune: the only one off neutral, else `default`."""
    off = [d for d in DIALS if getattr(params, d) != NEUTRAL[d]]
    return off[0] if len(off) == 1 else default
