"""Process one event: match rules, fetch what they need, run each matching rule's actions.

Rules are independent: one rule's failure does not stop another. Within a rule, actions run in
order, each at most once with success: a completed action is recorded under the event before
the next starts, so a retried, resumed or replayed job skips it. A transient failure stops that
rule until the job comes back (at the earliest delay any rule asked for); a permanent one sends
the action to the dead-letter queue and ends the rule.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from arq import Retry

from handlers import dlq, failures, kuflow_data, metrics, records
from handlers.actions import run_action
from handlers.clients.base import ActionCall, Pending
from handlers.clients.errors import PermanentError, TransientError
from handlers.idempotency import action_key
from handlers.job import Deps, Job
from handlers.records import ActionState
from handlers.rules import evaluate
from handlers.rules.errors import ParamsError, TemplateError
from handlers.rules.model import Action, Rule
from handlers.verify import Unverified

log = logging.getLogger("kuflow_router.worker")

JOB_BUDGET_S = 30.0  # no new action starts after this; the job continues in a new run
MAX_RUNS = 1000  # a job run this often is crash-looping: dead-letter what is left
INLINE_EVALUATION_BYTES = 16 * 1024  # larger events are matched in a thread, off the loop
T = TypeVar("T")


async def _run_one(
    job: Job, rule: Rule, action: Action, doc: dict[str, Any], results: dict[str, Any]
) -> tuple[str, float | None]:
    """Run one action; (outcome, delay before the rule may go on)."""
    field = records.action_field(rule.name, action.index)
    state = job.record.actions.get(field)
    attempts = state.attempts if state else 0
    key = action_key(job.event_id, rule.name, action.index)
    operation = action.operation_name
    try:
        params = evaluate.prepare(rule, action, evaluate.context(doc, rule, key, results))
    except (TemplateError, ParamsError) as exc:
        return await failures.dead(job, rule, action, attempts, exc, None)
    call = ActionCall(
        session=job.deps.session,
        connection_name=action.connection,
        connection=job.rules.connections[action.connection],
        params=params,
        key=key,
        timeout_s=action.timeout_s,
        # A retry, a re-run after a crash, or a replay: the action may already have acted.
        resumed=attempts > 0
        or job.run > 1
        or (state is not None and state.state == records.REPLAYED),
        previous=state.result if state and state.state == "pending" else None,
    )
    if job.completion_unsaved:
        await job.write({})  # what the previous action did is on record before this one starts
    started = time.perf_counter()
    try:
        result = await run_action(action.operation, call)
    except Pending as wait:
        pending = ActionState(
            "pending", attempts, str(wait.data.get("id") or "") or None, dict(wait.data)
        )
        await job.save(rule.name, action.index, pending, action.name)
        metrics.ACTIONS.labels(action.connection, operation, "pending").inc()
        failures.log_action(job, rule, action, "pending", detail=str(wait), attempt=attempts + 1)
        return "pending", wait.after_s
    except TransientError as exc:
        return await failures.transient(job, rule, action, state, exc, started)
    except PermanentError as exc:
        return await failures.dead(job, rule, action, attempts + 1, exc, started)
    finally:
        metrics.ACTION_DURATION.observe(time.perf_counter() - started)
    data = {**result.data, "id": result.id}
    # Written before the next action starts, or with the event's final status if this was the
    # last: one round trip fewer per event, and no other call can happen in between.
    done = ActionState("done", attempts + 1, result.id, data, action=action.name)
    job.unsaved[records.action_field(rule.name, action.index)] = done.encode()
    if action.result_as:
        results[action.result_as] = data
    metrics.ACTIONS.labels(action.connection, operation, "done").inc()
    duration = round((time.perf_counter() - started) * 1000, 2)
    failures.log_action(
        job, rule, action, "done", remote_id=result.id, duration_ms=duration, attempt=attempts + 1
    )
    return "done", None


async def _run_rule(job: Job, rule: Rule, doc: dict[str, Any]) -> tuple[str, float | None]:
    """Run a rule's remaining actions in order; (rule outcome, delay before coming back)."""
    results: dict[str, Any] = {}
    for action in rule.actions:
        state = job.record.actions.get(records.action_field(rule.name, action.index))
        if state and state.state == "done":
            if action.result_as:
                results[action.result_as] = state.result
            continue
        if state and state.state == "dead":
            return "dead", None
        if time.monotonic() > job.deadline:
            return "deferred", 0.0  # the job's time is up: go on in a fresh run
        outcome, wait = await _run_one(job, rule, action, doc, results)
        if outcome != "done":
            return outcome, wait
    return "done", None


async def _off_loop_if_large(job: Job, function: Callable[..., T], *args: Any) -> T:
    """Run rule evaluation inline for an ordinary event; for a large one, in a thread.

    Every matcher costs at most linear time in the values it reads, but a large event read by
    many rules still adds up — and `run` shares its event loop with the receiver, which must
    keep answering. A thread costs a hop (tens of microseconds): paid only where it matters.
    """
    if len(job.body) <= INLINE_EVALUATION_BYTES:
        return function(*args)
    return await asyncio.to_thread(function, *args)


async def refused_job(ctx: dict[str, Any], reason: str, excerpt: str) -> str:
    """The arq job for a payload `decode_job` would not read: dead-letter it, run nothing."""
    deps: Deps = ctx["router"]
    job_id = str(ctx.get("job_id", ""))
    await dlq.add(deps.redis, deps.dlq_limits, excerpt.encode(), event_id=job_id, rule="*",
                  action="(job)", error=f"refused job: {reason}")  # fmt: skip
    log.error("job refused and dead-lettered", extra={"event_id": job_id, "error": reason})
    return records.DEAD


async def process_event(ctx: dict[str, Any], text: str | bytes, received_at_ms: int) -> str:
    """The arq job: process one event; raise `Retry` while some rule waits to try again."""
    deps: Deps = ctx["router"]
    body = text.encode() if isinstance(text, str) else text
    try:
        event = json.loads(body)
        event_id = str(UUID(str(event["id"])))
    except (ValueError, TypeError, KeyError):
        # Not written by our receiver (which validates every event): keep it for a person.
        await dlq.add(deps.redis, deps.dlq_limits, body, event_id=ctx.get("job_id", ""), rule="*",
                      action="(job)", error="the job does not hold a KuFlow event")  # fmt: skip
        log.error("job without a valid event dead-lettered", extra={"event_id": ctx.get("job_id")})
        return records.DEAD
    job = Job(
        deps=deps,
        rules=deps.rules.current,
        event=event,
        event_id=event_id,
        body=body,
        record=await records.begin(deps.redis, event_id, deps.event_ttl_s),
        run=int(ctx.get("job_try") or 1),
        deadline=time.monotonic() + JOB_BUDGET_S,
    )
    if job.run > MAX_RUNS:
        await job.dead_letter(
            "*", "(job)", 0, job.run, f"gave up after {job.run} runs of this event's job"
        )
        return await _finish(job, ["dead"], [])
    selection = await _off_loop_if_large(job, evaluate.select, job.rules, evaluate.document(event))
    try:
        fetched = await kuflow_data.fetch(job, selection)
    except Unverified as exc:
        return await _reject(job, str(exc))
    if isinstance(fetched, tuple):
        outcome, wait = fetched
        if outcome == "dead":
            return await _finish(job, ["dead"], [])
        raise Retry(defer=wait)
    doc = evaluate.document(event, fetched.get("process"), fetched.get("processItem"))
    matched = await _off_loop_if_large(job, evaluate.matched, job.rules, selection, doc)
    job.unsaved["matched"] = json.dumps([r.name for r in matched])  # goes with the next write
    outcomes, waits = [], []
    for rule in matched:
        outcome, wait = await _run_rule(job, rule, doc)
        outcomes.append(outcome)
        if wait is not None:
            waits.append(wait)
    if waits:
        if job.unsaved:
            await job.write({})
        raise Retry(defer=min(waits))
    return await _finish(job, outcomes, [r.name for r in matched])


async def _reject(job: Job, reason: str) -> str:
    """The event contradicts KuFlow: act on nothing, and say so (there is nothing to replay)."""
    await job.write({"status": records.REJECTED, "rejected": f"unverified: {reason}"})
    metrics.EVENTS_PROCESSED.labels(records.REJECTED).inc()
    metrics.EVENTS_REJECTED.labels("unverified").inc()
    log.warning(
        "event rejected: unverified",
        extra={"event_id": job.event_id, "type": job.event.get("type"),
               "outcome": records.REJECTED, "reason": reason},
    )  # fmt: skip
    return records.REJECTED


async def _finish(job: Job, outcomes: list[str], matched: list[str]) -> str:
    if outcomes and all(o == "dead" for o in outcomes):
        status = records.DEAD
    elif "dead" in outcomes:
        status = records.PARTIAL
    else:
        status = records.DONE
    await job.write({"status": status})
    metrics.EVENTS_PROCESSED.labels(status).inc()
    log.info(
        "event processed",
        extra={
            "event_id": job.event_id,
            "type": job.event.get("type"),
            "outcome": status,
            "rules": matched,
        },
    )
    return status
