"""The audit log: who changed what, when — one entry per change an operator makes (a pause, a
resume, a timer cancelled …), appended to a bounded stream (`router:audit`). The one function
every change goes through, so the governance work (roles, sign-in, the audit page) extends it
in one place. Never a token or a secret in an entry: callers pass names and reasons only."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from store import keys

MAX_ENTRIES = 100_000  # the stream is trimmed to about this many entries


@dataclass(frozen=True)
class Entry:
    """One change: who (`cli:user@host`, `console`), what, on which objects, and how it ended."""

    at_ms: int
    actor: str
    action: str
    objects: list[str]
    outcome: str
    detail: dict[str, Any]


async def write(
    redis: Redis,
    actor: str,
    action: str,
    objects: Sequence[str],
    outcome: str = "done",
    **detail: Any,
) -> None:
    """Append one change to the audit log."""
    fields = {"at": int(time.time() * 1000), "actor": actor, "action": action,
              "objects": json.dumps(list(objects)), "outcome": outcome,
              "detail": json.dumps(detail, default=str)}  # fmt: skip
    await redis.xadd(keys.AUDIT, fields, maxlen=MAX_ENTRIES, approximate=True)  # type: ignore[arg-type]


async def entries(redis: Redis, most: int = 100) -> list[Entry]:
    """The latest changes, newest first."""
    found = []
    for _, raw in await redis.xrevrange(keys.AUDIT, count=most):
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        found.append(Entry(int(fields["at"]), fields["actor"], fields["action"],
                           json.loads(fields["objects"]), fields["outcome"],
                           json.loads(fields.get("detail") or "{}")))  # fmt: skip
    return found
