"""One run of one event's job, and what every job of a worker shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from handlers import dlq, records
from handlers.clients.base import Session
from handlers.clients.errors import ActionFailed
from handlers.records import ActionState, EventRecord
from handlers.rules.model import RuleSet
from handlers.rules.reload import LiveRules


@dataclass
class Deps:
    """What every job of a worker shares."""

    redis: Redis
    session: Session
    rules: LiveRules
    event_ttl_s: int
    dlq_limits: dlq.Limits


@dataclass
class Job:
    """One run of one event's job."""

    deps: Deps
    rules: RuleSet
    event: dict[str, Any]
    event_id: str
    body: bytes
    record: EventRecord
    run: int
    deadline: float

    unsaved: dict[str, str] = field(default_factory=dict)  # fields the next write carries

    @property
    def completion_unsaved(self) -> bool:
        """An action's completion waits to be written (it must be, before another one starts)."""
        return any(name.startswith(records.ACTION_PREFIX) for name in self.unsaved)

    async def save(self, rule: str, index: int, state: ActionState, action: str) -> None:
        """Record an action's state, with any fields waiting to be written: one round trip."""
        state.action = action
        await self.write({records.action_field(rule, index): state.encode()})

    async def write(self, values: dict[str, str]) -> None:
        values, self.unsaved = {**self.unsaved, **values}, {}
        await records.save(self.deps.redis, self.event_id, self.deps.event_ttl_s, values)

    async def dead_letter(
        self, rule: str, action: str, index: int, attempts: int, error: Any
    ) -> None:
        failed = error if isinstance(error, ActionFailed) else None
        await dlq.add(
            self.deps.redis,
            self.deps.dlq_limits,
            self.body,
            event_id=self.event_id,
            rule=rule,
            action=action,
            index=index,
            attempts=attempts,
            status=failed.status if failed else "",
            error=str(error),
            remote=failed.remote if failed else "",
            excerpt=failed.excerpt if failed else "",
        )
