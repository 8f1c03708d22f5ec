"""End to end: receiver → Redis → arq worker → the KuFlow double, with retries and the DLQ."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from handlers.rules.idempotency import action_key
from tests.conftest import make_event
from tests.doubles.kuflow import KuflowDouble
from tests.e2e.conftest import loan_event
from tests.e2e.harness import pipeline


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.anyio
async def test_process_created_creates_exactly_one_task(
    make_pipeline: Callable[..., Any], kuflow: KuflowDouble
) -> None:
    labels = {"connection": "kuflow", "operation": "create_task", "outcome": "done"}
    created_before = metric("router_actions_total", **labels)
    done_before = metric("router_events_processed_total", outcome="done")
    event = loan_event(kuflow)
    async with make_pipeline() as router:
        assert (await router.send(event)).status_code == 202
        await router.work()
        record = await router.record(event["id"])
    (task,) = kuflow.tasks()
    key = action_key(event["id"], "open-review", 0)
    assert task["id"] == key  # the idempotency key is the item's id
    (create,) = kuflow.requests("POST", "/process-items")
    assert create.body == {
        "id": key,
        "type": "TASK",
        "processId": event["data"]["processId"],
        "processItemDefinitionCode": "LOAN_REVIEW",
        "ownerEmail": "loans@example.com",
        "task": {"data": {"value": {"amount": 25000}}},
    }
    assert task["task"]["logs"] == [{"message": f"Opened for event {event['id']}", "level": "INFO"}]
    assert len(kuflow.requests("GET", f"/processes/{event['data']['processId']}")) == 1
    assert record.status == "done"
    assert metric("router_actions_total", **labels) == created_before + 1
    assert metric("router_events_processed_total", outcome="done") == done_before + 1
    assert {name: s.state for name, s in record.actions.items()} == {
        "action:open-review:0": "done",
        "action:open-review:1": "done",
    }


@pytest.mark.anyio
async def test_no_kuflow_call_for_an_event_no_rule_can_match(
    make_pipeline: Callable[..., Any], kuflow: KuflowDouble
) -> None:
    event = make_event("PROCESS.STATE_CHANGED")
    async with make_pipeline() as router:
        await router.send(event)
        await router.work()
        record = await router.record(event["id"])
    probe = [r for r in kuflow.received if r.path == "/processes"]  # the start-up check
    assert kuflow.received == probe  # type decided it: no enrichment fetched
    assert record.status == "done"


@pytest.mark.anyio
async def test_a_500_then_success_makes_one_task(
    make_pipeline: Callable[..., Any], kuflow: KuflowDouble
) -> None:
    kuflow.fail("POST", "/process-items", status=500, times=1)
    event = loan_event(kuflow)
    async with make_pipeline() as router:
        await router.send(event)
        await router.work()
        record = await router.record(event["id"])
    assert len(kuflow.requests("POST", "/process-items")) == 2
    assert len(kuflow.tasks()) == 1
    assert record.status == "done"
    assert record.actions["action:open-review:0"].attempts == 2  # tries made: the 500, then success


@pytest.mark.anyio
async def test_429_retry_after_is_honoured(
    make_pipeline: Callable[..., Any], kuflow: KuflowDouble
) -> None:
    kuflow.fail("POST", "/process-items", status=429, retry_after="1")
    event = loan_event(kuflow)
    async with make_pipeline() as router:
        await router.send(event)
        await router.work()
    first, second = kuflow.requests("POST", "/process-items")
    assert second.at - first.at >= 1.0  # never earlier than the server asked
    assert len(kuflow.tasks()) == 1


@pytest.mark.anyio
async def test_a_400_is_dead_lettered_and_other_rules_still_run(
    make_pipeline: Callable[..., Any], kuflow: KuflowDouble
) -> None:
    other = """\
- name: cancel-too
  when: {type: PROCESS.CREATED}
  do:
    - kuflow.cancel_process: {process_id: "{{ data.processId }}"}
"""
    kuflow.fail("POST", "/process-items", status=400, body={"status": 400, "message": "bad owner"})
    event = loan_event(kuflow)
    async with make_pipeline(other) as router:
        await router.send(event)
        await router.work()
        record = await router.record(event["id"])
        (entry,) = await router.dead(event["id"])
        kept = await router.dead_event(entry)
    assert kuflow.processes[event["data"]["processId"]]["state"] == "CANCELLED"
    assert record.status == "partial"
    assert entry.fields["rule"] == "open-review"
    assert entry.fields["action"] == "kuflow.create_task"
    assert entry.fields["status"] == "400"
    assert entry.fields["remote"] == "bad owner"
    assert '"processState": "RUNNING"' in kept
    assert len(kuflow.requests("POST", "/process-items")) == 1  # a 400 is not retried
    assert kuflow.requests("POST", r"/process-items/.*/append-log") == []  # the rule stopped


@pytest.mark.anyio
async def test_exhausted_retries_are_dead_lettered(
    make_pipeline: Callable[..., Any], kuflow: KuflowDouble
) -> None:
    kuflow.fail("POST", "/process-items", status=503, times=10)
    event = loan_event(kuflow)
    async with make_pipeline() as router:
        await router.send(event)
        await router.work()
        record = await router.record(event["id"])
        (entry,) = await router.dead(event["id"])
    assert len(kuflow.requests("POST", "/process-items")) == 3  # defaults.retry.attempts
    assert record.status == "dead"
    assert entry.fields["error"].startswith("gave up after 3 attempts: POST")
    assert entry.fields["attempts"] == "3"


@pytest.mark.anyio
async def test_a_template_error_is_dead_lettered_with_the_path(
    make_pipeline: Callable[..., Any], kuflow: KuflowDouble
) -> None:
    extra = """\
- name: needs-reviewer
  when: {type: PROCESS.CREATED}
  do:
    - kuflow.create_message:
        process_id: "{{ data.processId }}"
        text: "Reviewer: {{ process.metadata.value.reviewer }}"
"""
    event = loan_event(kuflow)
    async with make_pipeline(extra) as router:
        await router.send(event)
        await router.work()
        (entry,) = await router.dead(event["id"])
    assert entry.fields["rule"] == "needs-reviewer"
    assert "'process.metadata.value.reviewer' is missing" in entry.fields["error"]
    assert len(kuflow.tasks()) == 1  # the other rule ran


@pytest.mark.anyio
async def test_dlq_replay_after_fixing_the_cause_completes_the_event(
    make_pipeline: Callable[..., Any], kuflow: KuflowDouble
) -> None:
    from store import dlq

    kuflow.fail("POST", r"/process-items/.*/append-log", status=403)
    event = loan_event(kuflow)
    async with make_pipeline() as router:
        await router.send(event)
        await router.work()
        assert (await router.record(event["id"])).status == "dead"
        assert await dlq.replay(router.redis, event["id"], 3600)
        await router.work()
        record = await router.record(event["id"])
        assert await router.dead(event["id"]) == []
    assert record.status == "done"
    assert len(kuflow.requests("POST", "/process-items")) == 1  # the completed create was skipped
    assert len(kuflow.requests("POST", r"/process-items/.*/append-log")) == 2
    (task,) = kuflow.tasks()
    assert len(task["task"]["logs"]) == 1


@pytest.mark.anyio
async def test_a_duplicate_delivery_runs_nothing_twice(
    make_pipeline: Callable[..., Any], kuflow: KuflowDouble
) -> None:
    event = loan_event(kuflow)
    async with make_pipeline() as router:
        await router.send(event)
        await router.work()
        assert (await router.send(event)).json()["status"] == "duplicate"
        await router.work()
    assert len(kuflow.requests("POST", "/process-items")) == 1


@pytest.mark.anyio
async def test_a_job_without_a_valid_event_is_dead_lettered(
    make_pipeline: Callable[..., Any], redis_url: str
) -> None:
    from redis.asyncio import Redis

    from contract.job_format import encode_job
    from store import keys

    async with make_pipeline() as router, Redis.from_url(redis_url) as redis:
        await redis.set(keys.job("bogus"), encode_job(b"not json", 0))
        await redis.zadd(keys.QUEUE, {"bogus": int(time.time() * 1000)})  # arq skips a 0 score
        await router.work()
        (entry,) = await router.dead()
        kept = await router.dead_event(entry)
    assert entry.fields["event_id"] == "bogus"
    assert entry.fields["error"] == "the job does not hold a KuFlow event"
    assert kept == "not json"


@pytest.mark.anyio
async def test_patching_the_entity_sets_its_fields_and_keeps_the_others(
    redis_url: str, tmp_path: Path, kuflow: KuflowDouble
) -> None:
    """What the example's report-on-completion does: the order id survives, the report's id
    joins it — and a retry after a lost answer sets the same value again."""
    value = {"orderId": "UC-1", "customer": "ACME", "amount": 25000, "currency": "EUR"}
    process = kuflow.add_process(entity={"valid": True, "value": dict(value)})
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"""\
version: 1
verify: false
connections:
  kuflow: {{type: kuflow, base_url: "{kuflow.url}", client_id: kuflow-app, client_secret: kuflow-secret}}
defaults:
  retry: {{attempts: 3, initial: 10ms, max: 20ms}}
rules:
  - name: report
    when: {{type: PROCESS.STATE_CHANGED}}
    do:
      - kuflow.patch_process_entity:
          process_id: "{{{{ data.processId }}}}"
          set: {{reportJob: job-7, "amount": 26000}}
""")
    kuflow.fail("PATCH", r"/processes/[0-9a-f-]+/entity", status=503, times=1)
    event = make_event(
        "PROCESS.STATE_CHANGED", data={"processId": process["id"], "processState": "RUNNING"}
    )
    async with pipeline(redis_url, rules) as router:
        await router.send(event)
        await router.work()
        record = await router.record(event["id"])
    assert record.status == "done"
    assert process["entity"]["value"] == {**value, "amount": 26000, "reportJob": "job-7"}
    (sent, *_) = kuflow.requests("PATCH", f"/processes/{process['id']}/entity")
    assert sent.headers["content-type"] == "application/json-patch+json"
