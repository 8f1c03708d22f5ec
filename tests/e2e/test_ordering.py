"""Per-process ordering, end to end: 50 processes x 6 events, shuffled and delivered at once
through two receivers with duplicates, run by two workers while the API fails a fifth of its
calls — each process's calls arrive in the order its events were accepted, nothing is lost or
done twice, and processes still run side by side."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from handlers.rules.reload import LiveRules
from receiver.app import create_app
from store import keys, records
from tests.conftest import TOKEN, make_event, make_settings, run_worker_until_idle, serve_app
from tests.doubles import http as crm_double
from tests.doubles.http import HttpDouble
from tests.doubles.server import Failure

RULES = """\
version: 1
verify: false
defaults: {retry: {attempts: 30, initial: 2ms, max: 10ms}}
connections:
  crm: {type: http, base_url: "CRM_URL", headers: {Authorization: "Bearer TOKEN"}}
rules:
  - name: log
    when: {data.processId: {exists: true}}
    do:
      - crm.request: {method: POST, path: /log, json: {process: "{{ data.processId }}", event: "{{ id }}"}}
"""
PROCESSES, PER_PROCESS = 50, 6


def _collapsed(ids: list[str]) -> list[str]:
    """The ids in arrival order, a retry of the same event folded into its first try."""
    return [i for n, i in enumerate(ids) if n == 0 or ids[n - 1] != i]


@pytest.mark.anyio
async def test_each_process_runs_in_order_while_processes_run_side_by_side(
    redis_url: str, crm: HttpDouble, tmp_path: Path
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.replace("CRM_URL", crm.base_url).replace("TOKEN", crm_double.TOKEN))
    crm.chaos = [Failure("POST", ".*", status=503), Failure("POST", ".*", status=429)]
    crm.chaos_rate = 0.2
    processes = [str(uuid.uuid4()) for _ in range(PROCESSES)]
    events = [
        make_event("PROCESS.STATE_CHANGED", data={"processId": p, "processState": "RUNNING"})
        for p in processes
        for _ in range(PER_PROCESS)
    ]
    deliveries = events + random.Random(3).sample(events, 30)  # duplicates, too
    random.Random(5).shuffle(deliveries)
    settings = make_settings(redis_url, rules_file=path, worker_concurrency=10)
    rules = LiveRules(path)
    async with serve_app(create_app(settings)) as one, serve_app(create_app(settings)) as two:
        gate = asyncio.Semaphore(20)

        async def deliver(n: int, event: dict[str, Any]) -> int:
            async with gate:
                answer = await (one if n % 2 else two).post(
                    f"/webhooks/kuflow/{TOKEN}", content=json.dumps(event),
                    headers={"content-type": "application/json"},
                )  # fmt: skip
                return answer.status_code

        statuses = await asyncio.gather(*(deliver(n, e) for n, e in enumerate(deliveries)))
    assert set(statuses) == {202}  # a duplicate is acknowledged too, and queued once
    await asyncio.gather(
        run_worker_until_idle(settings, rules), run_worker_until_idle(settings, rules)
    )

    async with Redis.from_url(redis_url) as redis:
        kept = {e["id"]: await records.load(redis, e["id"]) for e in events}
        assert await redis.zcard(keys.QUEUE) == 0
    assert {r.status for r in kept.values()} == {"done"}  # 0 lost, 0 dead
    arrivals = [r.body for r in crm.requests("POST", "/api/log")]
    tries = {e["id"]: kept[e["id"]].actions["action:log:0"].attempts for e in events}
    for event_id, count in tries.items():  # every call is a recorded try: none done twice
        assert sum(a["event"] == event_id for a in arrivals) == count
    by_process: dict[str, list[str]] = defaultdict(list)
    for arrival in arrivals:
        by_process[arrival["process"]].append(arrival["event"])
    for process in processes:
        accepted = sorted((int(kept[e["id"]].fields["seq"]), e["id"]) for e in events
                          if e["data"]["processId"] == process)  # fmt: skip
        assert _collapsed(by_process[process]) == [event_id for _, event_id in accepted]
    first = [a["process"] for a in arrivals[: PROCESSES * 2]]
    assert len(set(first)) > PROCESSES // 2  # order costs no parallelism across processes
