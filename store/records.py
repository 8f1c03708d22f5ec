"""The event log `router:event:{id}`: status, matched rules, and each action's outcome.

The record is a Redis hash. The receiver writes `received_at`, `type` and `status: queued`;
the worker adds `status`, `matched`, `runs`, and one field per action, `action:{rule}:{index}`,
holding the action's state as JSON. A completed action's state keeps its result, so a retried
or replayed job skips it and later actions can still use `results.<as>`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

from redis.asyncio import Redis

from common.redact import redact
from contract.events import Documents
from store import keys

MAX_RESULT_BYTES = 16 * 1024  # a larger result is kept as its id only
ACTION_PREFIX = "action:"
CRASHES = "crashes"  # runs of the event that ended in an unexpected error
LAST_CRASH = "last_crash"  # the last such error, "Type: message"
UNVERIFIED = "unverified"  # why KuFlow did not vouch for an event that `verify: skip` rules ran on
HELD_RUNS = "held_runs"  # runs that only waited for a connection's turn
HELD = "held"  # what an operator's pause holds it by: `connection shop paused by … since …`
# Runs (short of held ones) before the last `dlq replay`: a replay starts a new count toward
# the crash-loop limit, and keeps `runs` (a run after the first checks before it acts again).
REPLAYED_AFTER = "replayed_after_runs"


class EventStatus(StrEnum):
    """An event's `status`: queued → processing → done, partial, dead or rejected; a timer's
    run may end cancelled instead."""

    QUEUED = "queued"
    WAITING = "waiting"  # parked: an earlier event of its process runs first (ordering.py)
    PROCESSING = "processing"
    DONE = "done"  # every matched rule completed, or none matched
    PARTIAL = "partial"  # some matched rules were dead-lettered
    DEAD = "dead"  # all of them were
    REJECTED = "rejected"  # KuFlow contradicts the event: nothing was done
    CANCELLED = "cancelled"  # a timer's run that will not happen (store/timers.py)


class ActionStatus(StrEnum):
    """Where one action stands for an event."""

    DONE = "done"
    RETRYING = "retrying"
    PENDING = "pending"  # waiting on a remote job it started
    DEAD = "dead"
    REPLAYED = "replayed"  # dead, then queued again by `dlq replay`


@dataclass
class ActionState:
    """Where one action of one rule stands for an event."""

    state: ActionStatus
    # Tries made: failed ones, and the one that succeeded (a worker crash is not one). For a
    # pending action, the failed checks on the remote job it started.
    attempts: int = 0
    id: str | None = None  # the remote id it produced
    result: dict[str, Any] = field(default_factory=dict)  # what results.<as> exposes
    error: str = ""
    status: int = 0  # the last HTTP status, when there was one
    at: float = 0.0
    action: str = ""  # the action's name (`kuflow.create_task`), for people reading the record
    # The last tries (`tries.MAX_KEPT`), oldest first: when, outcome, error, and the exchanges
    # each made (`handlers/clients/exchanges.py`), for the console's event page.
    history: list[dict[str, Any]] = field(default_factory=list)

    def encode(self) -> str:
        # A shallow copy: json writes the nested values as they are (asdict would deep-copy
        # the result and the history first, a few per cent of a worker's time).
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["at"] = time.time()
        if len(json.dumps(data["result"], default=str)) > MAX_RESULT_BYTES:
            data["result"] = {"id": self.id}
        return redact(json.dumps(data, default=str))

    @classmethod
    def decode(cls, raw: bytes | str) -> ActionState:
        data = json.loads(raw)
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        known["state"] = ActionStatus(data["state"])
        return cls(**known)


def action_field(rule: str, index: int) -> str:
    """The hash field of one action."""
    return f"{ACTION_PREFIX}{rule}:{index}"


def in_order(actions: dict[str, ActionState], rules: list[str]) -> list[tuple[str, ActionState]]:
    """An event's actions as they ran: the KuFlow read first, then by the rules' order (`rules`,
    e.g. the `matched` list; a rule not in it last), then by step — not in the hash's order."""

    def place(item: tuple[str, ActionState]) -> tuple[int, int, str, int]:
        rule, _, index = item[0].removeprefix(ACTION_PREFIX).rpartition(":")
        step = int(index) if index.isdigit() else 0
        if rule == "enrichment":
            return (0, 0, "", step)
        return (1, rules.index(rule) if rule in rules else len(rules), rule, step)

    return sorted(actions.items(), key=place)


@dataclass
class EventRecord:
    """An event's record as read from Redis."""

    event_id: str
    fields: dict[str, str]
    actions: dict[str, ActionState]
    # Read with it when a run begins: the rules an operator paused, as HGETALL gives them
    # (store/pauses.py decodes them).
    paused_rules: dict[bytes, bytes] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.fields.get("status", "")


async def load(redis: Redis, event_id: str) -> EventRecord:
    """The record of one event (empty if it expired or never existed)."""
    raw = await cast(Awaitable[dict[bytes, bytes]], redis.hgetall(keys.event(event_id)))
    return record_of(event_id, raw)


async def begin(redis: Redis, event_id: str, ttl_s: int) -> EventRecord:
    """Mark the event as processing, count the run, and read its record — and the rules an
    operator paused: one round trip. Its run has begun: it leaves `router:unstarted`
    (store/timers.py)."""
    key = keys.event(event_id)
    # No MULTI: the commands run in order on one connection, and arq runs a job on one worker
    # at a time, so nothing can come between them that matters.
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hset(key, "status", EventStatus.PROCESSING)
        pipe.hsetnx(key, "started_at", str(int(time.time() * 1000)))
        pipe.hincrby(key, "runs", 1)
        pipe.expire(key, ttl_s)
        pipe.zrem(keys.UNSTARTED, event_id)
        pipe.hgetall(key)
        pipe.hgetall(keys.PAUSED_RULES)
        *_, raw, paused = await pipe.execute()
    record = record_of(event_id, raw)
    record.paused_rules = paused
    return record


async def crashed(redis: Redis, event_id: str, error: str, ttl_s: int) -> int:
    """Count a run that ended in an unexpected error, keeping the error; the count so far."""
    key = keys.event(event_id)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hincrby(key, CRASHES, 1)
        pipe.hset(key, LAST_CRASH, error)
        pipe.expire(key, ttl_s)
        crashes: int = (await pipe.execute())[0]
    return crashes


def record_of(event_id: str, raw: dict[bytes, bytes]) -> EventRecord:
    """An event's record from the fields HGETALL gave."""
    fields: dict[str, str] = {}
    actions: dict[str, ActionState] = {}
    for name_b, value_b in raw.items():
        name, value = name_b.decode(), value_b.decode()
        if name.startswith(ACTION_PREFIX):
            actions[name] = ActionState.decode(value)
        else:
            fields[name] = value
    return EventRecord(event_id, fields, actions)


async def save(
    redis: Redis,
    event_id: str,
    ttl_s: int,
    values: dict[str, str],
    drop: list[str] | None = None,
    count: str = "",
    end_job: str = "",
) -> None:
    """Write fields of the record (and remove `drop`), renewing its time to live; `count` a
    final status in this minute's stats (`store.keys.stats`); `end_job` the arq job to end
    as arq's `finish_job` would."""
    key = keys.event(event_id)
    # No MULTI: each command is safe alone (begin already set the time to live), and this is
    # the hottest write of the worker.
    async with redis.pipeline(transaction=False) as pipe:
        if values:
            pipe.hset(key, mapping=values)
        if drop:
            pipe.hdel(key, *drop)
        pipe.expire(key, ttl_s)
        if count:
            stats = keys.stats(int(time.time() // 60))
            pipe.hincrby(stats, count, 1)
            pipe.expire(stats, keys.STATS_TTL_S)
        if end_job:
            pipe.delete(*keys.job_keys(end_job))
            pipe.zrem(keys.QUEUE, end_job)
        await pipe.execute()


def documents(record: EventRecord) -> Documents | None:
    """The event as the receiver kept it and what the worker read from KuFlow for it (process,
    process item); None when the record keeps no body (expired, or from an older version)."""
    try:
        event = json.loads(record.fields.get("event") or "null")
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    enrichment = json.loads(record.fields.get("enrichment") or "{}")
    return event, enrichment.get("process"), enrichment.get("processItem")


async def recent(
    redis: Redis, last: int, since_ms: int = 0, most: int = 10_000
) -> list[tuple[str, Documents]]:
    """The recent events that still have their body, newest first, through the time index:
    the `last` ones, or those received since `since_ms` (at most `most`). One round trip for
    the index, one for the records."""
    if since_ms:
        ids = await redis.zrevrangebyscore(keys.EVENTS, "+inf", since_ms, start=0, num=most)
    else:
        ids = await redis.zrevrange(keys.EVENTS, 0, last - 1)
    async with redis.pipeline(transaction=False) as pipe:
        for raw in ids:
            pipe.hgetall(keys.event(raw.decode()))
        records = await pipe.execute()
    found = []
    for raw, fields in zip(ids, records, strict=True):
        kept = documents(record_of(raw.decode(), fields))
        if kept is not None:
            found.append((raw.decode(), kept))
    return found
