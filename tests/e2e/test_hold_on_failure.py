"""ROUTER_ORDERING_ON_FAILURE=hold: a process whose event is dead-lettered waits — its later
events are accepted and queued but do not run — until that event is replayed and succeeds, or
skipped (`dlq skip`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from store import dlq, ordering
from tests.conftest import make_event
from tests.doubles.http import HttpDouble
from tests.e2e.harness import pipeline

RULES = """\
version: 1
verify: false
defaults: {{retry: {{attempts: 1}}}}
connections:
  shop: {{type: http, base_url: "{url}", headers: {{Authorization: "Bearer crm-token"}}}}
rules:
  - name: sync
    when: {{data.processId: {{exists: true}}}}
    do:
      - shop.request: {{method: POST, path: /orders, json: {{event: "{{{{ id }}}}"}}}}
"""


def story() -> list[dict[str, Any]]:
    process = make_event()["data"]["processId"]
    return [make_event("PROCESS.STATE_CHANGED", data={"processId": process, "processState": s})
            for s in ("RUNNING", "RUNNING", "RUNNING", "COMPLETED")]  # fmt: skip


@pytest.mark.anyio
@pytest.mark.parametrize("remedy", ["replay", "skip"])
async def test_a_dead_letter_holds_its_process_until_replayed_or_skipped(
    redis_url: str, crm: HttpDouble, tmp_path: Path, remedy: str
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(url=crm.base_url))
    s1, s2, s3, s4 = story()
    async with pipeline(redis_url, rules, ordering_on_failure="hold") as p:
        await p.send(s1)
        await p.work()
        crm.fail("POST", "/api/orders", status=422, times=1)  # S2 fails for good
        for event in (s2, s3, s4):
            await p.send(event)
        await p.enqueued_only()
        statuses = [(await p.record(e["id"])).status for e in (s1, s2, s3, s4)]
        (stuck,) = await ordering.held(p.redis)
        if remedy == "replay":
            assert await dlq.replay(p.redis, s2["id"], 3600)
        else:
            assert await ordering.skip(p.redis, s2["id"], "cli:ops@host")
            assert not await ordering.skip(p.redis, s2["id"], "cli:ops@host")  # once
        await p.work()
        after = {e["id"]: await p.record(e["id"]) for e in (s1, s2, s3, s4)}
        left = await ordering.held(p.redis)
    assert statuses[:2] == ["done", "dead"] and statuses[2:] == ["waiting", "waiting"]
    assert (stuck.event_id, stuck.waiting) == (s2["id"], 2)
    assert left == []
    sent = [r.body["event"] for r in crm.requests("POST", "/api/orders")]
    if remedy == "replay":
        assert sent == [
            s1["id"],
            s2["id"],
            s2["id"],
            s3["id"],
            s4["id"],
        ]  # S2's failure, then in order
        assert after[s2["id"]].status == "done"
    else:
        assert sent == [s1["id"], s2["id"], s3["id"], s4["id"]]
        assert after[s2["id"]].fields["skipped_by"] == "cli:ops@host"
        assert after[s3["id"]].fields["after_failed"] == s2["id"]
    assert after[s3["id"]].status == "done" and after[s4["id"]].status == "done"


@pytest.mark.anyio
async def test_by_default_a_dead_letter_holds_nobody(
    redis_url: str, crm: HttpDouble, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(url=crm.base_url))
    s1, s2, s3, s4 = story()
    crm.fail("POST", "/api/orders", status=422, times=1)
    async with pipeline(redis_url, rules) as p:
        for event in (s1, s2, s3, s4):
            await p.send(event)
        await p.work()
        statuses = [(await p.record(e["id"])).status for e in (s1, s2, s3, s4)]
        assert await ordering.held(p.redis) == []
    assert statuses == ["dead", "done", "done", "done"]


@pytest.mark.anyio
async def test_a_rule_can_hold_its_process_alone(
    redis_url: str, crm: HttpDouble, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(url=crm.base_url).replace(
        "  - name: sync\n", "  - name: sync\n    on_failure: hold\n"))  # fmt: skip
    s1, s2 = story()[:2]
    crm.fail("POST", "/api/orders", status=422, times=1)
    async with pipeline(redis_url, rules) as p:
        for event in (s1, s2):
            await p.send(event)
        await p.enqueued_only()
        statuses = [(await p.record(e["id"])).status for e in (s1, s2)]
    assert statuses == ["dead", "waiting"]
