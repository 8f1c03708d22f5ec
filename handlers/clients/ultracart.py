"""UltraCart REST v2 Workflow API (seeds/ultracart-workflow-api*.md): workflow tasks.

UltraCart does not take client-chosen ids, so `insert_task` tags the task `kr:<idempotency key>`
and, when the action is retried, first searches for a task with that tag: a task created by an
attempt whose answer was lost is found instead of created twice.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal, NamedTuple

from pydantic import Field

from handlers.clients.base import (
    ActionCall,
    ActionResult,
    Connection,
    ConnectionType,
    Operation,
    PlannedRequest,
    Reply,
    Secret,
    as_text,
    drop_none,
    result_from,
    url,
)
from handlers.clients.errors import PermanentError
from handlers.clients.params import Params
from handlers.clients.send import json_body, send

API_VERSION = "2017-03-01"
TAG_PREFIX = "kr:"


class UltracartConnection(Connection):
    """`type: ultracart` — a simple API key from UltraCart's Configuration → API Keys."""

    type: Literal["ultracart"]
    api_key: Secret = Field(
        description="UltraCart's simple API key (Configuration → API Keys), sent as "
        "x-ultracart-simple-key. Use ${NAME}."
    )


class TaskFields(Params):
    """WorkflowTask fields an action may set (the names UltraCart uses)."""

    task_name: str | None = Field(default=None, description="The workflow task's name.")
    task_details: str | None = Field(default=None, description="The workflow task's details.")
    object_type: str | None = Field(
        default=None,
        description="What the task is about in UltraCart: order, item, customer profile …",
    )
    object_id: str | None = Field(
        default=None, description="The id of that object (an order id, say)."
    )
    priority: str | None = Field(
        default=None, description="1 - low, 2 - medium, 3 - high or 4 - critical."
    )
    status: str | None = Field(
        default=None, description="The workflow task's status: open, closed …"
    )
    due_dts: str | None = Field(
        default=None, description="When the task is due (an ISO 8601 time)."
    )
    assigned_to_user: str | None = Field(
        default=None, description="The UltraCart user the task is assigned to."
    )
    assigned_to_group: str | None = Field(
        default=None, description="The UltraCart group the task is assigned to."
    )
    tags: list[str] | None = Field(
        default=None,
        description="Tags of the task (the router adds its own kr:… tag to find it again).",
    )
    properties: dict[str, Any] | None = Field(
        default=None,
        description="Name/value properties of the task; values are sent as text.",
    )

    def body(self) -> dict[str, Any]:
        """The WorkflowTask JSON for the fields that were given."""
        body = drop_none(self.model_dump(exclude={"properties"}))
        if self.properties is not None:
            body["properties"] = [
                {"name": k, "value": as_text(v)} for k, v in self.properties.items()
            ]
        return body


class InsertTask(TaskFields):
    task_name: str = Field(description="The workflow task's name.")


class UpdateTask(TaskFields):
    task_uuid: str = Field(
        description="The UltraCart workflow task to change (its workflow_task_uuid)."
    )


def idempotency_tag(key: str) -> str:
    """The tag that marks the task created by one action."""
    return TAG_PREFIX + key


def search_request(c: UltracartConnection, key: str) -> PlannedRequest:
    """Find the task an earlier attempt of this action may have created."""
    body = {"tags": [idempotency_tag(key)]}
    return PlannedRequest(
        "POST", url(c.base_url, "/workflow/tasks/search"), body, note="only on a retry"
    )


class Insert(NamedTuple):
    """The search for the task an earlier try made (sent on a retry only), then the insert."""

    search: PlannedRequest
    insert: PlannedRequest


def _insert_task(c: UltracartConnection, p: InsertTask, key: str) -> Insert:
    body = p.body()
    body["tags"] = [*(p.tags or []), idempotency_tag(key)]
    insert = PlannedRequest("POST", url(c.base_url, "/workflow/tasks"), body)
    return Insert(search_request(c, key), insert)


def task_url(c: UltracartConnection, task_uuid: str) -> str:
    """The URL of one workflow task."""
    return url(c.base_url, "/workflow/tasks/{uuid}", uuid=task_uuid)


class ReadWrite(NamedTuple):
    """Read the task, then write it back with the given fields merged."""

    read: PlannedRequest
    write: PlannedRequest


def _update_task(c: UltracartConnection, p: UpdateTask, key: str) -> ReadWrite:
    target = task_url(c, p.task_uuid)
    changes = p.body()
    del changes["task_uuid"]
    note = "the task read above, with these fields merged"
    return ReadWrite(
        PlannedRequest("GET", target), PlannedRequest("PUT", target, changes, note=note)
    )


Call = ActionCall[UltracartConnection, Any]


async def _headers(call: Call) -> dict[str, str]:
    return {
        "x-ultracart-simple-key": call.connection.api_key,
        "X-UltraCart-Api-Version": API_VERSION,
    }


def _task(body: Any) -> ActionResult:
    """The task of a WorkflowTaskResponse; `success: false` or an `error` fails even under 200."""
    if not isinstance(body, dict):
        raise PermanentError("UltraCart answered without a WorkflowTaskResponse object", 200)
    error = body.get("error")
    if body.get("success") is False or error:
        text = ""
        if isinstance(error, dict):
            text = str(error.get("user_message") or error.get("developer_message") or "")
        raise PermanentError(
            f"UltraCart answered success=false: {text or 'no reason given'}", 200, text
        )
    task = body.get("task")
    if not isinstance(task, dict):
        raise PermanentError("UltraCart answered without the task", 200)
    return result_from(task, "workflow_task_uuid")


async def _run_insert(plan: Insert, call: Call) -> ActionResult:
    """Insert the task, unless a retry finds the one an earlier try already created."""
    headers = await _headers(call)
    http = call.session.http
    if call.resumed:
        found = json_body(await send(http, plan.search, headers, call.timeout_s))
        tasks = found.get("tasks") if isinstance(found, dict) else None
        if isinstance(tasks, list) and tasks and isinstance(tasks[0], dict):
            return result_from(tasks[0], "workflow_task_uuid")
    return _task(json_body(await send(http, plan.insert, headers, call.timeout_s)))


async def _run_update(plan: ReadWrite, call: Call) -> ActionResult:
    """Read the task, merge the given fields, write it back."""
    headers = await _headers(call)
    http = call.session.http
    current = _task(json_body(await send(http, plan.read, headers, call.timeout_s)))
    write = plan.write
    merged = PlannedRequest(write.method, write.url, {**current.data, **write.json})
    return _task(json_body(await send(http, merged, headers, call.timeout_s)))


OPERATIONS: dict[str, Operation[UltracartConnection, Any, Any]] = {
    "insert_task": Operation(InsertTask, _insert_task, "create a workflow task", run=_run_insert),
    "update_task": Operation(
        UpdateTask, _update_task, "change fields of a workflow task", run=_run_update
    ),
}


def _stand_in(memory: dict[str, Any], method: str, parts: list[str], body: Any) -> Reply:
    """UltraCart for `run --demo`: a search finds nothing, an insert or update echoes the task."""
    if parts[-1:] == ["search"]:
        return 200, {"success": True, "tasks": []}
    task = {**(body if isinstance(body, dict) else {})}
    task.setdefault("workflow_task_uuid", parts[2] if len(parts) > 2 else str(uuid.uuid4()))
    return 200, {"success": True, "task": task}


ULTRACART = ConnectionType(UltracartConnection, OPERATIONS, _headers, _task, _stand_in)
