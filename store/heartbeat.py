"""Worker heartbeats: each worker says in Redis, every few seconds, that its job loop turns.

`router:worker:{host}:{pid}` is a hash — host, pid, when it started, when it last beat, how
many jobs it runs and has finished — that expires when the beats stop. The beat is written by
the loop that picks jobs, so a worker whose loop is stuck or that lost Redis goes stale, and
`kuflow-router worker --check` (the container's health check) fails on this host.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from store import keys

INTERVAL_S = 5.0  # how often a worker beats
STALE_S = 30.0  # a heartbeat older than this means the worker is not working


def worker_id() -> str:
    """This process's worker id: `{host}:{pid}` (in a container, the host is the container)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Beat:
    """One worker's last heartbeat."""

    worker_id: str
    age_s: float
    running: int
    finished: int
    concurrency: int = 0  # 0: a worker of a version that did not say


async def beat(
    redis: Redis, worker: str, started: float, running: int, finished: int, concurrency: int
) -> None:
    """Write this worker's heartbeat; it expires by itself when the beats stop."""
    host, _, pid = worker.rpartition(":")
    key = keys.worker(worker)
    fields = {
        "host": host,
        "pid": pid,
        "started_at": started,
        "beat_at": time.time(),
        "running": running,
        "finished": finished,
        "concurrency": concurrency,
    }
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hset(key, mapping=fields)
        pipe.expire(key, int(STALE_S))
        await pipe.execute()


async def beats(redis: Redis, host: str | None = None) -> list[Beat]:
    """The heartbeats of every worker, or of those on one host, freshest first."""
    now = time.time()
    found = []
    async for key in redis.scan_iter(match=keys.worker(f"{host}:*" if host else "*"), count=1000):
        raw = await redis.hgetall(key)  # type: ignore[misc]
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        if "beat_at" not in fields:
            continue
        found.append(
            Beat(
                worker_id=key.decode().removeprefix(keys.worker("")),
                age_s=max(0.0, now - float(fields["beat_at"])),
                running=int(fields.get("running", 0)),
                finished=int(fields.get("finished", 0)),
                concurrency=int(fields.get("concurrency", 0)),
            )
        )
    return sorted(found, key=lambda b: b.age_s)


async def alive(redis: Redis) -> int:
    """How many workers beat: a heartbeat's key expires when its worker stops beating."""
    return len([key async for key in redis.scan_iter(match=keys.worker("*"), count=100)])
