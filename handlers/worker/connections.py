"""A job's call through its connection's gate (`store/gate.py`).

Before the call, `turn`: a hold of up to `INLINE_WAIT_S` (a turn under the rate, a slot in
flight, a probe under way) is waited out in place; a longer one (an open breaker, a pause, a
backlog past the rate) comes back held, and the job returns to the queue for that long, its
worker slot free for other events. After the call, `settle` feeds the breaker; each change of
its state is logged, counted and, when it opened or closed, alerted (`handlers/worker/alerts.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time

from redis.exceptions import RedisError

from handlers.clients.errors import ActionFailed, TransientError
from handlers.worker import metrics
from handlers.worker.job import Job
from store import gate
from store.gate import Admission, CallResult, Transition

log = logging.getLogger("kuflow_router.worker")

INLINE_WAIT_S = 2.0  # holds up to this are waited out in place
PAUSING_STATUSES = (429, 503)  # a Retry-After with these pauses the whole connection


async def turn(job: Job, name: str, timeout_s: float) -> Admission:
    """Wait for a call of connection `name` to be let through, or come back held."""
    connection = job.rules.connections[name]
    if not gate.gated(connection):
        return gate.OPEN_GATE
    while True:
        left = job.deadline - time.monotonic()
        reserve_s = max(0.0, min(INLINE_WAIT_S, left))
        admission = await gate.admit(job.deps.redis, name, connection, timeout_s, reserve_s,
                                     job_id=job.job_id)  # fmt: skip
        if admission.go:
            if admission.half_opened:
                _changed(job, name, Transition.HALF_OPEN, None)
            if admission.wait_s:
                await asyncio.sleep(admission.wait_s)  # its turn under the rate is reserved
            return admission
        metrics.CALLS_HELD.labels(name, admission.held).inc()
        if admission.wait_s > min(INLINE_WAIT_S, left):
            return admission
        await asyncio.sleep(admission.wait_s)


async def settle(job: Job, admission: Admission, error: ActionFailed | None) -> None:
    """Tell the gate how the call ended. A Redis failure here costs the breaker one datum (and
    the slot waits for its lease), not the call's result: it is logged, not raised."""
    if not admission.token:
        return
    connection = job.rules.connections[admission.connection]
    transient = isinstance(error, TransientError)
    answer = gate.answer_of(error.status, transient) if error is not None else CallResult.OK
    pause_s = None
    if isinstance(error, TransientError) and error.status in PAUSING_STATUSES:
        pause_s = error.retry_after_s
    try:
        transition = await gate.settle(job.deps.redis, connection, admission, answer, pause_s)
    except (RedisError, OSError) as exc:
        log.warning("connection state not updated: %s", exc,
                    extra={"connection": admission.connection})  # fmt: skip
        return
    if pause_s:
        log.warning(
            "connection paused: the API asked to wait",
            extra={"connection": admission.connection, "status": error.status if error else 0,
                   "retry_in_s": pause_s},
        )  # fmt: skip
    if transition is not None:
        _changed(job, admission.connection, transition, error)


def _changed(job: Job, name: str, transition: Transition, error: ActionFailed | None) -> None:
    metrics.CONNECTION_TRANSITIONS.labels(name, transition).inc()
    breaker = job.rules.connections[name].breaker
    extra = {"connection": name, "to": str(transition), "event_id": job.event_id}
    if error is not None:
        extra["error"] = str(error)
    if transition is Transition.CLOSED:
        log.warning("connection closed: its calls go through again", extra=extra)
    elif transition is Transition.HALF_OPEN:
        log.info("connection half-open: one probe call decides", extra=extra)
    else:
        assert breaker is not None
        log.warning(f"connection {transition}: its calls wait, spending no attempts",
                    extra={**extra, "after_failures": breaker.open_after})  # fmt: skip
    if job.deps.alerts is not None and transition in (Transition.OPENED, Transition.CLOSED):
        job.deps.alerts.breaker(name, transition, error)
