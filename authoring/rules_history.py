"""The event log as the rule author's test data: `rules test --event-id` re-runs one recorded
event; `rules diff` shows which recent events a rules change would treat differently. Reads
only; nothing is sent."""

from __future__ import annotations

import asyncio
import sys

from redis.asyncio import Redis

from authoring.compare import differences
from common.redact import redact
from common.redis_url import client as redis_client
from common.settings import CommonSettings, load
from contract.events import Documents
from handlers.rules.model import RuleSet
from kuflow_router.redis_server import tools_url
from store import records

MAX_EVENTS = 10_000  # events compared at most, whatever --since says


async def _recorded(redis: Redis, event_id: str) -> Documents | str:
    record = await records.load(redis, event_id)
    if not record.fields:
        return f"no event {event_id} in the event log (never received here, or expired)"
    kept = records.documents(record)
    if kept is None:
        return f"the event log keeps no body for {event_id} (received by an older version)"
    return kept


def recorded(event_id: str) -> Documents | None:
    """The event as received and what the worker read from KuFlow for it; None (said why) if
    the log does not have them."""
    settings = load(CommonSettings)

    async def go() -> Documents | str:
        async with redis_client(tools_url(settings.redis_url), socket_connect_timeout=5) as redis:
            return await _recorded(redis, event_id)

    found = asyncio.run(go())
    if isinstance(found, str):
        print(f"kuflow-router: {found}", file=sys.stderr)
        return None
    return found


def diff(current: RuleSet, new: RuleSet, last: int, since_ms: int) -> int:
    """Print the recent events that `new` would treat differently, side by side; 0."""
    settings = load(CommonSettings)

    async def go() -> list[tuple[str, Documents]]:
        async with redis_client(tools_url(settings.redis_url), socket_connect_timeout=5) as redis:
            return await records.recent(redis, last, since_ms, MAX_EVENTS)

    events = asyncio.run(go())
    if not events:
        print("no recent events in the event log to compare (nothing received, or all expired)")
        return 0
    changed = 0
    for event_id, documents in events:
        said = differences(current, new, documents)
        if said:
            changed += 1
            print(f"event {event_id} ({documents[0].get('type')}):")
            print("\n".join(f"  {redact(line)}" for line in said))
    print(f"{changed} of {len(events)} recent events would be handled differently")
    return 0
