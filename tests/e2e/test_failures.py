"""Failures end to end — the receiver, a real Redis, a real arq worker, a CRM double and a chat
double: dead letters of one cause are one failure that alerts when it opens, not again while it
is acknowledged, and once when it recurs after being resolved; "replay all after fix" runs its
events once each, each process in order; bulk actions stop between pages and are safe to
repeat."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from store import bulk, dlq, failures, keys, reads
from tests.conftest import make_event
from tests.doubles import http as crm_double
from tests.e2e.harness import pipeline
from tests.e2e.test_limits import alerts

RULES = """\
version: 1
verify: false
connections:
  crm: {{type: http, base_url: "{base}", headers: {{Authorization: "Bearer {token}"}}}}
  chat: {{type: http, base_url: "{base}/hooks", headers: {{Authorization: "Bearer {token}"}}}}
defaults:
  retry: {{attempts: 1}}
rules:
  - name: sync
    when: {{data.processId: {{exists: true}}}}
    do:
      - crm.request: {{method: POST, path: /orders, json: {{event: "{{{{ id }}}}"}}}}
alerts:
  - name: ops
    send:
      chat.slack: {{path: /T0/B0/X}}
"""


def write_rules(tmp_path: Path, crm: Any) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.format(base=crm.base_url, token=crm_double.TOKEN))
    return path


@pytest.mark.anyio
async def test_a_failure_alerts_once_is_quiet_when_acknowledged_and_reopens_once(
    redis_url: str, tmp_path: Path, crm: Any
) -> None:
    crm.fail("POST", "/api/orders", status=400, times=10)
    async with pipeline(redis_url, write_rules(tmp_path, crm)) as p:

        async def fail(count: int) -> None:
            for _ in range(count):
                await p.send(make_event())
            await p.work()

        await fail(5)
        (failure,) = await failures.listing(p.redis)
        assert (failure.state, failure.events, len(alerts(crm))) == ("open", 5, 1)
        assert f"new failure {failure.failure_id}" in alerts(crm)[0]

        _, moved = await failures.change_state(
            p.redis, failure.failure_id, failures.ACKNOWLEDGED, "cli:ops@host", "on it"
        )
        assert moved
        await fail(2)  # acknowledged: counted, not alerted
        acked = await failures.one(p.redis, failure.failure_id)
        assert acked is not None and acked.state == "acknowledged" and acked.events == 7
        figures = await reads.gauges(p.redis)  # what /metrics shows: router_failures_in_state
        assert figures.failures == {"open": 0, "acknowledged": 1, "resolved": 0}
        assert len(alerts(crm)) == 1

        await failures.change_state(p.redis, failure.failure_id, failures.RESOLVED, "cli:ops@host")
        await fail(3)  # resolved, and it recurs: reopened once, one alert
        reopened = await failures.one(p.redis, failure.failure_id)
    assert reopened is not None and reopened.state == "open"
    assert reopened.number("reopened") == 1 and reopened.number("count") == 10
    assert len(alerts(crm)) == 2
    assert f"failure {failure.failure_id} reopened (it was resolved)" in alerts(crm)[1]
    assert reopened.fields["resolved_by"] == "cli:ops@host"  # kept: who last resolved it


def stories(processes: int, each: int) -> list[list[dict[str, Any]]]:
    out = []
    for _ in range(processes):
        process = make_event()["data"]["processId"]
        out.append([make_event("PROCESS.STATE_CHANGED",
                               data={"processId": process, "processState": "RUNNING"})
                    for _ in range(each)])  # fmt: skip
    return out


@pytest.mark.anyio
async def test_replay_all_after_the_fix_runs_each_once_each_process_in_order(
    redis_url: str, tmp_path: Path, crm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "PAGE", 5)  # pages that split processes
    lines = stories(4, 5)
    crm.fail("POST", "/api/orders", status=422, times=20)  # every call, until "the fix"
    async with pipeline(redis_url, write_rules(tmp_path, crm)) as p:
        for at in range(5):  # interleaved, as KuFlow sends them
            for line in lines:
                await p.send(line[at])
        await p.work()
        (failure,) = await failures.listing(p.redis)
        assert failure.events == 20 and failure.cause == "HTTP 422"
        before = len(crm.requests("POST", "/api/orders"))

        result = await bulk.run(p.redis, failure.failure_id, bulk.REPLAY, "console", 3600)
        again = await bulk.run(p.redis, failure.failure_id, bulk.REPLAY, "console", 3600)
        await p.work()
        after = await failures.one(p.redis, failure.failure_id)
    assert (result.done, result.left, again.done) == (20, 0, 0)
    assert after is not None and after.events == 0
    arrived = [r.body["event"] for r in crm.requests("POST", "/api/orders")[before:]]
    assert sorted(arrived) == sorted(e["id"] for line in lines for e in line)  # each once
    for line in lines:
        ids = [e["id"] for e in line]
        assert [i for i in arrived if i in ids] == ids  # each process in the order received


@pytest.mark.anyio
async def test_bulk_actions_stop_between_pages_and_are_safe_to_repeat(
    redis_url: str, tmp_path: Path, crm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "PAGE", 100)
    async with pipeline(redis_url, write_rules(tmp_path, crm)) as p:
        for n in range(450):
            await dlq.add(p.redis, dlq.Limits(), b'{"id": "x"}', 1_000 + n, event_id=f"ev-{n:04}",
                          rule="sync", action="crm.request", status=500, error="no")  # fmt: skip
        (failure,) = await failures.listing(p.redis)
        pages = iter(range(10))
        stopped = await bulk.run(p.redis, failure.failure_id, bulk.REPLAY, "ops", 3600,
                                 stop=lambda: next(pages) >= 2)  # fmt: skip
        assert (stopped.done, stopped.left) == (200, 250)
        rest = await bulk.run(p.redis, failure.failure_id, bulk.REPLAY, "ops", 3600)
        again = await bulk.run(p.redis, failure.failure_id, bulk.REPLAY, "ops", 3600)
        assert (rest.done, again.done, again.seen) == (250, 0, 0)
        assert await p.redis.zcard(keys.QUEUE) == 450  # each queued once
        assert not await dlq.entries(p.redis)

        for n in range(300):  # and discarded: stopped, then finished, then nothing to do
            await dlq.add(p.redis, dlq.Limits(), b"{}", 5_000 + n, event_id=f"gone-{n:04}",
                          rule="sync", action="crm.request", status=500, error="no")  # fmt: skip
        first = await bulk.run(p.redis, failure.failure_id, bulk.DISCARD, "ops", 3600, most=150)
        rest = await bulk.run(p.redis, failure.failure_id, bulk.DISCARD, "ops", 3600)
        again = await bulk.run(p.redis, failure.failure_id, bulk.DISCARD, "ops", 3600)
        assert (first.done, first.left, rest.done, again.seen) == (150, 150, 150, 0)
        assert not await dlq.entries(p.redis) and int(await p.redis.get(keys.DLQ_BYTES)) == 0
