"""`kuflow-router serve` and `run` as real processes behind a real uvicorn."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from kuflow_router.redis_server import free_port
from receiver.auth import sign_headers
from store import keys
from tests.conftest import SECRET, TOKEN, make_event
from tests.doubles.kuflow import KuflowDouble, cancel_rules
from tests.processes import Router, post_event, router_command, router_env, running_router, wait_for


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*router_command(), *args],
        env=router_env(**env),
        cwd=tempfile.gettempdir(),  # not the checkout: no developer's .env
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_refuses_to_start_without_auth(redis_url: str) -> None:
    result = run_cli("serve", ROUTER_REDIS_URL=redis_url)
    assert result.returncode == 2
    for name in ("ROUTER_WEBHOOK_TOKENS", "ROUTER_WEBHOOK_BASIC", "ROUTER_WEBHOOK_SECRETS"):
        assert name in result.stderr
    assert "ROUTER_INSECURE_NO_AUTH=true" in result.stderr


def test_serve_refuses_a_bad_value_without_echoing_it(redis_url: str) -> None:
    result = run_cli("serve", ROUTER_REDIS_URL=redis_url, ROUTER_WEBHOOK_SECRETS="hunter2-secret")
    assert result.returncode == 2
    assert "ROUTER_WEBHOOK_SECRETS" in result.stderr
    assert "hunter2" not in result.stderr


def test_serve_needs_a_redis_url() -> None:
    result = run_cli("serve", ROUTER_WEBHOOK_TOKENS=TOKEN)
    assert result.returncode == 2
    assert "ROUTER_REDIS_URL" in result.stderr


@pytest.fixture
def served(redis_url: str, tmp_path: Path) -> Iterator[Router]:
    env = router_env(
        ROUTER_REDIS_URL=redis_url, ROUTER_WEBHOOK_SECRETS=SECRET, ROUTER_WEBHOOK_TOKENS=TOKEN
    )
    with running_router(["serve"], env, tmp_path) as router:
        yield router


def test_serve_queues_a_signed_event_and_logs_it_without_secrets(
    served: Router, rdb: redis.Redis
) -> None:
    base = served.base
    event = make_event()
    body = json.dumps(event).encode()
    headers = {
        "content-type": "application/json",
        **sign_headers(SECRET, "m1", int(time.time()), body),
    }
    response = httpx.post(f"{base}/webhooks/kuflow", content=body, headers=headers)
    assert response.status_code == 202
    assert rdb.zscore(keys.QUEUE, event["id"]) is not None
    _, err = served.stop()
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    received = [line for line in lines if line["msg"] == "event received"]
    assert received[0]["event_id"] == event["id"]
    assert received[0]["outcome"] == "queued"
    assert received[0]["status"] == 202
    assert SECRET.removeprefix("whsec_") not in err
    assert TOKEN not in err


def test_serve_cuts_off_a_50_mb_chunked_upload(served: Router, rdb: redis.Redis) -> None:
    base = served.base
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(50 * 16):  # 50 MiB in 64 KiB chunks, no Content-Length
            sent += 65536
            yield b" " * 65536

    try:
        response = httpx.post(
            f"{base}/webhooks/kuflow/{TOKEN}",
            content=chunks(),
            headers={"content-type": "application/json"},
            timeout=60,
        )
        assert response.status_code == 413
    except httpx.TransportError:
        pass  # the server may close the connection while the client is still sending
    assert rdb.dbsize() == 0


EMPTY_RULES = "version: 1\nrules: []\n"


def test_run_starts_an_embedded_persistent_redis(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(EMPTY_RULES)
    env = router_env(ROUTER_WEBHOOK_TOKENS=TOKEN, ROUTER_LOG_FORMAT="text")
    event = make_event()
    with running_router(["run"], env, tmp_path) as router:
        response = httpx.post(
            f"{router.base}/webhooks/kuflow/{TOKEN}",
            content=json.dumps(event),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 202
        password = (tmp_path / "var" / "redis" / "router.password").read_text()
        port = int((tmp_path / "var" / "redis" / "router.port").read_text())
        with pytest.raises(redis.AuthenticationError):  # a password is required
            redis.Redis(port=port).ping()
        assert redis.Redis(port=port, password=password).ping()
        out, err = router.stop()
    assert "register this webhook URL in KuFlow: http://127.0.0.1:" in out
    assert TOKEN not in out  # not a terminal: the token is not printed whole …
    assert f"/webhooks/kuflow/{TOKEN[:4]}…\n" in out  # … but which one it is, is
    assert "<a token of" not in out
    assert password not in out + err
    assert (tmp_path / "var" / "redis" / "router.password").stat().st_mode & 0o777 == 0o600
    assert embedded_port(out) == port
    assert not redis_answers(port, password)  # stopped with the router
    with running_router(["run"], env, tmp_path) as router:
        duplicate = httpx.post(
            f"{router.base}/webhooks/kuflow/{TOKEN}",
            content=json.dumps(event),
            headers={"content-type": "application/json"},
        )
    assert duplicate.json() == {"id": event["id"], "status": "duplicate"}  # survived the restart
    assert (tmp_path / "var" / "redis" / "redis.log").exists()


def embedded_port(stdout: str) -> int:
    match = re.search(r"embedded Redis .* at redis://:\[redacted\]@127.0.0.1:(\d+)/0", stdout)
    assert match, stdout
    return int(match.group(1))


def redis_answers(port: int, password: str | None = None) -> bool:
    try:
        with redis.Redis(port=port, password=password, socket_connect_timeout=1) as client:
            return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_embedded_redis_dies_with_a_killed_router(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(EMPTY_RULES)
    env = router_env(ROUTER_WEBHOOK_TOKENS=TOKEN)
    with running_router(["run"], env, tmp_path) as router:
        router.process.kill()
        router.process.wait()
        port = embedded_port(router.stop()[0])
    password = (tmp_path / "var" / "redis" / "router.password").read_text()
    deadline = time.monotonic() + 30  # a guard for a busy machine, not a speed assertion
    while redis_answers(port, password) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not redis_answers(port, password)


def test_run_refuses_invalid_rules_listing_every_problem(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("version: 1\nrulse: []\nconnections: {x: {type: kuflw}}\n")
    result = subprocess.run(
        [*router_command(), "run"],
        env=router_env(ROUTER_WEBHOOK_TOKENS=TOKEN),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "rules.yaml:2:1: unknown key 'rulse'" in result.stderr
    assert "rules.yaml:3:19: unknown connection type 'kuflw'" in result.stderr
    assert not (tmp_path / "var").exists()  # nothing was started


def test_run_processes_an_event_end_to_end(tmp_path: Path, kuflow: Any) -> None:
    (tmp_path / "rules.yaml").write_text(cancel_rules(kuflow.url))
    process = kuflow.add_process()
    event = make_event(data={"processId": process["id"], "processState": "RUNNING"})
    with running_router(["run"], router_env(ROUTER_WEBHOOK_TOKENS=TOKEN), tmp_path) as router:
        assert post_event(router.base, event, TOKEN).status_code == 202
        assert httpx.get(f"{router.base}/readyz").status_code == 200
        wait_for(lambda: process["state"] == "CANCELLED", "the process to be cancelled")
        out, err = router.stop()
    assert "rules: 1 loaded from rules.yaml" in out
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    done = [line for line in lines if line["msg"] == "action done"]
    assert done[0]["rule"] == "cancel" and done[0]["action"] == "kuflow.cancel_process"
    assert {"event_id", "type", "outcome", "duration_ms", "attempt"} <= set(done[0])


def test_an_event_queued_before_a_restart_is_processed_after_it(tmp_path: Path) -> None:
    kuflow = KuflowDouble()
    port = free_port()  # nothing listens there yet: KuFlow is "down" during the first run
    retry = "defaults: {retry: {attempts: 100, initial: 200ms, max: 500ms}}\n"
    (tmp_path / "rules.yaml").write_text(cancel_rules(f"http://127.0.0.1:{port}", retry))
    process = kuflow.add_process()
    event = make_event(data={"processId": process["id"], "processState": "RUNNING"})
    env = router_env(ROUTER_WEBHOOK_TOKENS=TOKEN)
    with running_router(["run"], env, tmp_path) as router:
        assert post_event(router.base, event, TOKEN).status_code == 202
        _, err = router.stop()
    assert '"outcome": "retrying"' in err  # it was tried, and failed, before the restart
    kuflow.start(port)
    try:
        with running_router(["run"], env, tmp_path):
            wait_for(lambda: process["state"] == "CANCELLED", "the process to be cancelled")
    finally:
        kuflow.stop()


def test_run_refuses_a_console_port_it_cannot_have(tmp_path: Path) -> None:
    import socket

    (tmp_path / "rules.yaml").write_text(EMPTY_RULES)
    env = router_env(ROUTER_WEBHOOK_TOKENS=TOKEN)
    same = subprocess.run([*router_command(), "run", "--port", "18555", "--console-port", "18555"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip
    assert same.returncode == 2 and "would share port 18555" in same.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = subprocess.run([*router_command(), "run", "--console-port", str(port)], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=60,
                              check=False)  # fmt: skip
    assert (
        busy.returncode == 2
        and f"port {port} on 127.0.0.1, the console's, is in use" in busy.stderr
    )
    assert not (tmp_path / "var").exists()  # nothing was started


def test_run_restarts_its_embedded_redis_with_its_data_when_it_dies(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(EMPTY_RULES)
    env = router_env(ROUTER_WEBHOOK_TOKENS=TOKEN, ROUTER_LOG_FORMAT="text")
    before, after = make_event(), make_event()
    with running_router(["run", "--no-console"], env, tmp_path) as router:
        assert post_event(router.base, before, TOKEN).status_code == 202
        place = tmp_path / "var" / "redis"
        password = (place / "router.password").read_text()
        port = int((place / "router.port").read_text())
        with redis.Redis(port=port, password=password) as client:
            first = int(client.info("server")["process_id"])
        os.kill(first, signal.SIGKILL)
        stderr = router.logs / "stderr"
        wait_for(lambda: "the embedded Redis is back" in stderr.read_text(), "the restart")
        assert post_event(router.base, after, TOKEN).status_code == 202
        with redis.Redis(port=port, password=password) as client:
            assert int(client.info("server")["process_id"]) != first
            assert client.exists(f"router:event:{before['id']}")  # its data came back
        assert not Path(f"/proc/{first}").exists()  # reaped: no zombie left
        _, err = router.stop()
    assert f"the embedded Redis on port {port} ended (exit code -9)" in err
    assert "Application shutdown failed" not in err and "Traceback" not in err, err
