"""The audit log's reads against a real Redis: oldest or newest first, across pages, filtered."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from store import audit


@pytest.mark.anyio
async def test_since_reads_either_way_across_pages_with_its_filters(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "PAGE", 2)
    async with Redis.from_url(redis_url) as redis:
        for n in range(5):
            await audit.write(redis, "ops-lead" if n % 2 else "support-desk", "event.replay",
                              [f"ev-{n}"], role="operator")  # fmt: skip
        await audit.write(redis, "ops-lead", "login", [])
        oldest = [e.objects async for e in audit.since(redis, actor="ops-lead")]
        newest = [e.objects async for e in audit.since(redis, action="event.", newest_first=True)]
    assert oldest == [["ev-1"], ["ev-3"], []]
    assert newest == [["ev-4"], ["ev-3"], ["ev-2"], ["ev-1"], ["ev-0"]]
