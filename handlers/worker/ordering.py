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

from handlers.worker import lua
from handlers.worker.records import EventStatus
from receiver import keys

PARK_S = 60.0  # a parked job looks again after this, should its wake-up be missed
PROMOTE_BATCH = 100
FINAL = (EventStatus.DONE, EventStatus.PARTIAL, EventStatus.DEAD, EventStatus.REJECTED)

# KEYS: line, process hash, record; ARGV: event id, event time (ms), record prefix, job prefix,
# the final statuses joined by ',', now (ms), the record's time to live (s). Parks, or begins
# the run as `records.begin` does — one round trip either way. Returns {1 go / 0 park, late,
# and when going the record as HGETALL gives it}.
_ACQUIRE = """
local final = {}
for status in string.gmatch(ARGV[5], '[^,]+') do final[status] = true end
while true do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if not head or head == ARGV[1] then break end
  local status = redis.call('HGET', ARGV[3] .. head, 'status')
  if final[status] or redis.call('EXISTS', ARGV[4] .. head) == 0 then
    redis.call('LPOP', KEYS[1])  -- its job is gone: it can hold nobody up
  elseif redis.call('LPOS', KEYS[1], ARGV[1]) then
    redis.call('HSET', KEYS[3], 'parked', '1', 'status', 'waiting', 'waiting_for', head)
    return {0, 0, {}}
  else
    break  -- not in the line (a replay, or ordering was off when it came): no turn to wait for
  end
end
redis.call('HDEL', KEYS[3], 'parked', 'waiting_for')
local latest = tonumber(redis.call('HGET', KEYS[2], 'latest') or '0')
local late = 0
if tonumber(ARGV[2]) < latest then
  late = 1
  redis.call('HSET', KEYS[3], 'late', '1')
else
  redis.call('HSET', KEYS[2], 'latest', ARGV[2])
end
redis.call('HSET', KEYS[3], 'status', 'processing')
redis.call('HSETNX', KEYS[3], 'started_at', ARGV[6])
redis.call('HINCRBY', KEYS[3], 'runs', 1)
redis.call('EXPIRE', KEYS[3], ARGV[7])
return {1, late, redis.call('HGETALL', KEYS[3])}
"""

# KEYS: line, ready, wake, record, minute stats, arq's queue, then arq's keys of the job; ARGV:
# event id, failed '1'/'0', record prefix, the record's time to live (s), the stats' (s), the
# final status, the job id ('': leave the job to arq), then field, value, … to write. Writes the
# event's final fields as `Job.finish` does, ends the job as arq's `finish_job` would, and
# leaves the line — one round trip.
_RELEASE = """
redis.call('HSET', KEYS[4], unpack(ARGV, 8))
redis.call('EXPIRE', KEYS[4], ARGV[4])
redis.call('HINCRBY', KEYS[5], ARGV[6], 1)
redis.call('EXPIRE', KEYS[5], ARGV[5])
if ARGV[7] ~= '' then
  redis.call('DEL', unpack(KEYS, 7))
  redis.call('ZREM', KEYS[6], ARGV[7])
end
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then
  redis.call('LPOP', KEYS[1])
else
  redis.call('LREM', KEYS[1], 1, ARGV[1])
end
local next = redis.call('LINDEX', KEYS[1], 0)
if not next then return 0 end
local record = ARGV[3] .. next
if ARGV[2] == '1' then redis.call('HSET', record, 'after_failed', ARGV[1]) end
if redis.call('HGET', record, 'parked') == '1' then
  redis.call('RPUSH', KEYS[2], next)
  redis.call('LPUSH', KEYS[3], '1')
  return 1
end
return 0
"""

# KEYS: ready, queue; ARGV: now (ms), in-progress prefix, batch. A job still being parked by arq
# (its in-progress mark is there) stays ready for the next round: moving it now would be undone
# by arq's own re-scheduling.
_PROMOTE = """
local ids = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)
local moved = 0
for _, id in ipairs(ids) do
  redis.call('LREM', KEYS[1], 1, id)
  if redis.call('EXISTS', ARGV[2] .. id) == 1 then
    redis.call('RPUSH', KEYS[1], id)
  else
    redis.call('ZADD', KEYS[2], 'XX', ARGV[1], id)
    moved = moved + 1
  end
end
return moved
"""


@dataclass(frozen=True)
class Turn:
    """Whether an event may run now, and what ordering says of it."""

    go: bool
    late: bool = False
    seq: int = 0


async def start(
    redis: Redis, process_id: str, event_id: str, event_ms: int, ttl_s: int
) -> tuple[Turn, dict[bytes, bytes] | None]:
    """The event's turn: when it heads its process's line (or is in no line) its run begins and
    its record comes back, as `records.begin` gives it; else it parks (None)."""
    go, late, flat = await lua.run(
        redis, _ACQUIRE,
        [keys.process_line(process_id), keys.process(process_id), keys.event(event_id)],
        [event_id, event_ms, keys.event(""), keys.job(""), ",".join(FINAL),
         int(time.time() * 1000), ttl_s],
    )  # fmt: skip
    if not go:
        return Turn(False), None
    raw = dict(zip(flat[::2], flat[1::2], strict=True))
    return Turn(True, bool(late), int(raw.get(b"seq") or 0)), raw


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
