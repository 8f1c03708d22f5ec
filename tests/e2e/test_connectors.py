"""End to end per connector: the exact request, success, transient then success, permanent → DLQ."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from handlers.clients import alteryx as alteryx_client
from handlers.clients.alteryx import ALTERYX, AlteryxConnection, StartJob
from handlers.clients.base import ActionCall, Session
from handlers.clients.catalogue import run_action
from handlers.clients.network import Client
from handlers.rules.idempotency import action_key
from tests.conftest import make_event
from tests.doubles import alteryx as ayx
from tests.doubles import http as crm_double
from tests.doubles import nerm as nerm_double
from tests.doubles import ultracart as uc
from tests.e2e.harness import pipeline

WORKFLOW = "db6f8e8b-65c2-47d5-a0db-90bcc4e9df9e"
REQUESTER = "3f9c2a1e-7b8d-4c6e-9a0f-1b2c3d4e5f60"


@pytest.fixture
def make_pipeline(
    redis_url: str, tmp_path: Path, ultracart: Any, alteryx: Any, nerm: Any, crm: Any
) -> Callable[..., Any]:
    def build(rules: str) -> Any:
        head = f"""\
version: 1
connections:
  shop: {{type: ultracart, base_url: "{ultracart.base_url}", api_key: {uc.API_KEY}}}
  reports: {{type: alteryx, base_url: "{alteryx.base_url}", client_id: {ayx.CLIENT_ID}, client_secret: {ayx.CLIENT_SECRET}}}
  nerm: {{type: nerm, base_url: "{nerm.base_url}", token: {nerm_double.TOKEN}}}
  crm: {{type: http, base_url: "{crm.base_url}", headers: {{Authorization: "Bearer {crm_double.TOKEN}"}}}}
defaults:
  retry: {{attempts: 3, initial: 10ms, max: 50ms}}
rules:
"""
        path = tmp_path / "rules.yaml"
        path.write_text(head + textwrap.indent(textwrap.dedent(rules), "  "))
        return pipeline(redis_url, path)

    return build


def rule(action: str) -> str:
    return "- name: r\n  when: {type: PROCESS.CREATED}\n  do:\n" + textwrap.indent(action, "    ")


def order_event(**extra: Any) -> dict[str, Any]:
    """A PROCESS.CREATED event whose data carries an extra object (unknown fields are kept)."""
    data = {"processId": str(uuid.uuid4()), "processState": "RUNNING", "extra": extra}
    return make_event(data=data)


async def run(
    make_pipeline: Callable[..., Any], rules: str, event: dict[str, Any] | None = None
) -> Any:
    event = event or order_event(order="UC-1", amount=25000, rush=True)
    async with make_pipeline(rules) as router:
        assert (await router.send(event)).status_code == 202
        await router.work()
        return event, await router.record(event["id"]), await router.dead(event["id"])


# -- UltraCart ----------------------------------------------------------------------------------

INSERT = """\
- shop.insert_task:
    task_name: "Ship {{ extra.order }}"
    object_type: order
    object_id: "{{ extra.order }}"
    priority: "3 - high"
    tags: [kuflow]
    properties: {amount: "{{ extra.amount }}"}
"""


@pytest.mark.anyio
async def test_ultracart_insert_sends_a_tagged_workflow_task(
    make_pipeline: Any, ultracart: Any
) -> None:
    event, record, dead = await run(make_pipeline, rule(INSERT).replace("extra.", "data.extra."))
    (insert,) = ultracart.requests("POST", "/rest/v2/workflow/tasks")
    key = action_key(event["id"], "r", 0)
    assert insert.headers["x-ultracart-simple-key"] == uc.API_KEY
    assert insert.headers["x-ultracart-api-version"] == "2017-03-01"
    assert insert.body == {
        "task_name": "Ship UC-1",
        "object_type": "order",
        "object_id": "UC-1",
        "priority": "3 - high",
        "tags": ["kuflow", f"kr:{key}"],
        "properties": [{"name": "amount", "value": "25000"}],
    }
    assert (
        ultracart.requests("POST", "/rest/v2/workflow/tasks/search") == []
    )  # first try: no search
    (task,) = ultracart.tasks.values()
    assert record.actions["action:r:0"].id == task["workflow_task_uuid"]
    assert record.status == "done" and dead == []


@pytest.mark.anyio
async def test_ultracart_retry_finds_the_task_instead_of_inserting_twice(
    make_pipeline: Any, ultracart: Any
) -> None:
    ultracart.fail("POST", "/rest/v2/workflow/tasks", status=502, times=1)
    _, record, _ = await run(make_pipeline, rule(INSERT).replace("extra.", "data.extra."))
    # The 502 created nothing: the retry searched by tag, found nothing, and inserted once.
    assert len(ultracart.requests("POST", "/rest/v2/workflow/tasks")) == 2
    assert len(ultracart.requests("POST", "/rest/v2/workflow/tasks/search")) == 1
    assert len(ultracart.tasks) == 1
    assert record.status == "done"


@pytest.mark.anyio
async def test_ultracart_lost_answer_is_not_inserted_again(
    make_pipeline: Any, ultracart: Any
) -> None:
    ultracart.slow("POST", "/rest/v2/workflow/tasks", delay_s=30, applied=True)
    rules = rule(
        INSERT.replace("- shop.insert_task:", "- shop.insert_task:") + "  timeout: 300ms\n"
    )
    _, record, _ = await run(make_pipeline, rules.replace("extra.", "data.extra."))
    assert len(ultracart.requests("POST", "/rest/v2/workflow/tasks")) == 1  # the timed-out try
    assert len(ultracart.requests("POST", "/rest/v2/workflow/tasks/search")) == 1
    assert len(ultracart.tasks) == 1
    assert record.status == "done"


@pytest.mark.anyio
async def test_ultracart_success_false_is_permanent_with_the_remote_text(
    make_pipeline: Any, ultracart: Any
) -> None:
    body = {"success": False, "error": {"user_message": "Object type is invalid"}}
    ultracart.fail("POST", "/rest/v2/workflow/tasks", status=200, body=body)
    _, record, (entry,) = await run(make_pipeline, rule(INSERT).replace("extra.", "data.extra."))
    assert record.status == "dead"
    assert entry.fields["remote"] == "Object type is invalid"
    assert "success=false" in entry.fields["error"]


@pytest.mark.anyio
async def test_ultracart_update_reads_merges_and_writes(make_pipeline: Any, ultracart: Any) -> None:
    task_id = str(uuid.uuid4())
    ultracart.tasks[task_id] = {
        "workflow_task_uuid": task_id,
        "task_name": "Ship",
        "status": "open",
        "tags": ["a"],
    }
    action = f'- shop.update_task: {{task_uuid: "{task_id}", status: closed, task_details: done}}\n'
    _, record, _ = await run(make_pipeline, rule(action))
    (put,) = ultracart.requests("PUT", f"/rest/v2/workflow/tasks/{task_id}")
    assert put.body == {
        "workflow_task_uuid": task_id,
        "task_name": "Ship",
        "status": "closed",
        "tags": ["a"],
        "task_details": "done",
    }
    assert ultracart.tasks[task_id]["status"] == "closed"
    assert record.status == "done"


@pytest.mark.anyio
async def test_ultracart_unknown_task_is_dead_lettered_with_uc_rest_error(
    make_pipeline: Any,
) -> None:
    action = f'- shop.update_task: {{task_uuid: "{uuid.uuid4()}", status: closed}}\n'
    _, record, (entry,) = await run(make_pipeline, rule(action))
    assert entry.fields["status"] == "404"
    assert entry.fields["remote"] == "Task not found"
    assert record.status == "dead"


# -- Alteryx ------------------------------------------------------------------------------------

START = """\
- reports.start_job:
    workflow_id: 670ce5cef10214f22a6637a3
    questions: {amount: "{{ data.extra.amount }}", rush: "{{ data.extra.rush }}", note: null}
    worker_tag: fast
"""


@pytest.mark.anyio
async def test_alteryx_start_job_gets_a_token_and_sends_text_questions(
    make_pipeline: Any, alteryx: Any
) -> None:
    _, record, dead = await run(make_pipeline, rule(START))
    (token,) = alteryx.requests("POST", "/webapi/oauth2/token")
    assert token.body == {
        "grant_type": "client_credentials",
        "client_id": ayx.CLIENT_ID,
        "client_secret": ayx.CLIENT_SECRET,
    }
    (start,) = alteryx.requests("POST", "/webapi/v3/workflows/670ce5cef10214f22a6637a3/jobs")
    assert start.headers["authorization"].startswith("Bearer ")
    assert start.body == {
        "workerTag": "fast",
        "questions": [
            {"name": "amount", "value": "25000"},
            {"name": "rush", "value": "true"},
            {"name": "note", "value": ""},
        ],
        "priority": "Default",
    }
    (job,) = alteryx.jobs.values()
    assert record.actions["action:r:0"].id == job["id"]
    assert dead == []


@pytest.mark.anyio
async def test_alteryx_token_is_cached_across_actions(make_pipeline: Any, alteryx: Any) -> None:
    _, record, dead = await run(make_pipeline, rule(START + START.replace("fast", "slow")))
    assert len(alteryx.jobs) == 2
    assert len(alteryx.requests("POST", "/webapi/oauth2/token")) == 1
    assert record.status == "done" and dead == []


@pytest.mark.anyio
async def test_alteryx_401_with_a_cached_token_renews_it(make_pipeline: Any, alteryx: Any) -> None:
    connection = AlteryxConnection(
        type="alteryx",
        base_url=alteryx.base_url,
        client_id=ayx.CLIENT_ID,
        client_secret=ayx.CLIENT_SECRET,
    )
    async with Client(10) as http:
        session = Session(http)
        call = ActionCall(session, "reports", connection, StartJob(workflow_id="w1"), "k", 5.0)
        first = await run_action(ALTERYX.operations["start_job"], call)
        alteryx.revoke_tokens()
        second = await run_action(ALTERYX.operations["start_job"], call)
    assert first.id != second.id
    assert len(alteryx.requests("POST", "/webapi/oauth2/token")) == 2
    assert [r.path for r in alteryx.requests("POST", "/webapi/v3/.*")] == [
        "/webapi/v3/workflows/w1/jobs"
    ] * 3  # 2nd: 401, then again


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Alteryx jobs checked on after 10 ms instead of 2 s."""
    monkeypatch.setattr(alteryx_client, "POLL_FIRST_S", 0.01)


@pytest.mark.anyio
async def test_alteryx_wait_polls_until_completed_then_later_actions_see_the_status(
    make_pipeline: Any, alteryx: Any, fast_polls: None, crm: Any
) -> None:
    action = (
        START
        + "    wait: {until: Completed, timeout: 5m}\n  as: report\n"
        + (
            '- crm.request: {method: POST, path: /reports, json: {job: "{{ results.report.id }}", status: "{{ results.report.status }}"}}\n'
        )
    )
    _, record, dead = await run(make_pipeline, rule(action))
    (job,) = alteryx.jobs.values()
    assert (
        len(alteryx.requests("GET", f"/webapi/v3/jobs/{job['id']}")) == 2
    )  # Running, then Completed
    (report,) = crm.requests("POST", "/api/reports")
    assert report.body == {"job": job["id"], "status": "Completed"}
    assert record.status == "done" and dead == []


@pytest.mark.anyio
async def test_alteryx_job_ending_in_error_is_dead_lettered(
    make_pipeline: Any, alteryx: Any, fast_polls: None
) -> None:
    alteryx.outcome = ("Completed", "Error")
    _, record, (entry,) = await run(make_pipeline, rule(START + "    wait: {until: Completed}\n"))
    assert "ended Completed (Error)" in entry.fields["error"]
    assert record.status == "dead"


# -- NERM ---------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_nerm_create_session(make_pipeline: Any, nerm: Any) -> None:
    action = f"""\
- nerm.create_session:
    workflow_id: {WORKFLOW}
    requester_id: {REQUESTER}
    requester_type: User
    attributes: {{order: "{{{{ data.extra.order }}}}", amount: "{{{{ data.extra.amount }}}}", rush: "{{{{ data.extra.rush }}}}"}}
"""
    _, record, dead = await run(make_pipeline, rule(action))
    (create,) = nerm.requests("POST", "/api/workflow_sessions")
    assert create.query == {"run": "true"}
    assert create.headers["authorization"] == f"Bearer {nerm_double.TOKEN}"
    assert create.body == {
        "workflow_session": {
            "workflow_id": WORKFLOW,
            "requester_id": REQUESTER,
            "requester_type": "User",
            "attributes": {"order": "UC-1", "amount": "25000", "rush": "true"},
        }
    }
    (session,) = nerm.sessions.values()
    assert record.actions["action:r:0"].id == session["id"] and dead == []


@pytest.mark.anyio
async def test_nerm_update_by_find_needs_exactly_one(make_pipeline: Any, nerm: Any) -> None:
    target = nerm.add_session(workflow_id=WORKFLOW, profile_id="p-1")
    action = f"- nerm.update_session: {{find: {{workflow_id: {WORKFLOW}, profile_id: p-1}}, status: completed, attributes: {{done: true}}}}\n"
    _, record, dead = await run(make_pipeline, rule(action))
    (listing,) = nerm.requests("GET", "/api/workflow_sessions")
    assert listing.query == {"workflow_id": WORKFLOW, "profile_id": "p-1"}
    (patch,) = nerm.requests("PATCH", f"/api/workflow_sessions/{target['id']}")
    assert patch.query == {"run": "false"}
    assert patch.body == {
        "workflow_session": {"attributes": {"done": "true"}, "status": "completed"}
    }
    assert record.status == "done" and dead == []

    nerm.add_session(workflow_id=WORKFLOW, profile_id="p-1")
    _, record, (entry,) = await run(make_pipeline, rule(action))
    assert "find selected 2 workflow sessions; it must select exactly one" in entry.fields["error"]


@pytest.mark.anyio
async def test_nerm_transient_then_success_is_one_session(make_pipeline: Any, nerm: Any) -> None:
    nerm.fail("POST", "/api/workflow_sessions", status=503)
    action = f"- nerm.create_session: {{workflow_id: {WORKFLOW}, requester_id: {REQUESTER}, requester_type: User}}\n"
    _, record, _ = await run(make_pipeline, rule(action))
    assert len(nerm.requests("POST", "/api/workflow_sessions")) == 2
    assert len(nerm.sessions) == 1 and record.status == "done"


# -- HTTP ---------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_http_request_keeps_hostile_values_inside_one_path_segment(
    make_pipeline: Any, crm: Any
) -> None:
    action = '- crm.request: {method: PUT, path: "/orders/{{ data.extra.order }}/notes", query: {q: "{{ data.extra.order }}"}, json: {n: 1}, headers: {Authorization: evil, X-Trace: "{{ id }}"}}\n'
    event = order_event(order="../../admin?x=1#y")
    event, record, dead = await run(make_pipeline, rule(action), event)
    (put,) = crm.requests("PUT")
    assert put.raw_path == "/api/orders/..%2F..%2Fadmin%3Fx%3D1%23y/notes"
    assert put.query == {"q": "../../admin?x=1#y"}
    assert put.headers["authorization"] == f"Bearer {crm_double.TOKEN}"  # the connection's wins
    assert put.headers["x-trace"] == event["id"]
    assert record.status == "done" and dead == []


@pytest.mark.anyio
async def test_http_permanent_failure_is_dead_lettered(make_pipeline: Any, crm: Any) -> None:
    crm.fail("POST", "/api/x", status=422, body={"message": "amount is required"})
    _, record, (entry,) = await run(
        make_pipeline, rule("- crm.request: {method: POST, path: /x}\n")
    )
    assert (entry.fields["status"], entry.fields["remote"]) == ("422", "amount is required")
    assert record.status == "dead"


@pytest.mark.anyio
async def test_one_event_through_a_rule_touching_every_api(
    redis_url: str, tmp_path: Path, kuflow: Any, ultracart: Any, alteryx: Any, nerm: Any, crm: Any
) -> None:
    process = kuflow.add_process(
        entity={"valid": True, "value": {"customer": "ACME", "amount": 900}}
    )
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"""\
version: 1
connections:
  kuflow: {{type: kuflow, base_url: "{kuflow.url}", client_id: kuflow-app, client_secret: kuflow-secret}}
  shop: {{type: ultracart, base_url: "{ultracart.base_url}", api_key: {uc.API_KEY}}}
  reports: {{type: alteryx, base_url: "{alteryx.base_url}", client_id: {ayx.CLIENT_ID}, client_secret: {ayx.CLIENT_SECRET}}}
  nerm: {{type: nerm, base_url: "{nerm.base_url}", token: {nerm_double.TOKEN}}}
  crm: {{type: http, base_url: "{crm.base_url}", headers: {{Authorization: "Bearer {crm_double.TOKEN}"}}}}
rules:
  - name: everything
    when: {{type: PROCESS.CREATED, process.entity.value.amount: {{numeric: [">", 100]}}}}
    do:
      - kuflow.create_task: {{process_id: "{{{{ data.processId }}}}", task_code: REVIEW}}
        as: task
      - shop.insert_task: {{task_name: "Order for {{{{ process.entity.value.customer }}}}", tags: [kuflow]}}
        as: order
      - reports.start_job: {{workflow_id: w-1, questions: {{order: "{{{{ results.order.id }}}}"}}}}
        as: job
      - nerm.create_session:
          workflow_id: {WORKFLOW}
          requester_id: {REQUESTER}
          requester_type: User
          attributes: {{task: "{{{{ results.task.id }}}}", job: "{{{{ results.job.id }}}}"}}
        as: session
      - crm.request:
          method: POST
          path: /audit
          json: {{task: "{{{{ results.task.id }}}}", order: "{{{{ results.order.id }}}}", job: "{{{{ results.job.id }}}}", session: "{{{{ results.session.id }}}}"}}
""")
    event = make_event(data={"processId": process["id"], "processState": "RUNNING"})
    async with pipeline(redis_url, rules) as router:
        await router.send(event)
        await router.work()
        record = await router.record(event["id"])
    (task,) = kuflow.tasks()
    (order,) = ultracart.tasks.values()
    (job,) = alteryx.jobs.values()
    (session,) = nerm.sessions.values()
    (audit,) = crm.requests("POST", "/api/audit")
    assert order["task_name"] == "Order for ACME"
    assert job["questions"] == [{"name": "order", "value": order["workflow_task_uuid"]}]
    assert session["attributes"] == {"task": task["id"], "job": job["id"]}
    assert audit.body == {
        "task": task["id"],
        "order": order["workflow_task_uuid"],
        "job": job["id"],
        "session": session["id"],
    }
    assert record.status == "done"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("double_name", "method", "path", "action", "count"),
    [
        pytest.param(
            "alteryx",
            "POST",
            "/webapi/v3/workflows/w-1/jobs",
            "- reports.start_job: {workflow_id: w-1}\n",
            "jobs",
            id="alteryx",
        ),
        pytest.param(
            "crm",
            "POST",
            "/api/notes",
            "- crm.request: {method: POST, path: /notes, json: {a: 1}}\n",
            None,
            id="http",
        ),
    ],
)
async def test_transient_then_success_has_one_effect(
    make_pipeline: Any,
    request: pytest.FixtureRequest,
    double_name: str,
    method: str,
    path: str,
    action: str,
    count: str | None,
) -> None:
    double = request.getfixturevalue(double_name)
    double.fail(method, path, status=503, retry_after="0")
    _, record, dead = await run(make_pipeline, rule(action))
    assert len(double.requests(method, path)) == 2
    if count:
        assert len(getattr(double, count)) == 1
    assert record.status == "done" and dead == []


@pytest.mark.anyio
async def test_nerm_permanent_failure_carries_the_remote_text(
    make_pipeline: Any, nerm: Any
) -> None:
    nerm.fail(
        "POST", "/api/workflow_sessions", status=422, body={"error": "Requester is not allowed"}
    )
    action = f"- nerm.create_session: {{workflow_id: {WORKFLOW}, requester_id: {REQUESTER}, requester_type: User}}\n"
    _, record, (entry,) = await run(make_pipeline, rule(action))
    assert (entry.fields["status"], entry.fields["remote"]) == ("422", "Requester is not allowed")
    assert record.status == "dead"


@pytest.mark.anyio
async def test_alteryx_a_failed_status_check_does_not_start_a_second_job(
    make_pipeline: Any, alteryx: Any, fast_polls: None
) -> None:
    alteryx.fail("GET", "/webapi/v3/jobs/.*", status=503)
    _, record, dead = await run(make_pipeline, rule(START + "    wait: {until: Completed}\n"))
    assert len(alteryx.jobs) == 1
    assert record.status == "done" and dead == []
