"""The exact requests each operation sends, built from rendered parameters (no network).

Each test writes the one action it is about; `CONNECTIONS` is the only shared part.
"""

from __future__ import annotations

from typing import Any

import pytest

from handlers.clients.alteryx import Start
from handlers.clients.base import PlannedRequest, Single
from handlers.clients.kuflow import Checked
from handlers.clients.nerm import Update
from handlers.clients.ultracart import Insert, ReadWrite
from handlers.rules import evaluate
from handlers.rules.errors import ParamsError, TemplateError
from handlers.rules.idempotency import action_key
from handlers.rules.loader import load_text

PROCESS_ID = "4c2e1b7a-9d3f-4e6a-8b1c-5f7d9e2a3b4c"
TASK_ID = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
CONNECTIONS = """
connections:
  kf: {type: kuflow, base_url: "https://kf.example/v2024-06-14/", client_id: i, client_secret: s}
  uc: {type: ultracart, base_url: "https://uc.example/rest/v2", api_key: k}
  ax: {type: alteryx, base_url: "https://ax.example/webapi", client_id: i, client_secret: s}
  nm: {type: nerm, base_url: "https://acme.nonemployee.com/api", token: t}
  web: {type: http, base_url: "https://web.example/api", headers: {Authorization: Bearer x}}
"""
EVENT = {"id": "e-1", "type": "X", "data": {"p": PROCESS_ID, "t": TASK_ID, "weird": "../a b?c"}}
KF = "https://kf.example/v2024-06-14"
KEY = action_key("e-1", "r", 0)


def plan(action: str, event: dict[str, Any] = EVENT) -> Any:
    """The named plan of the one action `action` (YAML, as written under `do:`)."""
    text = f"version: 1\n{CONNECTIONS}\nrules:\n  - name: r\n    when: {{type: X}}\n    do:\n"
    rules = load_text(text + f"      - {action}\n", "rules.yaml", {})
    (rule,) = rules.rules
    (compiled,) = rule.actions
    key = action_key(event["id"], rule.name, 0)
    params = evaluate.prepare(
        evaluate.owner(rule), compiled, evaluate.context(event, rule, key, {})
    )
    return compiled.operation.plan(rules.connections[compiled.connection], params, key)


def sent(request: PlannedRequest) -> tuple[str, str, Any]:
    return request.method, request.full_url, request.json


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        pytest.param(
            f'kf.create_task: {{process_id: "{{{{ data.p }}}}", task_code: T, owner_id: "{TASK_ID}", data: {{a: 1}}}}',
            (
                "POST",
                f"{KF}/process-items",
                {
                    "id": KEY,
                    "type": "TASK",
                    "processId": PROCESS_ID,
                    "processItemDefinitionCode": "T",
                    "ownerId": TASK_ID,
                    "task": {"data": {"value": {"a": 1}}},
                },
            ),
            id="kuflow.create_task",
        ),
        pytest.param(
            'kf.create_message: {process_id: "{{ data.p }}", text: hi, data: {b: 2}}',
            (
                "POST",
                f"{KF}/process-items",
                {
                    "id": KEY,
                    "type": "MESSAGE",
                    "processId": PROCESS_ID,
                    "message": {"text": "hi", "data": {"value": {"b": 2}}},
                },
            ),
            id="kuflow.create_message",
        ),
        pytest.param(
            'kf.assign_task: {task_id: "{{ data.t }}", owner_email: a@example.com}',
            (
                "POST",
                f"{KF}/process-items/{TASK_ID}/task/~actions/assign",
                {"ownerEmail": "a@example.com"},
            ),
            id="kuflow.assign_task",
        ),
        pytest.param(
            'kf.append_log: {task_id: "{{ data.t }}", message: m, level: WARN}',
            (
                "POST",
                f"{KF}/process-items/{TASK_ID}/task/~actions/append-log",
                {"message": "m", "level": "WARN"},
            ),
            id="kuflow.append_log",
        ),
        pytest.param(
            'kf.update_task_data: {task_id: "{{ data.t }}", data: {x: 1}}',
            ("PUT", f"{KF}/process-items/{TASK_ID}/task/data", {"data": {"value": {"x": 1}}}),
            id="kuflow.update_task_data",
        ),
        pytest.param(
            'kf.update_process_entity: {process_id: "{{ data.p }}", entity: {y: 2}}',
            ("PUT", f"{KF}/processes/{PROCESS_ID}/entity", {"entity": {"value": {"y": 2}}}),
            id="kuflow.update_process_entity",
        ),
        pytest.param(
            'kf.patch_process_entity: {process_id: "{{ data.p }}", set: {y: 2, "a/b~c": x}}',
            (
                "PATCH",
                f"{KF}/processes/{PROCESS_ID}/entity",
                [
                    {"op": "add", "path": "/y", "value": 2},
                    {"op": "add", "path": "/a~1b~0c", "value": "x"},
                ],
            ),
            id="kuflow.patch_process_entity",
        ),
        pytest.param(
            f'nm.create_session: {{workflow_id: "{TASK_ID}", requester_id: "{TASK_ID}", requester_type: User, attributes: {{n: 1.5}}}}',
            (
                "POST",
                "https://acme.nonemployee.com/api/workflow_sessions?run=true",
                {
                    "workflow_session": {
                        "workflow_id": TASK_ID,
                        "requester_id": TASK_ID,
                        "requester_type": "User",
                        "attributes": {"n": "1.5"},
                    }
                },
            ),
            id="nerm.create_session-attributes-as-text",
        ),
        pytest.param(
            'web.request: {method: PUT, path: "/items/{{ data.weird }}/x", query: {q: "{{ data.weird }}", n: 1}, json: {k: v}}',
            (
                "PUT",
                "https://web.example/api/items/..%2Fa%20b%3Fc/x?q=..%2Fa+b%3Fc&n=1",
                {"k": "v"},
            ),
            id="http.request-encodes-values",
        ),
    ],
)
def test_single_request_operations(action: str, expected: tuple[str, str, Any]) -> None:
    planned = plan(action)
    assert isinstance(planned, Single)
    assert sent(planned.request) == expected


@pytest.mark.parametrize(
    ("action", "change", "read"),
    [
        pytest.param(
            "claim_task",
            f"{KF}/process-items/{TASK_ID}/task/~actions/claim",
            f"{KF}/process-items/{TASK_ID}",
            id="claim_task",
        ),
        pytest.param(
            "complete_task",
            f"{KF}/process-items/{TASK_ID}/task/~actions/complete",
            f"{KF}/process-items/{TASK_ID}",
            id="complete_task",
        ),
        pytest.param(
            "complete_process",
            f"{KF}/processes/{PROCESS_ID}/~actions/complete",
            f"{KF}/processes/{PROCESS_ID}",
            id="complete_process",
        ),
        pytest.param(
            "cancel_process",
            f"{KF}/processes/{PROCESS_ID}/~actions/cancel",
            f"{KF}/processes/{PROCESS_ID}",
            id="cancel_process",
        ),
    ],
)
def test_kuflow_state_changes_show_their_conditional_read(
    action: str, change: str, read: str
) -> None:
    ref = "task_id: '{{ data.t }}'" if "task" in action else "process_id: '{{ data.p }}'"
    planned = plan(f"kf.{action}: {{{ref}}}")
    assert isinstance(planned, Checked)
    assert sent(planned.change) == ("POST", change, None)
    assert (planned.read.method, planned.read.url) == ("GET", read)
    assert planned.read.note == "only when a retry meets 409: is it already done?"


def test_nerm_update_by_id_patches_it() -> None:
    planned = plan(f'nm.update_session: {{session_id: "{TASK_ID}", status: completed}}')
    assert isinstance(planned, Update) and planned.find is None
    assert sent(planned.patch) == (
        "PATCH",
        f"https://acme.nonemployee.com/api/workflow_sessions/{TASK_ID}?run=false",
        {"workflow_session": {"status": "completed"}},
    )


def test_nerm_update_with_find_lists_first() -> None:
    planned = plan(
        "nm.update_session: {find: {workflow_id: w, profile_id: p}, attributes: {f: false}, run: true}"
    )
    assert isinstance(planned, Update) and planned.find is not None
    assert (
        planned.find.full_url
        == "https://acme.nonemployee.com/api/workflow_sessions?workflow_id=w&profile_id=p"
    )
    assert planned.patch.method == "PATCH"
    assert planned.patch.json == {"workflow_session": {"attributes": {"f": "false"}}}
    assert planned.patch.note == "exactly one must match"


def test_ultracart_insert_tags_the_task_and_searches_on_retry() -> None:
    planned = plan("uc.insert_task: {task_name: N, properties: {n: 3, ok: true}}")
    assert isinstance(planned, Insert)
    tag = "kr:" + KEY
    assert sent(planned.search) == (
        "POST",
        "https://uc.example/rest/v2/workflow/tasks/search",
        {"tags": [tag]},
    )
    assert planned.search.note == "only on a retry"
    assert planned.insert.json == {
        "task_name": "N",
        "tags": [tag],
        "properties": [{"name": "n", "value": "3"}, {"name": "ok", "value": "true"}],
    }


def test_ultracart_update_reads_then_writes_the_encoded_task() -> None:
    planned = plan('uc.update_task: {task_uuid: "{{ data.weird }}", status: closed}')
    assert isinstance(planned, ReadWrite)
    url = "https://uc.example/rest/v2/workflow/tasks/..%2Fa%20b%3Fc"
    assert (planned.read.method, planned.read.url) == ("GET", url)
    assert (planned.write.method, planned.write.url) == ("PUT", url)
    assert planned.write.json == {"status": "closed"}


def test_alteryx_questions_are_text() -> None:
    planned = plan(
        "ax.start_job: {workflow_id: W1, questions: {a: 3, b: null, c: [1]}, worker_tag: g}"
    )
    assert isinstance(planned, Start) and planned.poll is None
    assert planned.token.url == "https://ax.example/webapi/oauth2/token"
    assert dict(planned.token.form)["grant_type"] == "client_credentials"
    assert "client_secret=***" in planned.token.describe()
    assert planned.start.url == "https://ax.example/webapi/v3/workflows/W1/jobs"
    assert planned.start.json == {
        "workerTag": "g",
        "questions": [
            {"name": "a", "value": "3"},
            {"name": "b", "value": ""},
            {"name": "c", "value": "[1]"},
        ],
        "priority": "Default",
    }


def test_alteryx_wait_shows_the_checks_on_the_job() -> None:
    planned = plan("ax.start_job: {workflow_id: W1, wait: {timeout: 5m}}")
    assert isinstance(planned, Start) and planned.poll is not None
    assert planned.poll.url == "https://ax.example/webapi/v3/jobs/<job id>"
    assert planned.poll.note == "repeated until the job ends, at most 300 s"


HTTP_ACTION = 'web.request: {method: PUT, path: "/items/{{ data.weird }}/x"}'


@pytest.mark.parametrize("weird", [pytest.param("..", id="dot-dot"), pytest.param(".", id="dot")])
def test_http_path_cannot_leave_the_base(weird: str) -> None:
    event = {**EVENT, "data": {**EVENT["data"], "weird": weird}}
    with pytest.raises(ParamsError, match=r"must not contain '\.' or '\.\.' segments"):
        plan(HTTP_ACTION, event)


@pytest.mark.parametrize(
    "path",
    ["//evil.example/x", "/a/../b", "/a/%2e%2E/b", "/x@evil.example", "/http:x", "/a?b=1", "\\\\x"],
)
def test_http_literal_paths_that_escape_are_refused(path: str) -> None:
    with pytest.raises(ParamsError, match=r"parameter|path"):
        plan(f"web.request: {{method: GET, path: '{path}'}}")


def test_a_task_id_that_is_not_a_uuid_is_a_params_error() -> None:
    event = {**EVENT, "data": {**EVENT["data"], "t": "not-a-uuid"}}
    with pytest.raises(ParamsError, match=r"rule 'r', action 0 \(kf.claim_task\): task_id"):
        plan('kf.claim_task: {task_id: "{{ data.t }}"}', event)


def test_a_missing_path_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="parameter 'task_id'"):
        plan('kf.claim_task: {task_id: "{{ data.t }}"}', {"id": "e-1", "type": "X", "data": {}})


def test_the_dry_run_lists_a_plans_requests_in_order_without_the_unsent() -> None:
    text = f"version: 1\n{CONNECTIONS}\nrules:\n  - name: r\n    when: {{type: X}}\n    do:\n"
    rules = load_text(text + "      - ax.start_job: {workflow_id: W1}\n", "rules.yaml", {})
    (rule,) = rules.rules
    requests = evaluate.plan(
        rules, rule, rule.actions[0], evaluate.context(EVENT, rule, "k", {}), "k"
    )
    assert [r.url for r in requests] == [
        "https://ax.example/webapi/oauth2/token",
        "https://ax.example/webapi/v3/workflows/W1/jobs",
    ]
