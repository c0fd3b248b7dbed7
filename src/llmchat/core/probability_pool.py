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

    @property
    def survives(self) -> bool:
        return self.cut_by is None


@dataclass(frozen=True, slots=True)
class Pool:
    rows: tuple[PoolRow, ...]
    covered: float
    """How much of the model's probability the returned alternatives hold (0–1)."""
    sampler: Sampler

    @property
    def survivors(self) -> int:
        return sum(row.survives for row in self.rows)


def reweigh(token: TokenProb, dials: Dials, sampler: Sampler) -> Pool:
    """The pool at `token` with `dials`, most likely first."""
    pool = list(token.top)
    if not any(a.token == token.token for a in pool):
        # The chosen token was not among the top (sampled at a high temperature): it is
        # in the pool all the same.
        pool.append(Alternative(token.token, token.logprob))
    pool.sort(key=lambda a: -a.logprob)
    model = [a.probability for a in pool]
    covered = min(1.0, sum(model))
    cuts: list[str | None] = [None] * len(pool)
    if sampler == "llama.cpp":
        _cut_top_k(cuts, dials.top_k)
        _cut_top_p(cuts, model, dials.top_p)
        _cut_min_p(cuts, model, dials.min_p)
        shares = _tempered([a.logprob for a in pool], cuts, dials.temperature)
    else:
        everyone: list[str | None] = [None] * len(pool)
        tempered = _tempered([a.logprob for a in pool], everyone, dials.temperature)
        _cut_top_p(cuts, tempered, dials.top_p)
        shares = _renormalised(tempered, cuts)
    rows = tuple(
        PoolRow(a.token, p, share, cut, a.token == token.token)
        for a, p, share, cut in zip(pool, model, shares, cuts, strict=True)
    )
    return Pool(rows, covered, sampler)


def _cut_top_k(cuts: list[str | None], top_k: int | None) -> None:
    if top_k is None or top_k <= 0:
        return
    for i in range(top_k, len(cuts)):
        cuts[i] = cuts[i] or f"top-k {top_k}"


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


def _cut_min_p(cuts: list[str | None], probabilities: list[float], min_p: float | None) -> None:
    if not min_p or not probabilities:
        return
    floor = min_p * probabilities[0]
    for i, p in enumerate(probabilities):
        if cuts[i] is None and p < floor:
            cuts[i] = f"min-p {min_p:.2f}"


def _tempered(logprobs: list[float], cuts: list[str | None], temperature: float) -> list[float]:
    """softmax(logprob / T) over the survivors; 0 for the rest. T 0: the first alone."""
    alive = [i for i, cut in enumerate(cuts) if cut is None]
    shares = [0.0] * len(logprobs)
    if not alive:
        return shares
    if temperature <= 0:
        shares[alive[0]] = 1.0
        return shares
    top = max(logprobs[i] / temperature for i in alive)
    weights = {i: math.exp(logprobs[i] / temperature - top) for i in alive}
    total = sum(weights.values())
    for i, weight in weights.items():
        shares[i] = weight / total
    return shares


def _renormalised(shares: list[float], cuts: list[str | None]) -> list[float]:
    kept = sum(s for s, cut in zip(shares, cuts, strict=True) if cut is None)
    if kept <= 0:
        return [0.0] * len(shares)
    return [s / kept if cut is None else 0.0 for s, cut in zip(shares, cuts, strict=True)]
