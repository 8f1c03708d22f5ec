"""Alerts with a clock the test moves: one per failure opened or reopened (not per event); a
breaker's once per window with the folded count in the next; the reload alert, the text
template, Teams' card, and a console link."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from handlers.clients.base import Session
from handlers.clients.errors import PermanentError
from handlers.clients.network import Client
from handlers.rules.reload import LiveRules
from handlers.worker.alerts import Alerts
from tests.doubles import http as crm_double

HOOK = "/api/hooks/T0/B0/X"
EVENT = {"id": "0b6f8f3e-5a55-4c35-9d7e-6c1f3f8f0a11", "type": "PROCESS.CREATED",
         "data": {"processId": "p-1"}}  # fmt: skip


def rules_text(crm: Any, alert: str) -> str:
    return f"""\
version: 1
connections:
  chat: {{type: http, base_url: "{crm.base_url}/hooks", headers: {{Authorization: "Bearer {crm_double.TOKEN}"}}}}
alerts:
{alert}
rules: []
"""


@dataclass
class Stage:
    alerts: Alerts
    rules: LiveRules
    clock: list[float]  # [now]: the alerts' clock, moved by the test


@pytest.fixture
def make_alerts(redis_url: str, tmp_path: Path, crm: Any) -> Callable[..., Any]:
    @asynccontextmanager
    async def build(alert: str, console_url: str = "") -> AsyncIterator[Stage]:
        path = tmp_path / "rules.yaml"
        path.write_text(rules_text(crm, alert))
        rules, clock = LiveRules(path), [1_800_000_000.0]
        async with Redis.from_url(redis_url) as redis, Client(10) as http:
            alerts = Alerts(redis, Session(http), rules, console_url, lambda: clock[0])
            yield Stage(alerts, rules, clock)

    return build


SLACK = """\
  - name: ops
    window: 10m
    send: {chat.slack: {path: /T0/B0/X}}
"""


def sent(crm: Any) -> list[Any]:
    return [r.body for r in crm.requests("POST", HOOK)]


@pytest.mark.anyio
async def test_a_failure_alerts_when_it_opens_and_when_it_reopens_not_per_event(
    make_alerts: Any, crm: Any
) -> None:
    async with make_alerts(SLACK, console_url="https://router.example/") as stage:
        alerts = stage.alerts
        failure = PermanentError("POST http://crm/api/orders answered 400: no", 400)
        alerts.dead_letter(EVENT, "sync", "crm.request", 1, failure, ("f00d", "opened"))
        for _ in range(2):  # more of the same open failure: counted there, not alerted
            alerts.dead_letter(EVENT, "sync", "crm.request", 1, failure, ("f00d", ""))
        await alerts.close()
        assert len(sent(crm)) == 1
        first = sent(crm)[0]["text"]
        assert first == (
            "Dead-lettered: rule 'sync', action crm.request on event "
            f"{EVENT['id']} (PROCESS.CREATED) after 1 attempt(s): POST http://crm/api/orders "
            "answered 400: no — new failure f00d; more like it are counted there, not alerted "
            f"https://router.example/events/{EVENT['id']}"
        )
        # Another failure (another status) is its own alert, in the same window.
        gone = PermanentError("gone", 404)
        alerts.dead_letter(EVENT, "sync", "crm.request", 3, gone, ("beef", "opened"))
        await alerts.close()
        assert len(sent(crm)) == 2

        # Resolved, then failing again at once: reopened, and said, whatever the window.
        alerts.dead_letter(EVENT, "sync", "crm.request", 1, failure, ("f00d", "reopened"))
        await alerts.close()
        assert len(sent(crm)) == 3
        assert sent(crm)[2]["text"].endswith(
            f"— failure f00d reopened (it was resolved) https://router.example/events/{EVENT['id']}"
        )


@pytest.mark.anyio
async def test_a_breaker_alerts_once_per_window_and_the_next_counts_the_rest(
    make_alerts: Any, crm: Any
) -> None:
    async with make_alerts(SLACK) as stage:
        alerts, clock = stage.alerts, stage.clock
        for _ in range(3):
            alerts.breaker("crm", "opened", PermanentError("answered 503", 503))
        await alerts.close()
        assert len(sent(crm)) == 1
        clock[0] += 600  # the window is over: the next alert says what was folded
        alerts.breaker("crm", "opened", PermanentError("answered 503", 503))
        await alerts.close()
    assert len(sent(crm)) == 2
    assert sent(crm)[1]["text"].endswith("(and 2 more like it since the last alert)")


@pytest.mark.anyio
async def test_only_the_kinds_an_alert_is_for_and_a_text_of_its_own(
    make_alerts: Any, crm: Any
) -> None:
    alert = """\
  - name: breakers
    when: [breaker_opened]
    text: "{{ alert.title }} — {{ alert.connection }} ({{ alert.error }})"
    send: {chat.teams: {path: /T0/B0/X}}
"""
    async with make_alerts(alert) as stage:
        alerts = stage.alerts
        alerts.breaker("crm", "closed", None)
        alerts.dead_letter(EVENT, "sync", "crm.request", 1, "broken", ("f00d", "opened"))
        alerts.breaker("crm", "opened", PermanentError("POST … answered 503", 503))
        await alerts.close()
    (card,) = sent(crm)
    assert card["type"] == "message"
    (attachment,) = card["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["content"]["body"] == [
        {"type": "TextBlock", "wrap": True,
         "text": "kuflow-router: a connection is open — crm (POST … answered 503)"}
    ]  # fmt: skip


@pytest.mark.anyio
async def test_a_failed_reload_alerts_with_its_problems_through_the_last_good_rules(
    make_alerts: Any, crm: Any, tmp_path: Path
) -> None:
    async with make_alerts(SLACK) as stage:
        alerts, rules = stage.alerts, stage.rules
        rules_path = tmp_path / "rules.yaml"
        rules.on_failure(alerts.reload_failed)
        rules_path.write_text(rules_path.read_text().replace("rules: []", "rules: {}"))
        assert not rules.reload()
        await alerts.close()
    (message,) = sent(crm)
    assert message["text"].startswith(
        "Reloading the rules failed; the last good rules stay in use."
    )
    assert "rules.yaml:" in message["text"]


@pytest.mark.anyio
async def test_what_an_event_supplies_carries_no_markup_into_a_chat(
    make_alerts: Any, crm: Any
) -> None:
    forged = {"id": EVENT["id"], "type": "PROCESS.<!channel> " + "x" * 300,
              "data": {"processId": "<https://evil.example|click>"}}  # fmt: skip
    async with make_alerts(SLACK) as stage:
        stage.alerts.dead_letter(
            forged, "sync", "crm.request", 1, "said <!here> & " + "y" * 900, ("f00d", "opened")
        )
        await stage.alerts.close()
    (text,) = [body["text"] for body in sent(crm)]
    assert "<!channel>" not in text and "<!here>" not in text and "evil.example" not in text
    assert "(not shown: not a plain word)" in text
    assert "said &lt;!here&gt; &amp; yyy" in text and "y" * 501 not in text
