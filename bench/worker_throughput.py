"""Worker throughput against a stock arq worker running no-op jobs, in the same run (issue 7 §3).

    .venv/bin/python -m bench.worker_throughput [EVENTS]

Both take the same jobs — events queued by the receiver's own enqueue — from a fresh Redis with
the append-only file on, with the same concurrency, on the same event loop (uvloop, as in
production). The router's worker matches rules and makes one HTTP call per event to a local
double that answers at once; the stock worker's job does nothing. Measured at the default
concurrency (10) and at 50. Goal: the router at >= 50% of the no-op figure.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from arq import Worker, func
from arq.connections import RedisSettings
from redis.asyncio import Redis

from bench.harness import body, drain, event, worker_stage
from handlers.rules.reload import LiveRules
from handlers.worker.app import build_worker
from handlers.worker.settings import WorkerSettings
from receiver.job_format import JOB_FUNCTION, encode_result
from receiver.queue import QUEUE, Enqueuer, QueueSettings

CONCURRENCIES = (10, 50)  # the default of ROUTER_WORKER_CONCURRENCY, and a high setting


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


async def measure(redis_url: str, rules: Path, count: int, concurrency: int) -> dict[str, float]:
    async with Redis.from_url(redis_url) as redis:
        await redis.flushall()
    await fill(redis_url, count)
    stock = Worker(
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
    baseline = await drain(stock)
    async with Redis.from_url(redis_url) as redis:
        await redis.flushall()
    await fill(redis_url, count)
    settings = WorkerSettings(redis_url=redis_url, worker_concurrency=concurrency, rules_file=rules)
    router = await drain(build_worker(settings, LiveRules(rules), handle_signals=False))
    return {"stock": count / baseline, "router": count / router}


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with worker_stage() as (redis_url, rules, runner):
        rows = [(c, runner.run(measure(redis_url, rules, count, c))) for c in CONCURRENCIES]
    print(f"| worker ({count:,} events each) | stock arq, no-op jobs | kuflow-router | vs no-op |")
    print("|---|---:|---:|---:|")
    for concurrency, figures in rows:
        ratio = figures["router"] / figures["stock"]
        print(
            f"| concurrency {concurrency} | {figures['stock']:,.0f} | {figures['router']:,.0f} "
            f"| {ratio:.0%} |"
        )
    default = rows[0][1]["router"] / rows[0][1]["stock"]
    print(f"\ngoal: >= 50% of the no-op worker at the default concurrency — {default:.0%}")


if __name__ == "__main__":
    main()
