"""The worker's line per action, and what happens to one that failed: later, or the DLQ."""

from __future__ import annotations

import logging
import time
from typing import Any

from handlers import backoff, metrics
from handlers.clients.errors import ActionFailed, TransientError
from handlers.job import Job
from handlers.records import ActionState
from handlers.rules.model import Action, RetryPolicy, Rule

log = logging.getLogger("kuflow_router.worker")


def log_action(job: Job, rule: Rule, action: Action, outcome: str, **extra: Any) -> None:
    log.info(
        "action %s",
        outcome,
        extra={
            "event_id": job.event_id,
            "type": job.event.get("type"),
            "rule": rule.name,
            "action": action.name,
            "outcome": outcome,
            **extra,
        },
    )


async def transient(
    job: Job,
    rule: Rule,
    action: Action,
    state: ActionState | None,
    exc: TransientError,
    started: float,
) -> tuple[str, float | None]:
    attempts = (state.attempts if state else 0) + 1
    policy: RetryPolicy = action.retry
    if attempts >= policy.attempts:
        message = f"gave up after {attempts} attempts: {exc}"
        exhausted = TransientError(message, exc.status, exc.remote, exc.excerpt)
        return await dead(job, rule, action, attempts, exhausted, started)
    wait = backoff.delay(attempts, policy, exc.retry_after_s)
    if state is not None and state.state == "pending":
        # A check on a started remote job failed: keep what identifies the job, or the next
        # try would start another one.
        kept = ActionState("pending", attempts, state.id, state.result, str(exc), exc.status)
    else:
        kept = ActionState("retrying", attempts, error=str(exc), status=exc.status)
    await job.save(rule.name, action.index, kept, action.name)
    metrics.ACTIONS.labels(action.connection, action.operation_name, "retrying").inc()
    duration = round((time.perf_counter() - started) * 1000, 2)
    log_action(
        job, rule, action, "retrying", status=exc.status, error=str(exc), attempt=attempts,
        duration_ms=duration, retry_in_s=round(wait, 2),
    )  # fmt: skip
    return "retrying", wait


async def dead(
    job: Job, rule: Rule, action: Action, attempts: int, exc: Exception, started: float | None
) -> tuple[str, float | None]:
    status = exc.status if isinstance(exc, ActionFailed) else 0
    state = ActionState("dead", attempts, error=str(exc), status=status)
    await job.save(rule.name, action.index, state, action.name)
    await job.dead_letter(rule.name, action.name, action.index, attempts, exc)
    metrics.ACTIONS.labels(action.connection, action.operation_name, "dead").inc()
    extra: dict[str, Any] = {"status": status, "error": str(exc), "attempt": attempts}
    if started is not None:
        extra["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
    log.warning(
        "action dead-lettered",
        extra={
            "event_id": job.event_id,
            "rule": rule.name,
            "action": action.name,
            "outcome": "dead",
            **extra,
        },
    )
    return "dead", None
