"""Per-process ordering: the events of one KuFlow process run one at a time, in the order the
receiver accepted them, while events of different processes run in parallel.

The receiver appends each event of a process to that process's line
(`router:process:{id}:line`) in the same atomic step that queues it. A job whose event is not at
the head of its line *parks*: it marks its record `parked` and goes back to arq's queue with a
long delay (`PARK_S`) — no worker slot held, no poll. When the event ahead finishes (done,
partial, dead or rejected: a failed predecessor blocks nothing), it leaves the line, and if the
next event is parked, the next is put on `router:ready` with a wake token; a worker loop moves
ready jobs to the front of arq's queue (`promote`) once arq has finished parking them. Each step
is one Lua script, so no wake-up can fall between a park and a release. A head whose job is gone
(its record final, or no job left in arq) is dropped from the line, so a process never sticks;
a worker that dies holding the head is recovered by arq's own in-progress timeout, which re-runs
it. `PARK_S` is only the safety net.

Late arrivals: each process keeps the newest KuFlow `timestamp` it handled; an event older than
that runs (in its turn) marked `late`, which rules can match as `ordering.late: true`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis

from store import keys, lua, records
from store.records import EventStatus

PARK_S = 60.0  # a parked job looks again after this, should its wake-up be missed
PROMOTE_BATCH = 100
FINAL = (EventStatus.DONE, EventStatus.PARTIAL, EventStatus.DEAD, EventStatus.REJECTED,
         EventStatus.CANCELLED)  # fmt: skip
_ACQUIRE, _RELEASE, _PROMOTE = lua.script("acquire"), lua.script("release"), lua.script("promote")


@dataclass(frozen=True)
class Turn:
    """Whether an event may run now, and what ordering says of it."""

    go: bool
    late: bool = False
    seq: int = 0


async def start(
    redis: Redis, process_id: str, event_id: str, event_ms: int | None, ttl_s: int
) -> tuple[Turn, records.EventRecord | None]:
    """The event's turn: when it heads its process's line (or is in no line) its run begins and
    its record comes back — with the paused rules —, as `records.begin` gives it; else it parks
    (None). `event_ms`: its KuFlow time, None for a timer's run (never late)."""
    go, late, flat, *paused = await lua.run(
        redis, _ACQUIRE,
        [keys.process_line(process_id), keys.process(process_id), keys.event(event_id),
         keys.UNSTARTED, keys.PAUSED_RULES],
        [event_id, "" if event_ms is None else event_ms, keys.event(""), keys.job(""),
         ",".join(FINAL), int(time.time() * 1000), ttl_s],
    )  # fmt: skip
    if not go:
        return Turn(False), None
    raw = dict(zip(flat[::2], flat[1::2], strict=True))
    record = records.record_of(event_id, raw)
    record.paused_rules = dict(zip(paused[0][::2], paused[0][1::2], strict=True))
    return Turn(True, bool(late), int(raw.get(b"seq") or 0)), record


async def finish(
    redis: Redis,
    process_id: str,
    event_id: str,
    ttl_s: int,
    values: dict[str, str],
    status: str,
    failed: bool,
    job_id: str = "",
) -> bool:
    """Write the event's final fields, count its status, end arq's job `job_id` (if given),
    leave the line and wake the next if it is parked; True if one was woken."""
    pairs = [item for name, value in values.items() for item in (name, value)]
    woken = await lua.run(
        redis, _RELEASE,
        [keys.process_line(process_id), keys.READY, keys.READY_WAKE, keys.event(event_id),
         keys.stats(int(time.time() // 60)), keys.QUEUE, *keys.job_keys(job_id)],
        [event_id, "1" if failed else "0", keys.event(""), ttl_s, keys.STATS_TTL_S, status,
         job_id, *pairs],
    )  # fmt: skip
    return bool(woken)


async def promote(redis: Redis, now_ms: int) -> int:
    """Move ready parked jobs to the front of the queue; how many were moved."""
    moved = await lua.run(
        redis, _PROMOTE, [keys.READY, keys.QUEUE], [now_ms, keys.in_progress(""), PROMOTE_BATCH]
    )
    return int(moved)
