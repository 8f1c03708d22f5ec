"""Fixtures shared by the whole suite: a private redis-server, settings, an app client, events."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from redis.asyncio import Redis
from starlette.applications import Starlette

from common import redact
from kuflow_router import env_file
from kuflow_router.redis_server import RedisServer
from kuflow_router.settings import RouterSettings
from receiver.app import create_app
from store.queue import Enqueuer, QueueSettings
from tests.doubles.alteryx import AlteryxDouble
from tests.doubles.http import HttpDouble
from tests.doubles.kuflow import KuflowDouble
from tests.doubles.nerm import NermDouble
from tests.doubles.server import Double
from tests.doubles.ultracart import UltracartDouble

TOKEN = "tok-" + "a1" * 12
BASIC = ("kuflow", "s3cret-pass")
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"o" * 32).decode()
# Now: the receiver refuses events older than its dedup window.
EVENT_TIMESTAMP = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ROUTER_* variable of the developer's shell, nor their ./.env, leaks into a test."""
    for name in list(os.environ):
        if name.startswith("ROUTER_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(env_file, "DEFAULT", tmp_path / "no.env")
    monkeypatch.setattr(env_file, "_read", [])  # no test re-reads another test's .env
    monkeypatch.setattr(env_file, "_ours", set())


@pytest.fixture(autouse=True)
def _no_registered_secrets() -> Iterator[None]:
    """Secrets registered by one test's settings or rules do not mask another test's output."""
    yield
    redact.forget()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The suite's own redis-server on a free port: tests never touch 127.0.0.1:6379."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    assert server.port != 6379
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The private server's URL, flushed before each test."""
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    yield redis_server.url


@pytest.fixture
def rdb(redis_url: str) -> Iterator[redis.Redis]:
    """A synchronous client on the private server, for assertions."""
    with redis.Redis.from_url(redis_url) as client:
        yield client


def make_settings(redis_url: str | None, **overrides: Any) -> RouterSettings:
    """Settings with every auth mode on, as a deployment would configure them."""
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "webhook_tokens": TOKEN,
        "webhook_basic": f"{BASIC[0]}:{BASIC[1]}",
        "webhook_secrets": f"{SECRET},{OLD_SECRET}",
    }
    values.update(overrides)
    return RouterSettings(**values)


@asynccontextmanager
async def serve_app(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and yield an HTTP client wired to it in-process."""
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://router.test") as client,
    ):
        yield client


@pytest.fixture
def app_client(redis_url: str) -> Callable[..., Any]:
    """`async with app_client(**settings) as client:` — a client on a fresh receiver."""

    def open_client(**overrides: Any) -> Any:
        url = overrides.pop("redis_url", redis_url)
        return serve_app(create_app(make_settings(url, **overrides)))

    return open_client


def make_event(event_type: str = "PROCESS.CREATED", **overrides: Any) -> dict[str, Any]:
    """A valid event of the given type; keyword arguments replace envelope fields."""
    process_id, item_id = str(uuid.uuid4()), str(uuid.uuid4())
    data: dict[str, Any] = {
        "PROCESS.CREATED": {"processId": process_id, "processState": "RUNNING"},
        "PROCESS.STATE_CHANGED": {"processId": process_id, "processState": "COMPLETED"},
        "PROCESS_ITEM.CREATED": {
            "processId": process_id,
            "processItemId": item_id,
            "processItemType": "TASK",
            "processItemState": "READY",
            "processItemDefinitionCode": "LOAN_REVIEW",
        },
        "PROCESS_ITEM.TASK_STATE_CHANGED": {
            "processId": process_id,
            "processItemId": item_id,
            "processItemType": "TASK",
            "processItemState": "COMPLETED",
            "processItemDefinitionCode": "LOAN_REVIEW",
        },
    }.get(event_type, {"something": "new"})
    event = {
        "id": str(uuid.uuid4()),
        "version": "1",
        "type": event_type,
        "timestamp": EVENT_TIMESTAMP,
        "data": data,
    }
    event.update(overrides)
    return event


@pytest.fixture
def kuflow() -> Iterator[Any]:
    """A KuFlow double on a free port (see tests/doubles/kuflow.py)."""
    yield from _serve(KuflowDouble())


def _serve(double: Double) -> Iterator[Any]:
    double.start()
    yield double
    double.stop()


@pytest.fixture
def ultracart() -> Iterator[Any]:
    yield from _serve(UltracartDouble())


@pytest.fixture
def alteryx() -> Iterator[Any]:
    yield from _serve(AlteryxDouble())


@pytest.fixture
def nerm() -> Iterator[Any]:
    yield from _serve(NermDouble())


@pytest.fixture
def crm() -> Iterator[Any]:
    yield from _serve(HttpDouble())


async def enqueue_events(redis_url: str, events: list[dict[str, Any]]) -> int:
    """Queue events as the receiver does (dedup and job in one step); how many were new."""
    async with Redis.from_url(redis_url) as client:
        enqueuer = Enqueuer(client, QueueSettings(3600, 3600))
        results = await asyncio.gather(
            *(
                enqueuer.enqueue(
                    e["id"], e["type"], json.dumps(e).encode(), e["data"].get("processId", "")
                )
                for e in events
            )
        )
    return sum(results)


async def run_worker_until_idle(settings: Any, rules: Any, timers: bool = True) -> None:
    """A real arq worker in burst mode: it returns once every job is finished (with `timers`
    False, once no job is due: timers not yet due, parked events and later retries wait)."""
    from handlers.worker.app import build_worker

    worker = build_worker(settings, rules, handle_signals=False)
    worker.burst = True
    worker.burst_awaits_later = timers
    worker.idle_wait_s = 0.02  # retries come due in milliseconds here
    try:
        await worker.main()
    finally:
        await worker.close()
