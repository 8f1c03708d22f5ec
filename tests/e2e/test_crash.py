"""A worker killed (SIGKILL) in the middle of an event's actions, then restarted: every action once."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import pytest
import redis

from store import records
from tests.conftest import enqueue_events, make_event
from tests.doubles.kuflow import KuflowDouble
from tests.processes import router_command, router_env, wait_for

RULES = """\
version: 1
connections:
  kuflow: {{type: kuflow, base_url: "{url}", client_id: kuflow-app, client_secret: kuflow-secret}}
defaults:
  retry: {{attempts: 3, initial: 10ms, max: 50ms}}
rules:
  - name: review
    when: {{type: PROCESS.CREATED}}
    do:
      - kuflow.create_task: {{process_id: "{{{{ data.processId }}}}", task_code: LOAN_REVIEW}}
        as: task
      - kuflow.claim_task: {{task_id: "{{{{ results.task.id }}}}"}}
      - kuflow.append_log: {{task_id: "{{{{ results.task.id }}}}", message: claimed}}
"""
CLAIM = r"/process-items/[^/]+/task/~actions/claim"


def start_worker(env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    with logs.open("ab") as out:
        return subprocess.Popen([*router_command(), "worker"], env=env, stdout=out, stderr=out)


@pytest.mark.parametrize(
    "applied",
    [
        pytest.param(False, id="killed-before-kuflow-acted"),
        pytest.param(True, id="killed-after-kuflow-acted-answer-lost"),
    ],
)
def test_killed_worker_resumes_and_does_every_action_once(
    redis_url: str, rdb: redis.Redis, kuflow: KuflowDouble, tmp_path: Path, applied: bool
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(url=kuflow.url))
    env = router_env(ROUTER_REDIS_URL=redis_url, ROUTER_RULES_FILE=str(rules))
    process = kuflow.add_process()
    event = make_event(data={"processId": process["id"], "processState": "RUNNING"})

    asyncio.run(enqueue_events(redis_url, [event]))
    kuflow.slow("POST", CLAIM, delay_s=120, applied=applied)
    logs = tmp_path / "worker.log"
    worker = start_worker(env, logs)
    wait_for(lambda: len(kuflow.requests("POST", CLAIM)) == 1, "the claim to reach KuFlow")
    worker.send_signal(signal.SIGKILL)
    worker.wait()

    in_progress = f"arq:in-progress:{event['id']}"
    assert 0 < rdb.pttl(in_progress) <= 55_000  # picked up again within a minute …
    rdb.delete(in_progress)  # … which is what its expiry does; the test need not wait for it

    worker = start_worker(env, logs)
    try:
        wait_for(
            lambda: (
                rdb.hget(f"router:event:{event['id']}", "status")
                == records.EventStatus.DONE.encode()
            ),
            "the event to be done",
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)

    (task,) = kuflow.tasks()
    assert task["task"]["state"] == "CLAIMED"
    assert task["task"]["logs"] == [{"message": "claimed", "level": "INFO"}]
    assert len(kuflow.requests("POST", "/process-items")) == 1  # recorded as done: skipped
    assert len(kuflow.requests("POST", CLAIM)) == 2
    assert rdb.xlen("router:dlq") == 0, logs.read_text()
