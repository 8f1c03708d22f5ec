"""Event → action latency, and what an idle worker costs Redis (issue 7 §2 and §5).

    .venv/bin/python -m bench.latency

A receiver (`kuflow-router serve`) and a worker (`kuflow-router worker`) run as the image runs
them (default settings: concurrency 10), on a private Redis with the append-only file on. First
the run measures what the worker finishes a second (3,000 events queued at once, until the last
is done): its capacity on this machine today. Then an open-loop sender posts events at 50 a
second, and at 50% and 80% of that capacity — a fixed rate alone measures the machine as much
as the router. The latency of an event runs from the moment the receiver queued it (the
`received_at` of its record, written in the same step as the 202's enqueue) to the moment the
rule's request reaches a local API double — both clocks on this machine. Also: Redis commands per
second while everything is idle, and the resident memory of both processes after the run.
Goals: p50 <= 20 ms at every rate, p99 <= 100 ms at 80% of capacity (and at 50/s).
"""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
from redis import Redis

from bench import machine
from bench.harness import body, deployment, done_count, event, rss_mb
from bench.worker_throughput import fill
from store import keys

FIXED = (50, 10.0)  # events per second, seconds
SHARES = ((0.5, 6.0), (0.8, 6.0))  # of the capacity measured in the run, seconds
BURST = 3000  # events posted to measure the capacity


async def send_at(rate: int, seconds: float, url: str) -> dict[str, str]:
    """Post `rate` events a second for `seconds`; the event id of each one acked, by processId."""
    acked: dict[str, str] = {}
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=64)) as client:

        async def one() -> None:
            payload = event()
            response = await client.post(
                url, content=body(payload), headers={"content-type": "application/json"}
            )
            if response.status_code == 202:
                acked[str(payload["data"]["processId"])] = str(payload["id"])  # type: ignore[index]

        tasks = []
        start = time.perf_counter()
        for n in range(int(rate * seconds)):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return acked


def capacity(redis_url: str) -> float:
    """Events a second the worker finishes: BURST events queued at once (as the receiver's
    enqueue writes them), timed until the last is done."""
    with Redis.from_url(redis_url) as client:
        before = done_count(client)
        started = time.perf_counter()
        asyncio.run(fill(redis_url, BURST))
        while done_count(client) - before < BURST:
            time.sleep(0.02)
        return BURST / (time.perf_counter() - started)


def received_at(redis_url: str, acked: dict[str, str]) -> dict[str, float]:
    """When the receiver queued each event (epoch ms), by processId."""
    client = Redis.from_url(redis_url)
    found = {
        pid: float(client.hget(keys.event(event_id), "received_at") or 0)
        for pid, event_id in acked.items()
    }
    client.close()
    return found


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def idle_commands_per_second(redis_url: str, seconds: float = 5.0) -> float:
    client = Redis.from_url(redis_url)
    before = int(client.info("stats")["total_commands_processed"])
    time.sleep(seconds)
    after = int(client.info("stats")["total_commands_processed"])
    client.close()
    return (after - before - 1) / seconds  # the INFO of the second reading counts itself


def main() -> None:
    print(machine.describe())
    rows = []
    with deployment() as router:
        time.sleep(1.0)
        idle = idle_commands_per_second(router.redis_url)
        measured = capacity(router.redis_url)
        time.sleep(2.0)  # the double's arrival log of the burst is left behind
        rates = [(f"{FIXED[0]} events/s", FIXED[0], FIXED[1])] + [
            (f"{share:.0%} of capacity ({measured * share:.0f}/s)", round(measured * share),
             seconds)
            for share, seconds in SHARES
        ]  # fmt: skip
        for label, rate, seconds in rates:
            acked = asyncio.run(send_at(rate, seconds, router.url))
            time.sleep(2.0)  # let the last events arrive
            arrivals = httpx.get(f"{router.double_url}/_arrivals").json()
            queued = received_at(router.redis_url, acked)
            latencies = [
                arrivals[f"/hook/{pid}"] * 1000 - queued[pid]
                for pid in acked
                if f"/hook/{pid}" in arrivals
            ]
            p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
            rows.append((label, len(acked), len(latencies), p50, p99))
        memory = (rss_mb(router.serve.pid), rss_mb(router.worker.pid))
    print(f"capacity: {measured:,.0f} events/s (the worker, {BURST:,} events queued at once)\n")
    print("| event → first request at the API | events acked | arrived | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|")
    for label, acked_count, arrived, p50, p99 in rows:
        print(f"| {label} | {acked_count:,} | {arrived:,} | {p50:.1f} | {p99:.1f} |")
    print(f"\nidle: {idle:.1f} Redis commands/s (receiver + one worker, no events)")
    print(f"memory after the run: receiver {memory[0]:.0f} MiB, worker {memory[1]:.0f} MiB RSS")
    met = all(p50 <= 20 for *_, p50, _ in rows) and all(
        p99 <= 100 for *_, p99 in rows[:1] + rows[-1:]
    )
    print(f"goal: p50 <= 20 ms, p99 <= 100 ms at 80% of capacity — {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
