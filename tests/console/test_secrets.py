"""No page of the console shows the value of an environment variable it was not meant to: a
`${VAR}` pasted into any of its forms reads as `<VAR>`, and the console's own rules hold no
credential."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from common import redact
from console.rules_page import shown_environ
from handlers.rules.loader import load_file, withheld
from handlers.rules.reload import LiveRules
from tests.console.conftest import RULES
from tests.doubles.http import HttpDouble
from tests.doubles.kuflow import KuflowDouble
from tests.e2e.conftest import loan_event

# Values no page may show; none of them is registered as a secret of the rules.
SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "aws-secret-wJalrXUtnFEMI-K7MDENG",
    "ROUTER_REDIS_URL": "redis://:redis-pass-9f8e7d6c5b4a@10.0.0.5:6379/0",
    "KUFLOW_CLIENT_SECRET": "kuflow-client-secret-0123456789",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/slack-secret-42",
}


def _forms(current: str) -> list[tuple[str, dict[str, str]]]:
    """Every form of the console, each with a `${VAR}` wherever text can be pasted."""
    places = [
        ("type: http", 'type: "${NAME}"'),
        ('base_url: "', 'base_url: "${NAME}'),
        ("task_code: REVIEW", "task_code: ${NAME}"),
        ("{type: PROCESS.CREATED}", '{type: "${NAME}"}'),
    ]
    proposals = [
        current.replace(old, new.replace("NAME", name), 1)
        for old, new in places
        for name in SECRETS
    ]
    event = json.dumps({"id": "${AWS_SECRET_ACCESS_KEY}", "type": "${ROUTER_REDIS_URL}"})
    forms = [("/rules/compare", {"proposed": text}) for text in proposals]
    forms += [("/rules/try", {"event": event, "process": "${X}", "process_item": "${X}"})]
    forms += [("/rules/try", {"event": "${KUFLOW_CLIENT_SECRET}", "process": "",
                              "process_item": ""})]  # fmt: skip
    forms += [("/dead/replay", {"group": "${AWS_SECRET_ACCESS_KEY}"})]
    forms += [("/events/${ROUTER_REDIS_URL}/replay", {})]
    forms += [("/login", {"token": "${AWS_SECRET_ACCESS_KEY}", "next": "/${SLACK_WEBHOOK_URL}"})]
    return forms


@pytest.mark.anyio
async def test_a_pasted_variable_never_shows_its_value(
    make_stand: Callable[..., Any],
    kuflow: KuflowDouble,
    crm: HttpDouble,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    current = RULES.replace("KUFLOW_URL", kuflow.url).replace("CRM_URL", crm.base_url)
    pages: list[httpx.Response] = []
    async with make_stand() as stand:
        await stand.router.send(loan_event(kuflow))
        await stand.router.work()
        await stand.login()
        for path, form in _forms(current):
            csrf = await stand.csrf("/rules")
            pages.append(await stand.console.post(path, data={"csrf": csrf, **form}))
        for path in ("/events?rule=${AWS_SECRET_ACCESS_KEY}", "/events/${ROUTER_REDIS_URL}",
                     "/rules?event_id=${KUFLOW_CLIENT_SECRET}", "/dead"):  # fmt: skip
            pages.append(await stand.console.get(path))
    assert len(pages) > 20
    for response in pages:
        for value in SECRETS.values():
            assert value not in response.text, (response.request.url, value)
        assert "redis-pass" not in response.text
    said = "\n".join(r.text for r in pages)
    assert "unknown connection type &#39;&lt;ROUTER_REDIS_URL&gt;&#39;" in said


def test_the_console_reads_the_live_rules_without_their_credentials(
    tmp_path: Path, kuflow: KuflowDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "version: 1\nconnections:\n  kuflow:\n    type: kuflow\n    base_url: ${KF_URL}\n"
        "    client_id: ${KF_ID}\n    client_secret: ${KUFLOW_CLIENT_SECRET}\n"
        "rules:\n  - name: a\n    when: {type: PROCESS.CREATED}\n"
        "    do: [{kuflow.complete_process: {process_id: '{{ data.processId }}'}}]\n"
    )
    environ = {"KF_URL": kuflow.url, "KF_ID": "client-id-1234",
               "KUFLOW_CLIENT_SECRET": SECRETS["KUFLOW_CLIENT_SECRET"]}  # fmt: skip
    live = LiveRules(path, withheld(environ))
    fields = live.current.connections["kuflow"].model_dump()
    assert fields["base_url"] == kuflow.url  # an address, shown by every dry run anyway
    assert fields["client_id"] == "<KF_ID>"
    assert fields["client_secret"] == "<KUFLOW_CLIENT_SECRET>"
    assert redact.redact("<KUFLOW_CLIENT_SECRET>") == "<KUFLOW_CLIENT_SECRET>"  # no mask
    # A pasted proposal may read only what the live file shows: its address.
    monkeypatch.setattr("os.environ", {**environ, **SECRETS})
    assert dict(shown_environ(live)) == {"KF_URL": kuflow.url}
    assert load_file(path, environ).connections["kuflow"].model_dump()["client_id"] == (
        "client-id-1234"
    )
