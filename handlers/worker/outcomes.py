"""What a step of an event's job came to, and when to come back: the worker's one vocabulary.

A step is one try of an action, the read of what the rules need from KuFlow, or the run of a
rule's remaining actions. Each returns a `Step`; the job finishes the event when no step waits,
and otherwise comes back after the shortest wait any of them asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from handlers.rules.model import RetryPolicy
from store.records import EventStatus


class Outcome(StrEnum):
    """What a step came to."""

    DONE = "done"
    RETRYING = "retrying"  # failed for now: tried again after a delay
    PENDING = "pending"  # started a remote job: checked on after a delay
    DEFERRED = "deferred"  # not tried: the job's time was up; it goes on in a fresh run
    HELD = "held"  # not tried: its connection's limit, pause or open breaker holds it
    DEAD = "dead"  # failed for good: dead-lettered


@dataclass(frozen=True)
class Step:
    """A step's outcome, and for one that is not over, how long before the job comes back."""

    outcome: Outcome
    wait_s: float | None = None


DONE = Step(Outcome.DONE)
DEAD = Step(Outcome.DEAD)


def gives_up(attempts: int, policy: RetryPolicy) -> bool:
    """Whether a step that failed for now, `attempts` times, has had its last try."""
    return attempts >= policy.attempts


def event_status(rules: Iterable[Outcome]) -> EventStatus:
    """An event's final status from its matched rules' outcomes (none matched: done)."""
    outcomes = list(rules)
    if outcomes and all(o is Outcome.DEAD for o in outcomes):
        return EventStatus.DEAD
    if Outcome.DEAD in outcomes:
        return EventStatus.PARTIAL
    return EventStatus.DONE
