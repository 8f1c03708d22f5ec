"""A worker's own /metrics (ROUTER_WORKER_METRICS_PORT): served by `kuflow-router worker`,
with the worker's counters; the admin token wanted as the receiver's /metrics wants it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from handlers.worker.metrics_server import metrics_app
from kuflow_router.redis_server import free_port
from tests.processes import router_command, router_env, wait_for

TOKEN = "metrics-admin-token-0123456789"


def _answers(url: str, headers: dict[str, str] | None = None) -> httpx.Response | None:
    try:
        return httpx.get(url, headers=headers or {}, timeout=2)
    except httpx.TransportError:
        return None


def test_kuflow_router_worker_serves_its_metrics_with_the_admin_token(
    redis_url: str, tmp_path: Path
) -> None:
    (tmp_path / "rules.yaml").write_text("version: 1\nrules: []\n")
    port = free_port()
    env = router_env(ROUTER_REDIS_URL=redis_url, ROUTER_RULES_FILE=str(tmp_path / "rules.yaml"),
                     ROUTER_WORKER_METRICS_PORT=str(port), ROUTER_ADMIN_TOKEN=TOKEN)  # fmt: skip
    worker = subprocess.Popen([*router_command(), "worker"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        wait_for(lambda: _answers(url) is not None, "the worker's /metrics")
        refused = _answers(url)
        served = _answers(url, {"authorization": f"Bearer {TOKEN}"})
    finally:
        worker.terminate()
        worker.wait()
    assert refused is not None and refused.status_code == 401
    assert served is not None and served.status_code == 200
    for name in ("router_actions_total", "router_calls_held_total",
                 "router_connection_transitions_total", "router_alerts_total"):  # fmt: skip
        assert f"# TYPE {name} counter" in served.text, name


@pytest.mark.anyio
async def test_without_a_token_only_this_machine_is_answered() -> None:
    app = metrics_app(None)
    here = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    there = httpx.ASGITransport(app=app, client=("10.1.2.3", 5000))
    async with httpx.AsyncClient(transport=here, base_url="http://w") as local:
        assert (await local.get("/metrics")).status_code == 200
    async with httpx.AsyncClient(transport=there, base_url="http://w") as remote:
        answer = await remote.get("/metrics")
    assert answer.status_code == 403 and "ROUTER_ADMIN_TOKEN" in answer.text
