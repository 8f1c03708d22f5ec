"""`kuflow-router worker --check`: the worker's health check, for containers and probes."""

from __future__ import annotations

import asyncio
import sys

from redis.exceptions import RedisError

from common.redis_url import client as redis_client
from store import heartbeat


def check_worker(redis_url: str) -> int:
    """`worker --check`: 0 when a worker on this host beat within `heartbeat.STALE_S`, else 1."""
    host = heartbeat.worker_id().rpartition(":")[0]

    async def fresh() -> list[heartbeat.Beat]:
        async with redis_client(redis_url, socket_timeout=5) as redis:
            return await heartbeat.beats(redis, host)

    try:
        found = [b for b in asyncio.run(fresh()) if b.age_s <= heartbeat.STALE_S]
    except (RedisError, OSError) as exc:
        print(f"kuflow-router: worker check: Redis did not answer: {exc}", file=sys.stderr)
        return 1
    if not found:
        print(
            f"kuflow-router: no worker on {host} has beaten in the last {heartbeat.STALE_S:.0f} s",
            file=sys.stderr,
        )
        return 1
    for beat in found:
        print(
            f"worker {beat.worker_id}: last beat {beat.age_s:.1f} s ago, "
            f"{beat.running} jobs running, {beat.finished} finished"
        )
    return 0
