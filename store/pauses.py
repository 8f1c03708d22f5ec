"""Rules paused on purpose by an operator (`kuflow-router rules pause NAME`): while paused, the
events a rule matches are evaluated as ever, but its actions are held — no call, no try counted,
nothing dead-lettered — and `resume` brings every job it held back to the queue's front, each
process's events still in order. A connection's pause lives with its gate (store/gate.py), and
shares `Pause`, the recheck and `bring_back` with this one.

Every worker reads the paused rules in the round trip that begins an event's run
(`records.begin`, `ordering.start`), so a pause holds from the next run on, shared by all."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from common.words import rfc3339
from store import keys, lua

HOLD_RECHECK_S = 15 * 60.0  # a held job looks again after this at most
RESUME_PAGE = 1000
_RESUME = lua.script("resume")


@dataclass(frozen=True)
class Pause:
    """An operator's pause of a rule or a connection: who, since when, until when (0: until
    resumed), why."""

    by: str
    since_ms: int
    until_ms: int = 0
    reason: str = ""

    def active(self, now_ms: int) -> bool:
        return not self.until_ms or self.until_ms > now_ms

    @property
    def text(self) -> str:
        """`paused by cli:ops@host since 2026-12-03T14:00:00.000Z: why`."""
        why = f": {self.reason}" if self.reason else ""
        until = f" (until {rfc3339(self.until_ms)})" if self.until_ms else ""
        return f"paused by {self.by} since {rfc3339(self.since_ms)}{until}{why}"

    def wait_s(self, now_ms: int) -> float:
        """How long a job it holds waits before it looks again."""
        if self.until_ms:
            return max(0.0, min(HOLD_RECHECK_S, (self.until_ms - now_ms) / 1000))
        return HOLD_RECHECK_S


def decode(raw: dict[bytes, bytes]) -> dict[str, Pause]:
    """The paused rules as HGETALL of `router:rules:paused` gives them."""
    return {name.decode(): decode_one(value) for name, value in raw.items()}


def decode_one(value: bytes) -> Pause:
    """One rule's pause, as `router:rules:paused` holds it."""
    return Pause(**json.loads(value))


async def pause(redis: Redis, rule: str, by: str, reason: str = "", until_ms: int = 0) -> None:
    """Hold the actions of `rule` on purpose, until `resume` (or `until_ms`)."""
    value = Pause(by, int(time.time() * 1000), until_ms, reason)
    await redis.hset(keys.PAUSED_RULES, rule, json.dumps(value.__dict__))  # type: ignore[misc]


async def paused(redis: Redis) -> dict[str, Pause]:
    """Every rule an operator paused (a pause whose --until passed included)."""
    return decode(await redis.hgetall(keys.PAUSED_RULES))  # type: ignore[misc]


async def hold(redis: Redis, rule: str, job_id: str) -> None:
    """Note that a pause of `rule` holds `job_id`, for `resume` to bring it back."""
    if job_id:
        await redis.zadd(keys.rule_held(rule), {job_id: int(time.time() * 1000)})


async def resume(redis: Redis, rule: str) -> int:
    """Lift the pause of `rule` and bring the jobs it held to the queue's front; how many."""
    return await bring_back(redis, keys.PAUSED_RULES, (rule,), keys.rule_held(rule))


async def bring_back(redis: Redis, pause: str, fields: Sequence[str], held: str) -> int:
    """Lift a pause — the `fields` of hash `pause` — and bring the jobs noted in `held` to the
    queue's front, a page per round trip (each process's line keeps their order); how many."""
    total, moved = 0, RESUME_PAGE
    while moved == RESUME_PAGE:
        moved = int(await lua.run(
            redis, _RESUME, [pause, held, keys.QUEUE, keys.WAKE],
            [int(time.time() * 1000), RESUME_PAGE, "0" if total else "1",
             keys.WAKE_TOKENS_MAX - 1, *fields],
        ))  # fmt: skip
        total += moved
    return total
