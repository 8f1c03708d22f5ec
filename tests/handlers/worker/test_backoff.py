"""Backoff: full jitter under an exponential ceiling, Retry-After as a minimum; policy overrides."""

from __future__ import annotations

from handlers.rules.model import RetryModel, RetryPolicy
from handlers.worker import backoff

POLICY = RetryPolicy(attempts=12, initial_s=2.0, max_s=600.0)


def test_delay_stays_under_the_exponential_ceiling() -> None:
    for attempts, ceiling in ((1, 2.0), (2, 4.0), (5, 32.0), (12, 600.0), (40, 600.0)):
        delays = [backoff.delay(attempts, POLICY) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # jitter spreads over the whole range


def test_retry_after_is_a_minimum() -> None:
    assert all(backoff.delay(1, POLICY, retry_after_s=30) >= 30 for _ in range(50))


def test_overrides_keep_what_they_do_not_set() -> None:
    rule = RetryPolicy().override(RetryModel(attempts=5))
    action = rule.override(RetryModel(initial=0.25))
    assert (rule.attempts, rule.initial_s, rule.max_s) == (5, 2.0, 600.0)
    assert (action.attempts, action.initial_s, action.max_s) == (5, 0.25, 600.0)
    assert rule.override(None) is rule
