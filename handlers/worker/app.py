"""The arq worker that runs `process_event` jobs from `router:queue`.

Settings chosen for this workload (arq's defaults are for long batch jobs):
- `start_jobs` claims a job in one round trip (a script) instead of arq's four, and skips the
  jobs this worker is running: arq would check each again every time it looks for one to start.
- A finished event's job is ended with the event's final write (`Job.finish`): arq's own
  finishing round trip is skipped for it (`finish_job`).
- No fixed poll delay: the receiver pushes a token on `router:wake` with every event, and an idle
  worker waits on it (BLPOP) instead of sleeping, so an event starts within milliseconds. The
  wait times out every 0.5 s to pick up retries that have come due; an idle worker costs Redis
  about four commands a second.
- `job_timeout` 45 s: a job stops starting actions after 30 s (`JOB_BUDGET_S`) and each action has
  its own timeout (10 s by default), so a healthy job ends well within it. arq keeps a running
  job's in-progress mark for job_timeout + 10 s, so the events a killed worker held are picked up
  again within 55 s (arq's default 300 s would mean over five minutes).
- `max_tries` out of reach: retries are counted per action by the router, runs per event in its
  record, and a job parked behind an earlier event of its process comes back as an arq try.
- Jobs are JSON (`contract/job_format.py`): a payload that is anything else — a pickle written
  into Redis by hand — is dead-lettered by `refused_job`, never executed.
- `keep_result` 0: the event log `router:event:{id}` is the record, arq's result is not needed.
- Due timers of rules with `after:` are fired from the loop every 0.25 s, 500 to a script, apart
  from the job slots (handlers/worker/timers.py): a backlog delays their runs, not their firing.
- `job_completion_wait` 25 s on SIGTERM: running jobs finish; what is still running after that
  is cancelled and re-queued by arq, and idempotency makes the re-run safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from arq import Worker, func
from arq.connections import ArqRedis
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from common import redis_url
from common.embedded_server import serving
from contract.job_format import JOB_FUNCTION, REFUSED_FUNCTION, decode_job, encode_result
from handlers.clients.base import Session
from handlers.clients.network import Client
from handlers.rules.reload import LiveRules
from handlers.worker import metrics, probe, timers
from handlers.worker.alerts import Alerts
from handlers.worker.job import Deps
from handlers.worker.metrics_server import METRICS_CONCURRENCY, metrics_app
from handlers.worker.process import process_event, refused_job
from handlers.worker.settings import WorkerSettings
from receiver.protocol import router_protocol
from store import dlq, heartbeat, ordering
from store import timers as timer_store
from store.queue import QUEUE, claim, wait_for_work

log = logging.getLogger("kuflow_router.worker")

IDLE_WAIT_S = 0.5
ARQ_TRIES = 10**9
JOB_TIMEOUT_S = 45
GRACE_S = 25
CONNECT_TIMEOUT_S = 2.0
RETRIES = 30  # of one Redis command on a lost connection: about 25 s, backing off to 1 s


MAX_OUTAGE_WAIT_S = 10.0


class Outage:
    """Redis unreachable from the worker's loop: said once when it starts and once when it
    ends — not at every look — and waited out with a doubling pause (at most 10 s)."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.wait_s = 0.0

    def failed(self, exc: Exception, first_wait_s: float) -> float:
        """Count a failed look; how long to wait before the next."""
        if self.since is None:
            self.since, self.wait_s = time.monotonic(), first_wait_s
            log.warning("Redis is unreachable, picking jobs paused: %s; looking again with a "
                        "growing pause, up to %g s", exc, MAX_OUTAGE_WAIT_S)  # fmt: skip
        else:
            self.wait_s = min(self.wait_s * 2, MAX_OUTAGE_WAIT_S)
        return self.wait_s

    def over(self) -> None:
        """A look succeeded: if Redis had been unreachable, say for how long."""
        if self.since is not None:
            log.warning("Redis is reachable again after %.0f s: picking jobs",
                        time.monotonic() - self.since)  # fmt: skip
            self.since = None


class RouterWorker(Worker):
    """arq's worker, woken by the receiver's token instead of sleeping a fixed poll delay.

    Only the loop of `Worker.main` changes; picking, running and retrying jobs stay arq's.
    """

    idle_wait_s = IDLE_WAIT_S  # how long to wait for a token before looking for due retries
    _next_beat = 0.0
    _next_fire = 0.0
    ordered = True  # ROUTER_ORDERING=process: parked events may need promoting
    # Burst mode (tests, benches): False ends it once no job is due now — timers not yet due,
    # parked events and later retries left waiting.
    burst_awaits_later = True

    async def main(self) -> None:
        self.ctx["redis"] = self.pool  # made by `build_worker`: one Redis or through Sentinel
        self.worker_id, self._started = heartbeat.worker_id(), time.time()
        if self.on_startup:
            await self.on_startup(self.ctx)
        outage = Outage()
        while True:
            try:
                await self._poll_iteration()
            except (RedisError, OSError) as exc:
                # Redis went away (a failover takes seconds, a restart a few): keep the loop
                # and look again, less often the longer it lasts.
                await asyncio.sleep(outage.failed(exc, self.idle_wait_s))
                continue
            outage.over()
            await self._fire_timers()
            await self._beat()
            if self.burst and await self._burst_done():
                return
            if await self._wait_for_work():
                await self._promote()

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """arq's, with one round trip to claim a job instead of four, and without the jobs
        this worker is running already.

        arq claims a job with WATCH, EXISTS and ZSCORE, then MULTI/PSETEX/EXEC: four round
        trips. `store.queue.claim` makes the same checks and the same mark in one atomic
        script. And arq reads the due job ids from the queue's head, where running jobs stay until
        they finish: a job whose task here is not done is running, and is not checked again.
        """
        timeout_ms = int(self.in_progress_timeout_s * 1000)
        for job_id_b in job_ids:
            job_id = job_id_b.decode()
            if (running := self.tasks.get(job_id)) is not None and not running.done():
                continue
            await self.sem.acquire()
            if self.job_counter >= self.max_jobs:
                self.sem.release()
                return
            try:
                score = await claim(self.pool, job_id, self.queue_name, timeout_ms)
            except BaseException:  # Redis gone: the slot must not leak (arq's own would)
                self.sem.release()
                raise
            if score is None:  # running elsewhere, done, or put off by another worker
                self.sem.release()
                continue
            self.job_counter += 1
            task = self.loop.create_task(self.run_job(job_id, score))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task

    async def finish_job(self, job_id: str, *args: Any) -> None:
        """arq's, but nothing for a job its run ended already: `Job.finish` deletes the job with
        the event's final write, one round trip fewer per event."""
        deps: Deps | None = self.ctx.get("router")
        if deps is not None and job_id in deps.ended:
            deps.ended.discard(job_id)
            return
        await super().finish_job(job_id, *args)

    async def _beat(self) -> None:
        """Say in Redis that this loop turns (`store/heartbeat.py`), every few seconds."""
        if time.monotonic() < self._next_beat:
            return
        self._next_beat = time.monotonic() + heartbeat.INTERVAL_S
        if self.ordered:
            await self._promote()  # a release whose token another worker took is seen here too
        running = sum(not t.done() for t in self.tasks.values())
        try:
            await heartbeat.beat(
                self.pool, self.worker_id, self._started, running, self.jobs_complete,
                self.max_jobs,
            )  # fmt: skip
        except (RedisError, OSError) as exc:
            log.warning("heartbeat failed: %s", exc)

    async def _fire_timers(self) -> None:
        """Fire the due timers (handlers/worker/timers.py), every FIRE_EVERY_S at most."""
        if time.monotonic() < self._next_fire:
            return
        self._next_fire = time.monotonic() + timers.FIRE_EVERY_S
        deps: Deps | None = self.ctx.get("router")
        if deps is None:
            return
        try:
            await timers.fire_due(self.pool, deps.rules.current, deps.ordering, deps.event_ttl_s)
        except (RedisError, OSError) as exc:
            log.warning("firing due timers failed: %s", exc)

    async def _burst_done(self) -> bool:
        if self.burst_awaits_later:
            left = await self.pool.zcard(QUEUE)
        else:
            left = await self.pool.zcount(QUEUE, "-inf", int(time.time() * 1000))
        if 0 <= self.max_burst_jobs <= self._jobs_started() or not left:
            await asyncio.gather(*self.tasks.values())
            return True
        return False

    async def _wait_for_work(self) -> bool | None:
        """Wait for a token: True when a parked event's turn came, False when an event was
        queued, None after the idle wait (or a failed one)."""
        try:
            return await wait_for_work(self.pool, self.idle_wait_s)
        except (RedisError, OSError) as exc:
            log.warning("waiting for work failed: %s", exc)
            await asyncio.sleep(self.idle_wait_s)
            return None

    async def _promote(self) -> None:
        """Parked events whose turn came go to the front of the queue (worker/ordering.py)."""
        try:
            await ordering.promote(self.pool, int(time.time() * 1000))
        except (RedisError, OSError) as exc:
            log.warning("promoting parked events failed: %s", exc)


def redis_pool(url: str) -> ArqRedis:
    """arq's client of the Redis `url` names: one Redis, or the primary through Sentinel,
    followed across a failover (common/redis_url.py)."""
    # A command that meets a dead connection is sent again, on a new connection — through
    # Sentinel, to whichever server is primary by then: a failover of a few seconds is ridden
    # out inside the running jobs instead of failing them.
    retry = Retry(ExponentialBackoff(cap=1.0, base=0.05), RETRIES)
    pool = redis_url.client(
        url, ArqRedis, socket_connect_timeout=CONNECT_TIMEOUT_S, retry=retry,
        retry_on_error=[redis_errors.ConnectionError, redis_errors.TimeoutError],
    )  # fmt: skip
    # As arq's own create_pool sets them: JSON, never pickle.
    pool.job_serializer = encode_result
    pool.job_deserializer = decode_job
    pool.default_queue_name = QUEUE
    return pool


def build_worker(
    settings: WorkerSettings, rules: LiveRules, handle_signals: bool = True
) -> RouterWorker:
    """An arq worker for the router's queue, with one shared HTTP client (opened at start-up)."""
    assert settings.redis_url, "the caller resolves ROUTER_REDIS_URL first"
    watcher: list[asyncio.Task[Any]] = []
    stop_listening: list[Callable[[], None]] = []
    metrics_endpoint = contextlib.AsyncExitStack()  # ROUTER_WORKER_METRICS_PORT's server

    async def startup(ctx: dict[str, Any]) -> None:
        # One connection per job slot: a job makes one call at a time.
        client = Client(settings.worker_concurrency)
        redis: Redis = ctx["redis"]
        kept = dlq.Limits(settings.dlq_ttl_days * 24 * 3600, settings.dlq_max_bytes,
                          metrics.dlq_trimmed)  # fmt: skip
        indexed = await dlq.ensure_index(redis, kept)
        if indexed:
            log.info("dead-letter queue: %d entries from before the per-event index indexed",
                     indexed)  # fmt: skip
        counted = await dlq.ensure_failures(redis, kept)
        if counted:
            log.info("dead-letter queue: %d entries from before failures were kept counted in "
                     "their failures", counted)  # fmt: skip
        ordered = settings.ordering == "process"
        session = Session(client)
        alerts = Alerts(redis, session, rules, settings.console_url)
        stop_listening.append(rules.on_failure(alerts.reload_failed))
        ctx["router"] = Deps(
            redis=redis,
            session=session,
            rules=rules,
            event_ttl_s=settings.event_ttl_s,
            dlq_limits=kept,
            ordering=ordered,
            alerts=alerts,
            min_replicas=settings.redis_min_replicas,
            replica_timeout_ms=settings.redis_replica_timeout_ms,
            timer_caps=timer_store.Caps(settings.timers_max, settings.timers_max_per_rule),
            hold_on_failure=settings.ordering_on_failure == "hold",
        )
        watcher.append(asyncio.create_task(rules.watch()))
        if settings.worker_metrics_port:
            token = settings.admin_token.get_secret_value() if settings.admin_token else None
            # The receiver's limits on a request's head, and a few scrapes at a time at most:
            # this listener shares the job loop, so an outsider must not take its time.
            served = serving(metrics_app(token), settings.worker_metrics_host,
                             settings.worker_metrics_port, http=router_protocol(listener="metrics"),
                             limit_concurrency=METRICS_CONCURRENCY)  # fmt: skip
            await metrics_endpoint.enter_async_context(served)
        # In the background: a KuFlow that is down must not hold up the start.
        watcher.append(asyncio.create_task(probe.check_connections(client, rules.current)))
        log.info(
            "worker started: %d rules from %s, concurrency %d",
            len(rules.current.rules),
            rules.path,
            settings.worker_concurrency,
        )

    async def shutdown(ctx: dict[str, Any]) -> None:
        await metrics_endpoint.aclose()
        for stop in stop_listening:
            stop()
        for task in watcher:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        deps: Deps | None = ctx.get("router")
        if deps is not None:
            if deps.alerts is not None:
                await deps.alerts.close()
            await deps.session.http.aclose()

    worker = RouterWorker(
        functions=[
            # Parks (store/ordering.py) come back as arq tries: MAX_RUNS counts the
            # event's runs in its record instead, so arq's own limit only needs to be out of reach.
            func(process_event, name=JOB_FUNCTION, max_tries=ARQ_TRIES),
            func(refused_job, name=REFUSED_FUNCTION, max_tries=1),
        ],
        queue_name=QUEUE,
        # JSON, never pickle: whoever can write to Redis must not be able to run code here.
        job_deserializer=decode_job,
        job_serializer=encode_result,
        redis_pool=redis_pool(settings.redis_url),
        max_jobs=settings.worker_concurrency,
        poll_delay=IDLE_WAIT_S,
        job_timeout=JOB_TIMEOUT_S,
        keep_result=0,
        job_completion_wait=GRACE_S,
        handle_signals=handle_signals,
        on_startup=startup,
        on_shutdown=shutdown,
    )
    worker.ordered = settings.ordering == "process"
    return worker
