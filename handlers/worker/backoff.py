"""When to try a failed action again: exponential backoff with full jitter, Retry-After honoured."""

from __future__ import annotations

import random

from handlers.rules.model import RetryPolicy


def delay(attempts: int, policy: RetryPolicy, retry_after_s: float | None = None) -> float:
    """Seconds to wait after the `attempts`-th failed try (1-based).

    Full jitter: a uniform draw between 0 and min(max, initial * 2^(attempts-1)), so retries of
    many events spread out instead of arriving together. A server's Retry-After is a minimum.
    """
    ceiling = min(policy.max_s, policy.initial_s * 2 ** (attempts - 1))
    wait = random.uniform(0, ceiling)  # noqa: S311 (jitter, not security)
    return max(wait, retry_after_s or 0.0)
