"""Worker throughput against a stock arq worker running no-op jobs, in the same run (issue 7 §3).

    .venv/bin/python -m bench.worker_throughput [EVENTS]

Both take the same jobs — events queued by the receiver's own enqueue — from a fresh Redis with
the append-only file on, with the same concurrency, on the same event loop (uvloop, as in
production). The router's worker matches rules and makes one HTTP call per event to a local
double that answers at once; the stock worker's job does nothing. Measured at the default
concurrency (10) and at 50, each side three times, taking turns (stock, router, stock, …): the
median and the spread of each, and of the ratio per pair. Goals (issue 21): the router at >= 60%
of the no-op figure at concurrency 10, >= 50% at 50.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from arq import Worker, func
from arq.connections import RedisSettings
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from bench import machine
from bench.harness import body, done_count, drain, env, event, worker_stage
from contract.job_format import JOB_FUNCTION, encode_result
from handlers.rules.reload import LiveRules
from handlers.worker.app import build_worker
from handlers.worker.settings import WorkerSettings
from store.queue import QUEUE, Enqueuer, QueueSettings

CONCURRENCIES = (10, 50)  # the default of ROUTER_WORKER_CONCURRENCY, and a high setting
ROUNDS = 3  # each side runs this often, the two taking turns


async def fill(redis_url: str, count: int) -> None:
    async with Redis.from_url(redis_url) as redis:
        enqueuer = Enqueuer(redis, QueueSettings(3600, 3600))
        for start in range(0, count, 500):
            batch = [event() for _ in range(min(500, count - start))]
            # As the receiver queues them: each event in its process's line (ordering is on).
            await asyncio.gather(*(
                enqueuer.enqueue(str(e["id"]), "PROCESS.CREATED", body(e), process_of(e))
                for e in batch
            ))  # fmt: skip


def process_of(payload: dict[str, Any]) -> str:
    data = payload["data"]
    assert isinstance(data, dict)
    return str(data["processId"])


async def no_op(ctx: dict[str, Any], raw: str, received_at_ms: int) -> None:
    return None


def stock_worker(redis_url: str, concurrency: int) -> Worker:
    """arq's own worker, running no-op jobs: the ceiling."""
    return Worker(
        functions=[func(no_op, name=JOB_FUNCTION)],
        queue_name=QUEUE,
        job_deserializer=json.loads,
        job_serializer=encode_result,
        redis_settings=RedisSettings.from_dsn(redis_url),
        max_jobs=concurrency,
        poll_delay=0.05,  # arq polls; a shorter delay only helps the baseline
        keep_result=0,
        handle_signals=False,
    )


async def rate(redis_url: str, count: int, worker: Callable[[], Worker]) -> float:
    """Events per second for `worker` draining `count` freshly queued events."""
    async with Redis.from_url(redis_url) as redis:
        await redis.flushall()
    await fill(redis_url, count)
    return count / await drain(worker())


def side(
    runner: asyncio.Runner, redis_url: str, count: int, worker: Callable[[], Worker]
) -> Callable[[], float]:
    """One side of the comparison: a fresh drain each time it is called."""
    return lambda: runner.run(rate(redis_url, count, worker))


def as_process(redis_url: str, rules: Path, count: int, router: bool) -> float:
    """Events per second of a worker run as its own process: `kuflow-router worker` with its
    defaults (JSON log lines included, to /dev/null), or the stock no-op worker — started on an
    empty queue, then given `count` events at once, timed until the last is finished."""
    variables = env(ROUTER_REDIS_URL=redis_url, ROUTER_RULES_FILE=str(rules),
                    ROUTER_LOG_LEVEL="INFO")  # fmt: skip
    script = str(Path(sys.executable).parent / "kuflow-router")
    command = ([script, "worker"] if router
               else [sys.executable, "-m", "bench.noop_worker", redis_url, "10"])  # fmt: skip
    with SyncRedis.from_url(redis_url) as client:
        client.flushall()
        process = subprocess.Popen(command, env=variables, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            time.sleep(2)  # started, rules loaded, waiting for work
            started = time.perf_counter()
            asyncio.run(fill(redis_url, count))
            if router:
                while done_count(client) < count:
                    time.sleep(0.01)
            else:
                while client.zcard(QUEUE) or client.keys("arq:in-progress:*"):
                    time.sleep(0.01)
            return count / (time.perf_counter() - started)
        finally:
            process.terminate()
            process.wait()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    print(machine.describe())
    rows = []
    with worker_stage() as (redis_url, rules, runner):
        for concurrency in CONCURRENCIES:
            settings = WorkerSettings(redis_url=redis_url, worker_concurrency=concurrency,
                                      rules_file=rules)  # fmt: skip
            stock = partial(stock_worker, redis_url, concurrency)
            router = partial(build_worker, settings, LiveRules(rules), False)
            sides = {"stock": side(runner, redis_url, count, stock),
                     "router": side(runner, redis_url, count, router)}  # fmt: skip
            figures = machine.interleaved(sides, ROUNDS)
            ratios = [r / s for r, s in zip(figures["router"], figures["stock"], strict=True)]
            rows.append((concurrency, figures, ratios))
        processes = machine.interleaved(
            {"stock": partial(as_process, redis_url, rules, count, False),
             "router": partial(as_process, redis_url, rules, count, True)},
            ROUNDS,
        )  # fmt: skip
    print(f"| worker ({count:,} events each, {ROUNDS} interleaved runs: median, spread) "
          "| stock arq, no-op jobs | kuflow-router | vs no-op |")  # fmt: skip
    print("|---|---:|---:|---:|")
    for concurrency, figures, ratios in rows:
        stock_rate, stock_spread = machine.median_spread(figures["stock"])
        router_rate, router_spread = machine.median_spread(figures["router"])
        ratio, ratio_spread = machine.median_spread(ratios)
        print(f"| concurrency {concurrency} | {stock_rate:,.0f} ±{stock_spread:.0%} "
              f"| {router_rate:,.0f} ±{router_spread:.0%} "
              f"| {ratio:.0%} ±{ratio_spread:.0%} |")  # fmt: skip
    default = machine.median_spread(rows[0][2])[0]
    print(f"\ngoal: >= 60% of the no-op worker at the default concurrency — {default:.0%}")
    print(f"\n| production-shaped: each worker its own process, concurrency 10 ({count:,} events, "
          f"{ROUNDS} interleaved runs) | stock arq, no-op jobs | `kuflow-router worker` "
          "| vs no-op |\n|---|---:|---:|---:|")  # fmt: skip
    stock_rate, stock_spread = machine.median_spread(processes["stock"])
    router_rate, router_spread = machine.median_spread(processes["router"])
    ratios = [r / s for r, s in zip(processes["router"], processes["stock"], strict=True)]
    ratio, ratio_spread = machine.median_spread(ratios)
    print(f"| default settings and logging, API double in another process | {stock_rate:,.0f} "
          f"±{stock_spread:.0%} | {router_rate:,.0f} ±{router_spread:.0%} | {ratio:.0%} "
          f"±{ratio_spread:.0%} |")  # fmt: skip
    print(f"\ngoal: >= 50% of the no-op worker, each as its own process — {ratio:.0%}")


if __name__ == "__main__":
    main()
