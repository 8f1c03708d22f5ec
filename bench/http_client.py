"""The worker's HTTP client's CPU per call — aiohttp through `handlers/clients/network.py` —
against httpx's, in the same run (issue 21 §1: the worker moved to aiohttp because of it).

    .venv/bin/python -m bench.http_client [CALLS]

Both POST the same small JSON body to the benches' API double (another process: its CPU is not
counted) with a bearer header and read the JSON answer, from CONCURRENCY tasks at once over as
many keep-alive connections, on uvloop as in production. The figure is calls per second of this
process's CPU time (what a worker spends per call, whatever the machine's other load), each side
three times taking turns; the wall-clock rate is printed too.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

import httpx
import uvloop

from bench import machine
from bench.harness import api_double
from handlers.clients.base import PlannedRequest
from handlers.clients.network import Client
from handlers.clients.send import json_body, send

CONCURRENCIES = (10, 50)
ROUNDS = 3
BODY = {"processId": "0b6c5f1e-3d0c-4c8e-9a4e-5b1f3c2d1a00", "taskDefinitionCode": "REVIEW"}
HEADERS = {"authorization": "Bearer bench-token", "idempotency-key": "kr:bench"}

Call = Callable[[], Awaitable[None]]


async def _timed(call: Call, calls: int, concurrency: int) -> tuple[float, float]:
    """(calls per CPU second, calls per wall second) for `calls` calls from `concurrency` tasks."""
    left = calls

    async def task() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    await asyncio.gather(*(call() for _ in range(concurrency)))  # open the connections first
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(task() for _ in range(concurrency)))
    return calls / (time.process_time() - cpu), calls / (time.perf_counter() - wall)


async def with_httpx(url: str, calls: int, concurrency: int) -> tuple[float, float]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10.0) as client:

        async def call() -> None:
            response = await client.post(url, json=BODY, headers=HEADERS)
            response.raise_for_status()
            response.json()

        return await _timed(call, calls, concurrency)


async def with_worker_client(url: str, calls: int, concurrency: int) -> tuple[float, float]:
    request = PlannedRequest("POST", url, BODY)
    async with Client(concurrency) as client:

        async def call() -> None:
            json_body(await send(client, request, HEADERS, 10.0))

        return await _timed(call, calls, concurrency)


Side = Callable[[str, int, int], Awaitable[tuple[float, float]]]
SIDES: dict[str, Side] = {"httpx": with_httpx, "worker (aiohttp)": with_worker_client}


def compare(runner: asyncio.Runner, url: str, calls: int, concurrency: int) -> None:
    walls: dict[str, list[float]] = {name: [] for name in SIDES}

    def side(name: str) -> Callable[[], float]:
        def run() -> float:
            per_cpu, per_wall = runner.run(SIDES[name](url, calls, concurrency))
            walls[name].append(per_wall)
            return per_cpu

        return run

    figures = machine.interleaved({name: side(name) for name in SIDES}, ROUNDS)
    print(f"\n{calls} POSTs at concurrency {concurrency}, median of {ROUNDS} (spread):")
    for name, values in figures.items():
        per_cpu, spread = machine.median_spread(values)
        wall, _ = machine.median_spread(walls[name])
        print(f"  {name:17} {per_cpu:6.0f} calls per CPU second (±{spread:.0%}), "
              f"{1e6 / per_cpu:5.0f} µs CPU a call; {wall:6.0f} calls/s wall")  # fmt: skip
    worker, stock = figures["worker (aiohttp)"], figures["httpx"]
    ratio, spread = machine.median_spread([w / h for w, h in zip(worker, stock, strict=True)])
    print(f"  worker / httpx, calls per CPU second: {ratio:.2f}x (±{spread:.0%})")


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    print(machine.describe())
    with api_double() as base, asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        for concurrency in CONCURRENCIES:
            compare(runner, f"{base}/kuflow/tasks", calls, concurrency)


if __name__ == "__main__":
    main()
