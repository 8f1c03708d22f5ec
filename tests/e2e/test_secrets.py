"""Secrets never land in a record: each configured credential, echoed back in an API's error
answer, is searched for in all of Redis, in the log lines and in the CLI's output."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import redis

from common.logs import JsonFormatter
from kuflow_router.cli import main
from tests.conftest import make_event
from tests.doubles import http as crm_double
from tests.doubles import kuflow as kuflow_double
from tests.doubles.http import HttpDouble
from tests.doubles.kuflow import KuflowDouble
from tests.e2e.harness import pipeline

RULES = """\
version: 1
connections:
  kuflow: {{type: kuflow, base_url: "{kuflow}", client_id: kuflow-app, client_secret: "${{KUFLOW_SECRET}}"}}
  crm: {{type: http, base_url: "{crm}", headers: {{Authorization: "Bearer ${{CRM_TOKEN}}"}}}}
defaults:
  retry: {{attempts: 2, initial: 10ms, max: 10ms}}
rules:
  - name: message
    when: {{type: PROCESS.CREATED}}
    do:
      - kuflow.create_message: {{process_id: "{{{{ data.processId }}}}", text: hello}}
  - name: crm
    when: {{type: PROCESS.CREATED}}
    do:
      - crm.request: {{method: POST, path: /leads, json: {{a: 1}}}}
"""


def spellings(secret: str) -> list[str]:
    return [secret, base64.b64encode(f"kuflow-app:{secret}".encode()).decode()]


def everything_in(client: redis.Redis) -> str:
    """Every key and value in Redis, as text."""
    parts = []
    for key in client.scan_iter():
        kind = client.type(key)
        if kind == b"hash":
            parts.append(repr(client.hgetall(key)))
        elif kind == b"stream":
            parts.append(repr(client.xrange(key)))
        elif kind == b"string":
            parts.append(repr(client.get(key)))
        elif kind == b"zset":
            parts.append(repr(client.zrange(key, 0, -1)))
        parts.append(repr(key))
    return "\n".join(parts)


def test_no_configured_secret_is_stored_logged_or_printed(
    redis_url: str,
    kuflow: KuflowDouble,
    crm: HttpDouble,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kuflow_secret, crm_token = kuflow_double.CLIENT_SECRET, crm_double.TOKEN
    monkeypatch.setenv("KUFLOW_SECRET", kuflow_secret)
    monkeypatch.setenv("CRM_TOKEN", crm_token)
    pair = base64.b64encode(f"kuflow-app:{kuflow_secret}".encode()).decode()
    echo = f"bad credentials: {kuflow_secret} / Bearer {pair} / {json.dumps(crm_token)}"
    kuflow.fail("POST", "/process-items", status=400, body={"message": echo})
    crm.fail(
        "POST", "/api/leads", status=500, times=5, body={"message": f"token {crm_token} rejected"}
    )
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(kuflow=kuflow.url, crm=crm.base_url))
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    # Only the router's own formatter: a handler an earlier test left on a closed stream would
    # print its records raw to stderr ("--- Logging error ---"), which no deployment does.
    monkeypatch.setattr(logging.getLogger(), "handlers", [handler])
    event = make_event(data={"processId": kuflow.add_process()["id"], "processState": "RUNNING"})

    async def scenario() -> Any:
        async with pipeline(redis_url, rules) as router:
            assert (await router.send(event)).status_code == 202
            await router.work()
            return await router.dead(event["id"])

    dead = asyncio.run(scenario())
    assert len(dead) == 2  # both failures reached the dead-letter queue, with their text
    assert "[redacted]" in dead[0].fields["remote"] + dead[1].fields["remote"]
    monkeypatch.setenv("ROUTER_REDIS_URL", redis_url)
    for command in (["events", "show", event["id"]], ["dlq", "show", event["id"]], ["dlq", "list"]):
        assert main(command) == 0
    printed = capsys.readouterr()
    with redis.Redis.from_url(redis_url) as client:
        stored = everything_in(client)
    for secret in (*spellings(kuflow_secret), crm_token):
        assert secret not in stored
        assert secret not in lines.getvalue()
        assert secret not in printed.out + printed.err
