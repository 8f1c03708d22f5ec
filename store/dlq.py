"""The dead-letter queue: Redis stream `router:dlq`, one entry per action that failed for good.

An entry holds the event id, the rule, the action, its attempts, the last error — HTTP status,
the remote API's own error text, a body excerpt, each cut to `MAX_FIELD_CHARS` — and the time.
The event itself is kept once, beside the stream (`router:dlq:event:{id}`), however many of its
actions failed. Entries are addressed by event id; replaying an event marks its dead actions
for a re-run and queues it again, and the actions it had completed stay skipped.

The queue is bounded, so a flood of failing events cannot fill Redis: entries older than
ROUTER_DLQ_TTL_DAYS, and the oldest beyond ROUTER_DLQ_MAX_BYTES, are removed after each
addition — counted in `router_dlq_trimmed_total{reason}` and logged, never silently. Reads of
the whole queue go through the stream in pages; one event's entries are found through its index
(`router:dlq:index:{id}`, the stream ids of its entries), so an event page, a replay or a purge
costs what that event has, not what the queue holds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from common.redact import redact
from store import failures, keys, records
from store.queue import requeue
from store.records import ActionState, ActionStatus, EventStatus

log = logging.getLogger("kuflow_router.worker")

MAX_FIELD_CHARS = 2000  # error, remote text and excerpt, each
PAGE = 500  # entries per read


@dataclass(frozen=True)
class Limits:
    """How long and how much the dead-letter queue keeps."""

    ttl_s: int = 30 * 24 * 3600
    max_bytes: int = 1024 * 1024 * 1024
    # Told of each trim: its reason (`age`, `size`) and how many entries went (a metric).
    trimmed: Callable[[str, int], None] = lambda reason, count: None


@dataclass(frozen=True)
class Entry:
    """One dead-lettered action."""

    entry_id: str
    fields: dict[str, str]

    @property
    def event_id(self) -> str:
        return self.fields.get("event_id", "")

    @property
    def time_ms(self) -> int:
        return int(self.entry_id.split("-", 1)[0])


def _field(value: Any) -> str:
    return "" if value is None else redact(str(value))[:MAX_FIELD_CHARS]


async def add(
    redis: Redis, limits: Limits, event: bytes, received_ms: int = 0, **fields: Any
) -> tuple[str, str]:
    """Append an entry — `fields` are event_id, rule, action, index, attempts, status, cause,
    error, remote, excerpt — keep `event` once, count it in its failure (store/failures.py);
    then trim to the limits. The failure's id, and whether this opened or reopened it
    (`failures.seen`). `received_ms`: when the event was received (its failure's replay order)."""
    event_id = str(fields.get("event_id", ""))
    values = {k: _field(v) for k, v in fields.items()}
    values["time"] = str(time.time())
    body_key = keys.dlq_event(event_id)
    stored = await redis.set(body_key, event, ex=limits.ttl_s, nx=True)
    if not stored:
        await redis.expire(body_key, limits.ttl_s)
    size = sum(len(k) + len(v) for k, v in values.items()) + (len(event) if stored else 0)
    values["bytes"] = str(size)
    values["holds_event"] = "1" if stored else ""
    entry_id = await redis.xadd(keys.DLQ, values)  # type: ignore[arg-type]
    index = keys.dlq_index(event_id)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.incrby(keys.DLQ_BYTES, size)
        pipe.sadd(index, entry_id)
        pipe.expire(index, limits.ttl_s)
        await pipe.execute()
    seen = await failures.seen(
        redis, values, event_id, received_ms or int(time.time() * 1000), limits.ttl_s
    )
    await trim(redis, limits)
    return seen


async def trim(redis: Redis, limits: Limits) -> int:
    """Remove the oldest entries while they are too old or the queue is over its bytes."""
    oldest_kept_ms = int((time.time() - limits.ttl_s) * 1000)
    removed = {"age": 0, "size": 0}
    while True:
        total = int(await redis.get(keys.DLQ_BYTES) or 0)
        # Most additions trim nothing: look at the oldest entry alone before reading a page.
        oldest = await _page(redis, "-", "+", 1)
        if not oldest or (oldest[0].time_ms >= oldest_kept_ms and total <= limits.max_bytes):
            break
        page = await _page(redis, "-", "+", PAGE)
        doomed: list[Entry] = []
        for entry in page:
            if entry.time_ms < oldest_kept_ms:
                removed["age"] += 1
            elif total > limits.max_bytes:
                removed["size"] += 1
            else:
                break
            doomed.append(entry)
            total -= int(entry.fields.get("bytes") or 0)
        if not doomed:
            break
        await _delete(redis, doomed)
        if len(doomed) < len(page):
            break
    for reason, count in removed.items():
        if count:
            limits.trimmed(reason, count)
            log.warning(
                "dead-letter queue trimmed: %d entries %s",
                count,
                "older than ROUTER_DLQ_TTL_DAYS" if reason == "age" else
                "beyond ROUTER_DLQ_MAX_BYTES",
                extra={"outcome": "trimmed", "reason": reason, "count": count},
            )  # fmt: skip
    return removed["age"] + removed["size"]


async def _delete(redis: Redis, doomed: list[Entry]) -> None:
    size = sum(int(e.fields.get("bytes") or 0) for e in doomed)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xdel(keys.DLQ, *[e.entry_id for e in doomed])
        pipe.decrby(keys.DLQ_BYTES, size)
        bodies = [keys.dlq_event(e.event_id) for e in doomed if e.fields.get("holds_event")]
        if bodies:
            pipe.delete(*bodies)
        for entry in doomed:
            pipe.srem(keys.dlq_index(entry.event_id), entry.entry_id)
        failures.forget(pipe, (entry.fields for entry in doomed))
        await pipe.execute()


async def _page(redis: Redis, start: str, end: str, count: int) -> list[Entry]:
    raw = await cast(
        Awaitable[list[tuple[bytes, dict[bytes, bytes]]]],
        redis.xrange(keys.DLQ, start, end, count=count),
    )
    return [
        Entry(entry_id.decode(), {k.decode(): v.decode(errors="replace") for k, v in data.items()})
        for entry_id, data in raw
    ]


async def _pages(redis: Redis) -> AsyncIterator[list[Entry]]:
    """The whole stream, oldest first, a page at a time."""
    start = "-"
    while page := await _page(redis, start, "+", PAGE):
        yield page
        if len(page) < PAGE:
            return
        start = "(" + page[-1].entry_id


async def iterate(redis: Redis, event_id: str | None = None) -> AsyncIterator[Entry]:
    """Every entry, oldest first, or those of one event — read a page at a time."""
    async for page in _pages(redis):
        for entry in page:
            if event_id is None or entry.event_id == event_id:
                yield entry


async def entries(redis: Redis, event_id: str | None = None) -> list[Entry]:
    """The entries of one event, oldest first, through its index (or all of them: bounded by
    ROUTER_DLQ_MAX_BYTES)."""
    if event_id is None:
        return [entry async for entry in iterate(redis)]
    members = cast(Awaitable[set[bytes]], redis.smembers(keys.dlq_index(event_id)))
    ids = sorted((m.decode() for m in await members), key=_stream_order)
    if not ids:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for entry_id in ids:
            pipe.xrange(keys.DLQ, entry_id, entry_id)
        pages = await pipe.execute()
    return [
        Entry(i.decode(), {k.decode(): v.decode(errors="replace") for k, v in data.items()})
        for page in pages
        for i, data in page
    ]


def _stream_order(entry_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


async def ensure_index(redis: Redis, limits: Limits) -> int:
    """Index the entries written before the per-event index existed, once per queue; how many
    were indexed (0 when it was done already)."""
    if await redis.exists(keys.DLQ_INDEXED):
        return 0
    count = 0
    async for page in _pages(redis):
        async with redis.pipeline(transaction=False) as pipe:  # one round trip a page
            for entry in page:
                pipe.sadd(keys.dlq_index(entry.event_id), entry.entry_id)
                pipe.expire(keys.dlq_index(entry.event_id), limits.ttl_s)
            await pipe.execute()
        count += len(page)
    await redis.set(keys.DLQ_INDEXED, "1")
    return count


async def ensure_failures(redis: Redis, limits: Limits) -> int:
    """Count the entries written before failures were kept into their failures
    (store/failures.py), once per queue — claimed first, so two workers starting together do
    not count them twice; how many were counted (0 when it was done already)."""
    if not await redis.set(keys.FAILURES_INDEXED, "1", nx=True):
        return 0
    count = 0
    async for page in _pages(redis):
        async with redis.pipeline(transaction=False) as pipe:  # one round trip a page
            failures.index(pipe, ((e.time_ms, e.fields) for e in page), limits.ttl_s)
            await pipe.execute()
        count += len(page)
    return count


async def event_body(redis: Redis, entry: Entry) -> bytes | None:
    """The event an entry belongs to, as received; None once it is no longer kept."""
    legacy = entry.fields.get("event")  # entries written before the event was kept apart
    if legacy:
        return legacy.encode()
    body: bytes | None = await redis.get(keys.dlq_event(entry.event_id))
    return body


async def purge(redis: Redis, event_id: str | None = None, failure_id: str = "") -> int:
    """Delete the entries of one event, or all of them — of one failure's cause only, if
    `failure_id` is given (its other dead letters stay); the number deleted."""
    doomed = await entries(redis, event_id)
    if failure_id:
        kept = [e for e in doomed if failures.failure_id(e.fields) != failure_id]
        if kept:
            doomed = [e for e in doomed if failures.failure_id(e.fields) == failure_id]
            await _remove(redis, doomed, None)
            return len(doomed)
    await _remove(redis, doomed, event_id)
    return len(doomed)


async def _remove(redis: Redis, doomed: list[Entry], event_id: str | None) -> None:
    for start in range(0, len(doomed), PAGE):
        await _delete(redis, doomed[start : start + PAGE])
    if event_id is not None:
        await redis.delete(keys.dlq_event(event_id), keys.dlq_index(event_id))


async def replay(redis: Redis, event_id: str, ttl_s: int) -> bool:
    """Queue a dead-lettered event again; its completed actions stay skipped.

    Returns False when the event has no entry (nothing to replay).

    Raises:
        LookupError: the event's body is no longer kept (trimmed or expired).
    """
    found = await entries(redis, event_id)
    if not found:
        return False
    body = await event_body(redis, found[-1])
    if body is None:
        raise LookupError(
            f"event {event_id}: its body is no longer kept (the dead-letter queue trimmed or "
            "expired it), so it cannot be replayed; its entries stay for `dlq show`"
        )
    await _queue_again(redis, await records.load(redis, event_id), body, ttl_s)
    await _remove(redis, found, event_id)
    return True


FINISHED = (EventStatus.DONE, EventStatus.PARTIAL, EventStatus.DEAD, EventStatus.REJECTED)


async def replay_finished(redis: Redis, event_id: str, ttl_s: int) -> bool:
    """Queue any finished event again — dead-lettered, rejected (verified again then: a wrong
    `base_url` fixed, say), or done — its completed actions skipped. False: no such event.

    Raises:
        LookupError: the event has not finished, or its body is no longer kept.
    """
    if await redis.exists(keys.dlq_index(event_id)):
        return await replay(redis, event_id, ttl_s)
    record = await records.load(redis, event_id)
    if not record.fields:
        return False
    status = record.fields.get("status", "")
    if status not in FINISHED:
        raise LookupError(f"event {event_id} is {status or 'unknown'}: replay it once it finished")
    body = record.fields.get("event")
    if not body:
        raise LookupError(f"event {event_id}: its record no longer holds the event as received")
    await _queue_again(redis, record, body.encode(), ttl_s)
    return True


async def _queue_again(redis: Redis, record: records.EventRecord, body: bytes, ttl_s: int) -> None:
    """Mark the event's dead actions for a re-run, forget how its last run ended, queue it."""
    event_id = record.event_id
    # A dead action may have acted before it failed (an answer lost to a timeout): its re-run
    # is marked replayed, so each API's repeat-safety check runs as on any retry, with a fresh
    # budget of attempts.
    again = {
        name: ActionState(
            ActionStatus.REPLAYED, error=state.error, status=state.status, action=state.action
        ).encode()
        for name, state in record.actions.items()
        if state.state is ActionStatus.DEAD
    }
    # The replay starts its own counts toward the crash-loop limits: errors that ended earlier
    # runs are forgotten, and the runs so far are set aside (`runs` itself stays).
    runs = int(record.fields.get("runs") or 0) - int(record.fields.get(records.HELD_RUNS) or 0)
    values = {"status": EventStatus.QUEUED, records.REPLAYED_AFTER: str(runs), **again}
    forgotten = [records.CRASHES, records.LAST_CRASH, "rejected", records.UNVERIFIED,
                 "finished_at"]  # fmt: skip
    await records.save(redis, event_id, ttl_s, values, drop=forgotten)
    received_at = int(record.fields.get("received_at") or time.time() * 1000)
    # An event that had its place in its process's line (a `seq`) runs in its turn again.
    in_line = record.fields.get("process_id", "") if record.fields.get("seq") else ""
    await requeue(redis, event_id, body, received_at, ttl_s,
                  timer="timer_rule" in record.fields, process_id=in_line)  # fmt: skip
