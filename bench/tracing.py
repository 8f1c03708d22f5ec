"""What traces cost: the receiver and the worker with tracing on against off, in the same run.

    .venv/bin/python -m bench.tracing [EVENTS]

On: exported over OTLP/HTTP to a local receiver (the bench's API double, which answers at once),
every event sampled (`always_on`), or one in ten (`parentbased_traceidratio`, 0.1); off: no
endpoint, as by default. The receiver is measured as `bench.receiver_throughput` measures it
(wrk, HMAC-signed events, its own process: server CPU per event); the worker as
`bench.worker_throughput` does (in-process, concurrency 10, jobs that carry the receiver's trace
context when on). The three sides take turns, three times. Goal (issue 31): at most 10% more
with tracing on; off makes no span at all.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from unittest import mock

from redis.asyncio import Redis

from bench import machine
from bench.harness import api_double, body, drain, event, worker_stage
from bench.receiver_throughput import measure, write_requests
from bench.worker_throughput import process_of
from common import tracing
from handlers.rules.reload import LiveRules
from handlers.worker.app import build_worker
from handlers.worker.settings import WorkerSettings
from store.queue import Enqueuer, QueueSettings

ROUNDS = 3


SAMPLED = {"all": "always_on", "10%": "parentbased_traceidratio"}


def traced_env(endpoint: str, sampled: str = "all") -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_TRACES_SAMPLER": SAMPLED[sampled],
            "OTEL_TRACES_SAMPLER_ARG": "0.1"}  # fmt: skip


async def fill(redis_url: str, count: int) -> None:
    """`count` events queued as the receiver queues them: with tracing on, each job carries the
    context of a span, as the receiver's SERVER span's."""
    async with Redis.from_url(redis_url) as redis:
        await redis.flushall()
        enqueuer = Enqueuer(redis, QueueSettings(3600, 3600))
        for start in range(0, count, 500):
            batch = [event() for _ in range(min(500, count - start))]
            for payload in batch:
                with tracing.span("POST /webhooks/kuflow"):
                    await enqueuer.enqueue(str(payload["id"]), "PROCESS.CREATED", body(payload),
                                           process_of(payload), tracing.carrier())  # fmt: skip


def worker_rate(
    runner: asyncio.Runner,
    redis_url: str,
    rules: Path,
    count: int,
    endpoint: str | None,
    sampled: str = "all",
) -> float:
    """Events per second of the router's worker draining `count` events, traced or not."""
    if endpoint is not None:
        with mock.patch.dict(os.environ, traced_env(endpoint, sampled)):  # the SDK reads them
            tracing.configure("worker")
    settings = WorkerSettings(redis_url=redis_url, worker_concurrency=10, rules_file=rules)

    async def run() -> float:
        await fill(redis_url, count)
        # Built on the running loop: arq's worker keeps the loop current when it is made.
        return count / await drain(build_worker(settings, LiveRules(rules), False))

    try:
        return runner.run(run())
    finally:
        tracing.shutdown()  # exports what is left, outside the timed part


def receiver_cpu(
    requests: Path, workdir: Path, endpoint: str | None, round_: int, sampled: str = "all"
) -> float:
    extra = traced_env(endpoint, sampled) if endpoint is not None else {}
    label = f"on-{sampled}" if endpoint else "off"
    return measure("router", requests, workdir, f"{label}-{round_}".replace("%", ""), extra)[
        "cpu_us"
    ]


def _row(title: str, figures: dict[str, list[float]], cost: Callable[..., float]) -> list[float]:
    """A table row: off, then each traced side with its cost against off, run by run."""
    off, off_spread = machine.median_spread(figures["off"])
    cells, costs = [f"{off:,.0f} ±{off_spread:.0%}"], []
    for side in ("all", "10%"):
        on, on_spread = machine.median_spread(figures[side])
        median, spread = machine.median_spread(
            [cost(a, b) for a, b in zip(figures[side], figures["off"], strict=True)]
        )
        cells.append(f"{on:,.0f} ±{on_spread:.0%} ({median:+.0%} ±{spread:.0%})")
        costs.append(median)
    print(f"| {title} | " + " | ".join(cells) + " |")
    return costs


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    print(machine.describe())
    with api_double() as endpoint, tempfile.TemporaryDirectory() as tmp:
        requests = Path(tmp) / "requests.txt"
        write_requests(requests)
        rounds = iter(range(ROUNDS * 3))
        receiver = machine.interleaved(
            {"off": lambda: receiver_cpu(requests, Path(tmp), None, next(rounds)),
             "all": lambda: receiver_cpu(requests, Path(tmp), endpoint, next(rounds)),
             "10%": lambda: receiver_cpu(requests, Path(tmp), endpoint, next(rounds), "10%")},
            ROUNDS,
        )  # fmt: skip
        with worker_stage() as (redis_url, rules, runner):
            run = partial(worker_rate, runner, redis_url, rules, count)
            worker = machine.interleaved(
                {"off": partial(run, None), "all": partial(run, endpoint),
                 "10%": partial(run, endpoint, "10%")},
                ROUNDS,
            )  # fmt: skip
    print(f"| tracing ({ROUNDS} interleaved runs: median ±spread) | off | on, every event "
          "sampled (cost) | on, 10% sampled (cost) |\n|---|---:|---:|---:|")  # fmt: skip
    cpu = _row("receiver: server CPU µs per event (wrk, 32 connections)", receiver,
               lambda on, off: on / off - 1)  # fmt: skip
    rate = _row(f"worker: events/s, concurrency 10 ({count:,} events)", worker,
                lambda on, off: off / on - 1)  # fmt: skip
    for label, receiver_cost, worker_cost in zip(("every event", "10%"), cpu, rate, strict=True):
        met = max(receiver_cost, worker_cost) <= 0.10
        print(f"goal, at most 10% more with tracing on, {label} sampled: "
              f"{'met' if met else 'NOT met'} (receiver {receiver_cost:+.0%} CPU, worker "
              f"{worker_cost:+.0%} time)")  # fmt: skip


if __name__ == "__main__":
    main()
