"""Resident memory of a receiver and a worker as events flow through them (issue 7 §5).

    .venv/bin/python -m bench.memory [EVENTS]        # default 100,000

`serve` and `worker` run as the image runs them, against a private Redis and a local API double;
events are posted in waves and both processes' RSS is read after each tenth of the total, once
the worker has caught up. Bounded memory shows as a plateau.
"""

from __future__ import annotations

import asyncio
import sys
import time

import httpx
from redis import Redis

from bench import machine
from bench.harness import body, deployment, event, rss_mb
from store import keys


async def post(url: str, count: int) -> None:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=32)) as client:
        headers = {"content-type": "application/json"}
        for start in range(0, count, 200):
            batch = [event() for _ in range(min(200, count - start))]
            await asyncio.gather(
                *(client.post(url, content=body(e), headers=headers) for e in batch)
            )


def main() -> None:
    print(machine.describe())
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    step = total // 10
    rows = []
    with deployment() as router:
        client = Redis.from_url(router.redis_url)
        try:
            rows.append((0, rss_mb(router.serve.pid), rss_mb(router.worker.pid)))
            for done in range(step, total + 1, step):
                asyncio.run(post(router.url, step))
                while client.zcard(keys.QUEUE):
                    time.sleep(0.2)
                rows.append((done, rss_mb(router.serve.pid), rss_mb(router.worker.pid)))
        finally:
            client.close()
    print("| events processed | receiver RSS MiB | worker RSS MiB |")
    print("|---:|---:|---:|")
    for done, receiver_mb, worker_mb in rows:
        print(f"| {done:,} | {receiver_mb:.0f} | {worker_mb:.0f} |")


if __name__ == "__main__":
    main()
