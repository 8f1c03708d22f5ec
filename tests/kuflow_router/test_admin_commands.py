"""`kuflow-router events …` and `dlq …` against a real Redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
import redis
from redis.asyncio import Redis

from kuflow_router.cli import main
from store import dlq, keys, records
from store.queue import Enqueuer, QueueSettings
from store.records import ActionState
from tests.conftest import make_event


def seed(redis_url: str, event: dict[str, Any], dead: bool = True) -> None:
    """An event received, its first action done, its second dead-lettered."""

    async def go() -> None:
        async with Redis.from_url(redis_url) as client:
            body = json.dumps(event).encode()
            await Enqueuer(client, QueueSettings(3600, 3600)).enqueue(
                event["id"], event["type"], body, event["data"].get("processId", "")
            )
            await client.zrem(keys.QUEUE, event["id"])  # as if a worker had finished the job
            await client.delete(keys.job(event["id"]))
            done = ActionState("done", 1, "item-1", action="kuflow.create_task").encode()
            await records.save(client, event["id"], 3600, {records.action_field("r", 0): done})
            status = records.EventStatus.PARTIAL if dead else records.EventStatus.DONE
            await records.save(client, event["id"], 3600, {"status": status, "matched": '["r"]'})
            if dead:
                state = ActionState("dead", 3, error="POST … answered 400: bad", status=400,
                                    action="kuflow.append_log")  # fmt: skip
                field = records.action_field("r", 1)
                await records.save(client, event["id"], 3600, {field: state.encode()})
                await dlq.add(
                    client, dlq.Limits(), body, event_id=event["id"], rule="r", action="kuflow.append_log",
                    index=1, attempts=3, status=400, error="POST … answered 400: bad", remote="bad",
                )  # fmt: skip

    asyncio.run(go())


def test_events_list_and_show(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    event = make_event()
    seed(env, event)
    assert main(["events", "list"]) == 0
    out = capsys.readouterr()
    assert event["id"] in out.out and "partial" in out.out
    assert "1 of 1 event\n" in out.err
    assert main(["events", "show", event["id"]]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["event_id"], shown["type"], shown["status"]) == (
        event["id"],
        event["type"],
        "partial",
    )
    assert shown["matched"] == ["r"]
    assert shown["runs"] == 0 and shown["enrichment"] is None
    assert shown["received_at"].endswith("Z")
    done, dead = shown["actions"]
    assert done["at"].endswith("Z")
    del done["at"], dead["at"]
    assert done == {
        "rule": "r", "index": 0, "action": "kuflow.create_task", "state": "done", "attempts": 1,
        "remote_id": "item-1", "status": None, "error": None,
    }  # fmt: skip
    assert dead == {
        "rule": "r", "index": 1, "action": "kuflow.append_log", "state": "dead", "attempts": 3,
        "remote_id": None, "status": 400, "error": "POST … answered 400: bad",
    }  # fmt: skip


def test_events_list_of_one_process_in_the_order_run(
    env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    process = str(uuid.uuid4())
    first, second = (make_event(data={"processId": process, "processState": "RUNNING"})
                     for _ in range(2))  # fmt: skip
    other = make_event()
    for event in (first, other, second):
        seed(env, event)
    assert main(["events", "list", "--process", process]) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert [line.split()[1] for line in lines] == [first["id"], second["id"]]
    assert lines[0].startswith("#1 ") and lines[1].startswith("#2 ")
    assert "partial" in lines[0] and "matched: r" in lines[0]  # the console's timeline, in words
    assert "kuflow.create_task done, kuflow.append_log dead (3 tries)" in lines[0]
    assert f"2 of 2 events of process {process}" in out.err
    assert main(["events", "show", second["id"]]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["process_id"], shown["seq"], shown["late"]) == (process, 2, False)


def test_events_show_unknown(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["events", "show", "0b8c7a3e-5d5f-4b7a-9f0e-2f6c1d9e8a11"]) == 1
    assert "no record of event" in capsys.readouterr().err


def test_dlq_list_show_replay(
    env: str, rdb: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    event = make_event()
    seed(env, event)
    seed(env, make_event(), dead=False)
    assert main(["dlq", "list"]) == 0
    out = capsys.readouterr()
    assert f"{event['id']}  1 entry" in out.out
    assert "r / kuflow.append_log: POST … answered 400: bad" in out.out
    assert main(["dlq", "show", event["id"]]) == 0
    (shown,) = json.loads(capsys.readouterr().out)
    assert (shown["rule"], shown["action"], shown["index"]) == ("r", "kuflow.append_log", 1)
    assert (shown["attempts"], shown["status"], shown["remote"]) == (3, 400, "bad")
    assert shown["excerpt"] is None and shown["time"].endswith("Z")
    assert shown["event"] == event  # the event itself, not escaped text
    assert main(["dlq", "replay", event["id"]]) == 0
    assert "1 event queued again" in capsys.readouterr().out
    assert rdb.zscore(keys.QUEUE, event["id"]) is not None  # queued again, dedup or not
    assert rdb.xlen(keys.DLQ) == 0
    record = rdb.hgetall(keys.event(event["id"]))
    again = json.loads(record[b"action:r:1"])  # the dead action will run again, as one that
    assert (again["state"], again["attempts"]) == ("replayed", 0)  # may have acted, afresh …
    assert b"action:r:0" in record  # … the completed one stays skipped
    assert main(["dlq", "replay", event["id"]]) == 1  # nothing left to replay


def test_dlq_replay_all_and_purge(
    env: str, rdb: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = make_event(), make_event()
    seed(env, first)
    seed(env, second)
    assert main(["dlq", "purge"]) == 2
    assert main(["dlq", "purge", first["id"]]) == 0
    assert "1 entry deleted" in capsys.readouterr().out
    assert main(["dlq", "replay", "--all"]) == 0
    assert "1 event queued again" in capsys.readouterr().out
    assert rdb.zscore(keys.QUEUE, second["id"]) is not None
    assert main(["dlq", "purge", "--all"]) == 0


def test_failures_are_listed_acknowledged_and_replayed_by_their_id(
    env: str, rdb: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = make_event(), make_event()
    seed(env, first)
    seed(env, second)
    assert main(["failures", "list", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    shown = json.loads(line)
    assert (shown["state"], shown["rule"], shown["action"], shown["cause"], shown["events"]) == (
        "open",
        "r",
        "kuflow.append_log",
        "HTTP 400",
        2,
    )
    fid = shown["id"]
    assert main(["failures", "ack", fid[:6], "--note", "KuFlow's log API is down"]) == 0
    assert main(["failures", "ack", fid]) == 1  # acknowledged already: nothing changes
    assert "is acknowledged: nothing changed" in capsys.readouterr().err
    assert main(["failures", "list"]) == 0
    out = capsys.readouterr()
    assert "acknowledged" in out.out and "KuFlow's log API is down" in out.out
    assert main(["failures", "show", "nope"]) == 1
    assert main(["failures", "replay", fid]) == 0
    assert "2 events queued again" in capsys.readouterr().out
    assert rdb.zcard(keys.QUEUE) == 2
    assert main(["failures", "replay", fid]) == 0  # again: nothing twice
    assert "0 events queued again" in capsys.readouterr().out
    assert main(["failures", "list", "--state", "resolved"]) == 0
    assert fid in capsys.readouterr().out
    actions = [(e.action, e.outcome) for e in asyncio.run(_audit(env))]
    assert actions[:3] == [("failure.replay", "done"), ("failure.replay", "done"),
                           ("failure.ack", "unchanged: it is acknowledged")]  # fmt: skip


async def _audit(url: str) -> list[Any]:
    from store import audit

    async with Redis.from_url(url) as client:
        return await audit.entries(client)
