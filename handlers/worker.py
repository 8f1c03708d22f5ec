"""The arq worker that runs `process_event` jobs from `router:queue`.

Settings chosen for this workload (arq's defaults are for long batch jobs):
- `poll_delay` 50 ms, not 0.5 s: an event reaches its first outbound call in tens of
  milliseconds; an idle worker costs Redis about 20 cheap ZRANGEBYSCOREs a second.
- `job_timeout` 45 s: a job stops starting actions after 30 s (`JOB_BUDGET_S`) and each action has
  its own timeout (10 s by default), so a healthy job ends well within it. arq keeps a running
  job's in-progress mark for job_timeout + 10 s, so the events a killed worker held are picked up
  again within 55 s (arq's default 300 s would mean over five minutes).
- `max_tries` above `MAX_RUNS`: retries are counted per action by the router, not per job.
- `keep_result` 0: the event log `router:event:{id}` is the record, arq's result is not needed.
- `job_completion_wait` 25 s on SIGTERM: running jobs finish; what is still running after that
  is cancelled and re-queued by arq, and idempotency makes the re-run safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx
from arq import Worker, func
from arq.connections import RedisSettings
from redis.asyncio import Redis

from handlers.clients.base import Session
from handlers.process import MAX_RUNS, Deps, process_event
from handlers.rules.reload import LiveRules
from receiver.queue import JOB_FUNCTION, QUEUE
from receiver.settings import Settings

log = logging.getLogger("kuflow_router.worker")

POLL_DELAY_S = 0.05
JOB_TIMEOUT_S = 45
GRACE_S = 25
HTTP_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


def build_worker(settings: Settings, rules: LiveRules, handle_signals: bool = True) -> Worker:
    """An arq worker for the router's queue, with one shared HTTP client (opened at start-up)."""
    assert settings.redis_url, "the caller resolves ROUTER_REDIS_URL first"
    watcher: list[asyncio.Task[None]] = []

    async def startup(ctx: dict[str, Any]) -> None:
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(10.0), limits=HTTP_LIMITS, follow_redirects=False
        )
        redis: Redis = ctx["redis"]
        ctx["router"] = Deps(redis, Session(http), rules, settings.event_ttl_s)
        watcher.append(asyncio.create_task(rules.watch()))
        log.info(
            "worker started: %d rules from %s, concurrency %d",
            len(rules.current.rules),
            rules.path,
            settings.worker_concurrency,
        )

    async def shutdown(ctx: dict[str, Any]) -> None:
        for task in watcher:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        deps: Deps | None = ctx.get("router")
        if deps is not None:
            await deps.session.http.aclose()

    return Worker(
        functions=[func(process_event, name=JOB_FUNCTION, max_tries=MAX_RUNS + 10)],
        queue_name=QUEUE,
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        max_jobs=settings.worker_concurrency,
        poll_delay=POLL_DELAY_S,
        job_timeout=JOB_TIMEOUT_S,
        keep_result=0,
        job_completion_wait=GRACE_S,
        handle_signals=handle_signals,
        on_startup=startup,
        on_shutdown=shutdown,
    )
