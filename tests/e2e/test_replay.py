"""`dlq replay` treats a dead action as one that may have acted: every API's repeat-safety path
runs, as on an automatic retry. Each case loses the answer of the only attempt allowed (the API
acted, the router timed out), dead-letters it, replays it, and counts the effects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from store import dlq
from tests.conftest import make_event
from tests.doubles import ultracart as uc
from tests.doubles.kuflow import CLIENT_ID, CLIENT_SECRET, KuflowDouble
from tests.doubles.ultracart import UltracartDouble
from tests.e2e.harness import pipeline


def one_try_rules(tmp_path: Path, connection: str, action: str) -> Path:
    """One rule, one action with one attempt and a short timeout, on one connection."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        f"version: 1\nconnections:\n  {connection}\ndefaults: {{retry: {{attempts: 1}}}}\n"
        "rules:\n  - name: r\n    when: {type: PROCESS.CREATED}\n    do:\n"
        f"      - {action}\n        timeout: 300ms\n"
    )
    return rules


def kuflow_connection(kuflow: KuflowDouble) -> str:
    return (
        f"kuflow: {{type: kuflow, base_url: '{kuflow.url}', client_id: {CLIENT_ID}, "
        f"client_secret: {CLIENT_SECRET}}}"
    )


async def lose_answer_then_replay(redis_url: str, rules: Path, event: dict[str, Any]) -> Any:
    async with pipeline(redis_url, rules) as router:
        assert (await router.send(event)).status_code == 202
        await router.work()
        assert (await router.record(event["id"])).status == "dead"
        assert await dlq.replay(router.redis, event["id"], 3600)
        await router.work()
        assert await router.dead(event["id"]) == []
        return await router.record(event["id"])


@pytest.mark.anyio
async def test_replayed_ultracart_insert_searches_before_inserting(
    redis_url: str, ultracart: UltracartDouble, tmp_path: Path
) -> None:
    ultracart.slow("POST", "/rest/v2/workflow/tasks", delay_s=30, applied=True)
    shop = f"shop: {{type: ultracart, base_url: '{ultracart.base_url}', api_key: {uc.API_KEY}}}"
    rules = one_try_rules(tmp_path, shop, "shop.insert_task: {task_name: Ship}")
    record = await lose_answer_then_replay(redis_url, rules, make_event())
    assert len(ultracart.requests("POST", "/rest/v2/workflow/tasks/search")) == 1
    assert len(ultracart.requests("POST", "/rest/v2/workflow/tasks")) == 1  # not inserted again
    assert len(ultracart.tasks) == 1
    assert record.status == "done"


@pytest.mark.anyio
async def test_replayed_kuflow_state_change_reads_the_state_back(
    redis_url: str, kuflow: KuflowDouble, tmp_path: Path
) -> None:
    process = kuflow.add_process()
    kuflow.slow("POST", r"/processes/.*/~actions/cancel", delay_s=30, applied=True)
    action = "kuflow.cancel_process: {process_id: '{{ data.processId }}'}"
    rules = one_try_rules(tmp_path, kuflow_connection(kuflow), action)
    event = make_event(data={"processId": process["id"], "processState": "RUNNING"})
    record = await lose_answer_then_replay(redis_url, rules, event)
    assert process["state"] == "CANCELLED"
    assert record.status == "done"  # the 409 of the replay was checked, not dead-lettered
    assert kuflow.effects[("cancel", process["id"])] == 1


@pytest.mark.anyio
async def test_replayed_kuflow_create_sends_the_same_id(
    redis_url: str, kuflow: KuflowDouble, tmp_path: Path
) -> None:
    process = kuflow.add_process()
    kuflow.slow("POST", "/process-items", delay_s=30, applied=True)
    action = "kuflow.create_message: {process_id: '{{ data.processId }}', text: hi}"
    rules = one_try_rules(tmp_path, kuflow_connection(kuflow), action)
    event = make_event(data={"processId": process["id"], "processState": "RUNNING"})
    record = await lose_answer_then_replay(redis_url, rules, event)
    assert len(kuflow.requests("POST", "/process-items")) == 2
    assert len(kuflow.items) == 1  # the replay sent the same id: KuFlow kept one message
    assert record.status == "done"
