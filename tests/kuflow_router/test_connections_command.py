"""`kuflow-router connections` and `connections reset NAME` against a real Redis."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from redis.asyncio import Redis

from handlers.rules.loader import load_file
from kuflow_router.cli import main
from store import gate
from store.gate import CallResult

RULES = """\
version: 1
connections:
  crm:
    type: http
    base_url: https://crm.example/api
    headers: {Authorization: "Bearer ${CRM_TOKEN}"}
    limits: {rate: 20/s, burst: 40, concurrency: 5}
    breaker: {open_after: 2, cooldown: 10m}
  audit: {type: http, base_url: https://audit.example, breaker: false}
rules: []
"""


@pytest.fixture
def rules_file(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ROUTER_REDIS_URL", redis_url)
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return path


def open_crm(redis_url: str, rules_file: Path) -> None:
    """Two failures in a row: crm's breaker opens for ten minutes."""
    crm = load_file(rules_file, {"CRM_TOKEN": "t"}).connections["crm"]

    async def go() -> None:
        async with Redis.from_url(redis_url) as redis:
            for _ in range(2):
                call = await gate.admit(redis, "crm", crm, 10)
                await gate.settle(redis, crm, call, CallResult.FAILED)
            await gate.admit(redis, "crm", crm, 10)  # held

    asyncio.run(go())


def test_connections_lists_state_limits_and_recent_calls(
    rules_file: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    open_crm(redis_url, rules_file)  # CRM_TOKEN is not set here: no reason to refuse
    assert main(["connections", "--rules", str(rules_file)]) == 0
    out = capsys.readouterr().out
    assert "crm (http): open (600 s left)" in out
    assert "limits: rate 20/s, burst 40, concurrency 5; breaker: opens after 2 failures" in out
    assert "last 15 min: 2 calls, 2 failed, 1 held" in out
    assert "audit (http): closed\n  limits: none; breaker: off" in out

    assert main(["connections", "--rules", str(rules_file), "--json", "--minutes", "5"]) == 0
    crm, audit = json.loads(capsys.readouterr().out)
    assert (crm["state"], crm["opened"], crm["last_5_min"]["calls"]) == ("open", 1, 2)
    assert audit["state"] == "closed"


def test_reset_closes_a_breaker_and_refuses_a_name_not_in_the_rules(
    rules_file: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    open_crm(redis_url, rules_file)
    assert main(["connections", "--rules", str(rules_file), "reset", "crm"]) == 0
    assert "crm: closed" in capsys.readouterr().out
    assert main(["connections", "--rules", str(rules_file)]) == 0
    assert "crm (http): closed" in capsys.readouterr().out

    assert main(["connections", "--rules", str(rules_file), "reset", "cmr"]) == 2
    assert "no connection 'cmr' in the rules — did you mean 'crm'?" in capsys.readouterr().err
