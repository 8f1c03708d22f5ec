"""The event log as the rule author's test data: `rules test --event-id` re-runs one recorded
event; `rules diff` compares recent events under two rule sets, and names the timers a change
would orphan. Reads only; nothing is sent."""

from __future__ import annotations

from redis.asyncio import Redis

from authoring.compare import changed_events
from contract.events import Documents
from handlers.rules.model import RuleSet
from store import records, timers

MAX_EVENTS = 10_000  # events compared at most, whatever --since says


async def recorded(redis: Redis, event_id: str) -> Documents | str:
    """The event as received and what the worker read from KuFlow for it; or why the event log
    does not have them."""
    record = await records.load(redis, event_id)
    if not record.fields:
        return f"no event {event_id} in the event log (never received here, or expired)"
    kept = records.documents(record)
    if kept is None:
        return f"the event log keeps no body for {event_id} (received by an older version)"
    return kept


async def diff(
    redis: Redis, current: RuleSet, new: RuleSet, last: int, since_ms: int
) -> tuple[list[tuple[str, Documents]], list[tuple[str, list[str]]]]:
    """The recent events (the `last` ones, or those since `since_ms`), and those of them that
    `new` would treat differently from `current`, with how."""
    recent = await records.recent(redis, last, since_ms, MAX_EVENTS)
    return recent, changed_events(current, new, recent)


async def orphaned(redis: Redis, current: RuleSet, new: RuleSet) -> list[tuple[str, int, str]]:
    """The rules with `after:` in `current` whose pending timers `new` would cancel when they
    fall due (the rule gone or renamed, or waiting no more): (rule, pending timers, why)."""
    found = []
    for rule in current.rules:
        if rule.timer is None:
            continue
        kept = new.rule(rule.name)
        if kept is not None and kept.timer is not None:
            continue
        why = "removed or renamed" if kept is None else "no longer has after:"
        found.append((rule.name, await timers.pending_of(redis, rule.name), why))
    return found
