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
_SKIP = lua.script("skip")


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
    holds: bool = False,
) -> bool:
    """Write the event's final fields, count its status, end arq's job `job_id` (if given),
    leave the line and wake the next if it is parked; True if one was woken. `holds`: it failed
    and holds its process's line instead (ROUTER_ORDERING_ON_FAILURE=hold): the process waits
    until it is replayed and succeeds, or skipped (`skip`)."""
    pairs = [item for name, value in values.items() for item in (name, value)]
    mode = "2" if failed and holds else "1" if failed else "0"
    woken = await lua.run(
        redis, _RELEASE,
        [keys.process_line(process_id), keys.READY, keys.READY_WAKE, keys.event(event_id),
         keys.stats(int(time.time() // 60)), keys.QUEUE, keys.HELD_PROCESSES,
         *keys.job_keys(job_id)],
        [event_id, mode, keys.event(""), ttl_s, keys.STATS_TTL_S, status, job_id, process_id,
         int(time.time() * 1000), *pairs],
    )  # fmt: skip
    return bool(woken)


async def skip(redis: Redis, event_id: str, by: str) -> bool:
    """Let the process an event holds move on (`dlq skip`): the event leaves its line, its
    record says who skipped it, the next event runs. False: it held no line."""
    process_id = await redis.hget(keys.event(event_id), "process_id")  # type: ignore[misc]
    if not process_id:
        return False
    pid = process_id.decode()
    done = await lua.run(
        redis, _SKIP,
        [keys.event(event_id), keys.process_line(pid), keys.HELD_PROCESSES, keys.READY,
         keys.READY_WAKE],
        [event_id, by, int(time.time() * 1000), pid, keys.event("")],
    )  # fmt: skip
    return bool(done)


@dataclass(frozen=True)
class HeldProcess:
    """A process whose line a failed event holds: the event, since when, how many wait."""

    process_id: str
    event_id: str
    since_ms: int
    waiting: int  # its events behind the held one


async def held(redis: Redis, most: int = 500) -> list[HeldProcess]:
    """The held processes, longest held first."""
    found = await redis.zrange(keys.HELD_PROCESSES, 0, most - 1, withscores=True)
    async with redis.pipeline(transaction=False) as pipe:
        for pid, _ in found:
            pipe.lindex(keys.process_line(pid.decode()), 0)
            pipe.llen(keys.process_line(pid.decode()))
        answers = await pipe.execute()
    return [
        HeldProcess(pid.decode(), (head or b"").decode(), int(since), max(int(length) - 1, 0))
        for (pid, since), head, length in zip(found, answers[::2], answers[1::2], strict=True)
    ]


async def promote(redis: Redis, now_ms: int) -> int:
    """Move ready parked jobs to the front of the queue; how many were moved."""
    moved = await lua.run(
        redis, _PROMOTE, [keys.READY, keys.QUEUE], [now_ms, keys.in_progress(""), PROMOTE_BATCH]
    )
    return int(moved)


async def held_summary(redis: Redis) -> tuple[int, int]:
    """How many processes are held, and since when the longest held one is (ms; 0: none)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zcard(keys.HELD_PROCESSES)
        pipe.zrange(keys.HELD_PROCESSES, 0, 0, withscores=True)
        count, first = await pipe.execute()
    return int(count), int(first[0][1]) if first else 0
