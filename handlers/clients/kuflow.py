"""KuFlow REST API (seeds/kuflow-openapi-v2024-06-14.yaml): tasks, messages, processes.

KuFlow accepts a client-chosen `id` on `POST /process-items` (201 when created, 200 when an item
with that id exists), so creates send the action's idempotency key as the id: a retry after a
crash can never create a second item.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, NamedTuple
from uuid import UUID

from pydantic import Field, model_validator

from handlers.clients.base import (
    ActionCall,
    ActionResult,
    ClientId,
    ClientSecret,
    Connection,
    ConnectionType,
    Operation,
    PlannedRequest,
    Reply,
    Single,
    drop_none,
    result_from,
    url,
)
from handlers.clients.errors import PermanentError
from handlers.clients.params import Params
from handlers.clients.send import json_body, send


class KuflowConnection(Connection):
    """`type: kuflow` — application credentials from KuFlow's Settings → Applications."""

    type: Literal["kuflow"]
    client_id: ClientId
    client_secret: ClientSecret
    auth: Literal["bearer", "basic"] = Field(
        default="bearer",
        description="How KuFlow credentials are sent: bearer (KuFlow's SDKs) or basic.",
    )


ProcessId = Annotated[
    UUID, Field(description="The KuFlow process (a UUID), e.g. {{ data.processId }}.")
]
TaskId = Annotated[
    UUID,
    Field(description="The KuFlow task, i.e. its process item id (a UUID), e.g. "
          "{{ data.processItemId }}."),
]  # fmt: skip
OwnerId = Annotated[UUID | None, Field(description="The KuFlow user (a UUID) who owns the task.")]
OwnerEmail = Annotated[
    str | None, Field(description="The email of the KuFlow user who owns the task.")
]
FORM_DATA = "The task's form data (a mapping), as KuFlow's JSON forms expect it."


class CreateTask(Params):
    process_id: ProcessId
    task_code: str = Field(description="The code of the task definition in the process definition.")
    owner_id: OwnerId = None
    owner_email: OwnerEmail = None
    data: dict[str, Any] | None = Field(default=None, description=FORM_DATA)


class CreateMessage(Params):
    process_id: ProcessId
    text: str = Field(description="The message's text.")
    data: dict[str, Any] | None = Field(default=None, description=FORM_DATA)


class TaskRef(Params):
    task_id: TaskId


class AssignTask(Params):
    task_id: TaskId
    owner_id: OwnerId = None
    owner_email: OwnerEmail = None

    @model_validator(mode="after")
    def _one_owner(self) -> AssignTask:
        if (self.owner_id is None) == (self.owner_email is None):
            raise ValueError("give exactly one of owner_id and owner_email")
        return self


class AppendLog(Params):
    task_id: TaskId
    message: str = Field(description="The log entry's text.")
    level: Literal["INFO", "WARN", "ERROR"] = Field(
        default="INFO", description="The log entry's level: INFO, WARN or ERROR."
    )


class UpdateTaskData(Params):
    task_id: TaskId
    data: dict[str, Any] = Field(description=FORM_DATA)


class ProcessRef(Params):
    process_id: ProcessId


class UpdateProcessEntity(Params):
    process_id: ProcessId
    entity: dict[str, Any] = Field(
        description="The process's entity data (a mapping) that replaces the current one, all "
        "of it: a field left out is lost (patch_process_entity changes some fields only)."
    )


class PatchProcessEntity(Params):
    process_id: ProcessId
    set: dict[str, Any] = Field(
        description="The entity's fields to set (a mapping); the others keep their values."
    )


def _pointer(name: str) -> str:
    """A JSON Pointer to a field of the entity (RFC 6901: `~` and `/` escaped)."""
    return "/" + name.replace("~", "~0").replace("/", "~1")


def _create_task(c: KuflowConnection, p: CreateTask, key: str) -> Single:
    body = drop_none(
        {
            "id": key,
            "type": "TASK",
            "processId": str(p.process_id),
            "processItemDefinitionCode": p.task_code,
            "ownerId": str(p.owner_id) if p.owner_id else None,
            "ownerEmail": p.owner_email,
        }
    )
    body["task"] = {"data": {"value": p.data or {}}}
    return Single(PlannedRequest("POST", url(c.base_url, "/process-items"), body))


def _create_message(c: KuflowConnection, p: CreateMessage, key: str) -> Single:
    message = drop_none({"text": p.text, "data": {"value": p.data} if p.data else None})
    body = {"id": key, "type": "MESSAGE", "processId": str(p.process_id), "message": message}
    return Single(PlannedRequest("POST", url(c.base_url, "/process-items"), body))


VERIFY_NOTE = "only when a retry meets 409: is it already done?"


class Checked(NamedTuple):
    """A state change, and the read that tells a change already made from a real conflict."""

    change: PlannedRequest
    read: PlannedRequest


def _task_action(action: str) -> Callable[[KuflowConnection, TaskRef, str], Checked]:
    def plan(c: KuflowConnection, p: TaskRef, key: str) -> Checked:
        path = f"/process-items/{{id}}/task/~actions/{action}"
        task = str(p.task_id)
        read = url(c.base_url, "/process-items/{id}", id=task)
        return Checked(
            PlannedRequest("POST", url(c.base_url, path, id=task)),
            PlannedRequest("GET", read, note=VERIFY_NOTE),
        )

    return plan


def _assign_task(c: KuflowConnection, p: AssignTask, key: str) -> Single:
    body = drop_none(
        {"ownerId": str(p.owner_id) if p.owner_id else None, "ownerEmail": p.owner_email}
    )
    path = url(c.base_url, "/process-items/{id}/task/~actions/assign", id=str(p.task_id))
    return Single(PlannedRequest("POST", path, body))


def _append_log(c: KuflowConnection, p: AppendLog, key: str) -> Single:
    path = url(c.base_url, "/process-items/{id}/task/~actions/append-log", id=str(p.task_id))
    return Single(PlannedRequest("POST", path, {"message": p.message, "level": p.level}))


def _update_task_data(c: KuflowConnection, p: UpdateTaskData, key: str) -> Single:
    path = url(c.base_url, "/process-items/{id}/task/data", id=str(p.task_id))
    return Single(PlannedRequest("PUT", path, {"data": {"value": p.data}}))


def _process_action(action: str) -> Callable[[KuflowConnection, ProcessRef, str], Checked]:
    def plan(c: KuflowConnection, p: ProcessRef, key: str) -> Checked:
        process = str(p.process_id)
        path = url(c.base_url, f"/processes/{{id}}/~actions/{action}", id=process)
        read = url(c.base_url, "/processes/{id}", id=process)
        return Checked(PlannedRequest("POST", path), PlannedRequest("GET", read, note=VERIFY_NOTE))

    return plan


def _update_entity(c: KuflowConnection, p: UpdateProcessEntity, key: str) -> Single:
    path = url(c.base_url, "/processes/{id}/entity", id=str(p.process_id))
    return Single(PlannedRequest("PUT", path, {"entity": {"value": p.entity}}))


def _patch_entity(c: KuflowConnection, p: PatchProcessEntity, key: str) -> Single:
    """Set some fields of the entity, leaving the others as they are: `add` replaces a field
    that exists and adds one that does not (RFC 6902), so a retry sets the same values again."""
    path = url(c.base_url, "/processes/{id}/entity", id=str(p.process_id))
    operations = [{"op": "add", "path": _pointer(n), "value": v} for n, v in p.set.items()]
    return Single(PlannedRequest("PATCH", path, operations,
                                 content_type="application/json-patch+json"))  # fmt: skip


Runner = Callable[[Checked, ActionCall[KuflowConnection, Any]], Awaitable[ActionResult]]


def _verified(target: str, on_task: bool) -> Runner:
    """Run a state change; when a resumed try meets 409, succeed if the state is already `target`
    (the task's state when `on_task`, else the process's).

    A try that reached KuFlow but whose answer was lost (a worker crash, a timeout) leaves the
    task or process already changed, and KuFlow answers the repeat with 409 (invalid state).
    Reading the object back tells a change we made from a real conflict.
    """

    async def run(plan: Checked, call: ActionCall[KuflowConnection, Any]) -> ActionResult:
        headers = auth_headers(call.connection)
        http = call.session.http
        try:
            return result_from(json_body(await send(http, plan.change, headers, call.timeout_s)))
        except PermanentError as exc:
            if exc.status != 409 or not call.resumed:
                raise
            current = json_body(await send(http, plan.read, headers, call.timeout_s))
            if not isinstance(current, dict):
                raise
            holder = current.get("task") if on_task else current
            if not isinstance(holder, dict) or holder.get("state") != target:
                raise
            return result_from(current)

    return run


def _task_change(action: str, target: str, summary: str) -> Operation[Any, Any, Any]:
    return Operation(TaskRef, _task_action(action), summary, run=_verified(target, on_task=True))


def _process_change(action: str, target: str, summary: str) -> Operation[Any, Any, Any]:
    plan = _process_action(action)
    return Operation(ProcessRef, plan, summary, run=_verified(target, on_task=False))


OPERATIONS: dict[str, Operation[KuflowConnection, Any, Any]] = {
    "create_task": Operation(
        CreateTask, _create_task, "create a task in a process", key_is_id=True
    ),
    "create_message": Operation(
        CreateMessage, _create_message, "post a message in a process", key_is_id=True
    ),
    "claim_task": _task_change("claim", "CLAIMED", "claim a task"),
    "complete_task": _task_change("complete", "COMPLETED", "complete a task"),
    "assign_task": Operation(AssignTask, _assign_task, "assign a task to a user"),
    "append_log": Operation(AppendLog, _append_log, "append a log entry to a task"),
    "update_task_data": Operation(UpdateTaskData, _update_task_data, "replace a task's data"),
    "complete_process": _process_change("complete", "COMPLETED", "complete a process"),
    "cancel_process": _process_change("cancel", "CANCELLED", "cancel a process"),
    "update_process_entity": Operation(
        UpdateProcessEntity, _update_entity, "replace a process's entity data (all of it)"
    ),
    "patch_process_entity": Operation(
        PatchProcessEntity, _patch_entity, "set some fields of a process's entity, keeping the rest"
    ),
}


def auth_headers(c: KuflowConnection) -> dict[str, str]:
    """What KuFlow's SDKs send: `Bearer base64(client_id:client_secret)` (or Basic)."""
    pair = base64.b64encode(f"{c.client_id}:{c.client_secret}".encode()).decode()
    return {"Authorization": f"{'Bearer' if c.auth == 'bearer' else 'Basic'} {pair}"}


async def _headers(call: ActionCall[KuflowConnection, Any]) -> dict[str, str]:
    return auth_headers(call.connection)


def enrichment_requests(
    c: KuflowConnection, process_id: str, item_id: str | None
) -> dict[str, PlannedRequest]:
    """The GETs behind `process.*` and `processItem.*`, by root."""
    requests = {"process": PlannedRequest("GET", url(c.base_url, "/processes/{id}", id=process_id))}
    if item_id:
        path = url(c.base_url, "/process-items/{id}", id=item_id)
        requests["processItem"] = PlannedRequest("GET", path)
    return requests


def _demo_process(process_id: str) -> dict[str, Any]:
    """A RUNNING loan process, as `examples/process.json` (every example rule can match)."""
    return {
        "id": process_id,
        "state": "RUNNING",
        "processDefinitionRef": {"id": str(uuid.uuid4()), "code": "LOAN_APPLICATION"},
        "metadata": {"valid": True, "value": {"reviewer": "ana.garcia@example.com"}},
        "entity": {
            "valid": True,
            "value": {"customer": "ACME Corp", "amount": 25000, "currency": "EUR",
                      "orderId": "UC-10042"},
        },
    }  # fmt: skip


def _demo_item(item_id: str) -> dict[str, Any]:
    """A completed, approved LOAN_REVIEW task, as `examples/process-item.json`."""
    return {
        "id": item_id,
        "type": "TASK",
        "processId": str(uuid.uuid4()),
        "processItemDefinitionRef": {"code": "LOAN_REVIEW"},
        "task": {
            "state": "COMPLETED",
            "data": {"valid": True, "value": {"decision": "APPROVED", "score": 87}},
        },
    }


def _stand_in(memory: dict[str, Any], method: str, parts: list[str], body: Any) -> Reply:
    """KuFlow for `run --demo`: processes and items, as created or as the examples show them."""
    processes = memory.setdefault("processes", {})
    items = memory.setdefault("items", {})
    if parts[:1] == ["processes"]:
        if len(parts) == 1:
            found = list(processes.values())[:1]
            meta = {"size": 1, "page": 0, "totalElements": len(found), "totalPages": 1}
            return 200, {"metadata": meta, "content": found}
        process = processes.setdefault(parts[1], _demo_process(parts[1]))
        if parts[2:3] == ["~actions"]:
            process["state"] = "COMPLETED" if parts[3] == "complete" else "CANCELLED"
        elif parts[2:] == ["entity"] and isinstance(body, dict):
            process["entity"] = {"valid": True, **body.get("entity", {})}
        elif parts[2:] == ["entity"] and isinstance(body, list):  # a JSON Patch of fields
            value = process.setdefault("entity", {"valid": True, "value": {}})["value"]
            value.update({op["path"][1:]: op.get("value") for op in body if "path" in op})
        return 200, process
    if parts == ["process-items"] and method == "POST" and isinstance(body, dict):
        item = {**body, "id": body.get("id") or str(uuid.uuid4())}
        if item.get("type") == "TASK":
            item["task"] = {"state": "READY", **item.get("task", {})}
        items[item["id"]] = item
        return 201, item
    if parts[:1] == ["process-items"] and len(parts) > 1:
        item = items.setdefault(parts[1], _demo_item(parts[1]))
        action = parts[4] if parts[2:4] == ["task", "~actions"] and len(parts) > 4 else ""
        states = {"claim": "CLAIMED", "complete": "COMPLETED"}
        if action in states:
            item.setdefault("task", {})["state"] = states[action]
        return 200, item
    return 404, {"message": f"the demo KuFlow has no {method} /{'/'.join(parts)}"}


KUFLOW = ConnectionType(KuflowConnection, OPERATIONS, _headers, result_from, _stand_in)
