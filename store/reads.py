"""What the console and the CLI read of the router's state: the overview's counts, pages of
events, one event's record, a process's timeline. Reads only; never a scan of
all keys — events are listed through the receiver's time index (`router:events`), counts from
per-minute hashes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from redis.asyncio import Redis

from store import dlq, failures, gate, heartbeat, keys, ordering, records, timers

PAGE_ROWS = 50
SCAN_BATCH = 200  # index entries read per round trip while filtering
SCAN_LIMIT = 5000  # index entries looked at per page at most: a rare filter gives a short page
BUCKET_MINUTES = 15  # the overview's chart: 96 bars over 24 hours
LISTED = ("status", "type", "received_at", "finished_at", "process_id", "matched", "seq")


@dataclass(frozen=True)
class Filters:
    """The events page's filters, as they appear in its URL."""

    status: str = ""
    type: str = ""
    rule: str = ""
    process_id: str = ""
    event_id: str = ""
    since_ms: int = 0  # received at or after (0: no bound)
    until_ms: int = 0  # received before (0: no bound)

    def keep(self, event_id: str, fields: Mapping[str, str]) -> bool:
        """Whether an event's listed fields pass every filter."""
        matched = json.loads(fields.get("matched") or "[]") if self.rule else []
        return (
            (not self.status or fields.get("status") == self.status)
            and (not self.type or fields.get("type") == self.type)
            and (not self.rule or self.rule in matched)
            and (not self.process_id or fields.get("process_id") == self.process_id)
            and (not self.event_id or event_id == self.event_id)
        )


@dataclass(frozen=True)
class Row:
    """One event in a list."""

    event_id: str
    fields: dict[str, str]

    @property
    def received_ms(self) -> int:
        return int(self.fields.get("received_at") or 0)


@dataclass(frozen=True)
class Page:
    """A page of events, newest first, and the cursor of the next one (None: the last page)."""

    rows: list[Row]
    next_cursor: str | None
    looked_at: int


def _decode(raw: Mapping[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode(errors="replace") for k, v in raw.items()}


async def _one(redis: Redis, filters: Filters) -> Page:
    """The page of one event id: no index to walk."""
    wanted = list(LISTED)
    raw = await cast(
        Awaitable[list[bytes | None]], redis.hmget(keys.event(filters.event_id), wanted)
    )
    found = {k: v.decode() for k, v in zip(LISTED, raw, strict=True) if v is not None}
    kept = bool(found) and filters.keep(filters.event_id, found)
    return Page([Row(filters.event_id, found)] if kept else [], None, 1)


async def events(
    redis: Redis, filters: Filters, cursor: str = "", rows_wanted: int = PAGE_ROWS
) -> Page:
    """Up to `rows_wanted` events that pass `filters`, older than `cursor` (`{ms}:{id}`),
    newest first; a page looks at SCAN_LIMIT index entries at most."""
    if filters.event_id:
        return await _one(redis, filters)
    top = f"({filters.until_ms}" if filters.until_ms else "+inf"
    after_id = ""
    if cursor:
        ms, _, after_id = cursor.partition(":")
        top = ms if ms.isdigit() else top
    bottom = str(filters.since_ms) if filters.since_ms else "-inf"
    rows: list[Row] = []
    looked_at, offset = 0, 0
    while len(rows) < rows_wanted and looked_at < SCAN_LIMIT:
        batch = await redis.zrevrangebyscore(
            keys.EVENTS, top, bottom, start=offset, num=SCAN_BATCH, withscores=True
        )
        if not batch:
            return Page(rows, None, looked_at)
        offset += len(batch)
        members = [(m.decode(), int(score)) for m, score in batch]
        if after_id:  # skip what the previous page showed (same millisecond, id order)
            members = [(m, s) for m, s in members if s < int(top) or m < after_id]
        async with redis.pipeline(transaction=False) as pipe:
            for member, _ in members:
                pipe.hmget(keys.event(member), list(LISTED))
            values = await pipe.execute()
        for (member, _), raw in zip(members, values, strict=True):
            looked_at += 1
            found = {k: v.decode() for k, v in zip(LISTED, raw, strict=True) if v is not None}
            if found and filters.keep(member, found):
                rows.append(Row(member, found))
                if len(rows) == rows_wanted:
                    return Page(rows, f"{rows[-1].received_ms}:{member}", looked_at)
    more = looked_at >= SCAN_LIMIT
    return Page(rows, f"{int(batch[-1][1])}:{batch[-1][0].decode()}" if more else None, looked_at)


async def all_events(redis: Redis, filters: Filters, most: int) -> list[Row]:
    """Every event that passes `filters` among the `most` most recent, newest first."""
    rows: list[Row] = []
    cursor, looked_at = "", 0
    while looked_at < most:
        page = await events(redis, filters, cursor, rows_wanted=most)
        rows += page.rows
        looked_at += page.looked_at
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return rows


async def event_count(redis: Redis) -> int:
    """How many events the event log's index holds."""
    return int(await redis.zcard(keys.EVENTS))


@dataclass(frozen=True)
class Gauges:
    """What the receiver's /metrics shows of the whole router."""

    queued: int  # jobs in the queue, due or not, timers not yet due aside
    dead_letters: int
    workers_alive: int
    breakers: dict[str, gate.State]  # by connection
    timers: timers.Summary
    held_processes: int  # processes a dead-lettered event holds (ordering on failure: hold)
    held_since_ms: int  # since when the longest held one is (0: none)
    audit_entries: int = 0  # what the audit log holds (ROUTER_AUDIT_MAX_ENTRIES bounds it)
    failures: dict[str, int] = field(default_factory=dict)  # failures by state


async def gauges(redis: Redis) -> Gauges:
    """The queue, the dead letters, the live workers, each connection's breaker, the timers."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zcard(keys.QUEUE)
        pipe.xlen(keys.DLQ)
        pipe.xlen(keys.AUDIT)
        queued, dead_letters, audited = await pipe.execute()
    alive = await heartbeat.alive(redis)
    waiting = await timers.summary(redis)
    held, since = await ordering.held_summary(redis)
    return Gauges(int(queued) - (waiting.pending - waiting.overdue), int(dead_letters), alive,
                  await gate.breakers(redis), waiting, held, since, int(audited),
                  await failures.counts(redis))  # fmt: skip


@dataclass(frozen=True)
class Counts:
    """Events received and finished over a span of minutes, by type and by status."""

    received: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Overview:
    """The overview page's figures."""

    hour: Counts
    day: Counts
    series: list[tuple[int, int, int, int]]  # (first minute, received, done, dead) per bucket
    queued: int  # jobs due now
    retrying: int  # jobs waiting for their next try
    dead_letters: int
    workers: list[heartbeat.Beat]
    timers: timers.Summary  # timers of rules with `after:`: pending, the next due


def _counts(minutes: list[dict[str, str]]) -> Counts:
    by_type: dict[str, int] = {}
    by_status: dict[str, int] = {}
    received = 0
    for fields in minutes:
        for name, value in fields.items():
            if name == "received":
                received += int(value)
            elif name == "duplicates":  # deliveries refused as already received
                continue
            elif name.startswith("type:"):
                by_type[name[5:]] = by_type.get(name[5:], 0) + int(value)
            else:
                by_status[name] = by_status.get(name, 0) + int(value)
    return Counts(received, dict(sorted(by_type.items())), dict(sorted(by_status.items())))


async def overview(redis: Redis) -> Overview:
    """Counts of the last hour and day, the queue, the dead letters and the workers."""
    now = time.time()
    minute = int(now // 60)
    day = list(range(minute - 24 * 60 + 1, minute + 1))
    async with redis.pipeline(transaction=False) as pipe:
        for m in day:
            pipe.hgetall(keys.stats(m))
        pipe.zcount(keys.QUEUE, "-inf", int(now * 1000))
        pipe.zcount(keys.QUEUE, f"({int(now * 1000)}", "+inf")
        pipe.xlen(keys.DLQ)
        answers = await pipe.execute()
    minutes = [_decode(raw) for raw in answers[: len(day)]]
    queued, later, dead_letters = answers[len(day) :]
    waiting = await timers.summary(redis, int(now * 1000))
    series = []
    for start in range(0, len(day), BUCKET_MINUTES):
        bucket = minutes[start : start + BUCKET_MINUTES]
        received = sum(int(f.get("received", 0)) for f in bucket)
        done = sum(int(f.get("done", 0)) + int(f.get("partial", 0)) for f in bucket)
        series.append((day[start], received, done, sum(int(f.get("dead", 0)) for f in bucket)))
    return Overview(
        _counts(minutes[-60:]), _counts(minutes), series, int(queued),
        int(later) - (waiting.pending - waiting.overdue), int(dead_letters),
        await heartbeat.beats(redis), waiting,
    )  # fmt: skip


@dataclass(frozen=True)
class Event:
    """One event as the console shows it."""

    record: records.EventRecord
    body: Any  # the event as received (parsed), or None once no longer kept
    enrichment: dict[str, Any]
    dead_letters: list[dlq.Entry]


async def event(redis: Redis, event_id: str) -> Event | None:
    """One event's record, body, recorded enrichment and dead-letter entries; None if unknown."""
    record = await records.load(redis, event_id)
    if not record.fields and not record.actions:
        return None
    text = record.fields.get("event", "")
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = text
    enrichment = json.loads(record.fields.get("enrichment") or "{}")
    return Event(record, body, enrichment, await dlq.entries(redis, event_id))


PROCESS_EVENTS = 500  # the most of one process's events a timeline shows (its first ones)


@dataclass(frozen=True)
class TimelineRow:
    """One event in its process's timeline."""

    event: Event
    event_id: str
    after_ms: int  # received this long after the process's first event

    @property
    def seq(self) -> int:
        """Its place in the process's order (0 when received without ordering)."""
        return int(self.event.record.fields.get("seq") or 0)

    @property
    def matched(self) -> list[str]:
        """The rules it matched, in order (none until evaluated)."""
        matched = json.loads(self.event.record.fields.get("matched") or "[]")
        return matched if isinstance(matched, list) else []

    @property
    def actions(self) -> list[tuple[str, records.ActionState]]:
        """Its actions as they ran (the KuFlow read first, then rule by rule)."""
        return records.in_order(self.event.record.actions, self.matched)


async def process_timeline(redis: Redis, process_id: str) -> list[TimelineRow]:
    """Every event of a KuFlow process still in the event log, in the order they run (their
    sequence numbers, else the order received), each with its record and dead letters."""
    ids = await redis.zrange(keys.process_events(process_id), 0, PROCESS_EVENTS - 1)
    found = []
    for raw in ids:
        event_id = raw.decode()
        kept = await event(redis, event_id)
        if kept is not None:
            found.append((event_id, kept))
    first = min((int(e.record.fields.get("received_at") or 0) for _, e in found), default=0)
    turns = [
        TimelineRow(kept, event_id, int(kept.record.fields.get("received_at") or first) - first)
        for event_id, kept in found
    ]
    return sorted(turns, key=lambda turn: (turn.seq or 0, turn.after_ms))
