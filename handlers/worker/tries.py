"""What one try of a step leads to — done, pending, retrying or dead — recorded, counted and
logged in one place, for an action and for the read of KuFlow alike.

A step that failed for now is tried again with backoff until its retry policy gives up; one that
failed for good, or gave up, is dead-lettered with its reason.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from common import tracing
from handlers.clients import exchanges
from handlers.clients.base import Pending
from handlers.clients.errors import ActionFailed, TransientError
from handlers.rules.model import Action, RetryPolicy, Rule
from handlers.worker import backoff, metrics
from handlers.worker.job import Job
from handlers.worker.outcomes import DEAD, DONE, Outcome, Step, gives_up
from store import records
from store.gate import Admission
from store.records import ActionState, ActionStatus

log = logging.getLogger("kuflow_router.worker")

MAX_KEPT = 5  # tries kept in an action's history
MAX_EXCHANGES = 4  # exchanges kept per try (a token, a search, the call, a check)


@dataclass(frozen=True)
class Target:
    """What was tried, as the record, the metrics, the log and the dead-letter queue name it."""

    rule: str  # the rule; `enrichment` for the read of KuFlow
    index: int
    name: str  # `kuflow.create_task`; `kuflow enrichment`
    connection: str
    operation: str  # `create_task`; `enrichment`
    retry: RetryPolicy
    whole_event: bool = False  # the read of KuFlow: its failure stops every rule of the event

    @classmethod
    def of(cls, rule: Rule, action: Action) -> Target:
        """An action of a rule."""
        return cls(
            rule=rule.name,
            index=action.index,
            name=action.name,
            connection=action.connection,
            operation=action.operation_name,
            retry=action.retry,
        )

    @property
    def field(self) -> str:
        """Its field in the event record."""
        return records.action_field(self.rule, self.index)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _log(job: Job, target: Target, outcome: Outcome, **extra: Any) -> None:
    noun = "enrichment" if target.whole_event else "action"
    if outcome is Outcome.DEAD:
        message = (
            f"{noun} failed: event dead-lettered" if target.whole_event else f"{noun} dead-lettered"
        )
    else:
        message = f"{noun} {outcome}"
    loud = outcome is Outcome.DEAD or (target.whole_event and outcome is Outcome.RETRYING)
    # On the action's span (or the run's, for the read of KuFlow): the trace says why it waited.
    tracing.note(message, **{f"kuflow_router.{k}": v for k, v in extra.items()})
    log.log(
        logging.WARNING if loud else logging.INFO,
        message,
        extra={"event_id": job.event_id, "type": job.event.get("type"), "rule": target.rule,
               "action": target.name, "outcome": outcome, **extra},
    )  # fmt: skip


def remember(job: Job, target: Target, state: ActionState, **details: Any) -> ActionState:
    """`state` with this try added to the action's history (what it sent and got back)."""
    earlier = job.record.actions.get(target.field)
    sent = exchanges.current()[-MAX_EXCHANGES:]
    this = {"at": time.time(), "outcome": str(state.state), "error": state.error,
            "status": state.status, "exchanges": sent, **details}  # fmt: skip
    state.history = [*(earlier.history if earlier else []), this][-MAX_KEPT:]
    state.action = target.name
    return state


async def _save(job: Job, target: Target, state: ActionState, **details: Any) -> None:
    await job.write({target.field: remember(job, target, state, **details).encode()})


def _count(target: Target, outcome: Outcome) -> None:
    metrics.ACTIONS.labels(target.connection, target.operation, outcome).inc()


def done(job: Job, target: Target, state: ActionState, started: float) -> Step:
    """A successful try: on record with the next write (before any other action starts)."""
    job.unsaved[target.field] = remember(job, target, state).encode()
    _count(target, Outcome.DONE)
    _log(job, target, Outcome.DONE, remote_id=state.id, duration_ms=_ms_since(started),
         attempt=state.attempts)  # fmt: skip
    return DONE


async def pending(job: Job, target: Target, attempts: int, wait: Pending) -> Step:
    """A try that started a remote job: what identifies it is kept for the next check."""
    remote = str(wait.data.get("id") or "") or None
    await _save(job, target, ActionState(ActionStatus.PENDING, attempts, remote, dict(wait.data)))
    _count(target, Outcome.PENDING)
    _log(job, target, Outcome.PENDING, detail=str(wait), attempt=attempts + 1)
    return Step(Outcome.PENDING, wait.after_s)


async def failed(
    job: Job,
    target: Target,
    state: ActionState | None,
    exc: ActionFailed,
    started: float,
    spent: bool = True,
) -> Step:
    """A failed try: tried again later while it is transient and tries are left, else dead.

    A try that was its connection's probe (`spent` false) costs no attempt when it fails for
    now: it failed for the connection, which is open again, not for this action.
    """
    attempts = (state.attempts if state else 0) + 1
    if isinstance(exc, TransientError) and not spent:
        attempts -= 1
    if not isinstance(exc, TransientError):
        return await dead(job, target, attempts, exc, started)
    if gives_up(attempts, target.retry):
        message = f"gave up after {attempts} attempts: {exc}"
        exhausted = TransientError(message, exc.status, exc.remote, exc.excerpt, kind=exc.kind)
        return await dead(job, target, attempts, exhausted, started)
    wait = backoff.delay(max(attempts, 1), target.retry, exc.retry_after_s)
    if state is not None and state.state is ActionStatus.PENDING:
        # A check on a started remote job failed: keep what identifies the job, or the next
        # try would start another one.
        kept = ActionState(
            ActionStatus.PENDING,
            attempts,
            id=state.id,
            result=state.result,
            error=str(exc),
            status=exc.status,
        )
    else:
        kept = ActionState(ActionStatus.RETRYING, attempts, error=str(exc), status=exc.status)
    await _save(job, target, kept, retry_in_s=round(wait, 2))
    _count(target, Outcome.RETRYING)
    _log(job, target, Outcome.RETRYING, status=exc.status, error=str(exc), attempt=attempts,
         duration_ms=_ms_since(started), retry_in_s=round(wait, 2))  # fmt: skip
    return Step(Outcome.RETRYING, wait)


def held(job: Job, target: Target, admission: Admission) -> Step:
    """A try that did not happen: its connection's gate holds it. Not an attempt; the job
    comes back when the gate said, a little later for some, so they do not all come at once."""
    wait = admission.wait_s * random.uniform(1.0, 1.2)  # noqa: S311 (jitter, not security)
    _log(job, target, Outcome.HELD, connection=admission.connection, reason=str(admission.held),
         retry_in_s=round(wait, 2))  # fmt: skip
    if admission.hold:  # an operator's pause: the record says so until the call goes
        job.unsaved[records.HELD] = f"connection {admission.connection} {admission.hold}"
    return Step(Outcome.HELD, wait)


async def dead(
    job: Job, target: Target, attempts: int, exc: Exception, started: float | None
) -> Step:
    """A step that failed for good: on record, in the dead-letter queue, counted and logged."""
    status = exc.status if isinstance(exc, ActionFailed) else 0
    await _save(
        job, target, ActionState(ActionStatus.DEAD, attempts, error=str(exc), status=status)
    )
    rule = "*" if target.whole_event else target.rule
    await job.dead_letter(rule, target.name, target.index, attempts, exc)
    _count(target, Outcome.DEAD)
    extra: dict[str, Any] = {"status": status, "error": str(exc), "attempt": attempts}
    if started is not None:
        extra["duration_ms"] = _ms_since(started)
    _log(job, target, Outcome.DEAD, **extra)
    return DEAD
