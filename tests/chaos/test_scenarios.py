"""Fault injection with an accounting of every event (issue 8). `-m slow` runs the full sizes."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from kuflow_router.redis_server import RedisServer
from tests.chaos.accounting import Accounting
from tests.chaos.common import (
    RULES,
    SIZES,
    dead_lettered,
    deliver,
    drain,
    kill_workers_then_drain,
    kuflow_events,
    processed,
    settle,
)
from tests.conftest import TOKEN, enqueue_events, make_event
from tests.doubles import http as crm_double
from tests.doubles.kuflow import KuflowDouble
from tests.doubles.proxy import ResettingProxy
from tests.doubles.server import Failure
from tests.processes import router_env, running_router


@pytest.mark.parametrize("size", SIZES)
def test_sender_retries_and_duplicates_across_two_receivers(
    redis_url: str, kuflow: KuflowDouble, tmp_path: Path, size: int
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(url=kuflow.url))
    events = kuflow_events(kuflow, size)
    env = router_env(ROUTER_REDIS_URL=redis_url, ROUTER_WEBHOOK_TOKENS=TOKEN)
    account = Accounting("sender retries and duplicates, two receivers", sent=len(events))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        running_router(["serve"], env, tmp_path / "a") as one,
        running_router(["serve"], env, tmp_path / "b") as two,
    ):

        async def send_all() -> list[list[int]]:
            rng = random.Random(11)
            limits = httpx.Limits(max_connections=32)
            async with httpx.AsyncClient(limits=limits, timeout=30) as client:
                statuses = []
                for start in range(0, len(events), 32):
                    chunk = events[start : start + 32]
                    statuses += await asyncio.gather(
                        *(deliver(client, [one.base, two.base], e, rng) for e in chunk)
                    )
                return statuses

        statuses = asyncio.run(send_all())
    account.acknowledged = sum(all(s == 202 for s in event_statuses) for event_statuses in statuses)
    asyncio.run(drain(redis_url, rules))
    settle(account, redis_url, kuflow, events)
    assert account.acknowledged == account.sent
    assert account.processed == account.sent
    assert (account.duplicates, account.lost, account.dead_lettered) == (0, 0, 0)


@pytest.mark.parametrize("size", SIZES)
def test_flaky_apis_everything_completes_once(
    redis_url: str, kuflow: KuflowDouble, tmp_path: Path, size: int
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(url=kuflow.url))
    events = kuflow_events(kuflow, size)
    kuflow.chaos = [
        Failure("*", "*", status=500),
        Failure("*", "*", status=503),
        Failure("*", "*", status=429, retry_after="0"),
        Failure("*", "*", status=0, delay_s=1.0, applied=False),  # times out before acting
        Failure("*", "*", status=0, delay_s=1.0, applied=True),  # acts, the answer is lost
    ]
    kuflow.chaos_rate = 0.3
    account = Accounting("flaky APIs (30% of calls fail)", sent=len(events))

    async def run() -> None:
        account.acknowledged = await enqueue_events(redis_url, events)
        await drain(redis_url, rules)

    asyncio.run(run())
    settle(account, redis_url, kuflow, events)
    failed_calls = len(kuflow.received) - account.actions_expected
    assert failed_calls > 0  # the chaos did happen
    assert account.processed == account.sent
    assert (account.duplicates, account.lost, account.dead_lettered) == (0, 0, 0)


@pytest.mark.parametrize(
    ("size", "outage_s"),
    [
        pytest.param(100, 1.0, id="smoke"),
        pytest.param(2000, 5.0, id="full", marks=pytest.mark.slow),
    ],
)
def test_redis_outage_never_acknowledges_and_loses_nothing(
    kuflow: KuflowDouble, tmp_path: Path, size: int, outage_s: float
) -> None:
    server = RedisServer(tmp_path / "redis", persistent=True)
    server.start()
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(url=kuflow.url))
    events = kuflow_events(kuflow, size)
    env = router_env(ROUTER_REDIS_URL=server.url, ROUTER_WEBHOOK_TOKENS=TOKEN)
    account = Accounting(f"Redis down {outage_s:g} s under load", sent=len(events))
    answers: list[tuple[float, float, int, str]] = []  # (sent, answered, status, event id)
    window: list[float] = []
    try:
        with running_router(["serve"], env, tmp_path) as router:

            async def send_all() -> None:
                async with httpx.AsyncClient(timeout=30) as client:

                    async def send(event: dict[str, object]) -> None:
                        # Like KuFlow: try again until the router acknowledges.
                        while True:
                            started = time.monotonic()
                            response = await client.post(
                                f"{router.base}/webhooks/kuflow/{TOKEN}",
                                content=json.dumps(event),
                                headers={"content-type": "application/json"},
                            )
                            answers.append(
                                (started, time.monotonic(), response.status_code, str(event["id"]))
                            )
                            if response.status_code == 202:
                                return
                            await asyncio.sleep(0.05)

                    async def outage() -> None:
                        await asyncio.sleep(0.2)
                        await asyncio.to_thread(server.stop)
                        window.append(time.monotonic())
                        await asyncio.sleep(outage_s)
                        window.append(time.monotonic())
                        await asyncio.to_thread(server.start)

                    pace = max(outage_s * 2 / len(events), 0.001)

                    async def paced() -> None:
                        tasks = []
                        for event in events:
                            tasks.append(asyncio.create_task(send(event)))
                            await asyncio.sleep(pace)
                        await asyncio.gather(*tasks)

                    await asyncio.gather(paced(), outage())

            asyncio.run(send_all())
        down, up = window
        during = [a for a in answers if a[0] >= down and a[1] <= up]
        statuses = {a[2] for a in answers}
        account.acknowledged = len({a[3] for a in answers if a[2] == 202})
        # Redis restarted from its append-only file (stopped with SIGTERM: everything flushed).
        server.stop()
        server.start()
        asyncio.run(drain(server.url, rules))
        settle(account, server.url, kuflow, events)
    finally:
        server.stop()
    assert during and all(status == 503 for _, _, status, _ in during)  # never a 2xx while down
    assert statuses <= {202, 503}
    assert account.acknowledged == account.sent
    assert account.processed == account.sent
    assert (account.duplicates, account.lost, account.dead_lettered) == (0, 0, 0)


HOSTILE = [
    "{{ 7*7 }}",
    "{{ __class__.__mro__ }}",
    "../../../etc/passwd",
    "..",
    "a/b/c",
    "x\r\nX-Injected: 1",
    "?admin=true#frag",
    "@evil.example.com",
    "http://evil.example.com/",
    "ünïcødé ✓ 漢字",
    "%2e%2e%2f",
    "A" * 5000,
]


def test_hostile_event_data_never_changes_where_a_request_goes(
    redis_url: str, crm: Any, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nconnections:\n"
        f"  crm: {{type: http, base_url: '{crm.base_url}', headers: {{Authorization: 'Bearer {crm_double.TOKEN}'}}}}\n"
        "rules:\n  - name: echo\n    when: {type: PROCESS.CREATED}\n    do:\n"
        "      - crm.request: {method: PUT, path: '/items/{{ data.extra.value }}/notes', "
        "query: {q: '{{ data.extra.value }}'}, json: {v: '{{ data.extra.value }}', t: 'x {{ data.extra.value }}'}}\n"
    )
    events = [
        make_event(
            data={"processId": str(uuid.uuid4()), "processState": "RUNNING", "extra": {"value": v}}
        )
        for v in HOSTILE
    ]
    account = Accounting("hostile event data", sent=len(events))

    async def run() -> None:
        account.acknowledged = await enqueue_events(redis_url, events)
        await drain(redis_url, rules)

    asyncio.run(run())
    account.processed = asyncio.run(processed(redis_url, events))
    account.dead_lettered = asyncio.run(dead_lettered(redis_url))
    received = crm.requests("PUT")
    account.actions_expected = len(HOSTILE) - 1  # ".." alone is refused as a path segment
    account.actions_observed = len(received)
    print(account.record())
    for request in received:
        segments = request.raw_path.split("/")
        assert (
            len(segments) == 5 and segments[:3] == ["", "api", "items"] and segments[4] == "notes"
        )
        value = request.body["v"]
        assert value in HOSTILE  # delivered verbatim, never evaluated
        assert request.body["t"] == f"x {value}"
        assert request.query["q"] == value
    assert {r.body["v"] for r in received} == set(HOSTILE) - {".."}
    dead = asyncio.run(_dead_errors(redis_url))
    assert account.dead_lettered == 1, dead  # "..": a permanent error, not a request elsewhere


async def _dead_errors(redis_url: str) -> list[str]:
    from store import dlq

    async with Redis.from_url(redis_url) as client:
        return [e.fields["error"][:300] for e in await dlq.entries(client)]


@pytest.mark.parametrize(
    ("size", "kills"),
    [pytest.param(100, 2, id="smoke"), pytest.param(2000, 8, id="full", marks=pytest.mark.slow)],
)
def test_worker_killed_at_random_points_resumes_without_duplicates(
    redis_url: str, kuflow: KuflowDouble, tmp_path: Path, size: int, kills: int
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(url=kuflow.url))
    events = kuflow_events(kuflow, size)
    kuflow.chaos = [
        Failure("*", "*", status=0, delay_s=0.05, applied=True)
    ]  # slow enough to be caught mid-call
    kuflow.chaos_rate = 1.0
    account = Accounting(f"worker SIGKILLed {kills} times", sent=len(events))

    account.acknowledged = asyncio.run(enqueue_events(redis_url, events))
    env = router_env(
        ROUTER_REDIS_URL=redis_url, ROUTER_RULES_FILE=str(rules), ROUTER_WORKER_CONCURRENCY="20"
    )
    kill_workers_then_drain(redis_url, env, kuflow, kills)
    settle(account, redis_url, kuflow, events)
    assert account.processed == account.sent
    assert (account.duplicates, account.lost, account.dead_lettered) == (0, 0, 0)


@pytest.mark.parametrize("size", SIZES)
def test_connection_resets_everything_completes_once(
    redis_url: str, kuflow: KuflowDouble, tmp_path: Path, size: int
) -> None:
    proxy = ResettingProxy(kuflow.port, rate=0.3)
    proxy.start()
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(url=proxy.url))
    events = kuflow_events(kuflow, size)
    account = Accounting("connection resets (30% of exchanges)", sent=len(events))

    async def run() -> None:
        account.acknowledged = await enqueue_events(redis_url, events)
        await drain(redis_url, rules)

    try:
        asyncio.run(run())
    finally:
        proxy.stop()
    settle(account, redis_url, kuflow, events)
    assert proxy.resets > 0
    assert account.processed == account.sent
    assert (account.duplicates, account.lost, account.dead_lettered) == (0, 0, 0)
