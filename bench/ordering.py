"""Per-process ordering's price (issue 18): the worker's throughput with ROUTER_ORDERING=process
against =none, in the same run, for events of 1 process (serial by design: one at a time) and
of 1,000 processes (the goal: within 10%).

    .venv/bin/python -m bench.ordering [EVENTS]

Each run queues EVENTS events through the receiver's own enqueue (with the lines ordering
keeps, or without), then one worker at the default concurrency (10) drains them against a local
API double that answers at once, on uvloop as in production.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from functools import partial
from pathlib import Path

from redis.asyncio import Redis

from bench import machine
from bench.harness import body, drain, event, worker_stage
from handlers.rules.reload import LiveRules
from handlers.worker.app import build_worker
from handlers.worker.settings import WorkerSettings
from store.queue import Enqueuer, QueueSettings

PROCESS_COUNTS = (1, 1000)
ROUNDS = 3  # ordering on and off take turns this often


async def fill(redis_url: str, count: int, processes: list[str], ordered: bool) -> None:
    async with Redis.from_url(redis_url) as redis:
        await redis.flushall()
        enqueuer = Enqueuer(redis, QueueSettings(3600, 3600, ordered))
        for start in range(0, count, 500):
            batch = []
            for n in range(start, min(count, start + 500)):
                payload = event()
                process = processes[n % len(processes)]
                payload["data"] = {"processId": process, "processState": "RUNNING"}
                batch.append(enqueuer.enqueue(str(payload["id"]), "PROCESS.CREATED",
                                              body(payload), process))  # fmt: skip
            await asyncio.gather(*batch)


async def rate(redis_url: str, rules: Path, count: int, processes: int, ordered: bool) -> float:
    await fill(redis_url, count, [str(uuid.uuid4()) for _ in range(processes)], ordered)
    settings = WorkerSettings(redis_url=redis_url, rules_file=rules,
                              ordering="process" if ordered else "none")  # fmt: skip
    return count / await drain(build_worker(settings, LiveRules(rules), handle_signals=False))


def main() -> None:
    print(machine.describe())
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    with worker_stage() as (redis_url, rules, runner):
        rows = []
        for processes in PROCESS_COUNTS:
            figures = machine.interleaved(
                {"off": partial(side, runner, redis_url, rules, count, processes, False),
                 "on": partial(side, runner, redis_url, rules, count, processes, True)},
                ROUNDS,
            )  # fmt: skip
            rows.append((processes, figures))
    print(f"| {count:,} events, concurrency 10 (median of {ROUNDS} interleaved runs) "
          "| ordering none | ordering process | on vs off |")  # fmt: skip
    print("|---|---:|---:|---:|")
    ratios = []
    for processes, figures in rows:
        off, off_spread = machine.median_spread(figures["off"])
        on, on_spread = machine.median_spread(figures["on"])
        ratio, ratio_spread = machine.median_spread(
            [a / b for a, b in zip(figures["on"], figures["off"], strict=True)]
        )
        ratios.append(ratio)
        print(f"| {processes:,} process{'es' * (processes != 1)} | {off:,.0f} ±{off_spread:.0%} "
              f"| {on:,.0f} ±{on_spread:.0%} | {ratio:.0%} ±{ratio_spread:.0%} |")  # fmt: skip
    print(f"\ngoal: 1,000 processes within 10% of ordering none — {ratios[-1]:.0%}")


def side(runner: asyncio.Runner, redis_url: str, rules: Path, count: int, processes: int,
         ordered: bool) -> float:  # fmt: skip
    """One drain, for `machine.interleaved`."""
    return runner.run(rate(redis_url, rules, count, processes, ordered))


if __name__ == "__main__":
    main()
