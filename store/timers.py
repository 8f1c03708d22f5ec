"""Timers of rules with `after:` (handlers/worker/timers.py): started, cancelled and fired in Redis.

A timer is an arq job on the router's queue, scored by its due time — the queue is the due-time
index, and a worker claims a due job atomically as it claims any other — with a record of its
own, `router:event:{timer id}`: an event record (its run is an event's run: retries, breaker,
dead letters, the process's order, replay) with `timer_*` fields besides. Its id is derived from
the starting event's and the rule's, so one starting event starts one timer per rule however
often it runs. Pending timers are also in `router:timers` (all), `router:timers:rule:{rule}`
(the caps, `timers list --rule`) and a wait set per rule and `same` values, which a cancelling
event reads instead of every timer.

What decides between a cancel and a fire is when the events were *received*, not when a worker
got to them: a cancelling event cancels a timer when it was received after the starting event
and before the due time. So a timer fires only once every event received before its due time
has begun its run (`router:unstarted`, written by the enqueue) — a worker that was down fires
overdue timers on its start after the events that came meanwhile were seen — and a cancelling
event seen before its timer started (events of two processes run in parallel) is kept a while,
so the timer starts cancelled.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from common.words import rfc3339
from contract.job_format import encode_job
from store import keys, lua
from store.records import EventRecord, record_of

_PRELUDE = "timer_cancel_fn"
_START, _OBSERVE = lua.script("timer_start"), lua.script(_PRELUDE, "timer_observe")
_FIRE, _FIRE_DUE = (
    lua.script("timer_fire_fn", "timer_fire"),
    lua.script("timer_fire_fn", "timer_fire_due"),
)
_CANCEL = lua.script(_PRELUDE, "timer_cancel")
_NAMESPACE = uuid.UUID("5b0a5c2e-3c2f-4f43-9a51-0d6c1a9e7f10")
_WAIT_PREFIX = keys.timer_waits("", "").removesuffix(":")

PENDING, FIRED, CANCELLED = "pending", "fired", "cancelled"


@dataclass(frozen=True)
class Caps:
    """How many timers may wait at once: in all (ROUTER_TIMERS_MAX) and per rule
    (ROUTER_TIMERS_MAX_PER_RULE). A start past either is refused, never dropped."""

    total: int = 1_000_000
    per_rule: int = 250_000


@dataclass(frozen=True)
class Start:
    """A timer to start: which rule, for which event, due when, waiting on which values."""

    rule: str
    event_id: str
    event_type: str
    process_id: str
    body: bytes
    received_at_ms: int  # the starting event's receipt: the due time counts from it
    due_ms: int
    same: str  # the digest of the starting event's `same` values


def timer_id(event_id: str, rule: str) -> str:
    """The id of the timer `rule` starts for `event_id`: the same however often it runs."""
    return str(uuid.uuid5(_NAMESPACE, f"{event_id}/{rule}"))


def digest(values: Sequence[Any]) -> str:
    """The short name of an event's `same` values, equal for equal values."""
    text = json.dumps(list(values), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


async def start(redis: Redis, timer: Start, ttl_s: int, caps: Caps) -> tuple[str, str]:
    """Start `timer` unless it was; its record is kept `ttl_s` past its due time. The outcome
    and its detail: (started, ""), (exists, its state), (cancelled, by which event), or
    (full, "all" | "rule") when a cap refused it."""
    tid = timer_id(timer.event_id, timer.rule)
    now_ms = int(time.time() * 1000)
    ttl_ms = max(timer.due_ms - now_ms, 0) + ttl_s * 1000
    job = encode_job(timer.body, timer.due_ms, timer=tid)
    outcome, detail = await lua.run(
        redis, _START,
        [keys.event(tid), keys.job(tid), keys.QUEUE, keys.TIMERS, keys.rule_timers(timer.rule),
         keys.process_timers(timer.process_id), keys.timer_waits(timer.rule, timer.same),
         keys.timer_cancels(timer.rule, timer.same), keys.event(timer.event_id)],
        [tid, timer.due_ms, timer.received_at_ms, ttl_ms, job, caps.total, caps.per_rule,
         timer.rule, timer.event_id, timer.event_type, timer.process_id, timer.body, now_ms,
         timer.same, keys.event("")],
    )  # fmt: skip
    return outcome.decode(), detail.decode()


async def observe(
    redis: Redis, event_id: str, received_at_ms: int, waits: Sequence[tuple[str, str]], ttl_s: int
) -> list[tuple[str, str, str]]:
    """An event that cancels timers of the (rule, `same` digest) pairs in `waits`: it cancels
    the pending ones it came in time for, and is kept `ttl_s` for timers started after it. Each
    timer it concerned: (timer id, "cancelled" | "late" — it came after the due time, rule)."""
    now_ms = int(time.time() * 1000)
    found = await lua.run(
        redis, _OBSERVE,
        [keys.event(event_id), keys.QUEUE, keys.TIMERS,
         *(key for rule, same in waits
           for key in (keys.timer_cancels(rule, same), keys.timer_waits(rule, same)))],
        [event_id, received_at_ms, now_ms, ttl_s * 1000, keys.event(""), keys.job(""),
         keys.rule_timers(""), _WAIT_PREFIX],
    )  # fmt: skip
    return [
        (found[i].decode(), found[i + 1].decode(), waits[int(found[i + 2])][0])
        for i in range(0, len(found), 3)
    ]


def _fire_args(line: bool, ttl_s: int) -> list[Any]:
    """The fire scripts' shared arguments (store/scripts/timer_fire_fn.lua)."""
    process = keys.process("")
    timeline, queue_line = (key.removeprefix(process) for key in
                            (keys.process_events(""), keys.process_line("")))  # fmt: skip
    return [
        keys.job(""),
        keys.event(""),
        keys.rule_timers(""),
        process,
        timeline,
        queue_line,
        "1" if line else "0",
        ttl_s * 1000,
    ]


async def fire(redis: Redis, tid: str, line: bool, ttl_s: int) -> tuple[str, str]:
    """Fire the pending timer `tid`: ("fired", ""); ("wait", event id) while an event received
    before its due time has not begun; else (its state, "") and nothing changes. With a process,
    the timer joins its timeline, and with `line` its line (ordering)."""
    answer = await lua.run(
        redis, _FIRE, [keys.TIMERS, keys.UNSTARTED],
        [tid, int(time.time() * 1000), *_fire_args(line, ttl_s)],
    )  # fmt: skip
    return answer[0].decode(), answer[1].decode() if len(answer) > 1 else ""


async def fire_due(
    redis: Redis, rules: Sequence[str], line: bool, ttl_s: int, most: int = 500
) -> list[tuple[str, int, str]]:
    """Fire the due timers of `rules` (those with `after:` now), soonest first (at most `most`),
    as `fire` each: what the worker's loop does, apart from the job slots. Each fired: (timer
    id, due ms, rule)."""
    found = await lua.run(
        redis, _FIRE_DUE, [keys.TIMERS, keys.UNSTARTED],
        [int(time.time() * 1000), most, *_fire_args(line, ttl_s), *rules],
    )  # fmt: skip
    return [
        (found[i].decode(), int(float(found[i + 1])), found[i + 2].decode())
        for i in range(0, len(found), 3)
    ]


async def cancel(redis: Redis, tid: str, by: str) -> tuple[bool, str]:
    """Cancel a pending timer, saying `by` what (an operator, a rule gone): whether it was
    pending, and the state it is in ("cancelled", "fired", "" when there is no such timer)."""
    answer = await lua.run(
        redis, _CANCEL, [keys.event(tid), keys.QUEUE, keys.TIMERS],
        [tid, by, int(time.time() * 1000), keys.job(""), keys.rule_timers(""), _WAIT_PREFIX],
    )  # fmt: skip
    return (True, CANCELLED) if answer == 1 else (False, answer.decode())


async def load(redis: Redis, tid: str) -> EventRecord | None:
    """A timer's record, or None when there is no such timer (or it expired)."""
    raw = await cast(Awaitable[dict[bytes, bytes]], redis.hgetall(keys.event(tid)))
    found = record_of(tid, raw)
    return found if "timer_rule" in found.fields else None


@dataclass(frozen=True)
class View:
    """A timer as the console and the CLI show it."""

    timer_id: str
    rule: str
    state: str  # pending, fired, cancelled
    status: str  # its run's: queued, processing, done, partial, dead, rejected, cancelled
    due_ms: int
    started_by: str  # the starting event's id
    process_id: str
    cancelled_by: str  # an event's id, `operator …`, or `rules.yaml: …`
    fired_ms: int
    late_by: str  # an event that would have cancelled it, had it come before the due time

    @classmethod
    def of(cls, record: EventRecord) -> View:
        fields = record.fields
        return cls(
            record.event_id, fields.get("timer_rule", ""), fields.get("timer_state", ""),
            fields.get("status", ""), int(fields.get("timer_due_at") or 0),
            fields.get("timer_started_by", ""), fields.get("process_id", ""),
            fields.get("timer_cancelled_by", ""), int(fields.get("timer_fired_at") or 0),
            fields.get("timer_late_by", ""),
        )  # fmt: skip

    def shown(self) -> dict[str, Any]:
        """As `timers list --json` prints it."""
        return {
            "timer_id": self.timer_id, "rule": self.rule, "state": self.state,
            "status": self.status, "due_at": rfc3339(self.due_ms), "started_by": self.started_by,
            "process_id": self.process_id or None, "cancelled_by": self.cancelled_by or None,
            "fired_at": rfc3339(self.fired_ms) if self.fired_ms else None,
            "late_by": self.late_by or None,
        }  # fmt: skip


async def views(redis: Redis, tids: Sequence[str]) -> list[View]:
    """The timers of `tids` that are still kept, in that order."""
    async with redis.pipeline(transaction=False) as pipe:
        for tid in tids:
            pipe.hgetall(keys.event(tid))
        raws = await pipe.execute()
    found = [record_of(tid, raw) for tid, raw in zip(tids, raws, strict=True)]
    return [View.of(record) for record in found if "timer_rule" in record.fields]


async def listing(
    redis: Redis, rule: str = "", process_id: str = "", most: int = 100
) -> list[View]:
    """Timers by due time, soonest first: the pending ones (of `rule`), or every timer of
    `process_id`'s events, whatever its state."""
    if process_id:
        index = keys.process_timers(process_id)
    else:
        index = keys.rule_timers(rule) if rule else keys.TIMERS
    ids = await redis.zrange(index, 0, most - 1)
    shown = await views(redis, [raw.decode() for raw in ids])
    return [view for view in shown if not rule or view.rule == rule]


async def pending_of(redis: Redis, rule: str) -> int:
    """How many timers of `rule` are pending."""
    return int(await redis.zcard(keys.rule_timers(rule)))


@dataclass(frozen=True)
class Summary:
    """The pending timers: how many, and when the next is due (0: none)."""

    pending: int
    next_due_ms: int
    overdue: int  # due, not fired yet (a worker gets to it, or waits for an earlier event)


async def summary(redis: Redis, now_ms: int | None = None) -> Summary:
    """How many timers wait, and the next due."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zcard(keys.TIMERS)
        pipe.zrange(keys.TIMERS, 0, 0, withscores=True)
        pipe.zcount(keys.TIMERS, "-inf", now_ms)
        pending, first, overdue = await pipe.execute()
    return Summary(int(pending), int(first[0][1]) if first else 0, int(overdue))
