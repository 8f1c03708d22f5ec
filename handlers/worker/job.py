"""One run of one event's job, and what every job of a worker shares."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from handlers.clients.base import Session
from handlers.clients.errors import ActionFailed
from handlers.rules.model import RuleSet
from handlers.rules.reload import LiveRules
from handlers.worker import metrics
from handlers.worker.alerts import Alerts
from store import dlq, ordering, records, timers
from store.records import EventRecord, EventStatus


@dataclass
class Deps:
    """What every job of a worker shares."""

    redis: Redis
    session: Session
    rules: LiveRules
    event_ttl_s: int
    dlq_limits: dlq.Limits
    ordering: bool = True  # ROUTER_ORDERING=process: one event of a process at a time
    alerts: Alerts | None = None  # rules.yaml's `alerts:` (handlers/worker/alerts.py)
    min_replicas: int = 0  # ROUTER_REDIS_MIN_REPLICAS: a run starts acting once they have it
    replica_timeout_ms: int = 500
    hold_on_failure: bool = False  # ROUTER_ORDERING_ON_FAILURE=hold
    # ROUTER_TIMERS_MAX, ROUTER_TIMERS_MAX_PER_RULE
    timer_caps: timers.Caps = field(default_factory=timers.Caps)
    # Jobs whose run ended them in arq with the event's final write (`Job.finish`): the worker
    # skips arq's own finishing round trip for these (`RouterWorker.finish_job`).
    ended: set[str] = field(default_factory=set)


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
    process_id: str = ""  # with ordering: the process whose line the event leaves at its end
    job_id: str = ""  # arq's job, ended with the event's final write ("": left to arq)

    unsaved: dict[str, str] = field(default_factory=dict)  # fields the next write carries
    kept_body: bytes | None = None  # the event as kept (masked by `redact:`), if not `body`
    holds_line: bool = False  # if it fails, it holds its process's line (`on_failure: hold`)

    @property
    def completion_unsaved(self) -> bool:
        """An action's completion waits to be written (it must be, before another one starts)."""
        return any(name.startswith(records.ACTION_PREFIX) for name in self.unsaved)

    async def write(self, values: dict[str, str]) -> None:
        """Write `values` to the event record, with any fields waiting: one round trip."""
        values, self.unsaved = {**self.unsaved, **values}, {}
        await records.save(self.deps.redis, self.event_id, self.deps.event_ttl_s, values)

    async def finish(self, status: EventStatus, values: dict[str, str] | None = None) -> None:
        """Write the event's final status (and `values`), count it in this minute's stats, and
        end the arq job in the same round trip. Call it last: the job is gone from the queue."""
        finished = {"status": status, "finished_at": str(int(time.time() * 1000)), **(values or {})}
        values, self.unsaved = {**self.unsaved, **finished}, {}
        redis, ttl_s = self.deps.redis, self.deps.event_ttl_s
        if not self.process_id:
            await records.save(redis, self.event_id, ttl_s, values, count=status,
                               end_job=self.job_id)  # fmt: skip
        else:
            # A failed predecessor blocks nobody — its successor runs, and its record says so —
            # unless it holds the line (ROUTER_ORDERING_ON_FAILURE=hold, `on_failure: hold`).
            failed = status in (EventStatus.DEAD, EventStatus.PARTIAL)
            await ordering.finish(redis, self.process_id, self.event_id, ttl_s, values, status,
                                  failed, self.job_id, self.holds_line)  # fmt: skip
        if self.job_id:
            self.deps.ended.add(self.job_id)

    async def dead_letter(
        self, rule: str, action: str, index: int, attempts: int, error: Exception | str
    ) -> None:
        """Add an entry for one failed action (or the whole event) to the dead-letter queue."""
        failed = error if isinstance(error, ActionFailed) else None
        failure = await dlq.add(
            self.deps.redis,
            self.deps.dlq_limits,
            self.kept_body or self.body,
            int(self.record.fields.get("received_at") or 0),
            event_id=self.event_id,
            rule=rule,
            action=action,
            index=index,
            attempts=attempts,
            status=failed.status if failed else "",
            cause=failed.kind if failed else "",
            error=str(error),
            remote=failed.remote if failed else "",
            excerpt=failed.excerpt if failed else "",
        )
        if failure[1]:
            metrics.FAILURES.labels(rule, action, failure[1]).inc()
        if self.deps.alerts is not None:
            self.deps.alerts.dead_letter(self.event, rule, action, attempts, error, failure)
