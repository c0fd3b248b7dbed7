"""When and how long to wait before trying a failed request again.

The baseline is the official OpenAI SDK's policy: exponential backoff from 0.5 s, capped
at 8 s, shortened by up to 25 % random jitter so many clients do not retry in step;
a server's Retry-After is honoured up to a cap.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from llmchat.core.events import ChatError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 2
    """Retries after the first attempt (so up to max_retries + 1 requests)."""
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    jitter: float = 0.25
    """Fraction by which a delay may be shortened at random."""
    max_retry_after_s: float = 60.0
    """A Retry-After longer than this is not waited for: the error says when to retry."""
    max_loading_s: float = 300.0
    """How long to wait for a local server that is still loading its model."""
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def loading_delay(self, wait: int, waited_s: float) -> float | None:
        """Seconds before polling a loading server again (wait is 1-based), or None."""
        if waited_s >= self.max_loading_s:
            return None
        return min(0.25 * 1.5 ** (wait - 1), 2.0)

    def delay(self, attempt: int, error: ChatError) -> float | None:
        """Seconds to wait before retry number `attempt` (1-based), or None: do not retry."""
        if not error.retryable or attempt > self.max_retries:
            return None
        if error.retry_after_s is not None:
            if error.retry_after_s > self.max_retry_after_s:
                return None
            return max(0.0, error.retry_after_s)
        backoff = min(self.base_delay_s * 2 ** (attempt - 1), self.max_delay_s)
        return backoff * (1 - self.jitter * self.rng.random())
