"""deploy/prometheus/alerts.yaml: well-formed rules, and every metric they name is one the router
exports at /metrics."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yaml").read_text())


@pytest.mark.anyio
async def test_every_metric_an_alert_names_is_exported(app_client: Any) -> None:
    import handlers.rules.reload
    import handlers.worker.metrics  # noqa: F401

    async with app_client() as client:
        text = (await client.get("/metrics")).text
    exported = set(re.findall(r"^# TYPE (router_[a-z_]+) ", text, flags=re.MULTILINE))
    named: set[str] = set()
    for group in RULES["groups"]:
        for rule in group["rules"]:
            assert rule["alert"].startswith("KuflowRouter") and rule["annotations"]["summary"]
            assert rule["labels"]["severity"] in ("warning", "critical")
            named |= set(re.findall(r"\b(router_[a-z_]+)", rule["expr"]))
    assert named - exported == set()
    assert len(named) >= 6


@pytest.mark.anyio
async def test_the_workers_alive_gauge_counts_fresh_heartbeats(app_client: Any, rdb: Any) -> None:
    from store import keys

    rdb.hset(keys.worker("host-a:1"), "beat_at", 1)
    rdb.hset(keys.worker("host-b:2"), "beat_at", 1)
    async with app_client() as client:
        text = (await client.get("/metrics")).text
    assert "router_workers_alive 2.0" in text


@pytest.mark.anyio
async def test_the_connection_state_gauge_reads_every_breaker_from_redis(
    app_client: Any, rdb: Any
) -> None:
    from store import keys

    rdb.sadd(keys.CONNECTIONS, "crm", "kuflow")
    rdb.hset(keys.connection("crm"), "state", 1)
    async with app_client() as client:
        text = (await client.get("/metrics")).text
    assert 'router_connection_state{connection="crm"} 1.0' in text
    assert 'router_connection_state{connection="kuflow"} 0.0' in text
