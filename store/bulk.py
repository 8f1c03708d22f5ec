"""Bulk actions on a failure's events (store/failures.py): replay, skip, discard — of 100,000 as
of ten. Each goes a page at a time through the failure's events (oldest received first), so
its cost is linear and its memory a page; it can be stopped between pages (`stop`, `most`); and
it is safe to repeat: an event already replayed, skipped or discarded is left as it is, and a
second run picks up what the first did not reach.

Replay keeps each process's order: a page's events are replayed in their process's sequence,
and each joins the end of its process's line (store/queue.py's `requeue`), so the events of one
process run one at a time, in the order they were received, after any already waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis

from store import dlq, failures, keys, ordering

PAGE = 500
SIDE_BY_SIDE = 32  # events (of different processes) acted on at once within a page
REPLAY, SKIP, DISCARD = "replay", "skip", "discard"
ACTIONS = (REPLAY, SKIP, DISCARD)
# What became of the events acted on, as the CLI and the console say it.
DONE = {REPLAY: "queued again, each process in order", SKIP: "skipped: their processes move on",
        DISCARD: "discarded"}  # fmt: skip
MAX_PROBLEMS = 20  # the problems a result keeps (each names its event); the rest are counted


@dataclass
class Result:
    """What a bulk action did so far."""

    done: int = 0  # replayed, skipped (a process moved on) or discarded
    unchanged: int = 0  # nothing to do for it (replayed already, held no line, …)
    problems: list[str] = field(default_factory=list)  # why an event could not be acted on
    problem_count: int = 0
    left: int = 0  # events of the failure not reached (stopped, or `most` reached)

    def problem(self, text: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)

    @property
    def seen(self) -> int:
        return self.done + self.unchanged + self.problem_count


async def run(
    redis: Redis,
    failure_id: str,
    action: str,
    by: str,
    ttl_s: int,
    most: int | None = None,
    stop: Callable[[], bool] = lambda: False,
    told: Callable[[Result], None] = lambda result: None,
) -> Result:
    """Do `action` to the failure's events, a page at a time, until done, `most` events were
    seen or `stop()` says so between pages; `told` hears the result after each page."""
    result = Result()
    offset = 0  # events of the failure kept in it by the pages before (not removed from it)
    while most is None or result.seen < most:
        if stop():
            break
        size = PAGE if most is None else min(PAGE, most - result.seen)
        page = await failures.event_page(redis, failure_id, offset, size)
        if not page:
            break
        removed = await _act(redis, failure_id, action, page, by, ttl_s, result)
        offset += len(page) - removed
        told(result)
    result.left = max(0, await redis.zcard(keys.failure_events(failure_id)) - offset)
    return result


async def work(
    redis: Redis,
    failure_id: str,
    action: str,
    by: str,
    ttl_s: int,
    most: int | None = None,
    stop: Callable[[], bool] = lambda: False,
    told: Callable[[Result], None] = lambda result: None,
) -> Result:
    """`run`, as an operator asks it of a failure (`failures replay`, the console's buttons): a
    replay comes after the fix, so it resolves the failure first — should its events fail
    again, it reopens and alerts once."""
    if action == REPLAY:
        await failures.change_state(redis, failure_id, failures.RESOLVED, by)
    return await run(redis, failure_id, action, by, ttl_s, most, stop, told)


async def _act(
    redis: Redis,
    failure_id: str,
    action: str,
    page: list[str],
    by: str,
    ttl_s: int,
    result: Result,
) -> int:
    """Act on one page; how many of its events left the failure (replayed or discarded, or
    no longer dead-lettered: their entries trimmed meanwhile)."""
    gone: list[str] = []  # events the failure still names, whose dead letters are gone
    if action == REPLAY:
        replayed = await _replay(redis, page, ttl_s, result, gone)
    else:
        replayed = 0

        async def one(event_id: str) -> None:
            skipped = await ordering.skip(redis, event_id, by)
            if action == DISCARD:
                if not await dlq.purge(redis, event_id, failure_id):
                    gone.append(event_id)
                result.done += 1
            elif skipped:
                result.done += 1
            else:
                result.unchanged += 1

        await _side_by_side([[event_id] for event_id in page], one)
    if gone:
        await redis.zrem(keys.failure_events(failure_id), *gone)
    return replayed + len(gone) + (len(page) - len(gone) if action == DISCARD else 0)


async def _side_by_side(lines: list[list[str]], act: Callable[[str], Awaitable[None]]) -> None:
    """`act` on each event: the events of one line one after another, in order; the lines side
    by side, `SIDE_BY_SIDE` at a time (each step is a round trip or two: they overlap)."""
    room = asyncio.Semaphore(SIDE_BY_SIDE)

    async def run(line: list[str]) -> None:
        async with room:
            for event_id in line:
                await act(event_id)

    await asyncio.gather(*(run(line) for line in lines))


async def _replay(
    redis: Redis, page: list[str], ttl_s: int, result: Result, gone: list[str]
) -> int:
    """Replay a page: each process's events in their sequence, one after another (each joins
    the end of its process's line in turn); the processes side by side."""
    async with redis.pipeline(transaction=False) as pipe:
        for event_id in page:
            pipe.hmget(keys.event(event_id), ["process_id", "seq", "received_at"])
        found = await pipe.execute()
    lines: dict[str, list[tuple[int, int, str]]] = {}
    for event_id, (process, seq, received) in zip(page, found, strict=True):
        # An event of no process is a line of its own.
        line = (process or b"").decode() or f"(none) {event_id}"
        lines.setdefault(line, []).append((int(seq or 0), int(received or 0), event_id))
    replayed = 0

    async def one(event_id: str) -> None:
        nonlocal replayed
        try:
            queued = await dlq.replay(redis, event_id, ttl_s)
        except LookupError as exc:
            result.problem(str(exc))
            return
        if queued:
            result.done += 1
            replayed += 1
        else:
            result.unchanged += 1
            gone.append(event_id)

    await _side_by_side([[e for _, _, e in sorted(line)] for line in lines.values()], one)
    return replayed
