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
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeVar
from uuid import UUID

from arq import Retry
from opentelemetry.trace import SpanKind
from redis.exceptions import RedisError

from common import tracing
from common.redact import for_this_run as redact_for_this_run
from common.redact import redact
from contract.events import rfc3339_time
from handlers.clients import exchanges
from handlers.clients.base import ActionCall, Pending
from handlers.clients.catalogue import run_action
from handlers.clients.errors import ActionFailed
from handlers.rules import evaluate, paths, redaction
from handlers.rules.errors import ParamsError, TemplateError
from handlers.rules.idempotency import action_key
from handlers.rules.model import Action, Rule
from handlers.rules.verify import Unverified
from handlers.worker import connections, enrich, metrics, timers, tries
from handlers.worker.job import Deps, Job
from handlers.worker.outcomes import DEAD, DONE, Outcome, Step, event_status
from handlers.worker.tries import Target
from store import dlq, ordering, pauses, records
from store.records import ActionState, ActionStatus, EventStatus

log = logging.getLogger("kuflow_router.worker")

JOB_BUDGET_S = 30.0  # no new action starts after this; the job continues in a new run
MAX_RUNS = 1000  # a job run this often is crash-looping: dead-letter what is left
INLINE_EVALUATION_BYTES = 16 * 1024  # larger events are matched in a thread, off the loop
REPLICA_WAIT_S = 1.0  # a run whose start no replica has yet comes back after this
REDIS_RETRY_S = 5.0  # a run that Redis failed comes back after this
CRASH_LIMIT = 5  # runs ended by an unexpected error before the event is dead-lettered
CRASH_RETRY_S = 5.0  # the first such run comes back after this, then twice as late each time
CRASH_RETRY_MAX_S = 300.0
T = TypeVar("T")


async def _run_one(
    job: Job, rule: Rule, action: Action, doc: dict[str, Any], results: dict[str, Any]
) -> Step:
    """One try of one action."""
    target = Target.of(rule, action)
    state = job.record.actions.get(target.field)
    attempts = state.attempts if state else 0
    tracing.attempt(attempts + 1)
    tracing.tag(**{"kuflow_router.attempt": attempts + 1})
    key = action_key(job.event_id, rule.name, action.index)
    try:
        params = evaluate.prepare(
            evaluate.owner(rule), action, evaluate.context(doc, rule, key, results)
        )
    except (TemplateError, ParamsError) as exc:
        return await tries.dead(job, target, attempts, exc, None)
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
        or (state is not None and state.state is ActionStatus.REPLAYED),
        previous=state.result if state and state.state is ActionStatus.PENDING else None,
    )
    if job.completion_unsaved:
        await job.write({})  # what the previous action did is on record before this one starts
    admission = await connections.turn(job, action.connection, action.timeout_s)
    if not admission.go:
        return tries.held(job, target, admission)
    if job.record.fields.get(records.HELD):
        job.unsaved[records.HELD] = ""  # held no longer: the call goes
    started = time.perf_counter()
    with exchanges.recording():
        try:
            result = await run_action(action.operation, call)
        except Pending as wait:
            await connections.settle(job, admission, None)
            return await tries.pending(job, target, attempts, wait)
        except ActionFailed as exc:
            await connections.settle(job, admission, exc)
            return await tries.failed(job, target, state, exc, started, spent=not admission.probe)
        finally:
            metrics.ACTION_DURATION.observe(time.perf_counter() - started)
        await connections.settle(job, admission, None)
        data = {**result.data, "id": result.id}
        if action.result_as:
            results[action.result_as] = data
        # Written before the next action starts, or with the event's final status if this was
        # the last: one round trip fewer per event, and no other call can happen in between.
        done = ActionState(ActionStatus.DONE, attempts + 1, result.id, data)
        return tries.done(job, target, done, started)


async def _run_rule(job: Job, rule: Rule, doc: dict[str, Any]) -> Step:
    """Run a rule's remaining actions in order, until one does not end done — unless an
    operator paused the rule: then they wait, held (store/pauses.py)."""
    held = await _paused(job, rule)
    if held is not None:
        return held
    results: dict[str, Any] = {}
    for action in rule.actions:
        state = job.record.actions.get(records.action_field(rule.name, action.index))
        if state and state.state is ActionStatus.DONE:
            if action.result_as:
                results[action.result_as] = state.result
            continue
        if state and state.state is ActionStatus.DEAD:
            return DEAD
        if time.monotonic() > job.deadline:
            return Step(Outcome.DEFERRED, 0.0)  # the job's time is up: go on in a fresh run
        attributes = {"kuflow_router.rule": rule.name, "kuflow_router.action": action.name}
        with tracing.span(f"action {action.name}", attributes=attributes):
            step = await _run_one(job, rule, action, doc, results)
            tracing.tag(**{"kuflow_router.outcome": str(step.outcome)})
        if step.outcome is not Outcome.DONE:
            return step
    return DONE


async def _paused(job: Job, rule: Rule) -> Step | None:
    """The held step of a rule an operator paused, or None: it runs."""
    raw = job.record.paused_rules.get(rule.name.encode())
    if raw is None:
        return None
    now_ms = int(time.time() * 1000)
    pause = pauses.decode_one(raw)
    if not pause.active(now_ms):
        return None
    await pauses.hold(job.deps.redis, rule.name, job.job_id)
    job.unsaved[records.HELD] = f"rule {rule.name} {pause.text}"
    log.info("rule held: paused by an operator",
             extra={"event_id": job.event_id, "rule": rule.name, "outcome": "held"})  # fmt: skip
    return Step(Outcome.HELD, pause.wait_s(now_ms))


async def _act(job: Job, rule: Rule, doc: dict[str, Any], fired: bool) -> Step:
    """A matched rule's part: its actions — or, for a rule with `after:`, its timer, whose
    run (`fired`) does the actions later."""
    if rule.timer is not None and not fired:
        return await timers.start(job, rule)
    return await _run_rule(job, rule, doc)


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
    return EventStatus.DEAD


async def process_event(
    ctx: dict[str, Any],
    text: str | bytes,
    received_at_ms: int,
    trace: dict[str, str] | None = None,
    timer: str | None = None,
) -> str:
    """The arq job: process one event; raise `Retry` while some rule waits to try again.
    `trace`: the trace the receiver's span began (with tracing on), which this run joins.
    `timer`: the job fires that timer (handlers/worker/timers.py) of the event in `text`.

    Nothing else leaves this function: arq ends a job that raises anything but `Retry` for
    good, and the event would stay `processing` with no job left to finish it. Redis failing
    mid-run (longer than the client's own retries ride out) comes back after REDIS_RETRY_S;
    any other error (a bug of ours or of a library) is counted on the record and comes back
    later and later, and the CRASH_LIMIT-th dead-letters the event with that error.
    """
    job_id = str(ctx.get("job_id", ""))
    attributes = {
        "kuflow.event.id": job_id if timer is None else None,
        "kuflow_router.timer": timer,
        "messaging.system": "redis",
        "messaging.operation.type": "process",
        "kuflow_router.try": ctx.get("job_try"),
    }
    name = "process event" if timer is None else "fire timer"
    with tracing.span(name, SpanKind.CONSUMER, attributes, tracing.context_of(trace)):
        ended = await _run(ctx, text, received_at_ms, timer)
        if isinstance(ended, Retry):  # the run ends well: its span is no error
            tracing.note("comes back", **{"kuflow_router.defer_s": _seconds(ended.defer_score)})
        else:
            tracing.tag(**{"kuflow_router.status": ended})
    if isinstance(ended, Retry):
        raise ended
    return ended


async def _run(
    ctx: dict[str, Any], text: str | bytes, received_at_ms: int, timer: str | None
) -> str | Retry:
    """One run of the event's job: its final status, or the `Retry` that brings it back."""
    try:
        return await _process_event(ctx, text, received_at_ms, timer)
    except Retry as comes_back:
        return comes_back
    except RedisError as exc:
        log.warning("Redis failed during the event's run; it comes back",
                    extra={"job_id": ctx.get("job_id"), "error": str(exc)})  # fmt: skip
        return Retry(defer=REDIS_RETRY_S)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return await _crashed(ctx["router"], str(ctx.get("job_id", "")), exc)


def _seconds(defer_ms: int | None) -> float | None:
    return None if defer_ms is None else defer_ms / 1000


async def _crashed(deps: Deps, job_id: str, exc: Exception) -> Retry:
    """Count an unexpected error on the event's record; when it comes back."""
    error = redact(f"{type(exc).__name__}: {exc}")[:500]  # it is kept in the record
    log.error("the event's run failed unexpectedly; it comes back", exc_info=exc,
              extra={"event_id": job_id, "error": error})  # fmt: skip
    try:  # the job's id is the event's (store/queue.py)
        crashes = await records.crashed(deps.redis, job_id, error, deps.event_ttl_s)
    except RedisError:
        return Retry(defer=REDIS_RETRY_S)
    return Retry(defer=min(CRASH_RETRY_S * 2 ** (crashes - 1), CRASH_RETRY_MAX_S))


async def _process_event(
    ctx: dict[str, Any], text: str | bytes, received_at_ms: int, timer: str | None
) -> str:
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
        return EventStatus.DEAD
    rules = deps.rules.current  # one rule set for the whole run, whatever a reload does
    fired = None
    if timer is not None:
        fired = await timers.fire(deps, rules, timer, str(ctx.get("job_id", "")))
        if fired is None:
            return EventStatus.CANCELLED
        event_id = timer  # the timer's run has a record of its own
    elif rules.timed:
        await timers.observe(deps, rules, event, event_id, received_at_ms)
    process_id = _process_id(event) if deps.ordering else ""
    tracing.tag(**{"kuflow.event.type": event.get("type"), "kuflow.process.id": process_id or None})
    turn, record = await _begin(deps, event, event_id, process_id, timed=fired is not None)
    if record is None:
        waiting = {"event_id": event_id, "type": event.get("type"), "outcome": "waiting"}
        log.info("event parked: an earlier event of its process runs first", extra=waiting)
        tracing.note("parked: an earlier event of its process runs first")
        raise Retry(defer=ordering.PARK_S)
    if not await _begun_on_replicas(deps):
        log.warning("run postponed: no replica has its start yet",
                    extra={"event_id": event_id, "outcome": "waiting"})  # fmt: skip
        raise Retry(defer=REPLICA_WAIT_S)
    job = Job(
        deps=deps,
        rules=rules,
        event=event,
        event_id=event_id,
        body=body,
        record=record,
        # Runs of the event, not arq's tries: a parked job's returns are no runs.
        run=int(record.fields.get("runs") or 1),
        deadline=time.monotonic() + JOB_BUDGET_S,
        process_id=process_id,
        job_id=str(ctx.get("job_id", "")),
        holds_line=deps.hold_on_failure,  # a whole event dead-lettered: as the setting says
    )
    if rules.redact:
        _keep_masked(job)
    return await _act_on(job, turn, fired)


def _keep_masked(job: Job, fetched: Mapping[str, Any] | None = None) -> None:
    """`redact:`: from here on this run masks the event's values at those paths (and, once read,
    KuFlow's) wherever it writes them, and keeps the event itself masked — in its record and
    any dead letter (handlers/rules/redaction.py)."""
    paths_ = job.rules.redact
    documents = {"data": job.event.get("data"), **(fetched or {})}
    redact_for_this_run(redaction.values(paths_, documents))
    if fetched is None:
        kept = json.dumps(redaction.masked(paths_, job.event, "data"), ensure_ascii=False)
        job.kept_body = kept.encode()
        job.unsaved["event"] = kept


async def _given_up(job: Job) -> str | None:
    """Dead-letter a job run too often or failing again and again: its final status, or None."""
    # A run that only waited for its connection's turn (held) is no sign of a crash loop: a
    # slow rate limit with a long backlog sends a job back many times.
    record = job.record
    held, replayed_after = (
        int(record.fields.get(f) or 0) for f in (records.HELD_RUNS, records.REPLAYED_AFTER)
    )
    if job.run - held - replayed_after > MAX_RUNS:
        await job.dead_letter(
            "*", "(job)", 0, job.run, f"gave up after {job.run} runs of this event's job"
        )
        return await _finish(job, [Outcome.DEAD], [])
    crashes = int(record.fields.get(records.CRASHES) or 0)
    if crashes >= CRASH_LIMIT:
        last = record.fields.get(records.LAST_CRASH, "")
        error = f"the worker failed on this event {crashes} times, last: {last}"
        await job.dead_letter("*", "(job)", 0, job.run, error)
        return await _finish(job, [Outcome.DEAD], [])
    return None


async def _act_on(job: Job, turn: ordering.Turn, fired: timers.Fired | None) -> str:
    """The run proper: which rules match (a fired timer's: its rule), what they need from
    KuFlow, their actions; the event's final status, or `Retry` raised to come back."""
    given_up = await _given_up(job)
    if given_up is not None:
        return given_up
    event = job.event
    order = {"late": turn.late, "seq": turn.seq}
    if fired is not None:
        selection = evaluate.alone(job.rules, fired.rule)
    else:
        selection = await _off_loop_if_large(
            job, evaluate.select, job.rules, evaluate.document(event, ordering=order)
        )
    try:
        selection, enriched = await _fetch(job, selection)
    except Unverified as exc:
        return await _reject(job, exc)
    if enriched.step.outcome is Outcome.DEAD:
        return await _finish(job, [Outcome.DEAD], [])
    if enriched.step.wait_s is not None:
        await _come_back(job, [enriched.step])
    fetched = enriched.objects
    if job.rules.redact and fetched:
        _keep_masked(job, fetched)
    doc = evaluate.document(event, fetched.get("process"), fetched.get("processItem"), order)
    if fired is not None:
        doc[paths.TIMER_ROOT] = fired.fields
        matched = [candidate.rule for candidate in selection.candidates]
    else:
        matched = await _off_loop_if_large(job, evaluate.matched, job.rules, selection, doc)
    job.unsaved["matched"] = json.dumps([r.name for r in matched])  # goes with the next write
    tracing.tag(**{"kuflow_router.rules.matched": [r.name for r in matched],
                   "kuflow_router.ordering.late": turn.late or None})  # fmt: skip
    steps = [await _act(job, rule, doc, fired is not None) for rule in matched]
    job.holds_line = any(
        step.outcome is Outcome.DEAD
        and (rule.on_failure == "hold" or (rule.on_failure is None and job.deps.hold_on_failure))
        for rule, step in zip(matched, steps, strict=True)
    )
    if any(step.wait_s is not None for step in steps):
        await _come_back(job, steps)
    return await _finish(job, [step.outcome for step in steps], [r.name for r in matched])


async def _fetch(
    job: Job, selection: evaluate.Selection
) -> tuple[evaluate.Selection, enrich.Enrichment]:
    """What the rules need from KuFlow; for an event KuFlow does not vouch for, what the rules
    that opted out of verification (`verify: skip`) need, with those rules alone selected.

    Raises:
        Unverified: KuFlow does not vouch for the event, and no rule that may match skips.
    """
    try:
        with tracing.span("read KuFlow"):
            return selection, await enrich.fetch(job, selection)
    except Unverified as exc:
        trusting = evaluate.unverified(job.rules, selection)
        if trusting is None:
            raise
        job.unsaved[records.UNVERIFIED] = str(exc)
        tracing.note(
            "unverified: only verify: skip rules act", **{"kuflow_router.reason": str(exc)}
        )
        with tracing.span("read KuFlow"):
            return trusting, await enrich.fetch(job, trusting)


async def _come_back(job: Job, steps: list[Step]) -> NoReturn:
    """Write what waits to be written, and come back after the shortest wait any step asked
    for; a run whose every waiting step was held is counted apart (`records.HELD_RUNS`)."""
    waiting = [step for step in steps if step.wait_s is not None]
    if all(step.outcome is Outcome.HELD for step in waiting):
        job.unsaved[records.HELD_RUNS] = str(int(job.record.fields.get(records.HELD_RUNS) or 0) + 1)
    if job.unsaved:
        await job.write({})
    raise Retry(defer=min(step.wait_s or 0.0 for step in waiting))


async def _begun_on_replicas(deps: Deps) -> bool:
    """With ROUTER_REDIS_MIN_REPLICAS, whether the run's start (its `runs` count) is on that
    many replicas. Then a failover can lose what an action did, but never that a run began: a
    run after it knows it is a repeat (`resumed`), so every client checks before it acts again."""
    if not deps.min_replicas:
        return True
    acknowledged = await deps.redis.wait(deps.min_replicas, deps.replica_timeout_ms)
    return int(acknowledged) >= deps.min_replicas


def _process_id(event: dict[str, Any]) -> str:
    data = event.get("data")
    process_id = data.get("processId") if isinstance(data, dict) else None
    return process_id if isinstance(process_id, str) else ""


async def _begin(
    deps: Deps, event: dict[str, Any], event_id: str, process_id: str, timed: bool
) -> tuple[ordering.Turn, records.EventRecord | None]:
    """Begin the run and read the record — unless an earlier event of the process must run
    first (`store/ordering.py`): then no record, and the job parks. `timed`: a timer's run,
    which has a place in the line but no KuFlow time of its own (never late)."""
    if not process_id:
        return ordering.Turn(go=True), await records.begin(deps.redis, event_id, deps.event_ttl_s)
    event_ms: int | None = None
    try:
        if not timed:
            event_ms = int(rfc3339_time(str(event.get("timestamp"))).timestamp() * 1000)
    except ValueError:
        event_ms = 0
    return await ordering.start(deps.redis, process_id, event_id, event_ms, deps.event_ttl_s)


async def _reject(job: Job, exc: Unverified) -> str:
    """KuFlow contradicts the event, or cannot vouch for it: act on nothing, and say so."""
    tracing.note(f"rejected: {exc.kind}", **{"kuflow_router.reason": str(exc)})
    await job.finish(EventStatus.REJECTED, {"rejected": str(exc)})
    metrics.EVENTS_PROCESSED.labels(EventStatus.REJECTED).inc()
    metrics.EVENTS_REJECTED.labels(exc.kind.replace(" ", "_")).inc()
    log.warning(
        f"event rejected: {exc.kind}",
        extra={"event_id": job.event_id, "type": job.event.get("type"),
               "outcome": EventStatus.REJECTED, "reason": str(exc)},
    )  # fmt: skip
    return EventStatus.REJECTED


async def _finish(job: Job, outcomes: list[Outcome], matched: list[str]) -> str:
    status = event_status(outcomes)
    await job.finish(status)
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
