"""`redact:` end to end — the receiver, a real Redis, a real arq worker, the KuFlow and CRM
doubles: a process's social security number reaches the CRM the rule sends it to, and nowhere the
router keeps anything — the record (what was read from KuFlow, each try's request), the
dead-letter queue, the logs, an alert, the console's view of the event."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from handlers.rules.errors import RulesLoadError
from handlers.rules.loader import load_file
from store import dlq, keys, reads
from tests.conftest import make_event
from tests.doubles import http as crm_double
from tests.doubles.http import HttpDouble
from tests.doubles.kuflow import CLIENT_ID, CLIENT_SECRET, KuflowDouble
from tests.e2e.harness import pipeline

SSN = "123-45-6789"
RULES = f"""\
version: 1
verify: false
redact: [process.entity.value.ssn]
defaults: {{retry: {{attempts: 1}}}}
connections:
  kuflow: {{type: kuflow, base_url: "KUFLOW_URL", client_id: {CLIENT_ID}, client_secret: {CLIENT_SECRET}}}
  crm: {{type: http, base_url: "CRM_URL", headers: {{Authorization: "Bearer {crm_double.TOKEN}"}}}}
alerts:
  - name: ops
    send: {{crm.slack: {{path: /hooks/T0}}}}
"""
RULES += """\
rules:
  - name: open-account
    when: {type: PROCESS.CREATED, process.entity.value.ssn: {exists: true}}
    do:
      - crm.request: {method: POST, path: /accounts,
                      json: {ssn: "{{ process.entity.value.ssn }}", name: "{{ process.entity.value.name }}"}}
"""


@pytest.mark.anyio
async def test_a_redacted_value_reaches_the_api_and_nothing_the_router_keeps(
    redis_url: str, tmp_path: Path, kuflow: KuflowDouble, crm: HttpDouble,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.replace("KUFLOW_URL", kuflow.url).replace("CRM_URL", crm.base_url))
    process = kuflow.add_process(entity={"valid": True, "value": {"ssn": SSN, "name": "Ada"}})
    event = make_event(data={"processId": process["id"], "processState": "RUNNING"})
    # The CRM refuses it, quoting the number back: the error, the dead letter, the alert.
    crm.fail("POST", "/api/accounts", status=422, body={"message": f"ssn {SSN} is on file"})
    async with pipeline(redis_url, path) as router:
        await router.send(event)
        with caplog.at_level(logging.DEBUG):
            await router.work()
        record = await router.redis.hgetall(keys.event(event["id"]))
        (entry,) = await router.dead(event["id"])
        kept = await dlq.event_body(router.redis, entry)
        shown = await reads.event(router.redis, event["id"])
    (sent,) = crm.requests("POST", "/api/accounts")
    assert sent.body == {"ssn": SSN, "name": "Ada"}  # the action got it
    everything = [b"".join(record.values()).decode(), json.dumps(entry.fields), str(kept),
                  caplog.text, json.dumps([r.body for r in crm.requests("POST", "/api/hooks/T0")]),
                  repr(shown)]  # fmt: skip
    for place in everything:
        assert SSN not in place and json.dumps(SSN)[1:-1] not in place
    enrichment = json.loads(record[b"enrichment"])
    assert enrichment["process"]["entity"]["value"] == {"ssn": "[redacted]", "name": "Ada"}
    assert "[redacted]" in entry.fields["error"] or "[redacted]" in entry.fields["remote"]
    assert len(crm.requests("POST", "/api/hooks/T0")) == 1  # the alert went, masked


def test_a_redact_path_outside_the_event_and_kuflow_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("version: 1\nredact: [ssn, results.x]\nrules: []\n")
    with pytest.raises(RulesLoadError) as raised:
        load_file(path)
    problems = "\n".join(str(p) for p in raised.value.problems)
    assert "'ssn': write a path under data., process. or processItem." in problems
    assert "'results.x'" in problems
