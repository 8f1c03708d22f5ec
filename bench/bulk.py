"""Bulk actions on a failure (issue 33): is replaying or discarding 100,000 dead-lettered events
linear, and does it hold a page, not the failure, in memory?

    .venv/bin/python -m bench.bulk [SMALL] [LARGE]

On a private Redis (append-only file on): a failure of SMALL (default 10,000) and then of LARGE
(default 100,000) dead-lettered events — ten to a process, each with its record, its body kept
by the dead-letter queue and its process's sequence — is replayed (each event queued again and
put in its process's line, a page of 500 at a time, as `failures replay` does), then seeded again
and discarded. Figures: time per event at LARGE against time per event at SMALL in the same run
(1.0 is linear), and the peak of Python memory allocated by a run of SMALL against one of a
tenth of it (tracemalloc, in runs of their own: it slows what it watches).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

from redis.asyncio import Redis

from bench import machine
from bench.harness import redis_server
from store import bulk, dlq, failures, keys

PER_PROCESS = 10
SEED_PAGE = 1000
FIELDS = {"rule": "sync", "action": "shop.request", "status": "503", "cause": "HTTP 503",
          "error": "POST /orders answered 503", "attempts": "3"}  # fmt: skip


async def seed(redis: Redis, count: int) -> str:
    """`count` dead-lettered events of one failure, as workers leave them; the failure's id."""
    await redis.flushall()
    now_ms = int(time.time() * 1000)
    for start in range(0, count, SEED_PAGE):
        async with redis.pipeline(transaction=False) as pipe:
            added = []
            for n in range(start, min(start + SEED_PAGE, count)):
                event_id, process = str(uuid.uuid4()), f"p-{n // PER_PROCESS}"
                body = json.dumps({"id": event_id, "type": "PROCESS.STATE_CHANGED",
                                   "data": {"processId": process}}).encode()  # fmt: skip
                received = now_ms + n
                pipe.hset(keys.event(event_id), mapping={
                    "status": "dead", "process_id": process, "seq": n % PER_PROCESS + 1,
                    "received_at": received, "event": body})  # fmt: skip
                pipe.set(keys.dlq_event(event_id), body)
                fields = {**FIELDS, "event_id": event_id, "holds_event": "1", "bytes": "300"}
                pipe.xadd(keys.DLQ, fields)  # type: ignore[arg-type]
                added.append((received, fields))
            ids = await pipe.execute()
        async with redis.pipeline(transaction=False) as pipe:
            for entry_id, (_, fields) in zip(ids[2::3], added, strict=True):
                pipe.sadd(keys.dlq_index(fields["event_id"]), entry_id)
            failures.index(pipe, added, 3600)
            await pipe.execute()
    return failures.failure_id(FIELDS)


async def timed(redis_url: str, count: int, action: str, memory: bool = False) -> float:
    """Seconds `action` took on a fresh failure of `count` events — or, with `memory`, the peak
    of Python memory it allocated (tracemalloc: it slows the run, so it is timed apart)."""
    async with Redis.from_url(redis_url) as redis:
        fid = await seed(redis, count)
        if memory:
            tracemalloc.start()
        started = time.perf_counter()
        result = await bulk.run(redis, fid, action, "bench", 3600)
        took = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if memory else 0
        tracemalloc.stop()
        assert result.done == count and result.left == 0, result
        if action == bulk.REPLAY:
            assert await redis.zcard(keys.QUEUE) == count
        else:
            assert not await dlq.entries(redis)
    return peak if memory else took


def main() -> None:
    small = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    large = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    print(machine.describe())
    rows = []
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as server:
        for action in (bulk.REPLAY, bulk.DISCARD):
            small_s = asyncio.run(timed(server.url, small, action))
            large_s = asyncio.run(timed(server.url, large, action))
            peaks = [asyncio.run(timed(server.url, n, action, memory=True))
                     for n in (small // 10, small)]  # fmt: skip
            rows.append((action, small_s, large_s, peaks))
    print(f"\n| one failure's events (one run) | {small:,} | {large:,} | per event, "
          f"{large:,} vs {small:,} | peak memory, {small:,} vs {small // 10:,} |\n"
          "|---|---:|---:|---:|---:|")  # fmt: skip
    for action, small_s, large_s, (few, many) in rows:
        ratio = (large_s / large) / (small_s / small)
        print(f"| {action} | {small_s:.1f} s | {large_s:.1f} s | {ratio:.2f}x | "
              f"{many / few:.2f}x ({many / 1e6:.1f} MB) |")  # fmt: skip
    print("\ngoal: linear (per event ~1.0x), memory of a page, not of the failure (~1.0x)")


if __name__ == "__main__":
    main()
