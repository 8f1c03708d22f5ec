"""Who may do what in the console: every route against every role (a table that fails when a new
route forgets its role), named tokens, a refused change that changes nothing and is audited as
denied, the audit page and its export."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from starlette.routing import Route

from common.errors import SettingsError
from common.settings import load
from console.access import ROLES, allows
from console.app import routes
from console.settings import ConsoleSettings
from kuflow_router.settings import RouterSettings
from store import audit, dlq, keys
from tests.console.conftest import ADMIN, OPERATOR_TOKEN, PEOPLE, VIEWER_TOKEN
from tests.doubles.http import HttpDouble
from tests.doubles.kuflow import KuflowDouble
from tests.e2e.conftest import loan_event

V, OP, A = ROLES
# Every route and the role it needs. A route added without a line here fails the first test.
EXPECTED = {
    ("POST", "/logout"): V,
    ("GET", "/"): V,
    ("GET", "/events"): V,
    ("GET", "/events/{event_id}"): V,
    ("POST", "/events/{event_id}/replay"): OP,
    ("POST", "/events/{event_id}/purge"): OP,
    ("POST", "/events/{event_id}/skip"): OP,
    ("GET", "/stuck"): V,
    ("GET", "/processes"): V,
    ("GET", "/processes/{process_id}"): V,
    ("GET", "/timers"): V,
    ("POST", "/connections/{name}/pause"): OP,
    ("POST", "/connections/{name}/resume"): OP,
    ("POST", "/rules/{name}/pause"): OP,
    ("POST", "/rules/{name}/resume"): OP,
    ("POST", "/timers/{timer_id}/cancel"): OP,
    ("GET", "/dead"): V,
    ("GET", "/failures"): V,
    ("GET", "/failures/{failure_id}"): V,
    **{("POST", f"/failures/{{failure_id}}/{move}"): OP
       for move in ("ack", "resolve", "reopen", "replay", "skip", "discard")},
    ("GET", "/audit"): OP,
    ("GET", "/audit/export"): A,
    ("GET", "/rules"): V,
    ("POST", "/rules/try"): V,
    ("POST", "/rules/compare"): V,
}  # fmt: skip
OPEN = {("GET", "/login"), ("POST", "/login"), ("GET", "/login/sso"),
        ("GET", "/login/sso/callback")}  # before any session: no role  # fmt: skip
TOKENS = {V: VIEWER_TOKEN, OP: OPERATOR_TOKEN, A: ADMIN}


def _guarded() -> dict[tuple[str, str], str]:
    found = {}
    for route in routes():
        if not isinstance(route, Route):
            continue  # /static
        for method in sorted((route.methods or set()) - {"HEAD"}):
            if (method, route.path) not in OPEN:
                found[(method, route.path)] = getattr(route.endpoint, "role", "(none)")
    return found


def test_every_route_declares_the_role_the_table_gives_it() -> None:
    assert _guarded() == EXPECTED


@pytest.mark.anyio
@pytest.mark.parametrize("role", ROLES)
async def test_every_route_answers_each_role_as_the_table_says(
    make_stand: Callable[..., Any], role: str
) -> None:
    async with make_stand(PEOPLE) as stand:
        await stand.login(TOKENS[role])
        csrf = await stand.csrf("/rules")
        for (method, path), needed in EXPECTED.items():
            if path == "/logout":
                continue  # it would end the session the loop goes on with
            url = path.format(event_id="ev-x", process_id="p-x", name="crm",
                              timer_id="t-x", failure_id="0123456789ab")  # fmt: skip
            if method == "GET":
                answer = await stand.console.get(url)
            else:
                answer = await stand.console.post(url, data={"csrf": csrf, "back": "/"})
            refused = answer.status_code == 403
            assert refused is not allows(role, needed), (role, method, path, answer.status_code)
            if refused:
                assert "Nothing was changed" in answer.text
        denied = [e for e in await audit.entries(stand.router.redis, 500) if e.outcome == "denied"]
    expected_denials = sum(1 for needed in EXPECTED.values() if not allows(role, needed))
    assert len(denied) == expected_denials
    assert all(e.role == role and e.address == "127.0.0.1" for e in denied)


@pytest.mark.anyio
async def test_a_viewer_cannot_replay_and_an_operator_can_both_audited_by_name(
    make_stand: Callable[..., Any], kuflow: KuflowDouble, crm: HttpDouble
) -> None:
    crm.fail("POST", "/api/contacts", status=422, times=1)
    async with make_stand(PEOPLE) as stand:
        event = loan_event(kuflow)
        await stand.router.send(event)
        await stand.router.work()
        await stand.login(VIEWER_TOKEN)
        page = (await stand.console.get(f"/events/{event['id']}")).text
        csrf = await stand.csrf(f"/events/{event['id']}")
        refused = await stand.console.post(f"/events/{event['id']}/replay", data={"csrf": csrf})
        queued_after_refusal = await stand.router.redis.zcard(keys.QUEUE)
        await stand.console.post("/logout", data={"csrf": csrf})
        await stand.login(OPERATOR_TOKEN)
        csrf = await stand.csrf(f"/events/{event['id']}")
        done = await stand.console.post(f"/events/{event['id']}/replay", data={"csrf": csrf})
        queued = await stand.router.redis.zcard(keys.QUEUE)
        log = await audit.entries(stand.router.redis)
    assert "support-desk <small>(viewer)</small>" in page and "Audit</a>" not in page
    assert refused.status_code == 403 and queued_after_refusal == 0
    assert "a <strong>viewer</strong>" in refused.text
    assert done.status_code == 303 and queued == 1
    shown = [(e.actor, e.role, e.action, e.objects, e.outcome) for e in log]
    assert shown == [
        ("ops-lead", "operator", "event.replay", [event["id"]], "done"),
        ("ops-lead", "operator", "login", [], "done"),
        ("support-desk", "viewer", "logout", [], "done"),
        ("support-desk", "viewer", "event.replay", [event["id"]], "denied"),
        ("support-desk", "viewer", "login", [], "done"),
    ]
    assert not any(t in json.dumps([e.shown() for e in log]) for t in TOKENS.values())


@pytest.mark.anyio
async def test_a_failed_login_is_audited_without_the_token_it_tried(
    make_stand: Callable[..., Any],
) -> None:
    async with make_stand(PEOPLE) as stand:
        await stand.login("a-wrong-token-of-some-length")
        (entry,) = await audit.entries(stand.router.redis)
    assert (entry.actor, entry.action, entry.outcome) == ("", "login", "failed: no such token")
    assert "a-wrong-token" not in json.dumps(entry.shown())


@pytest.mark.anyio
async def test_the_audit_page_is_for_operators_and_its_export_for_admins(
    make_stand: Callable[..., Any],
) -> None:
    async with make_stand(PEOPLE) as stand:
        await dlq.add(stand.router.redis, dlq.Limits(), b"{}", event_id="ev-1", rule="r",
                      action="crm.request", status=500, error="no")  # fmt: skip
        await stand.login(OPERATOR_TOKEN)
        page = (await stand.console.get("/audit?actor=ops-lead")).text
        refused = await stand.console.get("/audit/export")
        await stand.console.post("/logout", data={"csrf": await stand.csrf("/audit")})
        await stand.login(ADMIN)
        export = await stand.console.get("/audit/export?since=1h")
        bad = await stand.console.get("/audit/export?since=yesterday")
    assert "<code>login</code>" in page and "ops-lead" in page and "Export" not in page
    assert refused.status_code == 403
    assert export.status_code == 200 and "attachment" in export.headers["content-disposition"]
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert [(e["actor"], e["action"], e["outcome"]) for e in lines] == [
        ("ops-lead", "login", "done"),
        ("ops-lead", "GET /audit/export", "denied"),
        ("ops-lead", "logout", "done"),
        ("admin", "login", "done"),
        ("admin", "audit.export", "done"),  # the export itself, written before it is read
    ]
    assert bad.status_code == 400


def test_named_tokens_are_read_and_their_mistakes_told_without_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROUTER_ADMIN_TOKEN", ADMIN)
    monkeypatch.setenv("ROUTER_CONSOLE_TOKENS",
                       f"ops-lead:operator:{OPERATOR_TOKEN}, support-desk:viewer:{VIEWER_TOKEN}")  # fmt: skip
    for settings in (ConsoleSettings, RouterSettings):  # `console`, and `run`
        people = load(settings).people()
        assert [(p.name, p.role) for p, _ in people] == [
            ("admin", "admin"), ("ops-lead", "operator"), ("support-desk", "viewer")
        ]  # fmt: skip
    for value, said in [
        (f"ops-lead:boss:{OPERATOR_TOKEN}", "the role must be one of viewer, operator, admin"),
        ("ops-lead:operator:short-secret-1", "shorter than 22 characters"),
        (f"ops lead:operator:{OPERATOR_TOKEN}", "write name:role:token"),
        (f"admin:viewer:{VIEWER_TOKEN}", "the name admin is given twice"),
        (f"a:viewer:{VIEWER_TOKEN},b:operator:{VIEWER_TOKEN}", "b's token is another's too"),
    ]:
        monkeypatch.setenv("ROUTER_CONSOLE_TOKENS", value)
        with pytest.raises(SettingsError) as raised:
            load(ConsoleSettings)
        assert said in str(raised.value)
        assert VIEWER_TOKEN not in str(raised.value) and "short-secret-1" not in str(raised.value)
