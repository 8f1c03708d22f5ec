"""What an event's rules need from KuFlow, read once and checked against the event.

Before a job runs any action it asks KuFlow, through `enrich.fetch`, for the process or process
item that candidate rules refer to (`process.*`, `processItem.*`) — and, when verifying
(`handlers/verify.py`), for the event's own subject, so both come from one read. A read that
fails is recorded, logged, counted and retried like an action, and dead-lettered once it is
final; KuFlow's own contradiction of the event raises `Unverified`.
"""

from __future__ import annotations

import logging
from typing import Any

from handlers import backoff, enrich, metrics, records, verify
from handlers.clients.errors import ActionFailed, PermanentError, TransientError
from handlers.job import Job
from handlers.records import ActionState
from handlers.rules import evaluate
from handlers.verify import Unverified

log = logging.getLogger("kuflow_router.worker")

ENRICHMENT = "enrichment"  # the record's name for the read: `action:enrichment:0`


async def _enrich(
    job: Job, roots: set[str], verifying: bool
) -> dict[str, Any] | tuple[str, float | None]:
    """The fetched objects; or, when KuFlow did not give them, (outcome, delay) — a failure is
    recorded, logged, counted and, once it is final, dead-lettered, like any action's.

    Raises:
        Unverified: verifying, and KuFlow answered 404: it does not know the event's subject.
    """
    field = records.action_field(ENRICHMENT, 0)
    state = job.record.actions.get(field)
    connection = job.rules.enrichment_connection or "kuflow"
    try:
        fetched = await enrich.fetch(job.rules, job.deps.session, job.event, roots)
    except TransientError as exc:
        attempts = (state.attempts if state else 0) + 1
        policy = job.rules.retry  # the file's `defaults.retry`, as for its actions
        if attempts < policy.attempts:
            retrying = ActionState("retrying", attempts, error=str(exc), status=exc.status)
            await job.save(ENRICHMENT, 0, retrying, f"{connection} enrichment")
            wait = backoff.delay(attempts, policy, exc.retry_after_s)
            metrics.ACTIONS.labels(connection, ENRICHMENT, "retrying").inc()
            log.warning(
                "enrichment retrying",
                extra={"event_id": job.event_id, "outcome": "retrying", "status": exc.status,
                       "error": str(exc), "attempt": attempts, "retry_in_s": round(wait, 2)},
            )  # fmt: skip
            return "retrying", wait
        error: ActionFailed = TransientError(
            f"gave up after {attempts} attempts: {exc}", exc.status, exc.remote, exc.excerpt
        )
    except PermanentError as exc:
        if verifying and exc.status == 404:
            raise Unverified(f"KuFlow does not know the event's subject: {exc}") from None
        attempts, error = (state.attempts if state else 0) + 1, exc
    else:
        if state is not None:  # an earlier failure is over: the record says so
            done = ActionState("done", state.attempts + 1, action=f"{connection} enrichment")
            job.unsaved[field] = done.encode()
        return fetched
    dead = ActionState("dead", attempts, error=str(error), status=error.status)
    await job.save(ENRICHMENT, 0, dead, f"{connection} enrichment")
    await job.dead_letter("*", f"{connection} enrichment", 0, attempts, error)
    metrics.ACTIONS.labels(connection, ENRICHMENT, "dead").inc()
    log.warning(
        "enrichment failed: event dead-lettered",
        extra={"event_id": job.event_id, "type": job.event.get("type"), "outcome": "dead",
               "status": error.status, "error": str(error), "attempt": attempts},
    )  # fmt: skip
    return "dead", None


async def fetch(
    job: Job, selection: evaluate.Selection
) -> dict[str, Any] | tuple[str, float | None]:
    """What the candidate rules need from KuFlow — and, when verifying, the event's subject,
    checked against the event (`handlers/verify.py`), before any action runs.

    Raises:
        Unverified: KuFlow's answer contradicts the event, or KuFlow does not know its subject.
    """
    roots = evaluate.needed(selection)
    subject = verify.subject(job.event) if job.rules.verify else None
    # Only an event some rule may act on is worth a question to KuFlow.
    verifying = subject is not None and bool(selection.candidates or roots)
    if subject is not None and verifying:
        roots = roots | {subject}
    fetched = await _enrich(job, roots, verifying)
    if verifying and isinstance(fetched, dict):
        differs = verify.disagreement(job.event, fetched)
        if differs:
            raise Unverified(differs)
    return fetched
