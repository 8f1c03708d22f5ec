"""The dead-letter queue stays bounded — by age and by bytes, each trim counted and logged —
keeps each event once, and is read a page at a time. Against a real Redis."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import redis
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from handlers.worker import metrics
from store import dlq, keys


def trimmed(reason: str) -> float:
    return REGISTRY.get_sample_value("router_dlq_trimmed_total", {"reason": reason}) or 0.0


def add(redis_url: str, limits: dlq.Limits, event_id: str, body: bytes, **fields: Any) -> None:
    async def go() -> None:
        async with Redis.from_url(redis_url) as client:
            await dlq.add(client, limits, body, event_id=event_id, rule="r", action="a",
                          error="e" * 10_000, **fields)  # fmt: skip

    asyncio.run(go())


def test_an_event_is_kept_once_and_entries_are_small(redis_url: str, rdb: redis.Redis) -> None:
    body = b'{"big": "' + b"x" * 900_000 + b'"}'
    for index in range(3):  # three actions of one event failed
        add(redis_url, dlq.Limits(), "ev-1", body, index=index)
    assert rdb.get(keys.dlq_event("ev-1")) == body
    entries = rdb.xrange(keys.DLQ)
    assert len(entries) == 3
    assert all(sum(len(k) + len(v) for k, v in e[1].items()) < 3 * 2000 + 500 for e in entries)
    assert int(rdb.get(keys.DLQ_BYTES) or 0) < len(body) + 3 * 7000  # counted once


def test_entries_older_than_the_ttl_are_trimmed_counted_and_logged(
    redis_url: str, rdb: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    rdb.xadd(keys.DLQ, {"event_id": "old", "bytes": "100", "holds_event": "1"}, id="1000-0")
    rdb.set(keys.dlq_event("old"), b"{}")
    rdb.incrby(keys.DLQ_BYTES, 100)
    before = trimmed("age")
    with caplog.at_level(logging.WARNING):
        add(redis_url, dlq.Limits(ttl_s=3600, trimmed=metrics.dlq_trimmed), "new", b"{}")
    assert [e[1][b"event_id"] for e in rdb.xrange(keys.DLQ)] == [b"new"]
    assert not rdb.exists(keys.dlq_event("old"))
    assert trimmed("age") == before + 1
    assert "older than ROUTER_DLQ_TTL_DAYS" in caplog.text


def test_the_oldest_go_when_the_queue_is_over_its_bytes(redis_url: str, rdb: redis.Redis) -> None:
    limits = dlq.Limits(max_bytes=60_000, trimmed=metrics.dlq_trimmed)
    before = trimmed("size")
    for number in range(20):  # 20 events of 10 KB
        add(redis_url, limits, f"ev-{number:02}", b"x" * 10_000)
    kept = [e[1][b"event_id"].decode() for e in rdb.xrange(keys.DLQ)]
    assert kept == [f"ev-{n:02}" for n in range(20 - len(kept), 20)]  # the newest, in order
    assert 0 < int(rdb.get(keys.DLQ_BYTES) or 0) <= limits.max_bytes
    assert trimmed("size") == before + 20 - len(kept)
    assert not rdb.exists(keys.dlq_event("ev-00")) and rdb.exists(keys.dlq_event("ev-19"))


def test_reads_go_a_page_at_a_time(
    redis_url: str, rdb: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dlq, "PAGE", 3)
    for number in range(10):
        add(redis_url, dlq.Limits(), f"ev-{number}", b"{}")

    async def read() -> tuple[list[str], list[str]]:
        async with Redis.from_url(redis_url) as client:
            every = [e.event_id async for e in dlq.iterate(client)]
            one = [e.event_id for e in await dlq.entries(client, "ev-7")]
            return every, one

    every, one = asyncio.run(read())
    assert every == [f"ev-{n}" for n in range(10)] and one == ["ev-7"]


def test_a_replay_whose_event_was_trimmed_says_so(redis_url: str, rdb: redis.Redis) -> None:
    add(redis_url, dlq.Limits(), "ev-gone", b"{}")
    rdb.delete(keys.dlq_event("ev-gone"))

    async def replay() -> None:
        async with Redis.from_url(redis_url) as client:
            await dlq.replay(client, "ev-gone", 3600)

    with pytest.raises(LookupError, match="no longer kept"):
        asyncio.run(replay())
    assert rdb.xlen(keys.DLQ) == 1  # its entries stay, for dlq show


def test_one_event_s_entries_are_found_through_its_index_without_a_scan(
    redis_url: str, rdb: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(30):
        add(redis_url, dlq.Limits(), f"ev-{number % 10}", b"{}", index=number // 10)
    pages: list[str] = []
    real = dlq._page

    async def counted(*args: Any) -> list[dlq.Entry]:
        pages.append(args[1])
        return await real(*args)

    monkeypatch.setattr(dlq, "_page", counted)

    async def read() -> list[dlq.Entry]:
        async with Redis.from_url(redis_url) as client:
            return await dlq.entries(client, "ev-7")

    found = asyncio.run(read())
    assert [e.fields["index"] for e in found] == ["0", "1", "2"]  # oldest first
    assert pages == []  # not one page of the stream read
    assert rdb.ttl(keys.dlq_index("ev-7")) > 0


def test_the_index_follows_trims_purges_and_replays(redis_url: str, rdb: redis.Redis) -> None:
    limits = dlq.Limits(max_bytes=60_000)
    for number in range(20):  # the oldest are trimmed past the bytes
        add(redis_url, limits, f"ev-{number:02}", b"x" * 10_000)
    assert not rdb.exists(keys.dlq_index("ev-00")) and rdb.scard(keys.dlq_index("ev-19")) == 1

    async def purge() -> int:
        async with Redis.from_url(redis_url) as client:
            return await dlq.purge(client, "ev-19")

    assert asyncio.run(purge()) == 1
    assert not rdb.exists(keys.dlq_index("ev-19"))


def test_entries_from_before_the_index_are_indexed_once(redis_url: str, rdb: redis.Redis) -> None:
    for number in range(3):  # as an older version wrote them: no index
        rdb.xadd(keys.DLQ, {"event_id": "ev-old", "index": str(number), "bytes": "10"})

    async def upgrade() -> tuple[int, int, list[dlq.Entry]]:
        async with Redis.from_url(redis_url) as client:
            first = await dlq.ensure_index(client, dlq.Limits())
            again = await dlq.ensure_index(client, dlq.Limits())
            return first, again, await dlq.entries(client, "ev-old")

    first, again, found = asyncio.run(upgrade())
    assert (first, again, len(found)) == (3, 0, 3)
