"""A failover onto a replica that was not in sync loses acknowledged events: the receiver
notices at its next enqueue (the `router:acked` counter went back), says so in an error line and
`router_redis_primary_behind`, and — with ROUTER_REDIS_MIN_REPLICAS — refuses every event (503)
until an operator runs `kuflow-router failover confirm`. A real primary with a real replica."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
import redis
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from kuflow_router.cli import main
from kuflow_router.redis_server import free_port
from receiver import metrics
from store import keys
from store.queue import Enqueuer, PrimaryBehind, QueueSettings
from tests.conftest import make_event
from tests.ha import Node, _data_node, in_sync, wait

HA = QueueSettings(dedup_ttl_s=3600, event_ttl_s=7200, min_replicas=1, replica_timeout_ms=2000)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    primary = _data_node(tmp_path / "a", free_port())
    replica = _data_node(tmp_path / "b", free_port(), primary.port)
    try:
        primary.start()
        replica.start()
        wait(lambda: in_sync(replica), "the replica")
        yield primary, replica
    finally:
        primary.kill()
        replica.kill()


def behind() -> float:
    return REGISTRY.get_sample_value("router_redis_primary_behind") or 0.0


async def send(enqueuer: Enqueuer) -> bool:
    event = make_event()
    return await enqueuer.enqueue(event["id"], event["type"], json.dumps(event).encode())


@pytest.mark.anyio
async def test_a_primary_that_lost_acknowledged_events_stops_the_202s_until_confirmed(
    pair: tuple[Node, Node],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    primary, _ = pair
    url = f"redis://127.0.0.1:{primary.port}/0"
    async with Redis.from_url(url) as client:
        enqueuer = Enqueuer(client, HA)
        metrics.watch(enqueuer)
        for _ in range(3):
            assert await send(enqueuer)  # acknowledged: on the replica too
        # What the promoted replica of a bad fail-back holds: nothing of what was acknowledged.
        with redis.Redis(port=primary.port) as raw:
            raw.flushall()
        with caplog.at_level(logging.ERROR), pytest.raises(PrimaryBehind):
            await send(enqueuer)
        assert "lacks events this receiver acknowledged" in caplog.text
        assert "kuflow-router failover confirm" in caplog.text
        assert behind() == 1
        queued = primary.client().zcard(keys.QUEUE)
        with pytest.raises(PrimaryBehind):  # refused before anything is written
            await send(enqueuer)
        assert primary.client().zcard(keys.QUEUE) == queued

        monkeypatch.setenv("ROUTER_REDIS_URL", url)
        assert await anyio.to_thread.run_sync(main, ["failover", "confirm"]) == 0
        assert "receivers accept events again" in capsys.readouterr().out
        assert await send(enqueuer)
        assert behind() == 0


@pytest.mark.anyio
async def test_without_min_replicas_the_loss_is_logged_and_events_go_on(
    redis_url: str, rdb: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    async with Redis.from_url(redis_url) as client:
        enqueuer = Enqueuer(client, QueueSettings(dedup_ttl_s=3600, event_ttl_s=7200))
        metrics.watch(enqueuer)
        assert await send(enqueuer) and await send(enqueuer)
        rdb.flushall()  # a Redis that came back without its last writes
        with caplog.at_level(logging.ERROR):
            assert await send(enqueuer)
            assert await send(enqueuer)
    assert caplog.text.count("lacks events this receiver acknowledged") == 1
    assert behind() == 0  # nothing is refused, so the refusal's gauge stays down
