"""Timers of rules (`after:`): what 100,000 pending ones cost (issue 32).

    .venv/bin/python -m bench.timers [PENDING] [EVENTS]

On a private Redis (append-only file on) with the local API double, in one run:
1. Redis memory per pending timer, against the memory per queued event (the receiver's enqueue)
   measured the same way (20,000 of each at most) — a ratio, which does not move with the machine.
2. Fire lateness: 1,000 timers due in the same second, with PENDING others waiting, fired by one
   worker (concurrency 10, as by default) that calls the double for each: lateness is each
   timer's `timer_fired_at` minus its due time, p50 and p99. Goal: p99 <= 1 s. Beside it, when
   their runs finished: that is the worker's throughput on a backlog of 1,000, not the timers'.
3. The worker's throughput on EVENTS freshly queued events with PENDING timers waiting vs none,
   three interleaved runs each: the ratio. Goal: within 10 %.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench import machine
from bench.harness import body, drain, event, worker_stage
from bench.worker_throughput import fill
from handlers.rules.reload import LiveRules
from handlers.worker.app import build_worker
from handlers.worker.settings import WorkerSettings
from store import keys, records, timers

TIMER_RULE = """\
  - name: remind
    when: {{type: PROCESS.CREATED, data.processState: CANCELLED}}
    after: 1h
    do:
      - api.request: {{method: POST, path: "/remind/{{{{ data.processId }}}}"}}
"""
DUE_TOGETHER = 1000
BATCH = 1000


def with_timer_rule(rules: Path) -> Path:
    """The bench's rules plus a rule with `after:`, whose timers the bench starts."""
    path = rules.with_name("rules-timers.yaml")
    path.write_text(rules.read_text() + TIMER_RULE.format())
    return path


async def seed(redis: Redis, count: int, due_ms: int) -> list[str]:
    """`count` pending timers due at `due_ms`, each of its own process; their ids."""
    ids = []
    for start in range(0, count, BATCH):
        batch = []
        for _ in range(min(BATCH, count - start)):
            payload = event()
            data: Any = payload["data"]
            start_of = timers.Start(
                "remind", str(payload["id"]), "PROCESS.CREATED", str(data["processId"]),
                body(payload), due_ms - 3_600_000, due_ms, timers.digest([]),
            )  # fmt: skip
            batch.append(start_of)
            ids.append(timers.timer_id(str(payload["id"]), "remind"))
        await asyncio.gather(*(timers.start(redis, t, 3600, timers.Caps()) for t in batch))
    return ids


async def used_memory(redis: Redis) -> int:
    return int((await redis.info("memory"))["used_memory"])


async def memory(redis_url: str, count: int) -> tuple[float, float]:
    """Bytes of Redis memory per pending timer, and per queued event: each from an empty Redis."""
    async with Redis.from_url(redis_url) as redis:
        await redis.flushall()
        before = await used_memory(redis)
        await fill(redis_url, count)
        per_event = (await used_memory(redis) - before) / count
        await redis.flushall()
        before = await used_memory(redis)
        await seed(redis, count, int(time.time() * 1000) + 86_400_000)
        per_timer = (await used_memory(redis) - before) / count
    return per_timer, per_event


async def lateness(
    redis_url: str, settings: WorkerSettings, rules: Path, pending: int
) -> tuple[list[float], list[float]]:
    """How late DUE_TOGETHER timers due in the same second, with `pending` others, fired — and
    their runs finished — in seconds, sorted."""
    async with Redis.from_url(redis_url) as redis:
        await redis.flushall()
        await seed(redis, pending, int(time.time() * 1000) + 86_400_000)
        due_ms = (int(time.time()) + 5) * 1000  # time enough to seed them and start a worker
        ids = await seed(redis, DUE_TOGETHER, due_ms)
        worker = build_worker(settings, LiveRules(rules), handle_signals=False)
        running = asyncio.create_task(worker.main())
        try:
            while not await all_done(redis, ids):
                await asyncio.sleep(0.1)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await worker.close()
        fired = [await records.load(redis, tid) for tid in ids]

    def late_by(field: str) -> list[float]:
        return sorted((int(r.fields[field]) - due_ms) / 1000 for r in fired)

    return late_by("timer_fired_at"), late_by("finished_at")


async def all_done(redis: Redis, ids: list[str]) -> bool:
    """Whether every timer of `ids` fired and its run finished."""
    async with redis.pipeline(transaction=False) as pipe:
        for tid in ids:
            pipe.hget(keys.event(tid), "status")
        statuses = await pipe.execute()
    return all(status == b"done" for status in statuses)


async def throughput(
    redis_url: str, settings: WorkerSettings, rules: Path, count: int, pending: int
) -> float:
    """Events per second of a worker draining `count` queued events, `pending` timers waiting."""
    async with Redis.from_url(redis_url) as redis:
        await redis.flushall()
        await seed(redis, pending, int(time.time() * 1000) + 86_400_000)
    await fill(redis_url, count)
    worker = build_worker(settings, LiveRules(rules), handle_signals=False)
    worker.burst_awaits_later = False  # done once only the timers wait
    return count / await drain(worker)


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))]


def main() -> None:
    pending = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    print(machine.describe())
    with worker_stage() as (redis_url, plain_rules, runner):
        rules = with_timer_rule(plain_rules)
        settings = WorkerSettings(redis_url=redis_url, rules_file=rules)
        per_timer, per_event = runner.run(memory(redis_url, min(pending, 20_000)))
        late, acted = runner.run(lateness(redis_url, settings, rules, pending))
        sides = {
            "none": lambda: runner.run(throughput(redis_url, settings, rules, count, 0)),
            "pending": lambda: runner.run(throughput(redis_url, settings, rules, count, pending)),
        }
        figures = machine.interleaved(sides)
    ratios = [p / n for p, n in zip(figures["pending"], figures["none"], strict=True)]
    ratio, spread = machine.median_spread(ratios)
    print(f"\n| {pending:,} pending timers | figure |\n|---|---:|")
    print(f"| Redis memory per pending timer | {per_timer:,.0f} B "
          f"({per_timer / per_event:.1f}x a queued event's {per_event:,.0f} B) |")  # fmt: skip
    p50, p99 = statistics.median(late), percentile(late, 0.99)
    print(f"| {DUE_TOGETHER:,} due in the same second: fired late by p50 / p99 / max "
          f"| {p50:.2f} s / {p99:.2f} s / {late[-1]:.2f} s |")  # fmt: skip
    a50, a99 = statistics.median(acted), percentile(acted, 0.99)
    print(f"| … their actions done (one call each to the double), after the due time: "
          f"p50 / p99 | {a50:.2f} s / {a99:.2f} s |")  # fmt: skip
    print(f"| worker throughput, {count:,} events, timers waiting vs none (3 interleaved runs) "
          f"| {ratio:.0%} ±{spread:.0%} |")  # fmt: skip
    print(
        f"\ngoal: p99 lateness <= 1 s — {percentile(late, 0.99):.2f} s; "
        f"throughput within 10 % — {ratio:.0%}"
    )


if __name__ == "__main__":
    main()
