"""Failures: the dead letters of one cause — the same rule, action, and HTTP status or kind of
error — worked as one issue with a state an operator sets: open, acknowledged (by whom, with a
note), resolved.

A dead letter of a cause the router has not seen opens a failure; one of a resolved failure
reopens it; one of an open or acknowledged failure only counts in (`seen`, one script). So an
alert goes out when a failure opens or reopens, not per event, and never again for an
acknowledged one. Each failure keeps the events it holds in the dead-letter queue, by receive
time (`keys.failure_events`), so its bulk replay, skip or discard pages through them — in each
process's order — without reading the whole queue; an event leaves it when its dead letters
are replayed, purged or trimmed (`forget`). A failure is kept as long as dead letters are
(ROUTER_DLQ_TTL_DAYS) after its latest one.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from store import keys, lua

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
STATES = (OPEN, ACKNOWLEDGED, RESOLVED)
OPENED, REOPENED = "opened", "reopened"  # what a dead letter did to its failure, if anything
ID_CHARS = 12
_SEEN, _STATE = lua.script("failure_seen"), lua.script("failure_state")


def cause_of(fields: Mapping[str, str]) -> str:
    """What a dead letter failed with: the kind its failure was given (an HTTP status,
    `timeout`, `connection refused`, `DNS failure`, `TLS error` …), else the start of its
    error."""
    if fields.get("cause"):
        return fields["cause"]
    status = fields.get("status", "")
    if status and status != "0":
        return f"HTTP {status}"
    error = fields.get("error", "")
    for prefix in ("gave up after", "refused job", "the job does not hold"):
        if error.startswith(prefix):
            return prefix
    return error.split(":", 1)[0][:80] or "error"


def failure_id(fields: Mapping[str, str]) -> str:
    """The failure a dead letter belongs to: a digest of its rule, action and cause."""
    cause = f"{fields.get('rule', '')}\n{fields.get('action', '')}\n{cause_of(fields)}"
    return hashlib.sha256(cause.encode()).hexdigest()[:ID_CHARS]


@dataclass(frozen=True)
class Failure:
    """One failure as it stands."""

    failure_id: str
    fields: dict[str, str]
    events: int  # the events it holds in the dead-letter queue now

    @property
    def state(self) -> str:
        return self.fields.get("state", OPEN)

    @property
    def rule(self) -> str:
        return self.fields.get("rule", "")

    @property
    def action(self) -> str:
        return self.fields.get("action", "")

    @property
    def cause(self) -> str:
        return self.fields.get("cause", "")

    @property
    def rule_title(self) -> str:
        """The rule in words: `*` is the event as a whole (the read of KuFlow, or the job)."""
        return "all rules of the event" if self.rule == "*" else self.rule

    def ms(self, name: str) -> int:
        """A time field (`first_at`, `last_at`, `opened_at`, `acked_at`, `resolved_at`), ms."""
        return int(self.fields.get(name) or 0)

    def number(self, name: str) -> int:
        """A count field (`count`: dead letters ever; `reopened`)."""
        return int(self.fields.get(name) or 0)

    def shown(self) -> dict[str, Any]:
        """As `failures list --json` prints it."""
        times = ("first_at", "last_at", "opened_at", "acked_at", "resolved_at")
        return {
            "id": self.failure_id, "state": self.state, "rule": self.rule,
            "action": self.action, "cause": self.cause, "events": self.events,
            "dead_letters": self.number("count"), "reopened": self.number("reopened"),
            **{name: self.ms(name) or None for name in times},
            **{name: self.fields.get(name) or None
               for name in ("acked_by", "resolved_by", "note", "last_event", "last_error")},
        }  # fmt: skip


async def seen(
    redis: Redis, fields: Mapping[str, str], event_id: str, received_ms: int, ttl_s: int
) -> tuple[str, str]:
    """Count a dead letter (its entry's `fields`) in its failure: the failure's id, and
    `OPENED`, `REOPENED` or '' (open or acknowledged already)."""
    fid = failure_id(fields)
    change = await lua.run(
        redis, _SEEN,
        [keys.failure(fid), keys.FAILURES, keys.failure_events(fid)],
        [fid, int(time.time() * 1000), ttl_s * 1000, fields.get("rule", ""),
         fields.get("action", ""), cause_of(fields), event_id, received_ms,
         fields.get("error", "")[:300]],
    )  # fmt: skip
    return fid, change.decode() if isinstance(change, bytes) else str(change or "")


def index(pipe: Pipeline, entries: Iterable[tuple[int, Mapping[str, str]]], ttl_s: int) -> None:
    """Queue on `pipe`: dead letters written before failures were kept (their time, ms, and
    fields) join their failures, open ones — once, when a worker first starts (store/dlq.py)."""
    for time_ms, fields in entries:
        fid = failure_id(fields)
        key, events = keys.failure(fid), keys.failure_events(fid)
        pipe.hsetnx(key, "state", OPEN)
        pipe.hsetnx(key, "first_at", str(time_ms))
        pipe.hsetnx(key, "opened_at", str(time_ms))
        pipe.hset(key, mapping={"rule": fields.get("rule", ""), "action": fields.get("action", ""),
                                "cause": cause_of(fields), "last_at": time_ms,
                                "last_event": fields.get("event_id", ""),
                                "last_error": fields.get("error", "")[:300]})  # fmt: skip
        pipe.hincrby(key, "count", 1)
        pipe.expire(key, ttl_s)
        pipe.zadd(keys.FAILURES, {fid: time_ms})
        pipe.zadd(events, {fields.get("event_id", ""): time_ms}, nx=True)
        pipe.expire(events, ttl_s)


def forget(pipe: Pipeline, entries: Iterable[Mapping[str, str]]) -> None:
    """Queue on `pipe`: the events of these removed dead letters leave their failures."""
    for fields in entries:
        pipe.zrem(keys.failure_events(failure_id(fields)), fields.get("event_id", ""))


async def find(redis: Redis, wanted: str) -> Failure | None:
    """A failure by its id, or a prefix of it (at least 4 characters) that only it has."""
    wanted = wanted.strip().lower()
    if len(wanted) == ID_CHARS:
        return await one(redis, wanted)
    if len(wanted) < 4:
        return None
    ids = [i.decode() for i in await redis.zrange(keys.FAILURES, 0, -1)]
    matching = [i for i in ids if i.startswith(wanted)]
    return await one(redis, matching[0]) if len(matching) == 1 else None


async def one(redis: Redis, fid: str) -> Failure | None:
    """One failure, or None (no such failure, or it expired)."""
    found = await _read(redis, [fid])
    return found[0] if found else None


async def listing(redis: Redis, states: Iterable[str] = STATES, most: int = 500) -> list[Failure]:
    """The failures in `states`, the one with the latest dead letter first."""
    ids = [i.decode() for i in await redis.zrevrange(keys.FAILURES, 0, most - 1)]
    wanted = set(states)
    return [f for f in await _read(redis, ids) if f.state in wanted]


async def _read(redis: Redis, ids: list[str]) -> list[Failure]:
    """These failures, in one round trip; an expired one is left out."""
    async with redis.pipeline(transaction=False) as pipe:
        for fid in ids:
            pipe.hgetall(keys.failure(fid))
            pipe.zcard(keys.failure_events(fid))
        answers = await pipe.execute()
    return [
        Failure(fid, {k.decode(): v.decode(errors="replace") for k, v in raw.items()}, count)
        for fid, raw, count in zip(ids, answers[::2], answers[1::2], strict=True)
        if raw
    ]


async def counts(redis: Redis, most: int = 500) -> dict[str, int]:
    """How many failures are in each state (the overview's figures)."""
    return by_state(await listing(redis, most=most))


def by_state(found: Iterable[Failure]) -> dict[str, int]:
    """How many of `found` are in each state."""
    states = [f.state for f in found]
    return {state: states.count(state) for state in STATES}


# What an operator does to a failure (`failures ack ID`, the console's buttons), the state each
# moves it to, and what is said once it did.
MOVES = {"ack": ACKNOWLEDGED, "resolve": RESOLVED, "reopen": OPEN}
SAID = {ACKNOWLEDGED: "acknowledged: it alerts no more while it lasts",
        RESOLVED: "resolved: should it fail again, it reopens and alerts once",
        OPEN: "open again"}  # fmt: skip
# The states a failure may be moved to `state` from (failure_state.lua keeps to them).
MOVES_FROM = {ACKNOWLEDGED: (OPEN,), RESOLVED: (OPEN, ACKNOWLEDGED),
              OPEN: (ACKNOWLEDGED, RESOLVED)}  # fmt: skip


async def change_state(
    redis: Redis, fid: str, state: str, by: str, note: str = ""
) -> tuple[str, bool]:
    """Move a failure to `state`: the state it was in ('' when there is no such failure), and
    whether it moved — acknowledging a resolved one, say, changes nothing."""
    was = await lua.run(redis, _STATE, [keys.failure(fid)],
                        [state, by, int(time.time() * 1000), note[:500]])  # fmt: skip
    was = was.decode() if isinstance(was, bytes) else str(was or "")
    return was, was in MOVES_FROM[state]


async def event_page(redis: Redis, fid: str, offset: int, count: int) -> list[str]:
    """Events of a failure, oldest received first, from `offset`: a page, extended so that
    events received in the same millisecond are never split between pages (their order is
    then decided within one page, by their process's sequence)."""
    found = await redis.zrange(
        keys.failure_events(fid), offset, offset + count - 1, withscores=True
    )
    if not found:
        return []
    ids = [member.decode() for member, _ in found]
    last = found[-1][1]
    ties = await redis.zrangebyscore(keys.failure_events(fid), last, last)
    ids += [t.decode() for t in ties if t.decode() not in set(ids)]
    return ids
