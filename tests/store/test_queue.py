"""The queue contract: atomic dedup + enqueue, consumed by a stock arq worker."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import anyio
import pytest
import redis
from arq import Worker
from arq.connections import RedisSettings
from redis.asyncio import Redis

from contract.job_format import JOB_FUNCTION
from store import keys
from store.queue import QUEUE, Enqueuer, NotReplicated, QueueSettings
from tests.conftest import make_event

SETTINGS = QueueSettings(dedup_ttl_s=3600, event_ttl_s=7200)


@pytest.mark.anyio
async def test_a_stock_arq_worker_runs_the_job(redis_url: str, rdb: redis.Redis) -> None:
    event = make_event(extra_field="kept")
    body = json.dumps(event).encode()
    seen: list[tuple[str, int]] = []

    async def process_event(ctx: dict[str, Any], raw: str, received_at_ms: int) -> str:
        seen.append((raw, received_at_ms))
        return "done"

    process_event.__qualname__ = JOB_FUNCTION
    async with Redis.from_url(redis_url) as client:
        assert await Enqueuer(client, SETTINGS).enqueue(event["id"], event["type"], body)
    worker = Worker(
        functions=[process_event],
        queue_name=QUEUE,
        redis_settings=RedisSettings.from_dsn(redis_url),
        job_deserializer=json.loads,  # as docs/design-choices.md tells a stock worker to
        job_serializer=lambda result: json.dumps(result, default=repr).encode(),
        burst=True,
        poll_delay=0.01,
        handle_signals=False,
    )
    try:
        await worker.main()
    finally:
        await worker.close()
    assert (worker.jobs_complete, worker.jobs_failed) == (1, 0)
    assert seen[0][0] == body.decode()  # the raw body, unknown fields included
    assert seen[0][1] == int(rdb.hget(keys.event(event["id"]), "received_at") or 0)
    assert rdb.zcard(QUEUE) == 0


@pytest.mark.anyio
async def test_concurrent_deliveries_of_one_event_make_one_job(
    redis_url: str, rdb: redis.Redis
) -> None:
    event = make_event()
    body = json.dumps(event).encode()
    results: list[bool] = []
    async with Redis.from_url(redis_url) as client:
        enqueuer = Enqueuer(client, SETTINGS)

        async def deliver() -> None:
            results.append(await enqueuer.enqueue(event["id"], event["type"], body))

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(deliver)
    assert sorted(results) == [False] * 19 + [True]
    assert rdb.zcard(QUEUE) == 1
    assert rdb.exists(keys.job(event["id"]))


@pytest.mark.anyio
async def test_enqueue_writes_every_key_with_its_ttl(redis_url: str, rdb: redis.Redis) -> None:
    event = make_event()
    async with Redis.from_url(redis_url) as client:
        await Enqueuer(client, SETTINGS).enqueue(event["id"], event["type"], b"{}")
    assert 3590 <= rdb.ttl(keys.seen(event["id"])) <= 3600
    assert 7190 <= rdb.ttl(keys.job(event["id"])) <= 7200
    assert 7190 <= rdb.ttl(keys.event(event["id"])) <= 7200
    record = rdb.hgetall(keys.event(event["id"]))
    assert record[b"status"] == b"queued"
    assert record[b"type"] == b"PROCESS.CREATED"


@pytest.mark.anyio
async def test_enqueue_keeps_the_body_indexes_the_time_and_counts_the_minute(
    redis_url: str, rdb: redis.Redis
) -> None:
    event = make_event()
    body = json.dumps(event).encode()
    async with Redis.from_url(redis_url) as client:
        enqueuer = Enqueuer(client, SETTINGS)
        await enqueuer.enqueue(event["id"], event["type"], body, "p-1")
        # A duplicate is not received again; it is counted apart (and writes, for WAIT's sake).
        await enqueuer.enqueue(event["id"], event["type"], body, "p-1")
    record = rdb.hgetall(keys.event(event["id"]))
    assert (record[b"event"], record[b"process_id"]) == (body, b"p-1")
    ((member, score),) = rdb.zrange(keys.EVENTS, 0, -1, withscores=True)
    assert member.decode() == event["id"] and score == int(record[b"received_at"])
    minute = keys.stats(int(score) // 60_000)
    counts = rdb.hgetall(minute)
    duplicates = counts.pop(b"duplicates", None)
    assert counts == {b"received": b"1", b"type:PROCESS.CREATED": b"1"}
    assert 0 < rdb.ttl(minute) <= keys.STATS_TTL_S
    if duplicates is None:  # the second call fell in the next minute
        duplicates = rdb.hget(keys.stats(int(score) // 60_000 + 1), "duplicates")
    assert duplicates == b"1"


@pytest.mark.anyio
async def test_the_time_index_drops_ids_older_than_the_records(
    redis_url: str, rdb: redis.Redis
) -> None:
    rdb.zadd(keys.EVENTS, {"old": 1, "recent": int(time.time() * 1000) - 1000})
    event = make_event()
    async with Redis.from_url(redis_url) as client:
        await Enqueuer(client, SETTINGS).enqueue(event["id"], event["type"], b"{}")
    assert {m.decode() for m in rdb.zrange(keys.EVENTS, 0, -1)} == {"recent", event["id"]}


@pytest.mark.anyio
async def test_the_minute_counts_an_unknown_type_as_other(redis_url: str, rdb: redis.Redis) -> None:
    event = make_event("SOMETHING.NEW")
    async with Redis.from_url(redis_url) as client:
        await Enqueuer(client, SETTINGS).enqueue(event["id"], event["type"], b"{}")
    (minute,) = rdb.keys(keys.stats(0).replace(":0", ":*"))
    assert rdb.hget(minute, "type:other") == b"1"
    assert rdb.hget(keys.event(event["id"]), "type") == b"SOMETHING.NEW"


@pytest.mark.anyio
async def test_with_min_replicas_an_enqueue_no_replica_has_is_refused(redis_url: str) -> None:
    """This Redis has no replica: WAIT answers 0, so the enqueue fails (the receiver's 503) —
    every event of the round trip, however many the group commit carried."""
    wanting = QueueSettings(dedup_ttl_s=3600, event_ttl_s=7200, min_replicas=1,
                            replica_timeout_ms=10)  # fmt: skip
    events = [make_event() for _ in range(3)]
    async with Redis.from_url(redis_url) as client:
        enqueuer = Enqueuer(client, wanting)
        outcomes = await asyncio.gather(
            *(enqueuer.enqueue(e["id"], e["type"], json.dumps(e).encode()) for e in events),
            return_exceptions=True,
        )
    assert [type(o) for o in outcomes] == [NotReplicated] * 3
    assert "0 of 1 replicas acknowledged" in str(outcomes[0])


@pytest.mark.anyio
async def test_enqueues_go_on_after_redis_forgot_the_script_or_dropped_the_connection(
    redis_url: str, rdb: redis.Redis
) -> None:
    async with Redis.from_url(redis_url) as client:
        enqueuer = Enqueuer(client, SETTINGS)
        first, second, third = (make_event() for _ in range(3))
        assert await enqueuer.enqueue(first["id"], first["type"], json.dumps(first).encode())
        rdb.script_flush()  # a restarted Redis: the script is loaded again
        assert await enqueuer.enqueue(second["id"], second["type"], json.dumps(second).encode())
        rdb.client_kill_filter(_type="normal", skipme=True)  # the pooled connection is cut
        with pytest.raises(redis.ConnectionError):  # the sender's 503: it delivers again
            await enqueuer.enqueue(third["id"], third["type"], json.dumps(third).encode())
        assert await enqueuer.enqueue(third["id"], third["type"], json.dumps(third).encode())
        # No reply is left over for another enqueue: a duplicate is still told apart.
        assert not await enqueuer.enqueue(third["id"], third["type"], b"{}")
    assert rdb.zcard(QUEUE) == 3
