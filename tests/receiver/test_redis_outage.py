"""Redis goes away and comes back: 503 while down (never a 2xx), recovery without a restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kuflow_router.redis_server import RedisServer
from receiver.app import create_app
from tests.conftest import TOKEN, make_event, make_settings, serve_app

URL = f"/webhooks/kuflow/{TOKEN}"
JSON = {"content-type": "application/json"}


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of this test's own, so stopping it disturbs no other test."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.mark.anyio
async def test_receiver_recovers_by_itself_when_redis_returns(own_redis: RedisServer) -> None:
    app = create_app(make_settings(own_redis.url))
    async with serve_app(app) as client:
        before = await client.post(URL, content=json.dumps(make_event()), headers=JSON)
        own_redis.stop()
        down = await client.post(URL, content=json.dumps(make_event()), headers=JSON)
        not_ready = await client.get("/readyz")
        own_redis.start()
        after = await client.post(URL, content=json.dumps(make_event()), headers=JSON)
        ready = await client.get("/readyz")
    assert before.status_code == 202
    assert down.status_code == 503
    assert down.headers["retry-after"] == "5"
    assert down.headers["content-type"] == "application/problem+json"
    assert not_ready.status_code == 503
    assert after.status_code == 202
    assert ready.status_code == 200


@pytest.mark.anyio
async def test_a_wrong_redis_password_is_a_503_that_never_shows_the_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer(tmp_path, password="the-right-password")
    server.start()
    wrong = f"redis://:the-wrong-password@127.0.0.1:{server.port}/0"
    try:
        async with serve_app(create_app(make_settings(wrong))) as client:
            refused = await client.post(URL, content=json.dumps(make_event()), headers=JSON)
            not_ready = await client.get("/readyz")
            metrics = await client.get("/metrics")
    finally:
        server.stop()
    assert (refused.status_code, not_ready.status_code, metrics.status_code) == (503, 503, 200)
    shown = refused.text + not_ready.text + metrics.text + caplog.text
    assert "the-wrong-password" not in shown and "the-right-password" not in shown
