"""Pausing on purpose (issue 33): what resuming 10,000 held events takes, and what the pause
checks cost every event.

    .venv/bin/python -m bench.pause [EVENTS]

On a private Redis (append-only file on) with the local API double, one worker at the default
concurrency. The connection of the bench's rule is paused; EVENTS events (each of its own
process) are queued and run up to their held call; then `connections resume` brings them back.
Figures: how long the resume took (bringing every held job to the queue's front, a page of
1,000 per round trip), and how fast the worker then ran them, against the same worker on the
same number of freshly queued events in the same run (3 interleaved rounds each).

The checks' cost: the worker on 5,000 fresh events as it is, against the same worker with the
checks cut out of its scripts — the admit script without its operator-pause lines, the run's
start without its read of the paused rules — taking turns three times. Goal: within 5%.
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
from store import gate, keys, lua, ordering

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


def _without_checks() -> tuple[lua.Script, lua.Script]:
    """The admit and acquire scripts with the pause checks cut out."""
    admit = gate._ADMIT.text
    start = admit.index("local hold_since")
    admit = admit[:start] + admit[admit.index("local paused = ", start) :]
    acquire = ordering._ACQUIRE.text.replace(", redis.call('HGETALL', KEYS[5])}", ", {}}")
    assert acquire != ordering._ACQUIRE.text
    return lua.Script(admit), lua.Script(acquire)


def checks_cost(runner: asyncio.Runner, redis_url: str, rules: Path) -> tuple[float, float]:
    """The worker's rate with the checks as a share of its rate without them: median, spread."""
    settings = WorkerSettings(redis_url=redis_url, rules_file=rules)
    shipped = gate._ADMIT, ordering._ACQUIRE
    bare = _without_checks()

    def with_scripts(scripts: tuple[lua.Script, lua.Script]) -> float:
        gate._ADMIT, ordering._ACQUIRE = scripts
        try:
            return runner.run(fresh(redis_url, settings, rules, 5000))
        finally:
            gate._ADMIT, ordering._ACQUIRE = shipped

    figures = machine.interleaved({"without": lambda: with_scripts(bare),
                                   "with": lambda: with_scripts(shipped)})  # fmt: skip
    return machine.median_spread(
        [w / b for w, b in zip(figures["with"], figures["without"], strict=True)]
    )


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
        cost, cost_spread = checks_cost(runner, redis_url, rules)
    ratios = [r / f for r, f in zip(figures["resumed"], figures["fresh"], strict=True)]
    ratio, spread = machine.median_spread(ratios)
    resume_s, resume_spread = machine.median_spread(took)
    print(f"\n| {count:,} held events (3 interleaved runs: median ±spread) | figure |\n|---|---:|")
    print(f"| `resume`: every held job back at the queue's front | {resume_s * 1000:,.0f} ms "
          f"±{resume_spread:.0%} |")  # fmt: skip
    print(f"| the worker running them, vs the same number freshly queued | {ratio:.0%} "
          f"±{spread:.0%} |")  # fmt: skip
    print(f"| the worker with the pause checks, vs without them (5,000 events) | {cost:.0%} "
          f"±{cost_spread:.0%} |")  # fmt: skip
    print(f"\ngoal: the pause checks within 5% of the worker's rate — {cost:.0%}")


if __name__ == "__main__":
    main()
