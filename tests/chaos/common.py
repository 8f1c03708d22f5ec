"""What the chaos scenarios share: events for the KuFlow double, a sender, a worker run."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from common.redis_url import client
from handlers.rules.reload import LiveRules
from store import keys
from tests.chaos.accounting import Accounting
from tests.conftest import TOKEN, make_event, make_settings, run_worker_until_idle
from tests.doubles.kuflow import KuflowDouble
from tests.processes import router_command, wait_for

SIZES = [pytest.param(100, id="smoke"), pytest.param(2000, id="full", marks=pytest.mark.slow)]

RULES = """\
version: 1
connections:
  kuflow:
    type: kuflow
    base_url: "{url}"
    client_id: kuflow-app
    client_secret: kuflow-secret
    # 30% failures open a breaker of five in a row now and then: its cooldown is kept short.
    breaker: {{open_after: 5, cooldown: 100ms, max_cooldown: 1s}}
defaults:
  retry: {{attempts: 30, initial: 10ms, max: 200ms}}
  timeout: 500ms
rules:
  - name: review
    when: {{type: PROCESS.CREATED}}
    do:
      - kuflow.create_task: {{process_id: "{{{{ data.processId }}}}", task_code: REVIEW}}
        as: task
      - kuflow.claim_task: {{task_id: "{{{{ results.task.id }}}}"}}
"""


def kuflow_events(kuflow: KuflowDouble, count: int) -> list[dict[str, Any]]:
    events = []
    for _ in range(count):
        process = kuflow.add_process()
        events.append(make_event(data={"processId": process["id"], "processState": "RUNNING"}))
    return events


def expected_effects(events: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """A task created and claimed per event (the task's id is the create's idempotency key)."""
    from handlers.rules.idempotency import action_key

    found = set()
    for event in events:
        task = action_key(event["id"], "review", 0)
        found |= {("create", task), ("claim", task)}
    return found


async def deliver(
    client: httpx.AsyncClient, bases: list[str], event: dict[str, Any], rng: random.Random
) -> list[int]:
    """Deliver an event 1 to 3 times to random receivers, some copies at once; the statuses."""
    body = json.dumps(event)
    copies = rng.randint(1, 3)

    async def once() -> int:
        url = f"{rng.choice(bases)}/webhooks/kuflow/{TOKEN}"
        response = await client.post(
            url, content=body, headers={"content-type": "application/json"}
        )
        return response.status_code

    if rng.random() < 0.5:
        return list(await asyncio.gather(*(once() for _ in range(copies))))
    return [await once() for _ in range(copies)]


async def drain(redis_url: str, rules_file: Path) -> None:
    """A real worker in burst mode: returns once every queued event is finished."""
    settings = make_settings(redis_url, rules_file=rules_file, worker_concurrency=50)
    await run_worker_until_idle(settings, LiveRules(rules_file))


async def processed(redis_url: str, events: list[dict[str, Any]]) -> int:
    async with client(redis_url) as redis:
        statuses = [await redis.hget(keys.event(e["id"]), "status") for e in events]
    return sum(status == b"done" for status in statuses)


async def dead_lettered(redis_url: str) -> int:
    async with client(redis_url) as redis:
        return int(await redis.xlen(keys.DLQ))


def settle(
    account: Accounting, redis_url: str, double: KuflowDouble, events: list[dict[str, Any]]
) -> None:
    """Fill in what happened after the run, print and keep the accounting line."""
    account.processed = asyncio.run(processed(redis_url, events))
    account.observe(double.effects, expected_effects(events))
    account.dead_lettered = asyncio.run(dead_lettered(redis_url))
    print(account.record())


def kill_workers_then_drain(redis_url: str, env: dict[str, str], kuflow: KuflowDouble,
                            kills: int) -> None:  # fmt: skip
    """SIGKILL `kills` worker processes, each at a random point of its work, then let one
    healthy worker drain the queue (the double's chaos is switched off for it)."""
    rng = random.Random(5)
    with redis.Redis.from_url(redis_url) as client:
        for _ in range(kills):
            worker = subprocess.Popen([*router_command(), "worker"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            seen = len(kuflow.received)
            wait_for(
                lambda seen=seen: len(kuflow.received) > seen + rng.randint(5, 40),
                "the worker to get going",
            )
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            # What the in-progress marks' expiry (within 55 s) would do, without the wait.
            stale = list(client.scan_iter("arq:in-progress:*"))
            if stale:
                client.delete(*stale)
        kuflow.chaos_rate = 0.0
        worker = subprocess.Popen([*router_command(), "worker"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            wait_for(lambda: client.zcard(keys.QUEUE) == 0, "the queue to drain")
        finally:
            worker.terminate()
            worker.wait()
