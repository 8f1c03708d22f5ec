"""The gate's scripts against a real Redis with a clock the test moves: the rate (GCRA) and its
burst, reserved turns, concurrency slots and their leases, a Retry-After pause, and the breaker
opening, probing, reopening for twice as long, and closing. No sleeps: time is an argument."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from handlers.clients.http import HttpConnection
from store import gate
from store.gate import CallResult, Held, State, Transition

T0 = 1_800_000_000_000  # ms


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    async with Redis.from_url(redis_url) as client:
        yield client


def connection(**settings: Any) -> HttpConnection:
    return HttpConnection(type="http", base_url="http://127.0.0.1:1", **settings)


async def admit(
    redis: Redis, conn: HttpConnection, at: int, reserve_s: float = 0.0
) -> gate.Admission:
    return await gate.admit(redis, "api", conn, timeout_s=10, reserve_s=reserve_s, now_ms=at)


async def settle(
    redis: Redis, conn: HttpConnection, admission: gate.Admission, answer: CallResult, at: int,
    pause_s: float | None = None,
) -> Transition | None:  # fmt: skip
    return await gate.settle(redis, conn, admission, answer, pause_s, now_ms=at)


@pytest.mark.anyio
async def test_a_connection_without_limits_or_breaker_costs_no_round_trip(redis: Redis) -> None:
    plain = connection(breaker=False)
    assert not gate.gated(plain)
    admission = await admit(redis, plain, T0)
    assert admission.go and admission.token == ""
    assert await redis.keys("*") == []


@pytest.mark.anyio
async def test_the_rate_lets_a_burst_through_then_one_call_per_interval(redis: Redis) -> None:
    conn = connection(limits={"rate": "10/s", "burst": 3}, breaker=False)
    verdicts = [await admit(redis, conn, T0) for _ in range(4)]
    assert [a.go for a in verdicts] == [True, True, True, False]
    assert verdicts[3].held is Held.RATE and verdicts[3].wait_s == pytest.approx(0.1)
    assert not (await admit(redis, conn, T0 + 99)).go
    assert (await admit(redis, conn, T0 + 100)).go  # one interval later: one more
    assert not (await admit(redis, conn, T0 + 100)).go
    # After a quiet second the whole burst is back, and no more.
    later = [await admit(redis, conn, T0 + 2000) for _ in range(4)]
    assert [a.go for a in later] == [True, True, True, False]


@pytest.mark.anyio
async def test_over_time_the_rate_admits_exactly_its_calls(redis: Redis) -> None:
    conn = connection(limits={"rate": "20/s", "burst": 1}, breaker=False)
    admitted = 0
    for ms in range(0, 10_000, 5):  # someone asks every 5 ms for ten seconds
        admitted += (await admit(redis, conn, T0 + ms)).go
    assert admitted == 200


@pytest.mark.anyio
async def test_a_call_reserves_its_turn_within_the_horizon_and_is_held_beyond(
    redis: Redis,
) -> None:
    conn = connection(limits={"rate": "10/s", "burst": 1}, breaker=False)
    waits = [await admit(redis, conn, T0, reserve_s=0.25) for _ in range(4)]
    assert [(a.go, a.wait_s) for a in waits[:3]] == [(True, 0), (True, 0.1), (True, 0.2)]
    assert waits[3].held is Held.RATE
    assert waits[3].wait_s == pytest.approx(0.05)  # until a turn within the horizon is free


@pytest.mark.anyio
async def test_concurrency_counts_calls_in_flight_and_a_lost_slot_expires(redis: Redis) -> None:
    conn = connection(limits={"concurrency": 2}, breaker=False)
    first, second = await admit(redis, conn, T0), await admit(redis, conn, T0)
    third = await admit(redis, conn, T0)
    assert first.go and second.go and third.held is Held.CONCURRENCY
    await settle(redis, conn, first, CallResult.OK, T0 + 10)
    assert (await admit(redis, conn, T0 + 10)).go
    assert not (await admit(redis, conn, T0 + 10)).go
    # `second` was never settled (its worker died): its lease — timeout + margin — runs out.
    lease_ms = int((10 + gate.LEASE_MARGIN_S) * 1000)
    assert (await admit(redis, conn, T0 + lease_ms + 1)).go


@pytest.mark.anyio
async def test_retry_after_pauses_the_whole_connection(redis: Redis) -> None:
    conn = connection(limits={"rate": "100/s"})
    call = await admit(redis, conn, T0)
    assert await settle(redis, conn, call, CallResult.LIMITED, T0 + 5, pause_s=2) is None
    held = await admit(redis, conn, T0 + 1000)
    assert held.held is Held.PAUSED and held.wait_s == pytest.approx(1.005)
    assert (await admit(redis, conn, T0 + 2005)).go
    # 429s do not open the breaker, however many.
    for _ in range(10):
        call = await admit(redis, conn, T0 + 3000)
        await settle(redis, conn, call, CallResult.LIMITED, T0 + 3000)
    assert (await gate.status(redis, "api")).state is State.CLOSED


@pytest.mark.anyio
async def test_the_breaker_opens_probes_reopens_longer_and_closes(redis: Redis) -> None:
    conn = connection(breaker={"open_after": 3, "cooldown": "10s", "max_cooldown": "25s"})
    changes = []
    for n in range(3):
        call = await admit(redis, conn, T0 + n)
        assert call.go
        changes.append(await settle(redis, conn, call, CallResult.FAILED, T0 + n))
    assert changes == [None, None, Transition.OPENED]
    opened_at = T0 + 2
    held = await admit(redis, conn, opened_at + 1000)
    assert held.held is Held.OPEN and held.wait_s == pytest.approx(9.0)

    probe = await admit(redis, conn, opened_at + 10_000)  # the cooldown is over: one probe
    assert probe.go and probe.probe and probe.half_opened
    other = await admit(redis, conn, opened_at + 10_001)
    assert other.held is Held.PROBING
    assert await settle(redis, conn, probe, CallResult.FAILED, opened_at + 10_050) is (
        Transition.REOPENED
    )
    reopened_at = opened_at + 10_050
    assert (await admit(redis, conn, reopened_at + 19_999)).held is Held.OPEN  # 20 s now
    probe = await admit(redis, conn, reopened_at + 20_000)
    assert probe.probe
    assert await settle(redis, conn, probe, CallResult.FAILED, reopened_at + 20_000) is (
        Transition.REOPENED
    )
    assert (await gate.status(redis, "api")).open_until_ms == reopened_at + 20_000 + 25_000

    probe = await admit(redis, conn, reopened_at + 45_000)
    assert (
        await settle(redis, conn, probe, CallResult.OK, reopened_at + 45_010) is Transition.CLOSED
    )
    status = await gate.status(redis, "api")
    assert (status.state, status.failures, status.opened, status.probes) == (State.CLOSED, 0, 1, 3)
    # Closed again, the count starts over at the base cooldown.
    for _ in range(3):
        call = await admit(redis, conn, reopened_at + 50_000)
        last = await settle(redis, conn, call, CallResult.FAILED, reopened_at + 50_000)
    assert last is Transition.OPENED
    assert (await gate.status(redis, "api")).open_until_ms == reopened_at + 60_000


@pytest.mark.anyio
async def test_a_success_or_a_refusal_between_failures_starts_the_count_over(
    redis: Redis,
) -> None:
    conn = connection(breaker={"open_after": 2})
    for answer in (
        CallResult.FAILED,
        CallResult.OK,
        CallResult.FAILED,
        CallResult.REFUSED,
        CallResult.FAILED,
    ):
        call = await admit(redis, conn, T0)
        assert await settle(redis, conn, call, answer, T0) is None
    assert (await gate.status(redis, "api")).failures == 1


@pytest.mark.anyio
async def test_a_probe_that_never_answers_is_replaced_when_its_lease_ends(redis: Redis) -> None:
    conn = connection(breaker={"open_after": 1, "cooldown": "1s"})
    await settle(redis, conn, await admit(redis, conn, T0), CallResult.FAILED, T0)
    lost = await admit(redis, conn, T0 + 1000)
    assert lost.probe
    lease_ms = int((10 + gate.LEASE_MARGIN_S) * 1000)
    assert (await admit(redis, conn, T0 + 1000 + lease_ms - 1)).held is Held.PROBING
    again = await admit(redis, conn, T0 + 1000 + lease_ms)
    assert again.probe and not again.half_opened  # it was half-open already
    assert await settle(redis, conn, lost, CallResult.OK, T0 + 1000 + lease_ms) is None  # too late


@pytest.mark.anyio
async def test_reset_closes_the_breaker_by_hand(redis: Redis) -> None:
    conn = connection(breaker={"open_after": 1, "cooldown": "10m"}, limits={"rate": "1/s"})
    await settle(redis, conn, await admit(redis, conn, T0), CallResult.FAILED, T0, pause_s=60)
    await gate.reset(redis, "api")
    assert (await gate.status(redis, "api")).state is State.CLOSED
    assert (await admit(redis, conn, T0 + 1000)).go


@pytest.mark.anyio
async def test_calls_failures_and_held_calls_are_counted_per_minute(redis: Redis) -> None:
    conn = connection(limits={"concurrency": 1}, breaker=False)
    call = await gate.admit(redis, "api", conn, 10)
    await gate.admit(redis, "api", conn, 10)  # held
    await gate.settle(redis, conn, call, CallResult.FAILED)
    assert await gate.recent(redis, "api", 5) == {"calls": 1, "failures": 1, "held": 1}
