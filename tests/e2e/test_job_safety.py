"""What a real worker does with jobs it did not expect: pickles planted in Redis, old jobs."""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from contract.job_format import JOB_FUNCTION
from store import keys
from tests.contract.test_job_format import planted_pickle
from tests.doubles.kuflow import KuflowDouble
from tests.e2e.conftest import loan_event


@pytest.mark.anyio
async def test_a_pickle_written_into_redis_is_dead_lettered_not_run(
    make_pipeline: Callable[..., Any], kuflow: KuflowDouble, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    event = loan_event(kuflow)
    async with make_pipeline() as router:
        await router.redis.set(keys.job("planted"), planted_pickle(marker))
        await router.redis.zadd(keys.QUEUE, {"planted": int(time.time() * 1000)})
        assert (await router.send(event)).status_code == 202  # queued behind the planted job
        await router.work()
        (entry,) = await router.dead()
        record = await router.record(event["id"])
    assert not marker.exists()
    assert entry.event_id == "planted"
    assert entry.fields["error"].startswith("refused job: a pickled job was refused")
    assert record.status == "done"  # the worker carried on with the next job
    assert len(kuflow.tasks()) == 1


@pytest.mark.anyio
async def test_a_job_queued_before_the_upgrade_is_processed(
    make_pipeline: Callable[..., Any], kuflow: KuflowDouble
) -> None:
    event = loan_event(kuflow)
    body = json.dumps(event).encode()
    now = int(time.time() * 1000)
    legacy = pickle.dumps({"t": None, "f": JOB_FUNCTION, "a": (body, now), "k": {}, "et": now})
    async with make_pipeline() as router:
        await router.redis.set(keys.job(event["id"]), legacy)
        await router.redis.zadd(keys.QUEUE, {event["id"]: now})
        await router.work()
        record = await router.record(event["id"])
        assert await router.dead() == []
    assert record.status == "done"
    assert len(kuflow.tasks()) == 1
