"""Limits, breakers and alerts end to end: the receiver, a real Redis, a real arq worker, and a
CRM double that is down for a while, rate-limits, or refuses — and a chat double that alerts
arrive at."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from store import gate, keys
from store.gate import State
from tests.conftest import make_event
from tests.doubles import http as crm_double
from tests.e2e.harness import pipeline

RULES = """\
version: 1
connections:
  crm:
    type: http
    base_url: "{base}"
    headers: {{Authorization: "Bearer {token}"}}
    breaker: {{open_after: 3, cooldown: 20ms, max_cooldown: 160ms}}
{limits}
  chat: {{type: http, base_url: "{base}/hooks", headers: {{Authorization: "Bearer {token}"}}}}
defaults:
  retry: {{attempts: 3, initial: 10ms, max: 40ms}}
rules:
  - name: sync
    when: {{type: PROCESS.CREATED}}
    do:
      - crm.request: {{method: POST, path: /orders, json: {{event: "{{{{ id }}}}"}}}}
alerts:
  - name: ops
    window: 10m
    send:
      chat.slack: {{path: /T0/B0/X}}
"""


def write_rules(tmp_path: Path, crm: Any, limits: str = "") -> Path:
    path = tmp_path / "rules.yaml"
    text = RULES.format(base=crm.base_url, token=crm_double.TOKEN, limits=limits)
    path.write_text(text)
    return path


def alerts(crm: Any) -> list[str]:
    return [r.body["text"] for r in crm.requests("POST", "/api/hooks/T0/B0/X")]


@pytest.mark.anyio
async def test_an_outage_fills_no_dead_letters_and_only_probes_call_the_api(
    redis_url: str, tmp_path: Path, crm: Any
) -> None:
    down_for = 25  # the API answers this many calls with 503, then recovers
    crm.fail("POST", "/api/orders", status=503, times=down_for)
    async with pipeline(redis_url, write_rules(tmp_path, crm)) as p:
        events = [make_event() for _ in range(300)]
        for event in events:
            assert (await p.send(event)).status_code == 202
        await p.work()

        assert await p.dead() == []  # attempts: 3, yet nothing gave up
        for event in events:
            record = await p.record(event["id"])
            assert record.status == "done", event["id"]
            assert record.actions["action:sync:0"].attempts <= 2  # the probes spent none
        created = Counter(r.body["event"] for r in crm.requests("POST", "/api/orders"))
        assert sum(created.values()) == len(events) + down_for
        status = await gate.status(p.redis, "crm")
        assert (status.state, status.opened) == (State.CLOSED, 1)
        # Once open, only probes called: the calls before it opened were at most the three
        # that opened it and those already in flight (the worker runs 10 at once).
        assert down_for - status.probes <= 3 + 9
        assert status.probes >= down_for - 12
    texts = alerts(crm)
    assert len(texts) == 2, texts
    assert "Connection 'crm' is open" in texts[0] and "503" in texts[0]
    assert "Connection 'crm' is closed again" in texts[1]


@pytest.mark.anyio
async def test_a_429_with_retry_after_pauses_the_connection_not_just_the_action(
    redis_url: str, tmp_path: Path, crm: Any, rdb: Any
) -> None:
    crm.fail("POST", "/api/orders", status=429, retry_after="1", times=1)
    one_at_a_time = "    limits: {concurrency: 1}"  # so that no call is in flight at the 429
    async with pipeline(redis_url, write_rules(tmp_path, crm, one_at_a_time)) as p:
        events = [make_event() for _ in range(20)]
        for event in events:
            await p.send(event)
        await p.work()
        assert await p.dead() == []
        assert {(await p.record(e["id"])).status for e in events} == {"done"}
    posts = crm.requests("POST", "/api/orders")
    refused_at = posts[0].at
    # Every call after the 429 waited out its Retry-After: none came within the second.
    later = [r.at - refused_at for r in posts[1:]]
    assert len(later) == 20 and min(later) >= 1.0
    assert int(rdb.hget(keys.connection("crm"), "opened") or 0) == 0  # a 429 opens nothing


@pytest.mark.anyio
async def test_a_rate_limit_holds_and_its_waits_cost_no_attempts(
    redis_url: str, tmp_path: Path, crm: Any
) -> None:
    limits = "    limits: {rate: 50/s, burst: 5, concurrency: 2}"
    async with pipeline(redis_url, write_rules(tmp_path, crm, limits)) as p:
        events = [make_event() for _ in range(60)]
        for event in events:
            await p.send(event)
        await p.work()
        records = [await p.record(e["id"]) for e in events]
        assert {r.status for r in records} == {"done"}
        assert {r.actions["action:sync:0"].attempts for r in records} == {1}
    arrivals = sorted(r.at for r in crm.requests("POST", "/api/orders"))
    assert len(arrivals) == 60
    # Analysed after the run: in any window, at most burst + rate * window calls arrived.
    for i, start in enumerate(arrivals):
        in_window = [t for t in arrivals[i:] if t - start < 0.5]
        assert len(in_window) <= 5 + 50 * 0.5 + 1  # one for the clocks' granularity


@pytest.mark.anyio
async def test_an_alert_that_cannot_be_sent_is_counted_and_blocks_nothing(
    redis_url: str, tmp_path: Path, crm: Any
) -> None:
    crm.fail("POST", "/api/orders", status=400, times=1)
    crm.fail("POST", "/api/hooks/T0/B0/X", status=500, times=1)
    async with pipeline(redis_url, write_rules(tmp_path, crm)) as p:
        events = [make_event() for _ in range(3)]
        for event in events:
            await p.send(event)
        await p.work()
        statuses = sorted([(await p.record(e["id"])).status for e in events])
        assert statuses == ["dead", "done", "done"]
    assert len(crm.requests("POST", "/api/hooks/T0/B0/X")) == 1  # tried once, never again
