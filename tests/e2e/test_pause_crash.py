"""A pause survives a worker's SIGKILL: the held events stay held, the resume brings them back
with no worker running, and the next worker runs each once, each process in order; a worker
killed while running resumed work loses nothing either."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path
from typing import Any

import redis
from redis.asyncio import Redis

from store import gate, keys
from tests.conftest import enqueue_events, make_event
from tests.doubles.http import HttpDouble
from tests.e2e.test_pause import RULES
from tests.processes import router_command, router_env, wait_for


def start_worker(env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    with logs.open("ab") as out:
        return subprocess.Popen([*router_command(), "worker"], env=env, stdout=out, stderr=out)


def stage(
    redis_url: str, crm: HttpDouble, tmp_path: Path, count: int, each: int
) -> tuple[dict[str, str], list[str], list[dict[str, Any]]]:
    """The worker's environment, `count` processes, and `each` events of each, interleaved."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(url=crm.base_url))
    env = router_env(ROUTER_REDIS_URL=redis_url, ROUTER_RULES_FILE=str(rules))
    processes = [make_event()["data"]["processId"] for _ in range(count)]
    events = [make_event("PROCESS.STATE_CHANGED", data={"processId": p, "processState": "RUNNING"})
              for _ in range(each) for p in processes]  # fmt: skip
    return env, processes, events


def test_held_work_survives_a_killed_worker_and_runs_once_in_order_after_resume(
    redis_url: str, rdb: redis.Redis, crm: HttpDouble, tmp_path: Path
) -> None:
    env, processes, events = stage(redis_url, crm, tmp_path, 2, 3)

    async def pause() -> None:
        async with Redis.from_url(redis_url) as client:
            await gate.pause(client, "shop", "cli:ops@host", "maintenance")

    asyncio.run(pause())
    asyncio.run(enqueue_events(redis_url, events))
    logs = tmp_path / "worker.log"
    worker = start_worker(env, logs)
    wait_for(lambda: rdb.zcard(keys.connection_held("shop")) == 2, "both heads to be held")
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    for key in rdb.keys("arq:in-progress:*"):
        rdb.delete(key)  # what their expiry does within a minute; the test need not wait

    async def resume() -> int:
        async with Redis.from_url(redis_url) as client:
            return await gate.resume(client, "shop")

    assert asyncio.run(resume()) == 2  # with no worker running
    assert crm.requests("POST", "/api/orders") == []
    worker = start_worker(env, logs)
    try:
        wait_for(lambda: len(crm.requests("POST", "/api/orders")) == 6, "every event to run")
        wait_for(lambda: all(rdb.hget(f"router:event:{e['id']}", "status") == b"done"
                             for e in events), "every record done")  # fmt: skip
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    sent = [r.body for r in crm.requests("POST", "/api/orders")]
    for process in processes:
        in_order = [e["id"] for e in events if e["data"]["processId"] == process]
        assert [s["event"] for s in sent if s["process"] == process] == in_order
    assert rdb.xlen("router:dlq") == 0, logs.read_text()


def test_a_worker_killed_while_running_resumed_work_loses_nothing(
    redis_url: str, rdb: redis.Redis, crm: HttpDouble, tmp_path: Path
) -> None:
    env, processes, events = stage(redis_url, crm, tmp_path, 3, 10)

    async def pause_then_resume(resume: bool) -> int:
        async with Redis.from_url(redis_url) as client:
            if resume:
                return await gate.resume(client, "shop")
            await gate.pause(client, "shop", "cli:ops@host", "maintenance")
            return 0

    asyncio.run(pause_then_resume(False))
    asyncio.run(enqueue_events(redis_url, events))
    logs = tmp_path / "worker.log"
    worker = start_worker(env, logs)
    wait_for(lambda: rdb.zcard(keys.connection_held("shop")) == 3, "the three heads to be held")
    assert asyncio.run(pause_then_resume(True)) == 3  # while the worker runs
    wait_for(lambda: len(crm.requests("POST", "/api/orders")) >= 6, "some resumed work to run")
    worker.send_signal(signal.SIGKILL)  # in the middle of the resumed work
    worker.wait()
    for key in rdb.keys("arq:in-progress:*"):
        rdb.delete(key)  # what their expiry does within a minute; the test need not wait
    worker = start_worker(env, logs)
    try:
        wait_for(lambda: all(rdb.hget(f"router:event:{e['id']}", "status") == b"done"
                             for e in events), "every record done")  # fmt: skip
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    sent = [r.body["event"] for r in crm.requests("POST", "/api/orders")]
    assert set(sent) == {e["id"] for e in events}  # nothing lost
    # A plain HTTP call the kill cut short may go again (it carries no idempotency key): at
    # most the one call in flight; nothing else twice, and each process in order.
    assert len(sent) - len(set(sent)) <= 1
    for process in processes:
        in_order = [e["id"] for e in events if e["data"]["processId"] == process]
        assert list(dict.fromkeys(s for s in sent if s in in_order)) == in_order
    assert rdb.xlen("router:dlq") == 0, logs.read_text()
