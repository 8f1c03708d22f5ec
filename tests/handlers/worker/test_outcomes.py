"""The worker's vocabulary: an event's status from its rules' outcomes, and the give-up rule."""

from __future__ import annotations

import pytest

from handlers.rules.model import RetryPolicy
from handlers.worker.outcomes import Outcome, event_status, gives_up

DONE, DEAD = Outcome.DONE, Outcome.DEAD


@pytest.mark.parametrize(
    ("outcomes", "status"),
    [
        pytest.param([], "done", id="none-matched"),
        pytest.param([DONE, DONE], "done", id="all-done"),
        pytest.param([DONE, DEAD], "partial", id="some-dead"),
        pytest.param([DEAD, DEAD], "dead", id="all-dead"),
    ],
)
def test_event_status(outcomes: list[Outcome], status: str) -> None:
    assert event_status(outcomes) == status


def test_the_last_try_is_the_policys_attempts() -> None:
    policy = RetryPolicy(attempts=3)
    assert [gives_up(n, policy) for n in (1, 2, 3, 4)] == [False, False, True, True]


def test_outcomes_are_the_words_records_metrics_and_logs_use() -> None:
    assert [str(o) for o in Outcome] == ["done", "retrying", "pending", "deferred", "held", "dead"]
