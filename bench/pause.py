"""Resuming a paused connection (issue 33): how long 10,000 held events take to come back and run.

    .venv/bin/python -m bench.pause [EVENTS]

On a private Redis (append-only file on) with the local API double, one worker at the default
concurrency. The connection of the bench's rule is paused; EVENTS events (each of its own
process) are queued and run up to their held call; then `connections resume` brings them back.
Figures: how long the resume took (bringing every held job to the queue's front, a page of
1,000 per round trip), and how fast the worker then ran them, against the same worker on the
same number of freshly queued events in the same run (3 interleaved rounds each).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from redis.asyncio import Redis

from bench import machine
from bench.harness import drain, worker_stage
from bench.worker_throughput import fill
from handlers.rules.reload import LiveRules
from handlers.worker.app import build_worker
from handlers.worker.settings import WorkerSettings
from store import gate, keys

CONNECTION = "api"  # the bench rules' connection (bench/harness.py)


async def held(redis_url: str, settings: WorkerSettings, rules: Path, count: int) -> None:
    """`count` events queued while the connection is paused, run up to their held call."""
    async with Redis.from_url(redis_url) as redis:
        await redis.flushall()
        await gate.pause(redis, CONNECTION, "bench")
        await fill(redis_url, count)
        worker = build_worker(settings, LiveRules(rules), handle_signals=False)
        running = asyncio.create_task(worker.main())
        try:
            while await redis.zcard(keys.connection_held(CONNECTION)) < count:
                await asyncio.sleep(0.1)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await worker.close()


async def resumed(
    redis_url: str, settings: WorkerSettings, rules: Path, count: int
) -> tuple[float, float]:
    """Seconds the resume took, and events per second of the worker running what it held."""
    await held(redis_url, settings, rules, count)
    async with Redis.from_url(redis_url) as redis:
        started = time.perf_counter()
        brought = await gate.resume(redis, CONNECTION)
        took = time.perf_counter() - started
    assert brought == count, brought
    return took, count / await drain(build_worker(settings, LiveRules(rules), False))


async def fresh(redis_url: str, settings: WorkerSettings, rules: Path, count: int) -> float:
    """Events per second of the worker on `count` freshly queued events."""
    async with Redis.from_url(redis_url) as redis:
        await redis.flushall()
    await fill(redis_url, count)
    return count / await drain(build_worker(settings, LiveRules(rules), False))


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    print(machine.describe())
    took: list[float] = []
    with worker_stage() as (redis_url, rules, runner):
        settings = WorkerSettings(redis_url=redis_url, rules_file=rules)

        def after_resume() -> float:
            seconds, rate = runner.run(resumed(redis_url, settings, rules, count))
            took.append(seconds)
            return rate

        figures = machine.interleaved({
            "fresh": lambda: runner.run(fresh(redis_url, settings, rules, count)),
            "resumed": after_resume,
        })  # fmt: skip
    ratios = [r / f for r, f in zip(figures["resumed"], figures["fresh"], strict=True)]
    ratio, spread = machine.median_spread(ratios)
    resume_s, resume_spread = machine.median_spread(took)
    print(f"\n| {count:,} held events (3 interleaved runs: median ±spread) | figure |\n|---|---:|")
    print(f"| `resume`: every held job back at the queue's front | {resume_s * 1000:,.0f} ms "
          f"±{resume_spread:.0%} |")  # fmt: skip
    print(f"| the worker running them, vs the same number freshly queued | {ratio:.0%} "
          f"±{spread:.0%} |")  # fmt: skip


if __name__ == "__main__":
    main()
