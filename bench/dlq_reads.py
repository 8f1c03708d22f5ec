"""The console's dead-letter reads with 100,000 entries in the queue (issue 28, item 9).

    .venv/bin/python -m bench.dlq_reads [ENTRIES]

Fills a private Redis with ENTRIES dead-letter entries as the worker writes them (five per
event, ten causes, each event's body kept once, the per-event index), then measures in-process,
through the console's ASGI app where there is a page: one event's page, the dead-letter page
(grouped by cause), and finding the entries of the events of a group replay, one after the
other — through the index, as now, and by a scan of the stream, as before it (the same run's
baseline: these machines differ by 2x from day to day). Medians of a few rounds.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from redis.asyncio import Redis

from bench import machine
from bench.harness import body, console_client, event, redis_server
from console.app import create_console
from handlers.rules.reload import LiveRules
from store import dlq, keys

PER_EVENT = 5
CAUSES = 10
ROUNDS = 5


async def fill(redis: Redis, count: int) -> list[str]:
    """`count` entries, PER_EVENT per event; the event ids, oldest first."""
    events: list[str] = []
    for start in range(0, count, 5000):
        async with redis.pipeline(transaction=False) as pipe:
            for n in range(start, min(count, start + 5000)):
                if n % PER_EVENT == 0:
                    payload = event()
                    events.append(str(payload["id"]))
                    pipe.set(keys.dlq_event(events[-1]), body(payload))
                values = {"event_id": events[-1], "rule": f"rule-{n % CAUSES}",
                          "action": "crm.request", "index": "0", "attempts": "3",
                          "status": str(400 + n % CAUSES), "error": "POST answered 4xx",
                          "time": str(time.time()), "bytes": "300",
                          "holds_event": "1" if n % PER_EVENT == 0 else ""}  # fmt: skip
                pipe.xadd(keys.DLQ, values)  # type: ignore[arg-type]
            answers = await pipe.execute()
        entry_ids = [a for a in answers if isinstance(a, bytes)]  # the XADDs' (not the SETs')
        async with redis.pipeline(transaction=False) as pipe:
            for n, entry_id in enumerate(entry_ids, start=start):
                pipe.sadd(keys.dlq_index(events[n // PER_EVENT]), entry_id)
            await pipe.execute()
        print(f"\r  stored {min(count, start + 5000):,} entries", end="", file=sys.stderr)
    print(file=sys.stderr)
    await redis.set(keys.DLQ_INDEXED, "1")
    return events


async def median_ms(work: Callable[[], Awaitable[object]], rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def by_scan(redis: Redis, event_id: str) -> list[dlq.Entry]:
    """One event's entries as they were found before the index: a scan of the stream."""
    return [entry async for entry in dlq.iterate(redis, event_id)]


async def scans(redis: Redis, events: list[str]) -> None:
    for event_id in events:
        await by_scan(redis, event_id)


async def indexed(redis: Redis, events: list[str]) -> None:
    for event_id in events:
        await dlq.entries(redis, event_id)


async def main(count: int) -> None:
    print(machine.describe())
    with tempfile.TemporaryDirectory() as place, redis_server(Path(place)) as server:
        rules_path = Path(place) / "rules.yaml"
        rules_path.write_text("version: 1\nrules: []\n")
        async with Redis.from_url(server.url) as redis:
            events = await fill(redis, count)
            sample, hundred = events[len(events) // 2], events[:100]
            await redis.hset(keys.event(sample), mapping={
                "status": "dead", "type": "PROCESS.CREATED", "received_at": int(time.time() * 1000),
                "event": (await redis.get(keys.dlq_event(sample)) or b"").decode(),
            })  # fmt: skip
            app = create_console(redis, LiveRules(rules_path), None, 7 * 24 * 3600)
            async with console_client(app) as client:

                async def page(path: str) -> None:
                    answer = await client.get(path)
                    assert answer.status_code == 200, (path, answer.status_code, answer.headers)

                figures = {
                    "one event's entries, by a scan (before)": await median_ms(
                        lambda: by_scan(redis, sample)
                    ),
                    "one event's entries, by its index (now)": await median_ms(
                        lambda: dlq.entries(redis, sample)
                    ),
                    "event page (now)": await median_ms(lambda: page(f"/events/{sample}")),
                    "a group replay's reads, per event, by scans (before; 5 events)": (
                        await median_ms(lambda: scans(redis, hundred[:5]), 1) / 5
                    ),
                    "a group replay's reads, per event, by index (now; 100 events)": (
                        await median_ms(lambda: indexed(redis, hundred)) / 100
                    ),
                    "dead-letter page, grouped (one pass)": await median_ms(
                        lambda: page("/dead"), 3
                    ),
                }
    scan = figures["one event's entries, by a scan (before)"]
    print(f"\n{count:,} dead-letter entries of {len(events):,} events; medians, in-process\n")
    print("| read | ms | vs a scan of one event (before) |")
    print("|---|---:|---:|")
    for name, ms in figures.items():
        print(f"| {name} | {ms:.1f} | {ms / scan:.3g}x |")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
