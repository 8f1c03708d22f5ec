"""The whole pipeline in one test: the receiver app, a real Redis, a real arq worker, API doubles."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from handlers.rules.reload import LiveRules
from receiver.app import create_app
from store import dlq, records
from store.records import EventRecord
from tests.conftest import TOKEN, make_settings, run_worker_until_idle, serve_app


@dataclass
class Pipeline:
    """Send events in, run the worker until the queue is empty, look at the records."""

    client: httpx.AsyncClient
    redis: Redis
    rules: LiveRules
    settings: Any

    async def send(
        self, event: dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post(
            f"/webhooks/kuflow/{TOKEN}",
            content=json.dumps(event),
            headers={"content-type": "application/json", **(headers or {})},
        )

    async def work(self) -> None:
        """A real arq worker, in burst mode: it returns once every job is finished."""
        await run_worker_until_idle(self.settings, self.rules)

    async def enqueued_only(self) -> None:
        """The worker, until no job is due: timers not yet due, parked events and later retries
        are left waiting."""
        await run_worker_until_idle(self.settings, self.rules, timers=False)

    async def record(self, event_id: str) -> EventRecord:
        return await records.load(self.redis, event_id)

    async def dead(self, event_id: str | None = None) -> list[dlq.Entry]:
        return await dlq.entries(self.redis, event_id)

    async def dead_event(self, entry: dlq.Entry) -> str:
        """The event a dead-letter entry belongs to, as kept beside the stream."""
        body = await dlq.event_body(self.redis, entry)
        return body.decode() if body is not None else ""


@asynccontextmanager
async def pipeline(redis_url: str, rules_file: Path, **settings_: Any) -> AsyncIterator[Pipeline]:
    settings = make_settings(redis_url, rules_file=rules_file, **settings_)
    rules = LiveRules(rules_file)
    async with serve_app(create_app(settings)) as client, Redis.from_url(redis_url) as redis:
        yield Pipeline(client, redis, rules, settings)
