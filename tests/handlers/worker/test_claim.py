"""RouterWorker.start_jobs: arq's claim (not in progress, still queued, due) in one script."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from arq import func
from arq.constants import in_progress_key_prefix
from redis.exceptions import ConnectionError as RedisConnectionError

from handlers.worker import app
from handlers.worker.app import RouterWorker, redis_pool
from store import keys


async def _noop(ctx: dict[str, Any]) -> None:
    return None


@pytest.mark.anyio
async def test_a_job_is_claimed_once_and_only_when_due_and_free(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = redis_pool(redis_url)
    worker = RouterWorker(functions=[func(_noop, name="noop")], redis_pool=pool,
                          queue_name=keys.QUEUE, max_jobs=2, handle_signals=False)  # fmt: skip
    started: list[tuple[str, int]] = []

    async def run_job(job_id: str, score: int) -> None:
        started.append((job_id, score))

    monkeypatch.setattr(worker, "run_job", run_job)
    now = int(time.time() * 1000)
    await pool.zadd(keys.QUEUE, {"due": now - 10, "later": now + 60_000, "elsewhere": now - 10})
    await pool.set(in_progress_key_prefix + "elsewhere", b"1")  # another worker runs it
    await worker.start_jobs([b"due", b"later", b"elsewhere", b"gone"])
    await asyncio.gather(*worker.tasks.values())
    assert started == [("due", now - 10)]
    mark_ms = await pool.pttl(in_progress_key_prefix + "due")
    assert 0 < mark_ms <= worker.in_progress_timeout_s * 1000
    await worker.start_jobs([b"due"])  # its mark stays until arq's finish removes it
    assert started == [("due", now - 10)]
    slots = worker.sem._value  # arq's: max_jobs + 1
    assert slots == 3 and worker.job_counter == 0  # every slot back

    async def unreachable(*args: object) -> None:
        raise RedisConnectionError("Redis went away")

    monkeypatch.setattr(app, "claim", unreachable)
    with pytest.raises(RedisConnectionError):
        await worker.start_jobs([b"later"])
    assert worker.sem._value == slots  # the slot taken for the claim is not lost
    await pool.aclose()
