"""The console in a real browser (Debian's Chromium, driven by Playwright) against a real
`kuflow-router run` — receiver, worker, embedded Redis — and the API doubles: an operator finds a
failed event, sees what was sent and answered, fixes the cause and replays it, without a terminal.

Without Chromium the tests are skipped with one line saying what to install; under CI
(`CI=true`) they must run. `CONSOLE_SCREENSHOTS=DIR` also saves each page as DIR/<page>.png (the
the docs' pictures are made so).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from store import keys
from tests.conftest import TOKEN, make_event
from tests.console.conftest import ADMIN, OPERATOR_TOKEN, RULES, VIEWER_TOKEN
from tests.doubles.http import HttpDouble
from tests.doubles.kuflow import KuflowDouble
from tests.e2e.conftest import loan_event
from tests.processes import (
    Router,
    post_event,
    router_command,
    router_env,
    running_router,
    wait_for,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(
                f"{CHROMIUM} is missing: CI must run the browser tests (scripts/test installs it)"
            )
        pytest.skip("browser tests need Chromium: sudo apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def router(tmp_path: Path, kuflow: KuflowDouble, crm: HttpDouble) -> Iterator[Router]:
    rules = RULES.replace("KUFLOW_URL", kuflow.url).replace("CRM_URL", crm.base_url)
    (tmp_path / "rules.yaml").write_text(rules)
    env = router_env(
        ROUTER_WEBHOOK_TOKENS=TOKEN, ROUTER_ADMIN_TOKEN=ADMIN, ROUTER_LOG_FORMAT="text"
    )
    with running_router(["run"], env, tmp_path) as running:
        yield running


def _redis(cwd: Path) -> redis.Redis:
    port = int((cwd / "var" / "redis" / "router.port").read_text())
    password = (cwd / "var" / "redis" / "router.password").read_text().strip()
    return redis.Redis(port=port, password=password)


def _status(client: redis.Redis, event_id: str) -> str:
    return (client.hget(keys.event(event_id), "status") or b"").decode()


def _shoot(page: Any, name: str) -> None:
    place = os.environ.get("CONSOLE_SCREENSHOTS")
    if place:
        Path(place).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(place) / f"{name}.png"), full_page=True)


def _log_in(page: Any, console: str, token: str = ADMIN) -> None:
    page.goto(f"{console}/events")
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Log in").click()


def test_an_operator_finds_a_failed_event_fixes_it_and_replays_it(
    browser: Any, router: Router, kuflow: KuflowDouble, crm: HttpDouble, tmp_path: Path
) -> None:
    crm.fail("POST", "/api/contacts", status=422, times=1)
    failing, fine = loan_event(kuflow), loan_event(kuflow)
    client = _redis(tmp_path)
    assert post_event(router.base, failing, TOKEN).status_code == 202
    wait_for(lambda: _status(client, failing["id"]) == "partial", "the first event to fail")
    assert post_event(router.base, fine, TOKEN).status_code == 202
    wait_for(lambda: _status(client, fine["id"]) == "done", "the second event")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))

    page.goto(router.console)
    assert page.url.startswith(f"{router.console}/login")
    _shoot(page, "login")
    _log_in(page, router.console)
    assert page.url == f"{router.console}/events"
    _shoot(page, "events")

    page.get_by_label("Status").select_option("partial")
    page.get_by_role("button", name="Filter").click()
    assert "status=partial" in page.url
    rows = page.locator("table.events tbody tr")
    assert rows.count() == 1
    page.get_by_role("link", name=failing["id"]).click()
    assert page.get_by_text("Answer 422").first.is_visible()
    assert page.get_by_text(f"{crm.base_url}/contacts").first.is_visible()
    _shoot(page, "event")

    page.get_by_role("link", name="Failures").click()
    failure = page.locator("article.failure")
    assert failure.count() == 1 and "notify-crm · crm.request · HTTP 422" in failure.inner_text()
    assert "open" in failure.locator(".state").inner_text()
    failure.get_by_label("Note").fill("the CRM refuses a field; fixing")
    failure.get_by_role("button", name="Acknowledge").click()
    assert page.get_by_text("acknowledged: it alerts no more while it lasts").is_visible()
    assert "the CRM refuses a field; fixing" in page.locator("article.failure").inner_text()
    _shoot(page, "failures")
    # The CRM is fixed (its scripted failure was used up): replay the failure's events.
    page.get_by_role("button", name="Replay all after fix").click()
    assert dialogs[0].startswith("Resolve this failure and replay its 1 event, each process")
    assert page.get_by_text("1 event queued again, each process in order").is_visible()
    wait_for(lambda: _status(client, failing["id"]) == "done", "the replayed event to be done")
    page.goto(f"{router.console}/events?status=done")
    assert page.locator("table.events tbody tr").count() == 2
    assert len(kuflow.tasks()) == 2  # the completed task was not created again

    page.goto(router.console)
    assert page.get_by_role("heading", name="Overview").is_visible()
    _shoot(page, "overview")
    page.get_by_role("link", name="Rules").first.click()
    page.get_by_role("link", name=f"PROCESS.CREATED {fine['id'][:8]}").click()
    page.get_by_role("button", name="Try").click()
    assert "rule open-review: MATCHED" in page.locator("pre.dry-run").inner_text()
    _shoot(page, "rules")
    context.close()


def test_a_process_timeline_tells_its_story_in_order(
    browser: Any, router: Router, kuflow: KuflowDouble, crm: HttpDouble, tmp_path: Path
) -> None:
    """Four events of one process, the first dead-lettered then replayed from the timeline."""
    crm.fail("POST", "/api/contacts", status=422, times=1)
    created = loan_event(kuflow)
    process = created["data"]["processId"]
    later = [
        make_event("PROCESS.STATE_CHANGED", data={"processId": process, "processState": "RUNNING"}),
        {**make_event("PROCESS_ITEM.CREATED"), "data": {
            "processId": process, "processItemId": str(uuid.uuid4()), "processItemType": "TASK",
            "processItemState": "READY", "processItemDefinitionCode": "REVIEW"}},
        make_event("PROCESS.STATE_CHANGED", data={"processId": process, "processState": "COMPLETED"}),
    ]  # fmt: skip
    client = _redis(tmp_path)
    for event in (created, *later):
        assert post_event(router.base, event, TOKEN).status_code == 202
    wait_for(lambda: _status(client, later[-1]["id"]) == "done", "the last event")
    assert _status(client, created["id"]) == "partial"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _log_in(page, router.console)

    page.get_by_role("link", name="Processes").click()
    page.get_by_label("Process id").fill(process)
    page.get_by_role("button", name="Show its timeline").click()
    assert page.url == f"{router.console}/processes/{process}"
    turns = page.locator("li.turn")
    assert turns.count() == 4
    texts = [turns.nth(n).inner_text() for n in range(4)]
    assert [text.split()[0] for text in texts] == ["#1", "#2", "#3", "#4"]
    assert "PROCESS.CREATED" in texts[0] and "partial" in texts[0] and "1 dead letter" in texts[0]
    assert "crm.request dead" in texts[0] and "kuflow.create_task done" in texts[0]
    assert "Rules matched: none" in texts[1] and "Rules matched: none" in texts[2]
    assert "on-completion" in texts[3] and "crm.request done" in texts[3]
    assert texts[0].split()[1] == "+0"  # times since the first event
    _shoot(page, "process")

    turns.nth(0).get_by_role("button", name="Replay (completed actions stay skipped)").click()
    wait_for(lambda: _status(client, created["id"]) == "done", "the replayed event")
    page.goto(f"{router.console}/processes/{process}")
    first = page.locator("li.turn").nth(0).inner_text()
    assert "done" in first and "dead letter" not in first
    assert len(kuflow.tasks()) == 1  # the task the first run created was not created again
    context.close()


def test_event_data_never_runs_as_script(
    browser: Any, router: Router, kuflow: KuflowDouble, tmp_path: Path
) -> None:
    event = loan_event(kuflow)
    event["data"]["note"] = "<script>alert('x')</script><img src=x onerror=\"alert('y')\">"
    event["data"]["link"] = "javascript:alert('z')"
    client = _redis(tmp_path)
    assert post_event(router.base, event, TOKEN).status_code == 202
    wait_for(lambda: _status(client, event["id"]) not in ("", "queued", "processing"), "the event")
    context = browser.new_context()
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _log_in(page, router.console)
    page.goto(f"{router.console}/events/{event['id']}")
    assert "<script>alert('x')</script>" in page.locator("pre.json").first.inner_text()
    page.goto(f"{router.console}/rules?event_id={event['id']}")
    page.get_by_role("button", name="Try").click()
    assert dialogs == []
    assert page.locator("a[href^='javascript']").count() == 0
    context.close()


def test_a_wrong_token_stays_on_the_login_page(browser: Any, router: Router) -> None:
    context = browser.new_context()
    page = context.new_page()
    _log_in(page, router.console, token="not-the-token")
    assert page.get_by_role("alert").inner_text() == "That is not a console token."
    assert context.cookies() == []
    page.goto(f"{router.console}/failures")
    assert page.url.startswith(f"{router.console}/login")
    context.close()


WORDS_WHOLE = """() => {
  const kept = [...document.querySelectorAll('th, .status, .verdict, td.type, .id')];
  const broken = kept.filter(e => getComputedStyle(e).whiteSpace !== 'nowrap'
                                  || e.getClientRects().length > 1);
  return {count: kept.length, broken: broken.map(e => e.textContent),
          overflow: document.documentElement.scrollWidth - window.innerWidth};
}"""


@pytest.mark.parametrize("width", [1366, 1920])
def test_headers_badges_and_ids_stay_whole_at_common_widths(
    browser: Any, router: Router, kuflow: KuflowDouble, tmp_path: Path, width: int
) -> None:
    """No `Statu|s`, `reject|ed` or `PROCESS_ITEM.TASK_STATE_C|HANGED`: what must read as one
    word is one line, ids are shortened on purpose (whole on hover), and no page is wider
    than the window."""
    task = kuflow.add_task(kuflow.add_process()["id"])
    event = {**loan_event(kuflow), "type": "PROCESS_ITEM.TASK_STATE_CHANGED"}
    event["data"] = {"processId": task["processId"], "processItemId": task["id"],
                     "processItemType": "TASK", "processItemState": "READY",
                     "processItemDefinitionCode": "LOAN_REVIEW"}  # fmt: skip
    client = _redis(tmp_path)
    assert post_event(router.base, event, TOKEN).status_code == 202
    wait_for(lambda: _status(client, event["id"]) not in ("", "queued", "processing"), "it")
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    _log_in(page, router.console)
    for path in ("/", "/events", f"/events/{event['id']}", "/failures", "/rules"):
        page.goto(f"{router.console}{path}")
        found = page.evaluate(WORDS_WHOLE)
        assert found["broken"] == [] and found["overflow"] <= 0, (path, found)
    page.goto(f"{router.console}/events")
    link = page.get_by_role("link", name=event["id"])
    assert link.inner_text() == f"{event['id'][:8]}…" and link.get_attribute("title") == event["id"]
    assert page.locator("td.none").first.inner_text() == "none"  # no rule matched
    assert page.locator("link[rel=icon]").count() == 1
    _shoot(page, f"events-{width}")
    context.close()


@pytest.fixture
def held_router(tmp_path: Path, kuflow: KuflowDouble, crm: HttpDouble) -> Iterator[Router]:
    """A router whose processes wait behind a dead-lettered event (ROUTER_ORDERING_ON_FAILURE)."""
    rules = RULES.replace("KUFLOW_URL", kuflow.url).replace("CRM_URL", crm.base_url)
    (tmp_path / "rules.yaml").write_text(rules)
    env = router_env(ROUTER_WEBHOOK_TOKENS=TOKEN, ROUTER_ADMIN_TOKEN=ADMIN,
                     ROUTER_LOG_FORMAT="text", ROUTER_ORDERING_ON_FAILURE="hold")  # fmt: skip
    with running_router(["run"], env, tmp_path) as running:
        yield running


def test_an_operator_pauses_the_crm_skips_a_stuck_process_and_works_the_failure(
    browser: Any, held_router: Router, kuflow: KuflowDouble, crm: HttpDouble, tmp_path: Path
) -> None:
    """Pause and resume a connection from the overview, see a held event say so; a process
    held behind its dead letter on the Stuck page, skipped; its failure acknowledged."""
    router, client = held_router, _redis(tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    _log_in(page, router.console)

    page.goto(router.console)
    crm_row = page.locator("tr", has_text="crm (http)")
    crm_row.get_by_label("Why").fill("CRM maintenance")
    crm_row.get_by_role("button", name="Pause").click()
    assert page.get_by_text("crm paused: its actions wait, nothing is lost").is_visible()
    paused = loan_event(kuflow)
    assert post_event(router.base, paused, TOKEN).status_code == 202
    wait_for(lambda: (client.hget(keys.event(paused["id"]), "held") or b"") != b"", "the hold")
    page.goto(f"{router.console}/events/{paused['id']}")
    held = page.locator("dd", has_text="connection crm paused by admin").inner_text()
    assert "CRM maintenance" in held and crm.requests("POST", "/api/contacts") == []
    page.goto(router.console)
    page.locator("tr", has_text="crm (http)").get_by_role("button", name="Resume").click()
    assert page.get_by_text("crm resumed").is_visible()
    wait_for(lambda: _status(client, paused["id"]) == "done", "the held event to run")
    assert len(crm.requests("POST", "/api/contacts")) == 1

    crm.fail("POST", "/api/contacts", status=422, times=1)
    first = loan_event(kuflow)
    process = first["data"]["processId"]
    behind = make_event("PROCESS.STATE_CHANGED",
                        data={"processId": process, "processState": "COMPLETED"})  # fmt: skip
    for event in (first, behind):
        assert post_event(router.base, event, TOKEN).status_code == 202
    wait_for(lambda: _status(client, first["id"]) == "partial", "the first event to fail")
    page.goto(router.console)
    page.get_by_role("link", name="Stuck").first.click()
    row = page.locator("table.events tbody tr")
    assert row.count() == 1 and "1 event" in row.inner_text()
    _shoot(page, "stuck")
    assert crm.requests("POST", "/api/done") == []  # the later event waits
    row.get_by_role("button", name="Skip").click()
    assert dialogs[-1].startswith("Skip this event?")
    assert page.get_by_text("skipped: its process's later events run").is_visible()
    wait_for(lambda: _status(client, behind["id"]) == "done", "the event behind to run")
    page.goto(f"{router.console}/events/{first['id']}")
    assert page.locator("dd", has_text="by admin").first.is_visible()

    page.get_by_role("link", name="Failures").click()
    failure = page.locator("article.failure")
    assert failure.count() == 1 and "1 event dead-lettered now" in failure.inner_text()
    failure.get_by_label("Note").fill("CRM rejects the field; fixing the rule")
    failure.get_by_role("button", name="Acknowledge").click()
    assert "acknowledged" in page.locator("article.failure .state").inner_text()
    page.locator("article.failure h2 a").click()
    assert page.get_by_role("link", name=first["id"]).is_visible()
    context.close()


@pytest.fixture
def staffed_router(tmp_path: Path, kuflow: KuflowDouble, crm: HttpDouble) -> Iterator[Router]:
    """A router whose console has an admin, an operator and a viewer (ROUTER_CONSOLE_TOKENS)."""
    rules = RULES.replace("KUFLOW_URL", kuflow.url).replace("CRM_URL", crm.base_url)
    (tmp_path / "rules.yaml").write_text(rules)
    staff = f"ops-lead:operator:{OPERATOR_TOKEN},support-desk:viewer:{VIEWER_TOKEN}"
    env = router_env(ROUTER_WEBHOOK_TOKENS=TOKEN, ROUTER_ADMIN_TOKEN=ADMIN,
                     ROUTER_CONSOLE_TOKENS=staff, ROUTER_LOG_FORMAT="text")  # fmt: skip
    with running_router(["run"], env, tmp_path) as running:
        yield running


def test_a_viewer_is_refused_a_replay_an_operator_makes_it_and_the_audit_log_says_so(
    browser: Any, staffed_router: Router, kuflow: KuflowDouble, crm: HttpDouble, tmp_path: Path
) -> None:
    router, client = staffed_router, _redis(tmp_path)
    crm.fail("POST", "/api/contacts", status=422, times=1)
    event = loan_event(kuflow)
    assert post_event(router.base, event, TOKEN).status_code == 202
    wait_for(lambda: _status(client, event["id"]) == "partial", "the event to be dead-lettered")

    viewer = browser.new_context(viewport={"width": 1280, "height": 900})
    page = viewer.new_page()
    page.on("dialog", lambda d: d.accept())
    _log_in(page, router.console, VIEWER_TOKEN)
    assert "support-desk (viewer)" in page.locator(".who").inner_text()
    page.goto(f"{router.console}/events/{event['id']}")
    assert page.get_by_text("Answer 422").first.is_visible()  # a viewer sees it all
    page.get_by_role("button", name="Replay (completed actions stay skipped)").click()
    assert page.get_by_role("heading", name="Not allowed").is_visible()
    # The form posted by hand, with the viewer's own session and CSRF token: refused too.
    page.goto(f"{router.console}/events/{event['id']}")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    posted = page.request.post(f"{router.console}/events/{event['id']}/replay",
                               form={"csrf": csrf}, max_redirects=0)  # fmt: skip
    assert posted.status == 403
    assert _status(client, event["id"]) == "partial" and len(kuflow.tasks()) == 1
    viewer.close()

    operator = browser.new_context(viewport={"width": 1280, "height": 900})
    page = operator.new_page()
    _log_in(page, router.console, OPERATOR_TOKEN)
    page.goto(f"{router.console}/events/{event['id']}")
    page.get_by_role("button", name="Replay (completed actions stay skipped)").click()
    assert page.get_by_text("queued again").is_visible()
    wait_for(lambda: _status(client, event["id"]) == "done", "the operator's replay to run")
    page.get_by_role("link", name="Audit").click()
    assert page.locator("table.events tbody tr").first.is_visible()
    _shoot(page, "audit")
    operator.close()

    audited = subprocess.run([*router_command(), "audit", "--json"], cwd=tmp_path, env=router_env(),
                             capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    entries = [json.loads(line) for line in audited.stdout.splitlines()]
    replays = [(e["actor"], e["role"], e["outcome"]) for e in entries
               if e["action"] == "event.replay" and e["objects"] == [event["id"]]]  # fmt: skip
    assert replays == [("support-desk", "viewer", "denied"), ("support-desk", "viewer", "denied"),
                       ("ops-lead", "operator", "done")]  # fmt: skip
    logs = audited.stdout + "".join(p.read_text() for p in router.logs.iterdir())
    assert not any(token in logs for token in (VIEWER_TOKEN, OPERATOR_TOKEN, ADMIN, TOKEN))
