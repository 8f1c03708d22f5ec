"""Fault injection with an accounting of every event (issue 8). `-m slow` runs the full sizes."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from receiver.queue import Enqueuer, QueueSettings
from tests.chaos.accounting import Accounting
from tests.chaos.common import (
    RULES,
    SIZES,
    dead_lettered,
    deliver,
    drain,
    expected_effects,
    kuflow_events,
    processed,
)
from tests.conftest import TOKEN
from tests.doubles.kuflow import KuflowDouble
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
    account.processed = asyncio.run(processed(redis_url, events))
    account.observe(kuflow.effects, expected_effects(events))
    account.dead_lettered = asyncio.run(dead_lettered(redis_url))
    print(account.record())
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
        async with Redis.from_url(redis_url) as redis:
            enqueuer = Enqueuer(redis, QueueSettings(3600, 3600))
            results = await asyncio.gather(
                *(enqueuer.enqueue(e["id"], e["type"], json.dumps(e).encode()) for e in events)
            )
        account.acknowledged = sum(results)
        await drain(redis_url, rules)

    asyncio.run(run())
    account.processed = asyncio.run(processed(redis_url, events))
    account.observe(kuflow.effects, expected_effects(events))
    account.dead_lettered = asyncio.run(dead_lettered(redis_url))
    print(account.record())
    failed_calls = len(kuflow.received) - account.actions_expected
    assert failed_calls > 0  # the chaos did happen
    assert account.processed == account.sent
    assert (account.duplicates, account.lost, account.dead_lettered) == (0, 0, 0)
