"""Ordering survives worker SIGKILLs: chains of events per process, workers killed at random
points mid-chain — every process's tasks are still created in its events' order, once each,
and no process is left stuck behind a dead worker's event."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path

import redis

from handlers.rules.idempotency import action_key
from store import keys
from tests.chaos.common import RULES, kill_workers_then_drain
from tests.conftest import enqueue_events, make_event
from tests.doubles.kuflow import KuflowDouble
from tests.doubles.server import Failure
from tests.processes import router_env

PROCESSES, CHAIN = 20, 5


def test_chains_stay_ordered_through_worker_kills(
    redis_url: str, kuflow: KuflowDouble, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(url=kuflow.url))
    processes = [kuflow.add_process()["id"] for _ in range(PROCESSES)]
    events = []
    for _ in range(CHAIN):
        for process in processes:
            event = make_event(data={"processId": process, "processState": "RUNNING"})
            events.append(event)
    asyncio.run(enqueue_events(redis_url, events))
    kuflow.chaos = [Failure("*", "*", status=0, delay_s=0.05, applied=True)]
    kuflow.chaos_rate = 1.0
    env = router_env(ROUTER_REDIS_URL=redis_url, ROUTER_RULES_FILE=str(rules),
                     ROUTER_WORKER_CONCURRENCY="20")  # fmt: skip
    kill_workers_then_drain(redis_url, env, kuflow, kills=2)

    task_of = {action_key(e["id"], "review", 0): e for e in events}
    creates: dict[str, list[str]] = defaultdict(list)
    for request in kuflow.requests("POST", "/process-items"):
        event = task_of[request.body["id"]]
        creates[event["data"]["processId"]].append(event["id"])
    with redis.Redis.from_url(redis_url) as client:
        seq = {e["id"]: int(client.hget(keys.event(e["id"]), "seq") or 0) for e in events}
        statuses = {client.hget(keys.event(e["id"]), "status") for e in events}
    assert statuses == {b"done"}  # nothing lost, nothing stuck
    assert len(kuflow.tasks()) == len(events)  # each task once (a repeat finds its id)
    for process in processes:
        arrived = [
            i for n, i in enumerate(creates[process]) if n == 0 or creates[process][n - 1] != i
        ]
        in_turn = sorted(
            (e for e in events if e["data"]["processId"] == process), key=lambda e: seq[e["id"]]
        )
        assert arrived == [e["id"] for e in in_turn], process
