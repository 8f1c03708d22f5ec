"""SIGTERM, as an orchestrator sends it: nothing in flight is lost, and both processes exit."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from store import keys
from tests.conftest import TOKEN, enqueue_events, make_event
from tests.doubles.kuflow import cancel_rules
from tests.processes import router_command, router_env, running_router, wait_for


def test_receiver_finishes_a_request_in_flight(
    redis_url: str, rdb: redis.Redis, tmp_path: Path
) -> None:
    env = router_env(ROUTER_REDIS_URL=redis_url, ROUTER_WEBHOOK_TOKENS=TOKEN)
    event = make_event()
    body = json.dumps(event).encode()
    with running_router(["serve"], env, tmp_path) as router:
        address = urlsplit(router.base)
        with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
            head = (
                f"POST /webhooks/kuflow/{TOKEN} HTTP/1.1\r\nHost: router\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            sock.sendall(head.encode() + body[:10])
            time.sleep(0.2)  # the request is being read …
            router.process.send_signal(signal.SIGTERM)  # … when the stop comes
            time.sleep(0.2)
            sock.sendall(body[10:])
            answer = sock.recv(4096).decode()
        assert answer.startswith("HTTP/1.1 202"), answer
        router.process.wait(timeout=30)
        _, err = router.stop()
    assert rdb.zscore(keys.QUEUE, event["id"]) is not None
    assert "Finished server process" in err


def test_worker_lets_a_running_job_finish(
    redis_url: str, rdb: redis.Redis, kuflow: Any, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(cancel_rules(kuflow.url))
    process = kuflow.add_process()
    kuflow.slow("POST", r"/processes/.*/~actions/cancel", delay_s=2.0)
    event = make_event(data={"processId": process["id"], "processState": "RUNNING"})

    asyncio.run(enqueue_events(redis_url, [event]))
    env = router_env(ROUTER_REDIS_URL=redis_url, ROUTER_RULES_FILE=str(rules))
    worker = subprocess.Popen(
        [*router_command(), "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    wait_for(lambda: kuflow.requests("POST", r"/processes/.*/~actions/cancel"), "the job to start")
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert process["state"] == "CANCELLED"
    assert rdb.hget(keys.event(event["id"]), "status") == b"done"
    assert rdb.zcard(keys.QUEUE) == 0
