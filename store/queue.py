"""The queue contract: how an event becomes an arq job, deduplicated and queued in one atomic step.

A job is `process_event(body, received_at_ms)` — the raw body as received (so nothing KuFlow
sent is lost or re-serialised) and the receive time — with the event id as arq job id, written
as JSON (`contract/job_format.py`): a stock `arq.Worker(queue_name=QUEUE,
job_deserializer=json.loads)` runs it, and nothing read from Redis is ever unpickled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from common import redis_wire, tracing
from contract.events import type_label
from contract.job_format import encode_job
from store import keys, lua

log = logging.getLogger("kuflow_router.receiver")

QUEUE = keys.QUEUE
REDIS_TIMEOUT_S = 5.0  # a round trip that takes longer fails (the sender gets a 503)
ENQUEUE_KEYS = 12  # the enqueue script's KEYS, ahead of its ARGV in each command
_ENQUEUE, _REQUEUE, _CLAIM = lua.script("enqueue"), lua.script("requeue"), lua.script("claim")


@dataclass(frozen=True)
class QueueSettings:
    """How long the router remembers things, in seconds, and how durable an enqueue must be."""

    dedup_ttl_s: int
    event_ttl_s: int
    ordering: bool = True  # events of one process queue in a line (ROUTER_ORDERING=process)
    min_replicas: int = 0  # replicas that must have an enqueue before it is acknowledged
    replica_timeout_ms: int = 500  # how long to wait for them (Redis's WAIT)


class NotReplicated(RedisError):
    """Fewer replicas than ROUTER_REDIS_MIN_REPLICAS acknowledged the write in time."""


class PrimaryBehind(RedisError):
    """The Redis primary lacks events this receiver acknowledged (a failover onto a replica that
    was not in sync): no 202 until an operator confirms."""


BEHIND = (
    "the Redis primary lacks events this receiver acknowledged: its enqueue counter "
    "(router:acked) is at {now}, below {acknowledged} acknowledged before — a failover onto a "
    "replica that was not in sync, or a Redis restored from an older copy. Events are refused "
    "(503) until an operator has looked: `kuflow-router failover confirm`"
)


class Enqueuer:
    """Writes events to the queue; one per process, sharing the Redis connection pool.

    Enqueues that arrive while a round trip is in flight are sent together in the next one, as
    one pipeline of script calls (a group commit): under load, one round trip carries many
    events, and each event still gets its own atomic script and its own answer before its 202.

    Each enqueue also raises a counter in Redis (`router:acked`) and learns its value. A
    primary never goes back; so when an enqueue finds the counter at or below one this process
    has acknowledged, the primary lost acknowledged writes — Sentinel failed over onto a replica
    that was not in sync. That is logged as an error and shown by `router_redis_primary_behind`;
    with ROUTER_REDIS_MIN_REPLICAS (a 202 promises a replica has the event) every event is
    then refused 503 until `kuflow-router failover confirm` — a silent loss becomes a loud stop.
    """

    def __init__(self, redis: Redis, settings: QueueSettings) -> None:
        self._redis = redis
        self._settings = settings
        self._pending: list[tuple[list[Any], asyncio.Future[bool]]] = []
        self._sender: asyncio.Task[None] | None = None
        self._acknowledged = 0  # the highest counter value of an enqueue answered here
        self.behind_since_ms = 0  # when the primary was found behind (0: it is not)

    async def enqueue(
        self,
        event_id: str,
        event_type: str,
        body: bytes,
        process_id: str = "",
        trace: dict[str, str] | None = None,
    ) -> bool:
        """Queue the event unless its id was already received; True if it was queued now.
        `trace`: the W3C trace context the job continues (with tracing on); its trace id goes
        into the event's record.

        Raises:
            redis.RedisError, OSError: Redis is unreachable or refused the write.
        """
        if self.behind_since_ms and not await self._confirmed():
            raise PrimaryBehind("the Redis primary is behind what was acknowledged: see the log")
        now_ms = int(time.time() * 1000)
        ttl_ms = self._settings.event_ttl_s * 1000
        # The job lives as long as the event record, not arq's default one day, so a worker
        # outage of days loses nothing.
        command = [
            keys.seen(event_id), keys.job(event_id), keys.QUEUE, keys.event(event_id), keys.WAKE,
            keys.EVENTS, keys.stats(now_ms // 60_000),
            keys.process_line(process_id), keys.process(process_id), keys.ACKED,
            keys.process_events(process_id), keys.UNSTARTED,
            now_ms, self._settings.dedup_ttl_s * 1000, ttl_ms, encode_job(body, now_ms, trace),
            event_id, event_type, ttl_ms, keys.WAKE_TOKENS_MAX - 1, process_id, body,
            keys.STATS_TTL_S, "1" if self._settings.ordering else "0",
            # Counted by known type (else "other"): a sender cannot grow the overview's table.
            type_label(event_type), tracing.trace_id_of(trace),
        ]  # fmt: skip
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((command, answer))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_all())
        return await answer

    async def _send_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                results = await self._round_trip([command for command, _ in batch])
            except (RedisError, OSError, TimeoutError) as exc:
                results = [exc] * len(batch)
            for (_, answer), result in zip(batch, results, strict=True):
                if answer.done():  # the request went away meanwhile
                    continue
                if isinstance(result, Exception):
                    answer.set_exception(result)
                else:
                    answer.set_result(bool(result[0]))

    async def _round_trip(self, commands: list[list[Any]], load: bool = True) -> list[Any]:
        """One pipeline: every script call, then — with ROUTER_REDIS_MIN_REPLICAS — one WAIT
        for all of them (group commit keeps working: one WAIT per round trip)."""
        wanted = self._settings.min_replicas
        packed = [
            redis_wire.pack(["EVALSHA", _ENQUEUE.sha, ENQUEUE_KEYS, *command])
            for command in commands
        ]
        if wanted:
            packed.append(redis_wire.pack(["WAIT", wanted, self._settings.replica_timeout_ms]))
        async with asyncio.timeout(REDIS_TIMEOUT_S):
            results = await redis_wire.exchange(self._redis, b"".join(packed), len(packed))
        if load and any(isinstance(r, NoScriptError) for r in results):
            await self._redis.script_load(_ENQUEUE.text)  # a restarted Redis forgot the script
            return await self._round_trip(commands, load=False)
        if wanted:
            acknowledged = results.pop()
            if isinstance(acknowledged, Exception) or int(acknowledged) < wanted:
                got = acknowledged if isinstance(acknowledged, int) else 0
                failure = NotReplicated(f"{got} of {wanted} replicas acknowledged the enqueue")
                return [failure] * len(results)
        return self._check_counter(results)

    def _check_counter(self, results: list[Any]) -> list[Any]:
        """The results, unless the counter went back below what was acknowledged here: then
        the primary lost acknowledged events (see the class), and — with min replicas — none
        of these is acknowledged either."""
        counted = [int(r[1]) for r in results if isinstance(r, list)]
        if not counted:
            return results
        if min(counted) > self._acknowledged:
            self._acknowledged = max(counted)
            return results
        message = BEHIND.format(now=min(counted), acknowledged=self._acknowledged)
        log.error(message, extra={"outcome": "primary_behind"})
        self._acknowledged = max(counted)  # from here on, this primary's count is the measure
        if not self._settings.min_replicas:
            return results
        # Refused until a confirmation lifts it (without min replicas nothing is refused, and
        # the error line is the whole signal); `router_redis_primary_behind` shows it.
        self.behind_since_ms = int(time.time() * 1000)
        return [PrimaryBehind(message)] * len(results)

    async def _confirmed(self) -> bool:
        """Whether an operator confirmed the failover since it was found (then: go on)."""
        async with asyncio.timeout(REDIS_TIMEOUT_S):
            confirmed = await self._redis.get(keys.FAILOVER_CONFIRMED)
        if int(confirmed or 0) < self.behind_since_ms:
            return False
        log.warning("the failover was confirmed: events are accepted again",
                    extra={"outcome": "primary_behind_confirmed"})  # fmt: skip
        self.behind_since_ms = 0
        return True


async def requeue(
    redis: Redis,
    event_id: str,
    body: bytes,
    received_at_ms: int,
    ttl_s: int,
    timer: bool = False,
    process_id: str = "",
) -> bool:
    """Queue an already received event again (dedup does not apply); False if already queued.
    `timer`: `event_id` is a timer's (store/timers.py), whose run is queued again. `process_id`:
    it joins the end of that process's line (store/ordering.py) unless it is in it still."""
    now_ms = int(time.time() * 1000)
    job = encode_job(body, received_at_ms, timer=event_id if timer else None)
    line = keys.process_line(process_id) if process_id else ""
    result = await lua.run(
        redis, _REQUEUE,
        [keys.job(event_id), keys.QUEUE, keys.event(event_id), keys.WAKE, line],
        [ttl_s * 1000, job, now_ms, event_id,
         keys.WAKE_TOKENS_MAX - 1],
    )  # fmt: skip
    return bool(result)


async def claim(redis: Redis, job_id: str, queue: str, timeout_ms: int) -> int | None:
    """Claim a due job for this worker as arq's `start_jobs` does, in one round trip: unless
    another worker runs it, it is marked in progress for `timeout_ms`. Its score (the time it
    was due, ms), or None: running elsewhere, done, or put off."""
    args = [job_id, int(time.time() * 1000), timeout_ms]
    score = await lua.run(redis, _CLAIM, [keys.in_progress(job_id), queue], args)
    return None if score is None else int(float(score))


async def wait_for_work(redis: Redis, timeout_s: float) -> bool | None:
    """Wait up to `timeout_s` for a wake-up token: True when a parked event's turn came
    (`router:ready:wake`), False when an event was queued (`router:wake`), None after the wait."""
    # BLPOP takes fractional seconds since Redis 6; redis-py's hint says int.
    wait = redis.blpop([keys.WAKE, keys.READY_WAKE], timeout=timeout_s)  # type: ignore[arg-type]
    token = await cast(Awaitable[Any], wait)
    return None if not token else token[0].decode() == keys.READY_WAKE


async def confirm_failover(redis: Redis) -> int:
    """Let receivers that found the primary behind accept events again (see `Enqueuer`); the
    enqueue counter as it stands now."""
    counted = int(await redis.get(keys.ACKED) or 0)
    await redis.set(keys.FAILOVER_CONFIRMED, str(int(time.time() * 1000)))
    return counted
