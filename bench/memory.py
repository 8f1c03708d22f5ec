"""Resident memory of a receiver and a worker as events flow through them (issue 7 §5).

    .venv/bin/python -m bench.memory [EVENTS]        # default 100,000

`serve` and `worker` run as the image runs them, against a private Redis and a local API double;
events are posted in waves and both processes' RSS is read after each tenth of the total, once
the worker has caught up. Bounded memory shows as a plateau.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from redis import Redis

from bench.common import api_double, body, env, event, redis_server, rss_mb, rules_file, wait_http
from kuflow_router.redis_server import free_port

TOKEN = "bench-token"  # noqa: S105 (a throwaway credential of the benchmark's own router)


async def post(url: str, count: int) -> None:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=32)) as client:
        headers = {"content-type": "application/json"}
        for start in range(0, count, 200):
            batch = [event() for _ in range(min(200, count - start))]
            await asyncio.gather(
                *(client.post(url, content=body(e), headers=headers) for e in batch)
            )


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    step = total // 10
    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        redis_server(Path(tmp)) as redis,
        api_double() as double,
    ):
        variables = env(
            ROUTER_REDIS_URL=redis.url,
            ROUTER_WEBHOOK_TOKENS=TOKEN,
            ROUTER_RULES_FILE=str(rules_file(Path(tmp), double)),
            ROUTER_WORKER_CONCURRENCY="50",
        )
        port = free_port()
        script = str(Path(sys.executable).parent / "kuflow-router")
        serve = subprocess.Popen(
            [script, "serve", "--host", "127.0.0.1", "--port", str(port)], env=variables
        )
        worker = subprocess.Popen([script, "worker"], env=variables)
        client = Redis.from_url(redis.url)
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz")
            rows.append((0, rss_mb(serve.pid), rss_mb(worker.pid)))
            for done in range(step, total + 1, step):
                asyncio.run(post(f"http://127.0.0.1:{port}/webhooks/kuflow/{TOKEN}", step))
                while client.zcard("router:queue"):
                    time.sleep(0.2)
                rows.append((done, rss_mb(serve.pid), rss_mb(worker.pid)))
        finally:
            client.close()
            for process in (serve, worker):
                process.terminate()
                process.wait()
    print("| events processed | receiver RSS MiB | worker RSS MiB |")
    print("|---:|---:|---:|")
    for done, receiver_mb, worker_mb in rows:
        print(f"| {done:,} | {receiver_mb:.0f} | {worker_mb:.0f} |")


if __name__ == "__main__":
    main()
