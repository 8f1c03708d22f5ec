"""UltraCart REST v2 Workflow API (seeds/ultracart-workflow-api*.md): workflow tasks.

UltraCart does not take client-chosen ids, so `insert_task` tags the task `kr:<idempotency key>`
and, when the action is retried, first searches for a task with that tag: a task created by an
attempt whose answer was lost is found instead of created twice.
"""

from __future__ import annotations

from typing import Any, Literal

from handlers.clients.base import (
    Connection,
    ConnectionType,
    Operation,
    Params,
    PlannedRequest,
    as_text,
    drop_none,
    url,
)

API_VERSION = "2017-03-01"
TAG_PREFIX = "kr:"


class UltracartConnection(Connection):
    """`type: ultracart` — a simple API key from UltraCart's Configuration → API Keys."""

    type: Literal["ultracart"]
    api_key: str


class TaskFields(Params):
    """WorkflowTask fields an action may set (the names UltraCart uses)."""

    task_name: str | None = None
    task_details: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    priority: str | None = None  # "1 - low" … "4 - critical"
    status: str | None = None
    due_dts: str | None = None
    assigned_to_user: str | None = None
    assigned_to_group: str | None = None
    tags: list[str] | None = None
    properties: dict[str, Any] | None = None

    def body(self) -> dict[str, Any]:
        """The WorkflowTask JSON for the fields that were given."""
        body = drop_none(self.model_dump(exclude={"properties"}))
        if self.properties is not None:
            body["properties"] = [
                {"name": k, "value": as_text(v)} for k, v in self.properties.items()
            ]
        return body


class InsertTask(TaskFields):
    task_name: str


class UpdateTask(TaskFields):
    task_uuid: str


def idempotency_tag(key: str) -> str:
    """The tag that marks the task created by one action."""
    return TAG_PREFIX + key


def search_request(c: UltracartConnection, key: str) -> PlannedRequest:
    """Find the task an earlier attempt of this action may have created."""
    body = {"tags": [idempotency_tag(key)]}
    return PlannedRequest(
        "POST", url(c.base_url, "/workflow/tasks/search"), body, note="only on a retry"
    )


def _insert_task(c: UltracartConnection, p: InsertTask, key: str) -> list[PlannedRequest]:
    body = p.body()
    body["tags"] = [*(p.tags or []), idempotency_tag(key)]
    insert = PlannedRequest("POST", url(c.base_url, "/workflow/tasks"), body)
    return [search_request(c, key), insert]


def task_url(c: UltracartConnection, task_uuid: str) -> str:
    """The URL of one workflow task."""
    return url(c.base_url, "/workflow/tasks/{uuid}", uuid=task_uuid)


def _update_task(c: UltracartConnection, p: UpdateTask, key: str) -> list[PlannedRequest]:
    target = task_url(c, p.task_uuid)
    changes = p.body()
    del changes["task_uuid"]
    return [
        PlannedRequest("GET", target),
        PlannedRequest(
            "PUT", target, changes, note="the task read above, with these fields merged"
        ),
    ]


OPERATIONS = {
    "insert_task": Operation(InsertTask, _insert_task, "create a workflow task"),
    "update_task": Operation(UpdateTask, _update_task, "change fields of a workflow task"),
}

ULTRACART = ConnectionType(UltracartConnection, OPERATIONS)
