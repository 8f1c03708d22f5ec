"""The dead-letter queue: Redis stream `router:dlq`, one entry per action that failed for good.

An entry holds the event (its raw body), the rule, the action, its attempts, the last error —
HTTP status, the remote API's own error text, a body excerpt — and the time. Entries are
addressed by event id; replaying an event clears its dead actions and queues it again, and the
actions it had completed stay skipped.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from handlers import records
from receiver import keys
from receiver.queue import requeue
from receiver.redact import redact

MAX_ENTRIES = 100_000  # the stream is trimmed (approximately) beyond this


@dataclass(frozen=True)
class Entry:
    """One dead-lettered action."""

    entry_id: str
    fields: dict[str, str]

    @property
    def event_id(self) -> str:
        return self.fields.get("event_id", "")


async def add(redis: Redis, **fields: Any) -> None:
    """Append an entry; `fields` are event_id, event, rule, action, index, attempts, error, …"""
    values = {
        k: ("" if v is None else v if isinstance(v, bytes) else redact(str(v)))
        for k, v in fields.items()
    }
    values["time"] = str(time.time())
    await redis.xadd(keys.DLQ, values, maxlen=MAX_ENTRIES, approximate=True)  # type: ignore[arg-type]


async def entries(redis: Redis, event_id: str | None = None) -> list[Entry]:
    """Every entry (oldest first), or those of one event."""
    raw = await cast(Awaitable[list[tuple[bytes, dict[bytes, bytes]]]], redis.xrange(keys.DLQ))
    found = [
        Entry(entry_id.decode(), {k.decode(): v.decode(errors="replace") for k, v in data.items()})
        for entry_id, data in raw
    ]
    return [e for e in found if event_id is None or e.event_id == event_id]


async def purge(redis: Redis, event_id: str | None = None) -> int:
    """Delete the entries of one event, or all of them; the number deleted."""
    doomed = await entries(redis, event_id)
    if doomed:
        await redis.xdel(keys.DLQ, *[e.entry_id for e in doomed])
    return len(doomed)


async def replay(redis: Redis, event_id: str, ttl_s: int) -> bool:
    """Queue a dead-lettered event again; its completed actions stay skipped.

    Returns False when the event has no entry (nothing to replay).
    """
    found = await entries(redis, event_id)
    if not found:
        return False
    record = await records.load(redis, event_id)
    # A dead action may have acted before it failed (an answer lost to a timeout): its re-run
    # is marked replayed, so each API's repeat-safety check runs as on any retry, with a fresh
    # budget of attempts.
    again = {
        name: records.ActionState(
            records.REPLAYED, error=state.error, status=state.status, action=state.action
        ).encode()
        for name, state in record.actions.items()
        if state.state == "dead"
    }
    await records.save(redis, event_id, ttl_s, {"status": records.QUEUED, **again})
    body = found[-1].fields.get("event", "").encode()
    received_at = int(record.fields.get("received_at") or time.time() * 1000)
    await requeue(redis, event_id, body, received_at, ttl_s)
    await redis.xdel(keys.DLQ, *[e.entry_id for e in found])
    return True
