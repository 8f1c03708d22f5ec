"""Rules with `after:` in the worker: a matching event starts a timer instead of acting; an event
matching a rule's `unless:` cancels its timers; a due timer's run acts (store/timers.py).

A timer's run is an event's run under the timer's id: the rule as it is when the timer fires,
`process.*` read from KuFlow then, retries, breaker, dead letters and the process's order as
for any event. Its templates also see `timer.due_at` and `timer.started_by`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from arq import Retry
from redis.asyncio import Redis

from common import tracing
from common.words import rfc3339
from handlers.rules import paths
from handlers.rules.model import Rule, RuleSet
from handlers.worker import metrics
from handlers.worker.job import Deps, Job
from handlers.worker.outcomes import DEAD, DONE, Step
from store import records, timers
from store.records import EventRecord, EventStatus

log = logging.getLogger("kuflow_router.worker")

FIRE_WAIT_S = 0.25  # a due timer looks again after this while an earlier event has not begun
FIRE_EVERY_S = 0.25  # how often a worker's loop fires the due timers
FIRE_BATCH = 500  # timers fired in one script: Redis serves others between two


@dataclass(frozen=True)
class Fired:
    """A timer whose run acts: its rule now, and what its templates see as `timer.*`."""

    rule: Rule
    fields: dict[str, Any]


def same_values(rule: Rule, event: dict[str, Any]) -> str:
    """The digest of `event`'s values of the rule's `unless.same` fields."""
    assert rule.timer is not None
    return timers.digest([paths.resolve(event, path) for path in rule.timer.same_segments])


async def observe(
    deps: Deps, rules: RuleSet, event: dict[str, Any], event_id: str, received_at_ms: int
) -> None:
    """Cancel the timers `event` cancels (rules whose `unless.event` it matches), before its
    run begins: a due timer waits for that (store/timers.py)."""
    waits = []
    for rule in rules.timed:
        assert rule.timer is not None and rule.timer.unless is not None
        if rule.timer.unless.evaluate(event, paths.EVENT_ROOTS) is True:
            waits.append((rule.name, same_values(rule, event)))
    if not waits:
        return
    found = await timers.observe(deps.redis, event_id, received_at_ms, waits, deps.event_ttl_s)
    for tid, outcome, name in found:
        if outcome == timers.CANCELLED:
            metrics.TIMERS.labels(name, timers.CANCELLED).inc()
        log.info(
            "timer cancelled" if outcome == timers.CANCELLED else "timer already due: unchanged",
            extra={
                "event_id": event_id,
                "timer_id": tid,
                "rule": name,
                "outcome": f"timer_{outcome}",
            },
        )
        tracing.note(f"timer {outcome}", **{"kuflow_router.timer": tid})


async def start(job: Job, rule: Rule) -> Step:
    """Start the rule's timer for the job's event (once); a full cap dead-letters the rule."""
    assert rule.timer is not None
    received = int(job.record.fields.get("received_at") or time.time() * 1000)
    due = received + int(rule.timer.after_s * 1000)
    started = timers.Start(
        rule.name, job.event_id, str(job.event.get("type", "")), job.process_id,
        job.kept_body or job.body, received, due, same_values(rule, job.event),
    )  # fmt: skip
    outcome, detail = await timers.start(job.deps.redis, started, job.deps.event_ttl_s,
                                         job.deps.timer_caps)  # fmt: skip
    tid = timers.timer_id(job.event_id, rule.name)
    if outcome == "full":
        cap = "ROUTER_TIMERS_MAX" if detail == "all" else "ROUTER_TIMERS_MAX_PER_RULE"
        scope = "in all" if detail == "all" else f"for rule '{rule.name}'"
        error = (
            f"timer not started: {cap} pending timers {scope} reached; raise {cap} or find why "
            "so many wait (`kuflow-router timers list`), then replay this event"
        )
        metrics.TIMERS.labels(rule.name, "refused").inc()
        await job.dead_letter(rule.name, "(timer)", 0, 0, error)
        log.error("timer refused", extra={"event_id": job.event_id, "rule": rule.name,
                                          "outcome": "timer_refused", "error": error})  # fmt: skip
        return DEAD
    if outcome != "exists":
        metrics.TIMERS.labels(rule.name, "started" if outcome == "started" else outcome).inc()
    log.info(
        "timer started" if outcome == "started" else f"timer {outcome}",
        extra={"event_id": job.event_id, "rule": rule.name, "timer_id": tid,
               "due_ms": due, "outcome": f"timer_{outcome}"},
    )  # fmt: skip
    tracing.note("timer started", **{"kuflow_router.timer": tid, "kuflow_router.due_ms": due})
    return DONE


async def fire(deps: Deps, rules: RuleSet, tid: str, job_id: str) -> Fired | None:
    """Fire the timer `tid` if it is pending and its rule is still there: what its run acts
    with, or None when nothing is to run (cancelled, its rule gone, no such timer).

    Raises:
        Retry: an event received before the due time has not begun its run (it may cancel).
    """
    record = await timers.load(deps.redis, tid)
    if record is None:
        return None
    name, state = record.fields["timer_rule"], record.fields.get("timer_state")
    rule = rules.rule(name)
    gone = None if rule is not None and rule.timer is not None else _gone(rules, name)
    if state == timers.PENDING:
        if gone is not None:
            await timers.cancel(deps.redis, tid, f"rules.yaml: {gone}")
            _orphaned(name, tid, gone)
            return None
        outcome, detail = await timers.fire(deps.redis, tid, deps.ordering, deps.event_ttl_s)
        if outcome == "wait":
            tracing.note("waits for an earlier event", **{"kuflow_router.event": detail})
            raise Retry(defer=FIRE_WAIT_S)
        if outcome != timers.FIRED:
            return None
        fired(tid, int(record.fields["timer_due_at"]), name)
    elif state != timers.FIRED:
        return None
    elif gone is not None:  # fired, its actions not all done, and its rule went meanwhile
        values = {"status": EventStatus.CANCELLED, "timer_cancelled_by": f"rules.yaml: {gone}"}
        await records.save(deps.redis, tid, deps.event_ttl_s, values, end_job=job_id)
        deps.ended.add(job_id)
        _orphaned(name, tid, gone)
        return None
    assert rule is not None
    return Fired(rule, template_fields(record))


def fired(tid: str, due_ms: int, rule: str) -> None:
    """Count and log a timer that fired."""
    metrics.TIMERS.labels(rule, timers.FIRED).inc()
    metrics.TIMER_LATENESS.observe(max(time.time() * 1000 - due_ms, 0) / 1000)
    log.info("timer fired", extra={"event_id": tid, "rule": rule, "outcome": "timer_fired"})


async def fire_due(redis: Redis, rules: RuleSet, ordering: bool, ttl_s: int) -> None:
    """Fire the due timers (the worker's loop, every FIRE_EVERY_S): their runs act later, in
    job slots, but each fires on time however long the queue ahead of it. A timer whose rule
    is gone is left to its own job, which cancels it and says why."""
    waiting = [rule.name for rule in rules.rules if rule.timer is not None]
    if not waiting:
        return
    while True:
        found = await timers.fire_due(redis, waiting, ordering, ttl_s, FIRE_BATCH)
        for tid, due_ms, rule in found:
            fired(tid, due_ms, rule)
        if len(found) < FIRE_BATCH:
            return


def template_fields(record: EventRecord) -> dict[str, Any]:
    """What a timer's templates see as `timer.*`."""
    return {
        "due_at": rfc3339(int(record.fields["timer_due_at"])),
        "started_by": record.fields["timer_started_by"],
    }


def _gone(rules: RuleSet, name: str) -> str:
    if rules.rule(name) is None:
        return f"rule '{name}' was removed or renamed"
    return f"rule '{name}' no longer has `after:`"


def _orphaned(rule: str, tid: str, why: str) -> None:
    metrics.TIMERS.labels(rule, timers.CANCELLED).inc()
    log.warning(f"timer cancelled: {why}", extra={"event_id": tid, "rule": rule,
                                                   "outcome": "timer_cancelled"})  # fmt: skip
