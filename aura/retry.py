"""The one retry policy: how many attempts, and how long to wait before each retry.

Used by every retry loop in the code base: the agent engine's model calls (429, 5xx, timeouts, dropped
streams; `aura.runtime.engine`) and the exchange downloads (`auraquant.cta.data.ccxt_source`). A loop decides
*what* is retryable; this policy decides how often and how long. It lives at the top of `aura`, outside the
agent runtime, so the data layer can use it without importing the agent.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict


class RetryPolicy(BaseModel):
    """Exponential backoff with seeded jitter. `max_attempts` counts the first try. Retry number k (1-based)
    waits `min(max_delay_s, base_delay_s * multiplier**(k-1))` scaled by a factor drawn uniformly from
    `[1 - jitter, 1 + jitter]` (seeded: the same policy gives the same schedule); a server's Retry-After is
    honoured when longer than that, and the result is capped by `max_delay_s`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    max_attempts: int = 6
    base_delay_s: float = 1.0
    multiplier: float = 2.0
    max_delay_s: float = 30.0
    jitter: float = 0.2
    seed: int = 0

    def delays(self) -> _Delays:
        """A fresh delay schedule for one operation (its jitter stream starts from `seed`)."""
        return _Delays(self)


class _Delays:
    def __init__(self, policy: RetryPolicy) -> None:
        self._p = policy
        self._rng = random.Random(policy.seed)

    def delay(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Delay before retry number `attempt` (1 = first retry)."""
        p = self._p
        base = min(p.max_delay_s, p.base_delay_s * p.multiplier ** (attempt - 1))
        d = base * (1.0 + p.jitter * (2.0 * self._rng.random() - 1.0))
        if retry_after_s is not None:
            d = max(d, retry_after_s)
        return max(0.0, min(d, p.max_delay_s))
