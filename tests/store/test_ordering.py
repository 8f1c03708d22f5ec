"""The ordering scripts against a real Redis: a turn per process, parking and waking, a head
that is gone, a failed predecessor, late arrivals."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from store import keys, ordering

P = "process-1"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    async with Redis.from_url(redis_url) as client:
        yield client


async def accept(redis: Redis, *event_ids: str) -> None:
    """As the receiver does: the event joins its process's line, its job is queued."""
    for event_id in event_ids:
        await redis.rpush(keys.process_line(P), event_id)
        await redis.set(keys.job(event_id), b"job")
        await redis.zadd(keys.QUEUE, {event_id: 1})
        await redis.hset(keys.event(event_id), "status", "queued")


async def turn(redis: Redis, event_id: str, event_ms: int) -> ordering.Turn:
    return (await ordering.start(redis, P, event_id, event_ms, 3600))[0]


async def finish(redis: Redis, event_id: str, failed: bool) -> bool:
    status = "dead" if failed else "done"
    return await ordering.finish(redis, P, event_id, 3600, {"status": status}, status, failed)


async def field(redis: Redis, event_id: str, name: str) -> str | None:
    value = await redis.hget(keys.event(event_id), name)  # type: ignore[misc]
    return value.decode() if value is not None else None


@pytest.mark.anyio
async def test_the_head_goes_and_the_next_parks_until_it_is_released(redis: Redis) -> None:
    await accept(redis, "e1", "e2")
    assert (await turn(redis, "e1", 1000)).go
    assert not (await turn(redis, "e2", 2000)).go
    assert (await field(redis, "e2", "status"), await field(redis, "e2", "waiting_for")) == (
        "waiting",
        "e1",
    )
    await redis.set(keys.in_progress("e2"), b"1")  # arq is still parking e2
    assert await finish(redis, "e1", failed=False)
    assert await redis.lrange(keys.READY_WAKE, 0, -1) == [b"1"]
    assert await ordering.promote(redis, 5000) == 0  # not while arq still holds it
    await redis.delete(keys.in_progress("e2"))
    assert await ordering.promote(redis, 5000) == 1
    assert await redis.zscore(keys.QUEUE, "e2") == 5000
    assert (await turn(redis, "e2", 2000)).go
    assert await field(redis, "e2", "parked") is None
    assert (await field(redis, "e2", "status"), await field(redis, "e2", "runs")) == (
        "processing",
        "1",
    )
    assert await field(redis, "e1", "status") == "done"


@pytest.mark.anyio
async def test_promote_never_brings_back_a_job_that_is_gone(redis: Redis) -> None:
    await accept(redis, "e1", "e2")
    await turn(redis, "e2", 0)
    await redis.zrem(keys.QUEUE, "e2")
    await finish(redis, "e1", failed=False)
    assert await ordering.promote(redis, 5000) == 1
    assert await redis.zscore(keys.QUEUE, "e2") is None


@pytest.mark.anyio
@pytest.mark.parametrize(
    "gone",
    [pytest.param("final", id="finished-but-not-released"), pytest.param("no-job", id="job-lost")],
)
async def test_a_head_that_cannot_run_again_holds_nobody_up(redis: Redis, gone: str) -> None:
    await accept(redis, "e1", "e2")
    if gone == "final":
        await redis.hset(keys.event("e1"), "status", "dead")
    else:
        await redis.delete(keys.job("e1"))
    assert (await turn(redis, "e2", 0)).go
    assert await redis.lrange(keys.process_line(P), 0, -1) == [b"e2"]


@pytest.mark.anyio
async def test_a_failed_predecessor_is_said_on_its_successor(redis: Redis) -> None:
    await accept(redis, "e1", "e2")
    await finish(redis, "e1", failed=True)
    assert await field(redis, "e2", "after_failed") == "e1"
    assert (await turn(redis, "e2", 0)).go


@pytest.mark.anyio
async def test_an_event_in_no_line_runs_at_once(redis: Redis) -> None:
    await accept(redis, "e1")
    assert (await turn(redis, "replayed", 0)).go


@pytest.mark.anyio
async def test_an_event_older_than_one_handled_is_late(redis: Redis) -> None:
    await accept(redis, "e1", "e2")
    assert not (await turn(redis, "e1", 2000)).late
    await finish(redis, "e1", failed=False)
    later = await turn(redis, "e2", 1000)  # KuFlow's older event, redelivered
    assert later.go and later.late
    assert await field(redis, "e2", "late") == "1"
