"""The timer scripts against a real Redis: started once, cancelled by what was received in time,
fired once every earlier event began, bounded by the caps."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from store import keys, records, timers
from store.queue import Enqueuer, QueueSettings

RULE = "remind"
SAME = timers.digest([["item-1"]])
CAPS = timers.Caps()
T = int(time.time() * 1000) - 600_000  # the tests' start of time: within the marks' keep


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    async with Redis.from_url(redis_url) as client:
        yield client


def start_of(event_id: str, received_ms: int, due_ms: int, process_id: str = "") -> timers.Start:
    body = json.dumps({"id": event_id, "type": "PROCESS_ITEM.CREATED"}).encode()
    return timers.Start(RULE, event_id, "PROCESS_ITEM.CREATED", process_id, body, received_ms,
                        due_ms, SAME)  # fmt: skip


async def start(redis: Redis, event_id: str, received_ms: int, due_ms: int,
                caps: timers.Caps = CAPS, process_id: str = "") -> tuple[str, str]:  # fmt: skip
    return await timers.start(redis, start_of(event_id, received_ms, due_ms, process_id), 3600,
                              caps)  # fmt: skip


async def state(redis: Redis, event_id: str) -> timers.View:
    record = await timers.load(redis, timers.timer_id(event_id, RULE))
    assert record is not None
    return timers.View.of(record)


@pytest.mark.anyio
async def test_a_start_is_queued_at_its_due_time_once(redis: Redis) -> None:
    await redis.hset(keys.event("s1"), "status", "processing")  # type: ignore[misc]
    assert await start(redis, "s1", T + 1_000, T + 60_000) == ("started", "")
    assert await start(redis, "s1", T + 1_000, T + 60_000) == ("exists", "pending")
    tid = timers.timer_id("s1", RULE)
    assert await redis.zscore(keys.QUEUE, tid) == T + 60_000
    assert await redis.zcard(keys.TIMERS) == 1
    assert await redis.hget(keys.event("s1"), f"timer:{RULE}") == tid.encode()  # type: ignore[misc]
    job = json.loads(await redis.get(keys.job(tid)) or b"{}")
    assert job["k"] == {"timer": tid} and job["a"][1] == T + 60_000


@pytest.mark.anyio
async def test_an_event_received_in_time_cancels_and_one_received_late_changes_nothing(
    redis: Redis,
) -> None:
    await start(redis, "s1", T + 1_000, T + 60_000)
    await start(redis, "s2", T + 1_000, T + 5_000)  # overdue by the time `c1` came
    found = await timers.observe(redis, "c1", T + 10_000, [(RULE, SAME)], 3600)
    t1, t2 = timers.timer_id("s1", RULE), timers.timer_id("s2", RULE)
    assert sorted(found) == sorted([(t1, "cancelled", RULE), (t2, "late", RULE)])
    cancelled, untouched = await state(redis, "s1"), await state(redis, "s2")
    assert (cancelled.state, cancelled.cancelled_by, cancelled.status) == ("cancelled", "c1",
                                                                           "cancelled")  # fmt: skip
    assert (untouched.state, untouched.late_by) == ("pending", "c1")
    assert await redis.zscore(keys.QUEUE, t1) is None and not await redis.exists(keys.job(t1))
    assert await redis.zrange(keys.TIMERS, 0, -1) == [t2.encode()]
    fields = (await records.load(redis, "c1")).fields
    assert fields[f"cancels:{t1}"] == "cancelled" and fields[f"cancels:{t2}"] == "late"


@pytest.mark.anyio
async def test_a_cancelling_event_received_before_the_starting_one_does_not_cancel(
    redis: Redis,
) -> None:
    await timers.observe(redis, "c0", T + 500, [(RULE, SAME)], 3600)
    assert await start(redis, "s1", T + 1_000, T + 60_000) == ("started", "")
    assert await timers.observe(redis, "c0", T + 500, [(RULE, SAME)], 3600) == []


@pytest.mark.anyio
async def test_a_timer_started_after_its_cancelling_event_was_seen_starts_cancelled(
    redis: Redis,
) -> None:
    """Events of two processes run in parallel: the cancel can be seen first."""
    await redis.hset(keys.event("c1"), "status", "processing")  # type: ignore[misc]
    await timers.observe(redis, "c1", T + 2_000, [(RULE, SAME)], 3600)
    assert await start(redis, "s1", T + 1_000, T + 60_000) == ("cancelled", "c1")
    assert (await state(redis, "s1")).state == "cancelled"
    tid = timers.timer_id("s1", RULE)
    assert (await records.load(redis, "c1")).fields[f"cancels:{tid}"] == "cancelled"
    assert await redis.zcard(keys.QUEUE) == 0 and await redis.zcard(keys.TIMERS) == 0


@pytest.mark.anyio
async def test_other_same_values_cancel_nothing(redis: Redis) -> None:
    await start(redis, "s1", T + 1_000, T + 60_000)
    other = timers.digest([["item-2"]])
    assert await timers.observe(redis, "c1", T + 2_000, [(RULE, other)], 3600) == []
    assert (await state(redis, "s1")).state == "pending"


@pytest.mark.anyio
async def test_it_fires_once_every_event_received_before_its_due_time_began(
    redis: Redis,
) -> None:
    now = int(time.time() * 1000)
    enqueuer = Enqueuer(redis, QueueSettings(3600, 3600))
    body = json.dumps({"id": "e1", "type": "PROCESS.CREATED"}).encode()
    await enqueuer.enqueue("e1", "PROCESS.CREATED", body)  # received now: before the due time
    await start(redis, "s1", now - 10_000, now + 60_000)
    record = await timers.load(redis, timers.timer_id("s1", RULE))
    assert record is not None
    assert await timers.fire(redis, record.event_id, False, 3600) == ("wait", "e1")
    await records.begin(redis, "e1", 3600)  # its run began (and cancelled what it cancels)
    assert await timers.fire(redis, record.event_id, False, 3600) == ("fired", "")
    assert await timers.fire(redis, record.event_id, False, 3600) == (
        "fired",
        "",
    )  # its state, unchanged
    fired = await state(redis, "s1")
    assert fired.state == "fired" and fired.fired_ms >= now
    assert await redis.zcard(keys.TIMERS) == 0 and await redis.zcard(keys.rule_timers(RULE)) == 0


@pytest.mark.anyio
async def test_an_event_whose_job_is_gone_holds_no_timer_up(redis: Redis) -> None:
    now = int(time.time() * 1000)
    await redis.zadd(keys.UNSTARTED, {"purged": now - 5_000})  # its job will never run
    await start(redis, "s1", now - 10_000, now)
    record = await timers.load(redis, timers.timer_id("s1", RULE))
    assert record is not None
    assert await timers.fire(redis, record.event_id, False, 3600) == ("fired", "")
    assert await redis.zcard(keys.UNSTARTED) == 0


@pytest.mark.anyio
async def test_a_fired_timer_joins_its_process_line_and_timeline(redis: Redis) -> None:
    now = int(time.time() * 1000)
    await start(redis, "s1", now - 10_000, now, process_id="p1")
    tid = timers.timer_id("s1", RULE)
    record = await timers.load(redis, tid)
    assert record is not None
    assert (await timers.fire(redis, record.event_id, True, 3600))[0] == "fired"
    assert await redis.lrange(keys.process_line("p1"), 0, -1) == [tid.encode()]  # type: ignore[misc]
    assert await redis.zrange(keys.process_events("p1"), 0, -1) == [tid.encode()]
    assert (await timers.load(redis, tid)).fields["seq"] == "1"  # type: ignore[union-attr]
    assert [v.timer_id for v in await timers.listing(redis, process_id="p1")] == [tid]


@pytest.mark.anyio
async def test_the_caps_refuse_a_start_in_all_and_per_rule(redis: Redis) -> None:
    await start(redis, "s1", T + 1_000, T + 60_000)
    assert await start(redis, "s2", T + 1_000, T + 60_000, timers.Caps(1, 10)) == ("full", "all")
    assert await start(redis, "s2", T + 1_000, T + 60_000, timers.Caps(10, 1)) == ("full", "rule")
    assert await timers.load(redis, timers.timer_id("s2", RULE)) is None  # nothing written
    assert await start(redis, "s2", T + 1_000, T + 60_000, timers.Caps(2, 2)) == ("started", "")


@pytest.mark.anyio
async def test_a_cancel_by_hand_stops_a_pending_timer_only(redis: Redis) -> None:
    now = int(time.time() * 1000)
    await start(redis, "s1", now, now + 60_000)
    await start(redis, "s2", now - 10_000, now)
    t1, t2 = timers.timer_id("s1", RULE), timers.timer_id("s2", RULE)
    assert await timers.cancel(redis, t1, "cli:ops@host") == (True, "cancelled")
    assert (await state(redis, "s1")).cancelled_by == "cli:ops@host"
    assert await timers.cancel(redis, t1, "cli:ops@host") == (False, "cancelled")
    record = await timers.load(redis, t2)
    assert record is not None
    await timers.fire(redis, record.event_id, False, 3600)
    assert await timers.cancel(redis, t2, "cli:ops@host") == (False, "fired")
    assert await timers.cancel(redis, "no-such-timer", "cli:ops@host") == (False, "")
    assert (await timers.summary(redis)).pending == 0


@pytest.mark.anyio
async def test_the_due_ones_fire_together_soonest_first_up_to_an_unbegun_event(
    redis: Redis,
) -> None:
    now = int(time.time() * 1000)
    await start(redis, "s1", now - 20_000, now - 10_000, process_id="p1")
    await start(redis, "s2", now - 20_000, now - 5_000)
    await start(redis, "s3", now - 20_000, now + 60_000)  # not due
    await redis.set(keys.job("e1"), b"job")
    await redis.zadd(keys.UNSTARTED, {"e1": now - 7_000})  # received between the two due times
    fired = await timers.fire_due(redis, [RULE], True, 3600)
    assert fired == [(timers.timer_id("s1", RULE), now - 10_000, RULE)]
    assert (await state(redis, "s1")).state == "fired" and (
        await state(redis, "s2")
    ).state == "pending"
    assert await redis.lrange(keys.process_line("p1"), 0, -1) == [
        timers.timer_id("s1", RULE).encode()
    ]  # type: ignore[misc]
    await redis.zrem(keys.UNSTARTED, "e1")  # its run began
    assert [tid for tid, _, _ in await timers.fire_due(redis, [RULE], True, 3600)] == [
        timers.timer_id("s2", RULE)
    ]
    assert (await timers.summary(redis)).pending == 1
    await start(redis, "s4", now - 20_000, now - 1_000)
    assert await timers.fire_due(redis, ["another"], True, 3600) == []  # its rule is gone
    assert (await state(redis, "s4")).state == "pending"  # left to its job, which says why
