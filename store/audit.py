"""The audit log: who changed what, when, from where, and how it ended — one entry per change an
operator makes from the console or the CLI (a replay, a skip, a purge, a pause, a failure's
state …), each login and failed login, and each attempt a role refused (`denied`). A Redis stream
(`router:audit`), bounded in time (ROUTER_AUDIT_RETENTION_DAYS, 400 by default) and in entries
(ROUTER_AUDIT_MAX_ENTRIES). Never a token or a secret in an entry: callers pass names, ids and
reasons only, and every text is masked as logs are (common/redact.py) on the way in.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis

from common.redact import redact
from common.settings import CommonSettings
from store import keys

PAGE = 500
MAX_TEXT = 500  # a reason, a note: cut to this


@dataclass(frozen=True)
class Keep:
    """How long, and how many entries, the audit log keeps."""

    retention_s: int = 400 * 24 * 3600
    max_entries: int = 1_000_000

    @classmethod
    def of(cls, settings: CommonSettings) -> Keep:
        """As ROUTER_AUDIT_RETENTION_DAYS and ROUTER_AUDIT_MAX_ENTRIES say."""
        return cls(settings.audit_retention_days * 24 * 3600, settings.audit_max_entries)


@dataclass(frozen=True)
class Entry:
    """One change: who (a console user's name, `cli:user@host`), their role, what, on which
    objects, from which address, and how it ended (`done`, `denied`, `failed`, `unchanged: …`)."""

    at_ms: int
    actor: str
    action: str
    objects: list[str]
    outcome: str
    detail: dict[str, Any]
    role: str = ""
    address: str = ""

    def shown(self) -> dict[str, Any]:
        """As `audit --json` prints it (and the export writes it)."""
        at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.at_ms / 1000))
        return {"at": f"{at}.{self.at_ms % 1000:03d}Z", **asdict(self)}


def _text(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)[:MAX_TEXT]
    return value


async def write(
    redis: Redis,
    actor: str,
    action: str,
    objects: Sequence[str],
    outcome: str = "done",
    *,
    role: str = "",
    address: str = "",
    keep: Keep | None = None,
    **detail: Any,
) -> None:
    """Append one change to the audit log, and trim what is past its time or its count."""
    keep = keep or Keep()
    now_ms = int(time.time() * 1000)
    fields = {"at": now_ms, "actor": _text(actor), "role": role, "action": action,
              "objects": json.dumps([_text(o) for o in objects]), "outcome": _text(outcome),
              "address": address,
              "detail": json.dumps({k: _text(v) for k, v in detail.items() if v is not None},
                                   default=str)}  # fmt: skip
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xadd(keys.AUDIT, fields, maxlen=keep.max_entries, approximate=True)  # type: ignore[arg-type]
        pipe.xtrim(keys.AUDIT, minid=str(now_ms - keep.retention_s * 1000), approximate=True)
        await pipe.execute()


def _entry(raw: dict[bytes, bytes]) -> Entry:
    fields = {k.decode(): v.decode(errors="replace") for k, v in raw.items()}
    return Entry(int(fields["at"]), fields["actor"], fields["action"],
                 json.loads(fields["objects"]), fields["outcome"],
                 json.loads(fields.get("detail") or "{}"), fields.get("role", ""),
                 fields.get("address", ""))  # fmt: skip


async def entries(redis: Redis, most: int = 100) -> list[Entry]:
    """The latest changes, newest first."""
    return [_entry(raw) for _, raw in await redis.xrevrange(keys.AUDIT, count=most)]


async def since(
    redis: Redis, since_ms: int = 0, actor: str = "", action: str = "", newest_first: bool = False
) -> AsyncIterator[Entry]:
    """Every change from `since_ms` on, oldest first (or newest first), a page at a time — of
    one actor, and of actions starting with `action`, if given."""
    oldest, newest = (str(since_ms) if since_ms else "-"), "+"
    while True:
        if newest_first:
            page = await redis.xrevrange(keys.AUDIT, newest, oldest, count=PAGE)
        else:
            page = await redis.xrange(keys.AUDIT, oldest, newest, count=PAGE)
        for _, raw in page:
            entry = _entry(raw)
            if (not actor or entry.actor == actor) and entry.action.startswith(action):
                yield entry
        if len(page) < PAGE:
            return
        if newest_first:
            newest = "(" + page[-1][0].decode()
        else:
            oldest = "(" + page[-1][0].decode()


async def size(redis: Redis) -> int:
    """How many entries the audit log holds (`router_audit_entries`)."""
    return int(await redis.xlen(keys.AUDIT))
