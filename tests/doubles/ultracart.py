"""An UltraCart double: the Workflow API endpoints the router uses (seeds/ultracart-workflow-api*.md).

Authenticates with the simple key headers; answers with WorkflowTaskResponse /
WorkflowTasksResponse envelopes (`success`, `task`/`tasks`, `error`) and, on errors, the
`UC-REST-ERROR` header, as UltraCart does.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.doubles.server import Double

API_KEY = "uc-simple-key"


class Property(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    value: str


class WorkflowTask(BaseModel):
    """The writable WorkflowTask fields (server-set ones are refused in a request)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    workflow_task_uuid: str | None = None
    task_name: str | None = None
    task_details: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    priority: str | None = None
    status: str | None = None
    due_dts: str | None = None
    assigned_to_user: str | None = None
    assigned_to_group: str | None = None
    tags: list[str] | None = None
    properties: list[Property] | None = None
    created_dts: str | None = None
    merchant_id: str | None = None


class WorkflowTasksRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    tags: list[str] | None = None
    object_type: str | None = None
    status: str | None = None


def error(status: int, message: str) -> Response:
    body = {"success": False, "error": {"user_message": message, "developer_message": message}}
    return JSONResponse(body, status_code=status, headers={"UC-REST-ERROR": message})


class UltracartDouble(Double):
    """State: workflow tasks by uuid."""

    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}
        routes = [
            Route("/rest/v2/workflow/tasks", self._insert, methods=["POST"]),
            Route("/rest/v2/workflow/tasks/search", self._search, methods=["POST"]),
            Route("/rest/v2/workflow/tasks/{uuid}", self._get, methods=["GET"]),
            Route("/rest/v2/workflow/tasks/{uuid}", self._update, methods=["PUT"]),
        ]
        super().__init__(Starlette(routes=routes))

    @property
    def base_url(self) -> str:
        return f"{self.url}/rest/v2"

    async def _body(self, request: Request, model: type[BaseModel]) -> BaseModel | Response:
        if request.headers.get("x-ultracart-simple-key") != API_KEY:
            return error(401, "Invalid credentials supplied")
        if request.headers.get("x-ultracart-api-version") != "2017-03-01":
            return error(400, "Missing or unsupported X-UltraCart-Api-Version")
        if request.method == "GET":
            return WorkflowTask()
        try:
            return model.model_validate_json(await request.body())
        except ValidationError as exc:
            return error(
                400, f"bad request input such as invalid json: {exc.errors(include_url=False)}"
            )

    async def _insert(self, request: Request) -> Response:
        task = await self._body(request, WorkflowTask)
        if isinstance(task, Response):
            return task
        assert isinstance(task, WorkflowTask)
        if not task.task_name:
            return error(400, "task_name is required")
        stored = task.model_dump(exclude_none=True, mode="json")
        stored["workflow_task_uuid"] = str(uuid.uuid4())
        stored.setdefault("status", "open")
        self.tasks[stored["workflow_task_uuid"]] = stored
        return JSONResponse({"success": True, "task": stored})

    async def _search(self, request: Request) -> Response:
        query = await self._body(request, WorkflowTasksRequest)
        if isinstance(query, Response):
            return query
        assert isinstance(query, WorkflowTasksRequest)
        wanted = set(query.tags or [])
        found = [t for t in self.tasks.values() if wanted <= set(t.get("tags", []))]
        return JSONResponse(
            {"success": True, "tasks": found, "metadata": {"result_set": {"count": len(found)}}}
        )

    async def _get(self, request: Request) -> Response:
        checked = await self._body(request, WorkflowTask)
        if isinstance(checked, Response):
            return checked
        task = self.tasks.get(request.path_params["uuid"])
        return (
            JSONResponse({"success": True, "task": task}) if task else error(404, "Task not found")
        )

    async def _update(self, request: Request) -> Response:
        task = await self._body(request, WorkflowTask)
        if isinstance(task, Response):
            return task
        assert isinstance(task, WorkflowTask)
        uuid_ = request.path_params["uuid"]
        if uuid_ not in self.tasks:
            return error(404, "Task not found")
        if task.workflow_task_uuid not in (None, uuid_):
            return error(400, "workflow_task_uuid does not match the path")
        self.tasks[uuid_] = {
            **task.model_dump(exclude_none=True, mode="json"),
            "workflow_task_uuid": uuid_,
        }
        return JSONResponse({"success": True, "task": self.tasks[uuid_]})
