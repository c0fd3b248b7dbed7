"""What the dials do to the pool a token was picked from: the alternatives the server
returned, cut and re-weighted as the sampler would with the current dials.

It is an approximation over the top alternatives only (the server returns ten or
twenty of a vocabulary of many thousands), and the view says so. The order follows the
server's sampler:

- llama.cpp cuts first and applies temperature last (its default chain is … top_k,
  typical, top_p, min_p, …, temperature): top-k keeps the k most likely, top-p the
  most likely whose probabilities add up to p, min-p those at least min_p × the most
  likely one's; the survivors are then weighted by softmax(logprob / T).
- OpenAI-style servers apply temperature first and top-p to the tempered
  probabilities (as Hugging Face's samplers do); they take no top-k or min-p.

Temperature 0 is greedy decoding: the most likely token alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from llmchat.core.token_probs import Alternative, TokenProb

Sampler = Literal["llama.cpp", "openai"]


@dataclass(frozen=True, slots=True)
class Dials:
    temperature: float
    top_p: float
    top_k: int | None = None
    """llama.cpp only; 0 or None: no top-k cut."""
    min_p: float | None = None
    """llama.cpp only; 0 or None: no min-p cut."""


@dataclass(frozen=True, slots=True)
class ServerCuts:
    """The top-k and min-p a llama-server uses when a request names none (its `/props`;
    llama.cpp's own defaults are 40 and 0.05)."""

    top_k: int = 40
    min_p: float = 0.05


REST = "…"
"""The row standing for every token the server did not return."""


@dataclass(frozen=True, slots=True)
class PoolRow:
    token: str
    model: float
    """The model's probability (the server's, over the whole vocabulary)."""
    share: float
    """Its chance with the dials: among the survivors, re-weighted by temperature."""
    cut_by: str | None
    """The cut that removes it ("top-k 40", "top-p 0.90", "min-p 0.05"), or None."""
    chosen: bool
    rest: bool = False
    """The tokens the server did not return, together (`REST`)."""

    @property
    def survives(self) -> bool:
        return self.cut_by is None


@dataclass(frozen=True, slots=True)
class Pool:
    rows: tuple[PoolRow, ...]
    """The alternatives returned, most likely first, then (when they hold less than all
    of the probability) one row for the rest of the vocabulary."""
    covered: float
    """How much of the model's probability the returned alternatives hold (0–1)."""
    sampler: Sampler

    @property
    def survivors(self) -> int:
        """Returned alternatives that survive the cuts (the rest row not counted)."""
        return sum(row.survives for row in self.rows if not row.rest)

    @property
    def returned(self) -> int:
        return sum(not row.rest for row in self.rows)

    @property
    def overfull(self) -> bool:
        """The returned probabilities add up to more than one: not from a real model."""
        return sum(row.model for row in self.rows if not row.rest) > 1.001


def reweigh(token: TokenProb, dials: Dials, sampler: Sampler) -> Pool:
    """The pool at `token` with `dials`, most likely first.

    The tokens the server did not return are one more row, "the rest": each of them is
    less likely than the least likely one returned, so a cut that removes a returned
    token removes them all; otherwise they survive, re-weighted by temperature as if
    each were as likely as the least likely returned one (exact at T 1, where the
    shares are the model's own probabilities)."""
    pool: list[Alternative] = []
    for alternative in sorted(token.top, key=lambda a: -a.logprob):
        if all(a.token != alternative.token for a in pool):  # a token text once
            pool.append(alternative)
    if all(a.token != token.token for a in pool):
        # The chosen token was not among the top (sampled at a high temperature): it is
        # in the pool all the same.
        pool.append(Alternative(token.token, token.logprob))
        pool.sort(key=lambda a: -a.logprob)
    chosen = next(i for i, a in enumerate(pool) if a.token == token.token)
    model = [a.probability for a in pool]
    covered = min(1.0, sum(model))
    rest = max(0.0, 1.0 - covered)
    if rest > 1e-4:
        model.append(rest)
    n = len(pool)
    cuts: list[str | None] = [None] * len(model)
    if sampler == "llama.cpp":
        shares = _llama(model, n, dials, cuts)
    else:
        shares = _openai(model, n, dials, cuts)
    rows = [
        PoolRow(a.token, p, share, cut, i == chosen)
        for i, (a, p, share, cut) in enumerate(zip(pool, model, shares, cuts, strict=False))
    ]
    if len(model) > n:
        rows.append(PoolRow(REST, model[n], shares[n], cuts[n], False, rest=True))
    return Pool(tuple(rows), covered, sampler)


def _llama(model: list[float], n: int, dials: Dials, cuts: list[str | None]) -> list[float]:
    """llama.cpp's chain: top-k, top-p over what top-k left (renormalised), min-p
    against the most likely, then temperature over the survivors."""
    top_k = dials.top_k or 0
    if 0 < top_k < len(model):
        for i in range(top_k, len(model)):
            cuts[i] = f"top-k {top_k}"
    kept = sum(p for p, cut in zip(model, cuts, strict=True) if cut is None)
    _cut_top_p(cuts, [p / kept for p in model] if kept else model, dials.top_p)
    if dials.min_p:
        floor = dials.min_p * model[0]
        for i in range(n):  # the rest row: cut with the last returned one
            if cuts[i] is None and model[i] < floor:
                cuts[i] = f"min-p {dials.min_p:.2f}"
    _cut_the_rest_with_the_last(cuts, n)
    return _tempered(model, n, cuts, dials.temperature)


def _openai(model: list[float], n: int, dials: Dials, cuts: list[str | None]) -> list[float]:
    """Temperature first, then top-p over the tempered probabilities."""
    everyone: list[str | None] = [None] * len(model)
    tempered = _tempered(model, n, everyone, dials.temperature)
    _cut_top_p(cuts, tempered, dials.top_p)
    for i, greedy in enumerate(everyone):  # T 0 leaves the most likely alone
        cuts[i] = cuts[i] or greedy
    _cut_the_rest_with_the_last(cuts, n)
    return _renormalised(tempered, cuts)


def _cut_top_p(cuts: list[str | None], probabilities: list[float], top_p: float) -> None:
    """Keep the most likely until their probabilities reach `top_p` (at least one)."""
    if top_p >= 1.0:
        return
    total = 0.0
    for i, p in enumerate(probabilities):
        if cuts[i] is not None:
            continue
        if total >= top_p and i > 0:
            cuts[i] = f"top-p {top_p:.2f}"
        total += p


def _cut_the_rest_with_the_last(cuts: list[str | None], n: int) -> None:
    """The unreturned tokens are each less likely than the last returned one."""
    if len(cuts) > n and n and cuts[n] is None and cuts[n - 1] is not None:
        cuts[n] = cuts[n - 1]


def _tempered(
    model: list[float], n: int, cuts: list[str | None], temperature: float
) -> list[float]:
    """softmax(log p / T) over the survivors, 0 for the rest; at T 0 the most likely
    survivor alone, the others marked as cut by it."""
    alive = [i for i, cut in enumerate(cuts) if cut is None]
    shares = [0.0] * len(model)
    if not alive:
        return shares
    if temperature <= 0:
        shares[alive[0]] = 1.0
        for i in alive[1:]:
            cuts[i] = "T 0 (greedy)"
        return shares
    # In log space, less the largest, so a low temperature cannot underflow them all.
    logs: dict[int, float] = {}
    for i in alive:
        if i < n:
            logs[i] = _log(model[i]) / temperature
        else:  # the rest: as many tokens as the least likely returned one
            least = model[n - 1] if n else model[i]
            logs[i] = _log(model[i]) + _log(least) * (1 / temperature - 1)
    top = max(logs.values())
    weights = {i: math.exp(value - top) for i, value in logs.items()}
    total = sum(weights.values())
    for i, weight in weights.items():
        shares[i] = weight / total
    return shares


def _log(p: float) -> float:
    return math.log(p) if p > 0 else -1e300


def _renormalised(shares: list[float], cuts: list[str | None]) -> list[float]:
    kept = sum(s for s, cut in zip(shares, cuts, strict=True) if cut is None)
    if kept <= 0:
        return [0.0] * len(shares)
    return [s / kept if cut is None else 0.0 for s, cut in zip(shares, cuts, strict=True)]
