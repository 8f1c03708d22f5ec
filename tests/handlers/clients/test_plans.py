"""The exact requests each operation sends, built from rendered parameters (no network)."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.clients.base import PlannedRequest
from handlers.rules import evaluate
from handlers.rules.errors import ParamsError, TemplateError
from handlers.rules.idempotency import action_key
from handlers.rules.loader import load_text

PROCESS_ID = "4c2e1b7a-9d3f-4e6a-8b1c-5f7d9e2a3b4c"
TASK_ID = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
RULES = f"""
version: 1
connections:
  kf: {{type: kuflow, base_url: "https://kf.example/v2024-06-14/", client_id: i, client_secret: s}}
  uc: {{type: ultracart, base_url: "https://uc.example/rest/v2", api_key: k}}
  ax: {{type: alteryx, base_url: "https://ax.example/webapi", client_id: i, client_secret: s}}
  nm: {{type: nerm, base_url: "https://acme.nonemployee.com/api", token: t}}
  web: {{type: http, base_url: "https://web.example/api", headers: {{Authorization: Bearer x}}}}
rules:
  - name: r
    when: {{type: X}}
    do:
      - kf.create_task: {{process_id: "{{{{ data.p }}}}", task_code: T, owner_id: "{TASK_ID}", data: {{a: 1}}}}
      - kf.create_message: {{process_id: "{{{{ data.p }}}}", text: hi, data: {{b: 2}}}}
      - kf.claim_task: {{task_id: "{{{{ data.t }}}}"}}
      - kf.complete_task: {{task_id: "{{{{ data.t }}}}"}}
      - kf.assign_task: {{task_id: "{{{{ data.t }}}}", owner_email: a@example.com}}
      - kf.append_log: {{task_id: "{{{{ data.t }}}}", message: m, level: WARN}}
      - kf.update_task_data: {{task_id: "{{{{ data.t }}}}", data: {{x: 1}}}}
      - kf.complete_process: {{process_id: "{{{{ data.p }}}}"}}
      - kf.cancel_process: {{process_id: "{{{{ data.p }}}}"}}
      - kf.update_process_entity: {{process_id: "{{{{ data.p }}}}", entity: {{y: 2}}}}
      - uc.insert_task: {{task_name: N, properties: {{n: 3, ok: true}}}}
      - uc.update_task: {{task_uuid: "{{{{ data.weird }}}}", status: closed}}
      - ax.start_job: {{workflow_id: W1, questions: {{a: 3, b: null, c: [1]}}, worker_tag: g}}
      - nm.create_session: {{workflow_id: "{TASK_ID}", requester_id: "{TASK_ID}", requester_type: User, attributes: {{n: 1.5}}}}
      - nm.update_session: {{session_id: "{TASK_ID}", status: completed}}
      - nm.update_session: {{find: {{workflow_id: w, profile_id: p}}, attributes: {{f: false}}, run: true}}
      - web.request: {{method: PUT, path: "/items/{{{{ data.weird }}}}/x", query: {{q: "{{{{ data.weird }}}}", n: 1}}, json: {{k: v}}}}
"""
EVENT = {"id": "e-1", "type": "X", "data": {"p": PROCESS_ID, "t": TASK_ID, "weird": "../a b?c"}}


def planned(index: int, event: dict[str, Any] = EVENT) -> list[PlannedRequest]:
    rules = load_text(RULES, "rules.yaml", {})
    rule = rules.rules[0]
    key = action_key(event["id"], rule.name, index)
    values = evaluate.context(event, rule, key, {})
    return evaluate.plan(rules, rule, rule.actions[index], values, key)


def one(index: int) -> tuple[str, str, Any]:
    """The request an operation sends (the first; later ones are conditional, with a note)."""
    request, *conditional = planned(index)
    assert all(r.note for r in conditional)
    return request.method, request.full_url, request.json


KF = "https://kf.example/v2024-06-14"


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        pytest.param(
            0,
            (
                "POST",
                f"{KF}/process-items",
                {
                    "id": action_key("e-1", "r", 0),
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
            1,
            (
                "POST",
                f"{KF}/process-items",
                {
                    "id": action_key("e-1", "r", 1),
                    "type": "MESSAGE",
                    "processId": PROCESS_ID,
                    "message": {"text": "hi", "data": {"value": {"b": 2}}},
                },
            ),
            id="kuflow.create_message",
        ),
        pytest.param(
            2,
            ("POST", f"{KF}/process-items/{TASK_ID}/task/~actions/claim", None),
            id="kuflow.claim_task",
        ),
        pytest.param(
            3,
            ("POST", f"{KF}/process-items/{TASK_ID}/task/~actions/complete", None),
            id="kuflow.complete_task",
        ),
        pytest.param(
            4,
            (
                "POST",
                f"{KF}/process-items/{TASK_ID}/task/~actions/assign",
                {"ownerEmail": "a@example.com"},
            ),
            id="kuflow.assign_task",
        ),
        pytest.param(
            5,
            (
                "POST",
                f"{KF}/process-items/{TASK_ID}/task/~actions/append-log",
                {"message": "m", "level": "WARN"},
            ),
            id="kuflow.append_log",
        ),
        pytest.param(
            6,
            ("PUT", f"{KF}/process-items/{TASK_ID}/task/data", {"data": {"value": {"x": 1}}}),
            id="kuflow.update_task_data",
        ),
        pytest.param(
            7,
            ("POST", f"{KF}/processes/{PROCESS_ID}/~actions/complete", None),
            id="kuflow.complete_process",
        ),
        pytest.param(
            8,
            ("POST", f"{KF}/processes/{PROCESS_ID}/~actions/cancel", None),
            id="kuflow.cancel_process",
        ),
        pytest.param(
            9,
            ("PUT", f"{KF}/processes/{PROCESS_ID}/entity", {"entity": {"value": {"y": 2}}}),
            id="kuflow.update_process_entity",
        ),
        pytest.param(
            14,
            (
                "PATCH",
                f"https://acme.nonemployee.com/api/workflow_sessions/{TASK_ID}?run=false",
                {"workflow_session": {"status": "completed"}},
            ),
            id="nerm.update_session-by-id",
        ),
        pytest.param(
            16,
            (
                "PUT",
                "https://web.example/api/items/..%2Fa%20b%3Fc/x?q=..%2Fa+b%3Fc&n=1",
                {"k": "v"},
            ),
            id="http.request-encodes-values",
        ),
    ],
)
def test_single_request_operations(index: int, expected: tuple[str, str, Any]) -> None:
    assert one(index) == expected


def test_ultracart_insert_tags_the_task_and_searches_on_retry() -> None:
    search, insert = planned(10)
    tag = "kr:" + action_key("e-1", "r", 10)
    assert (search.method, search.full_url, search.json) == (
        "POST",
        "https://uc.example/rest/v2/workflow/tasks/search",
        {"tags": [tag]},
    )
    assert search.note == "only on a retry"
    assert insert.json == {
        "task_name": "N",
        "tags": [tag],
        "properties": [{"name": "n", "value": "3"}, {"name": "ok", "value": "true"}],
    }


def test_ultracart_update_reads_then_writes_the_encoded_task() -> None:
    read, write = planned(11)
    url = "https://uc.example/rest/v2/workflow/tasks/..%2Fa%20b%3Fc"
    assert (read.method, read.url, write.method, write.url) == ("GET", url, "PUT", url)
    assert write.json == {"status": "closed"}


def test_alteryx_questions_are_text() -> None:
    token, start = planned(12)
    assert token.url == "https://ax.example/webapi/oauth2/token"
    assert dict(token.form)["grant_type"] == "client_credentials"
    assert "client_secret=***" in token.describe()
    assert start.url == "https://ax.example/webapi/v3/workflows/W1/jobs"
    assert start.json == {
        "workerTag": "g",
        "questions": [
            {"name": "a", "value": "3"},
            {"name": "b", "value": ""},
            {"name": "c", "value": "[1]"},
        ],
        "priority": "Default",
    }


def test_nerm_create_converts_attributes_to_text() -> None:
    assert one(13) == (
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
    )


def test_nerm_update_with_find_lists_first() -> None:
    find, patch = planned(15)
    assert (
        find.full_url
        == "https://acme.nonemployee.com/api/workflow_sessions?workflow_id=w&profile_id=p"
    )
    assert patch.method == "PATCH"
    assert patch.json == {"workflow_session": {"attributes": {"f": "false"}}}
    assert patch.note == "exactly one must match"


@pytest.mark.parametrize(
    ("weird", "message"),
    [
        pytest.param("..", "must not contain '.' or '..' segments", id="dot-dot"),
        pytest.param(".", "must not contain '.' or '..' segments", id="dot"),
    ],
)
def test_http_path_cannot_leave_the_base(weird: str, message: str) -> None:
    event = {**EVENT, "data": {**EVENT["data"], "weird": weird}}
    with pytest.raises(ParamsError, match=message):
        planned(16, event)


@pytest.mark.parametrize(
    "path",
    ["//evil.example/x", "/a/../b", "/a/%2e%2E/b", "/x@evil.example", "/http:x", "/a?b=1", "\\\\x"],
)
def test_http_literal_paths_that_escape_are_refused(path: str) -> None:
    text = RULES.replace('path: "/items/{{ data.weird }}/x"', f"path: '{path}'")
    rules = load_text(text, "rules.yaml", {})
    rule = rules.rules[0]
    values = evaluate.context(EVENT, rule, "k", {})
    with pytest.raises(ParamsError, match=r"parameter|path"):
        evaluate.plan(rules, rule, rule.actions[16], values, "k")


def test_a_task_id_that_is_not_a_uuid_is_a_params_error() -> None:
    event = {**EVENT, "data": {**EVENT["data"], "t": "not-a-uuid"}}
    with pytest.raises(ParamsError, match=r"rule 'r', action 2 \(kf.claim_task\): task_id"):
        planned(2, event)


def test_a_missing_path_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="parameter 'task_id'"):
        planned(2, {"id": "e-1", "type": "X", "data": {}})


@pytest.mark.parametrize(
    ("index", "read"),
    [
        pytest.param(2, f"{KF}/process-items/{TASK_ID}", id="claim_task"),
        pytest.param(3, f"{KF}/process-items/{TASK_ID}", id="complete_task"),
        pytest.param(7, f"{KF}/processes/{PROCESS_ID}", id="complete_process"),
        pytest.param(8, f"{KF}/processes/{PROCESS_ID}", id="cancel_process"),
    ],
)
def test_kuflow_state_changes_show_their_conditional_read(index: int, read: str) -> None:
    _, check = planned(index)
    assert (check.method, check.url) == ("GET", read)
    assert check.note == "only when a retry meets 409: is it already done?"
