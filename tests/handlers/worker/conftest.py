"""A job of the worker on a real Redis, for the tests of what one run of a job does."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from handlers.clients.base import Session
from handlers.clients.network import Client
from handlers.rules.reload import LiveRules
from handlers.worker.job import Deps, Job
from store import dlq, records

RULES = "version: 1\nrules: []\n"


@pytest.fixture
async def job(redis_url: str, tmp_path: Path) -> AsyncIterator[Job]:
    (tmp_path / "rules.yaml").write_text(RULES)
    rules = LiveRules(tmp_path / "rules.yaml")
    async with Redis.from_url(redis_url) as redis, Client(10) as http:
        deps = Deps(redis, Session(http), rules, 3600, dlq.Limits())
        record = await records.begin(redis, "ev-1", 3600)
        yield Job(deps, rules.current, {"id": "ev-1"}, "ev-1", b"{}", record, 1, time.monotonic())
