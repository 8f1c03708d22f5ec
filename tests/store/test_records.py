"""The event record against a real Redis: states round-trip, secrets never land, runs count."""

from __future__ import annotations

import asyncio
import json

import redis
from redis.asyncio import Redis

from common import redact
from store import keys, records
from store.records import ActionState


def test_a_state_round_trips_and_ignores_fields_it_does_not_know() -> None:
    state = ActionState("done", 2, "item-1", {"id": "item-1"}, status=200, action="kuflow.x")
    decoded = ActionState.decode(state.encode())
    assert (decoded.state, decoded.attempts, decoded.id, decoded.action) == (
        "done", 2, "item-1", "kuflow.x"
    )  # fmt: skip
    newer = json.dumps({**json.loads(state.encode()), "from_a_later_version": 1})
    assert ActionState.decode(newer).id == "item-1"


def test_a_large_result_is_kept_as_its_id_only() -> None:
    state = ActionState("done", 1, "big", {"blob": "x" * (records.MAX_RESULT_BYTES + 1)})
    assert json.loads(state.encode())["result"] == {"id": "big"}


def test_a_registered_secret_never_reaches_the_encoded_state() -> None:
    redact.register(["s3cret-value-123"])
    state = ActionState("dead", 1, error='answered 401: "s3cret-value-123" is wrong')
    assert "s3cret-value-123" not in state.encode()


def test_begin_counts_runs_and_marks_processing(redis_url: str, rdb: redis.Redis) -> None:
    rdb.hset(keys.event("e"), mapping={"status": "queued", "received_at": "1"})

    async def begin_twice() -> records.EventRecord:
        async with Redis.from_url(redis_url) as client:
            await records.begin(client, "e", 3600)
            return await records.begin(client, "e", 3600)

    record = asyncio.run(begin_twice())
    assert record.status == "processing" and record.fields["runs"] == "2"
    assert 3590 <= rdb.ttl(keys.event("e")) <= 3600


def test_save_writes_and_drops_fields(redis_url: str, rdb: redis.Redis) -> None:
    async def save() -> records.EventRecord:
        async with Redis.from_url(redis_url) as client:
            field = records.action_field("r", 0)
            await records.save(client, "e", 60, {field: ActionState("done", 1).encode()})
            await records.save(client, "e", 60, {"status": "done"}, drop=[field])
            return await records.load(client, "e")

    record = asyncio.run(save())
    assert record.status == "done" and record.actions == {}
