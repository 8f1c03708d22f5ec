"""Worker heartbeats and `kuflow-router worker --check`, against a real Redis and arq worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from kuflow_router.cli import main
from store import heartbeat, keys


def check(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("ROUTER_REDIS_URL", redis_url)
    return main(["worker", "--check"])


def test_a_running_worker_beats_and_passes_the_check(
    make_pipeline: Callable[..., Any],
    redis_url: str,
    rdb: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert check(redis_url, monkeypatch) == 1  # no worker yet
    assert "no worker on" in capsys.readouterr().err

    async def work() -> None:
        async with make_pipeline() as router:
            await router.work()

    asyncio.run(work())
    beat = rdb.hgetall(keys.worker(heartbeat.worker_id()))
    assert beat[b"host"].decode() == heartbeat.worker_id().rpartition(":")[0]
    assert 0 < rdb.ttl(keys.worker(heartbeat.worker_id())) <= heartbeat.STALE_S
    assert check(redis_url, monkeypatch) == 0
    assert "last beat" in capsys.readouterr().out


def test_a_stale_heartbeat_fails_the_check(
    redis_url: str, rdb: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = time.time() - heartbeat.STALE_S - 5
    rdb.hset(keys.worker(heartbeat.worker_id()), mapping={"beat_at": old, "running": 0})
    assert check(redis_url, monkeypatch) == 1


def test_the_check_fails_cleanly_when_redis_is_unreachable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kuflow_router.redis_server import free_port

    assert check(f"redis://:hunter2-password@127.0.0.1:{free_port()}/0", monkeypatch) == 1
    err = capsys.readouterr().err
    assert "Redis did not answer" in err
    assert "hunter2-password" not in err
