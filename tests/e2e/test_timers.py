"""Timers of rules (`after:`/`unless:`) through a real worker process, killed and restarted."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import redis

from store import timers
from tests.conftest import enqueue_events, make_event
from tests.doubles.kuflow import KuflowDouble
from tests.processes import router_command, router_env, wait_for

AFTER_S = 8  # time enough to send every event before the first timer is due
RULES = """\
version: 1
connections:
  kuflow: {{type: kuflow, base_url: "{url}", client_id: kuflow-app, client_secret: kuflow-secret}}
rules:
  - name: remind-stale-review
    when:
      type: PROCESS_ITEM.CREATED
      data.processItemDefinitionCode: REVIEW
    after: {after}s
    unless:
      event:
        type: PROCESS_ITEM.TASK_STATE_CHANGED
        data.processItemState: COMPLETED
      same: [data.processItemId]
    do:
      - kuflow.append_log:
          task_id: "{{{{ data.processItemId }}}}"
          message: "still waiting since {{{{ timestamp }}}}, due {{{{ timer.due_at }}}}"
"""
LOG = r"/process-items/[^/]+/task/~actions/append-log"


def start_worker(env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    with logs.open("ab") as out:
        return subprocess.Popen([*router_command(), "worker"], env=env, stdout=out, stderr=out)


def state_change(task: dict[str, Any], state: str) -> dict[str, Any]:
    data = {"processId": task["processId"], "processItemId": task["id"], "processItemType": "TASK",
            "processItemState": state, "processItemDefinitionCode": "REVIEW"}  # fmt: skip
    return make_event("PROCESS_ITEM.TASK_STATE_CHANGED", data=data)


def test_killed_worker_fires_each_due_reminder_once_and_none_cancelled_in_time(
    redis_url: str, rdb: redis.Redis, kuflow: KuflowDouble, tmp_path: Path
) -> None:
    """Ten reviews start ten timers; five are completed in time — three while the worker runs,
    two while it is down (received in time, seen only after the due time) — and one changes to
    another state. The worker is killed before any is due and started after all are: exactly
    the five others are reminded, once each, none before its due time."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(url=kuflow.url, after=AFTER_S))
    env = router_env(ROUTER_REDIS_URL=redis_url, ROUTER_RULES_FILE=str(rules))
    tasks = [kuflow.add_task(kuflow.add_process()["id"], code="REVIEW") for _ in range(10)]
    created = [
        make_event("PROCESS_ITEM.CREATED", data={
            "processId": t["processId"], "processItemId": t["id"], "processItemType": "TASK",
            "processItemState": "READY", "processItemDefinitionCode": "REVIEW"})
        for t in tasks
    ]  # fmt: skip
    logs = tmp_path / "worker.log"
    worker = start_worker(env, logs)
    asyncio.run(enqueue_events(redis_url, created))
    wait_for(lambda: rdb.zcard("router:timers") == 10, "ten timers to start")

    in_time = [state_change(t, "COMPLETED") for t in tasks[:3]]
    asyncio.run(enqueue_events(redis_url, [*in_time, state_change(tasks[5], "CLAIMED")]))
    wait_for(lambda: rdb.zcard("router:timers") == 7, "three timers to be cancelled")
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    while_down = [state_change(t, "COMPLETED") for t in tasks[3:5]]
    asyncio.run(enqueue_events(redis_url, while_down))

    ids = [timers.timer_id(e["id"], "remind-stale-review") for e in created]
    due_s = [int(rdb.hget(f"router:event:{tid}", "timer_due_at") or 0) / 1000 for tid in ids]
    time.sleep(max(max(due_s) - time.time(), 0) + 0.5)  # every timer overdue, none fired
    assert len(kuflow.requests("POST", LOG)) == 0

    worker = start_worker(env, logs)
    try:
        wait_for(lambda: len(kuflow.requests("POST", LOG)) == 5, "five reminders")
        wait_for(lambda: rdb.zcard("router:queue") == 0, "every job to finish")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)

    wall = time.time() - time.monotonic()
    reminded = {r.path.split("/")[2]: r for r in kuflow.requests("POST", LOG)}
    assert set(reminded) == {t["id"] for t in tasks[5:]}, logs.read_text()
    for task, tid, due in zip(tasks, ids, due_s, strict=True):
        record = {k.decode(): v.decode() for k, v in rdb.hgetall(f"router:event:{tid}").items()}
        if task["id"] in reminded:
            assert reminded[task["id"]].at + wall >= due  # never early
            assert record["timer_state"] == "fired" and record["status"] == "done"
            assert "due " in reminded[task["id"]].body["message"]
        else:
            assert record["timer_state"] == "cancelled" and record["status"] == "cancelled"
    cancelled_by = {rdb.hget(f"router:event:{tid}", "timer_cancelled_by") for tid in ids[:5]}
    assert cancelled_by == {e["id"].encode() for e in [*in_time, *while_down]}
    assert rdb.zcard("router:timers") == 0 and rdb.xlen("router:dlq") == 0
