"""A timer's run through the pipeline: its templates, its rule changed meanwhile, a full cap, a
dead-lettered action replayed — each as for an event, under the timer's own record."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from common.words import rfc3339
from store import dlq, timers
from tests.conftest import make_event
from tests.doubles.kuflow import KuflowDouble
from tests.e2e.harness import pipeline

LOG = r"/process-items/[^/]+/task/~actions/append-log"
RULES = """\
version: 1
connections:
  kuflow: {{type: kuflow, base_url: "{url}", client_id: kuflow-app, client_secret: kuflow-secret}}
defaults:
  retry: {{attempts: 2, initial: 10ms, max: 20ms}}
rules:
{rules}"""
NUDGE = """\
- name: nudge
  when: {type: PROCESS_ITEM.CREATED}
  after: 1s
  do:
    - kuflow.append_log:
        task_id: "{{ data.processItemId }}"
        message: "due {{ timer.due_at }}, started by {{ timer.started_by }}, state {{ processItem.task.state }}"
"""
OTHER = """\
- name: other
  when: {type: PROCESS.CREATED}
  do:
    - kuflow.append_log: {task_id: "{{ data.processId }}", message: x}
"""


def rules_file(tmp_path: Path, kuflow: KuflowDouble, rules: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(RULES.format(url=kuflow.url, rules=textwrap.indent(rules, "  ")))
    return path


def review(kuflow: KuflowDouble) -> tuple[dict[str, Any], dict[str, Any]]:
    task = kuflow.add_task(kuflow.add_process()["id"])
    data = {"processId": task["processId"], "processItemId": task["id"],
            "processItemType": "TASK", "processItemState": "READY",
            "processItemDefinitionCode": "LOAN_REVIEW"}  # fmt: skip
    return task, make_event("PROCESS_ITEM.CREATED", data=data)


@pytest.mark.anyio
async def test_a_fired_timer_acts_with_what_kuflow_says_then(
    redis_url: str, kuflow: KuflowDouble, tmp_path: Path
) -> None:
    task, event = review(kuflow)
    async with pipeline(redis_url, rules_file(tmp_path, kuflow, NUDGE)) as p:
        assert (await p.send(event)).status_code == 202
        task["task"]["state"] = "CLAIMED"  # after the event: the reminder reads it as it is then
        await p.work()
        started = await p.record(event["id"])
        tid = timers.timer_id(event["id"], "nudge")
        assert started.status == "done" and started.fields["timer:nudge"] == tid
        assert started.actions == {}  # the starting event acted on nothing itself
        run = await p.record(tid)
        assert run.status == "done" and run.fields["timer_state"] == "fired"
    (request,) = kuflow.requests("POST", LOG)
    due = rfc3339(int(run.fields["timer_due_at"]))
    assert request.body["message"] == f"due {due}, started by {event['id']}, state CLAIMED"


@pytest.mark.anyio
async def test_a_timer_whose_rule_was_removed_is_cancelled_and_says_so(
    redis_url: str, kuflow: KuflowDouble, tmp_path: Path
) -> None:
    _, event = review(kuflow)
    async with pipeline(redis_url, rules_file(tmp_path, kuflow, NUDGE)) as p:
        await p.send(event)
        await p.enqueued_only()  # the event's run starts the timer; the timer is not yet due
    async with pipeline(redis_url, rules_file(tmp_path, kuflow, OTHER, "renamed.yaml")) as p:
        await p.work()
        run = await p.record(timers.timer_id(event["id"], "nudge"))
    assert run.fields["timer_state"] == "cancelled"
    assert run.fields["timer_cancelled_by"] == "rules.yaml: rule 'nudge' was removed or renamed"
    assert kuflow.requests("POST", LOG) == []


@pytest.mark.anyio
async def test_a_full_cap_dead_letters_the_starting_event_with_the_reason(
    redis_url: str, kuflow: KuflowDouble, tmp_path: Path
) -> None:
    (_, first), (_, second) = review(kuflow), review(kuflow)
    path = rules_file(tmp_path, kuflow, NUDGE.replace("1s", "1h"))
    async with pipeline(redis_url, path, timers_max_per_rule=1) as p:
        await p.send(first)
        await p.send(second)
        await p.enqueued_only()
        records = [await p.record(e["id"]) for e in (first, second)]
        (entry,) = await p.dead()
    assert sorted(r.status for r in records) == ["dead", "done"]
    assert entry.fields["action"] == "(timer)" and entry.fields["rule"] == "nudge"
    assert "ROUTER_TIMERS_MAX_PER_RULE" in entry.fields["error"]


@pytest.mark.anyio
async def test_a_timers_dead_lettered_action_replays_the_timers_run(
    redis_url: str, kuflow: KuflowDouble, tmp_path: Path
) -> None:
    _, event = review(kuflow)
    kuflow.fail("POST", LOG, status=400, times=1)
    async with pipeline(redis_url, rules_file(tmp_path, kuflow, NUDGE)) as p:
        await p.send(event)
        await p.work()
        tid = timers.timer_id(event["id"], "nudge")
        assert (await p.record(tid)).status == "dead"
        assert [e.event_id for e in await p.dead()] == [tid]
        assert await dlq.replay(p.redis, tid, 3600)
        await p.work()
        assert (await p.record(tid)).status == "done"
        assert (await p.record(event["id"])).fields["runs"] == "1"  # not run again
    assert len(kuflow.requests("POST", LOG)) == 2
