"""A KuFlow double: the REST endpoints the router uses (seeds/kuflow-openapi-v2024-06-14.yaml).

Strict where KuFlow's schema is: request bodies must match the documented params objects
(unknown or read-only fields, wrong types and missing required fields answer 400), ids in paths
must be UUIDs, and the caller must send the application's credentials the way KuFlow's SDKs do.
`POST /process-items` answers 201 for a new id and 200 for an id that exists, as KuFlow does.
"""

from __future__ import annotations

import base64
import hmac
import json
import uuid
from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.doubles.server import Double, error_body

CLIENT_ID, CLIENT_SECRET = "kuflow-app", "kuflow-secret"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class JsonValue(_Strict):
    value: dict[str, Any]


class TaskCreate(_Strict):
    data: JsonValue | None = None
    contextData: JsonValue | None = None


class MessageCreate(_Strict):
    text: str | None = None
    data: JsonValue | None = None
    dataStructureDataDefinitionCode: str | None = None


class ProcessItemCreate(_Strict):
    id: str | None = None
    type: Literal["TASK", "MESSAGE", "THREAD"]
    processId: str
    ownerId: str | None = None
    ownerEmail: str | None = None
    processItemDefinitionCode: str | None = None
    task: TaskCreate | None = None
    message: MessageCreate | None = None


class Assign(_Strict):
    ownerId: str | None = None
    ownerEmail: str | None = None


class AppendLog(_Strict):
    message: str
    level: Literal["INFO", "WARN", "ERROR"]


class TaskData(_Strict):
    data: JsonValue


class Entity(_Strict):
    entity: JsonValue


class PatchOperation(_Strict):
    """JsonPatchOperation: one step of an RFC 6902 patch."""

    op: Literal["add", "remove", "replace", "move", "copy", "test"]
    path: str
    value: Any = None
    from_: str | None = Field(default=None, alias="from")


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status)


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


class KuflowDouble(Double):
    """State: processes and process items by id."""

    def __init__(self) -> None:
        self.processes: dict[str, dict[str, Any]] = {}
        self.items: dict[str, dict[str, Any]] = {}
        self.effects: Counter[tuple[str, str]] = Counter()  # (what changed, id): how often
        routes = [
            Route("/processes", self._find_processes, methods=["GET"]),
            Route("/processes/{id}", self._get_process, methods=["GET"]),
            Route("/processes/{id}/~actions/{action}", self._process_action, methods=["POST"]),
            Route("/processes/{id}/entity", self._entity, methods=["PUT"]),
            Route("/processes/{id}/entity", self._patch_entity, methods=["PATCH"]),
            Route("/process-items", self._create_item, methods=["POST"]),
            Route("/process-items/{id}", self._get_item, methods=["GET"]),
            Route(
                "/process-items/{id}/task/~actions/{action}", self._task_action, methods=["POST"]
            ),
            Route("/process-items/{id}/task/data", self._task_data, methods=["PUT"]),
        ]
        super().__init__(Starlette(routes=routes))

    def add_process(self, code: str = "LOAN_APPLICATION", **fields: Any) -> dict[str, Any]:
        """A RUNNING process (the Process schema), returned and stored."""
        process = {
            "id": str(uuid.uuid4()),
            "state": "RUNNING",
            "processDefinitionRef": {
                "id": str(uuid.uuid4()),
                "version": str(uuid.uuid4()),
                "code": code,
            },
            "metadata": {"valid": True, "value": {}},
            "entity": {"valid": True, "value": {}},
            "initiatorId": str(uuid.uuid4()),
            "tenantId": str(uuid.uuid4()),
            **fields,
        }
        self.processes[process["id"]] = process
        return process

    def add_task(
        self, process_id: str, code: str = "LOAN_REVIEW", state: str = "READY"
    ) -> dict[str, Any]:
        item = {
            "id": str(uuid.uuid4()),
            "type": "TASK",
            "processId": process_id,
            "processItemDefinitionRef": {"code": code},
            "task": {"state": state, "data": {"valid": True, "value": {}}, "logs": []},
        }
        self.items[item["id"]] = item
        return item

    def tasks(self) -> list[dict[str, Any]]:
        return [i for i in self.items.values() if i["type"] == "TASK"]

    # -- helpers -----------------------------------------------------------------------------------

    @staticmethod
    def _authorized(request: Request) -> bool:
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        return scheme.lower() in ("bearer", "basic") and hmac.compare_digest(value, expected)

    async def _checked(
        self, request: Request, model: type[BaseModel] | None
    ) -> BaseModel | Response | None:
        if not self._authorized(request):
            return _problem(401, "Unauthorized")
        if "id" in request.path_params and not _is_uuid(request.path_params["id"]):
            return _problem(400, "id must be a UUID")
        if model is None:
            return None
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return _problem(415, "Content-Type must be application/json")
        try:
            return model.model_validate_json(await request.body())
        except ValidationError as exc:
            return _problem(400, f"invalid body: {exc.errors(include_url=False)}")

    # -- processes --------------------------------------------------------------------------------

    async def _find_processes(self, request: Request) -> Response:
        """findProcesses: a ProcessPage (the router's start-up probe asks for one process)."""
        checked = await self._checked(request, None)
        if isinstance(checked, Response):
            return checked
        size = int(request.query_params.get("size", "25"))
        found = list(self.processes.values())
        metadata = {"size": size, "page": 0, "totalElements": len(found),
                    "totalPages": -(-len(found) // size) if size else 0}  # fmt: skip
        return JSONResponse({"metadata": metadata, "content": found[:size]})

    async def _get_process(self, request: Request) -> Response:
        checked = await self._checked(request, None)
        if isinstance(checked, Response):
            return checked
        process = self.processes.get(request.path_params["id"])
        return JSONResponse(process) if process else _problem(404, "Process not found")

    async def _process_action(self, request: Request) -> Response:
        checked = await self._checked(request, None)
        if isinstance(checked, Response):
            return checked
        action = request.path_params["action"]
        process = self.processes.get(request.path_params["id"])
        if action not in ("complete", "cancel"):
            return _problem(404, "Unknown action")
        if process is None:
            return _problem(404, "Process not found")
        if process["state"] != "RUNNING":
            return _problem(409, f"Process is {process['state']}")
        process["state"] = "COMPLETED" if action == "complete" else "CANCELLED"
        self.effects[(action, process["id"])] += 1
        return JSONResponse(process)

    async def _entity(self, request: Request) -> Response:
        checked = await self._checked(request, Entity)
        if isinstance(checked, Response):
            return checked
        process = self.processes.get(request.path_params["id"])
        if process is None:
            return _problem(404, "Process not found")
        assert isinstance(checked, Entity)
        process["entity"] = {"valid": True, "value": checked.entity.value}
        return JSONResponse(process)

    async def _patch_entity(self, request: Request) -> Response:
        """patchProcessEntity: a JsonPatch (application/json-patch+json) on the entity's value;
        only `add` and `replace` of a top-level field are implemented, as the router sends."""
        checked = await self._checked(request, None)
        if isinstance(checked, Response):
            return checked
        if request.headers.get("content-type", "").split(";")[0] != "application/json-patch+json":
            return _problem(415, "Content-Type must be application/json-patch+json")
        try:
            operations = [
                PatchOperation.model_validate(o) for o in json.loads(await request.body())
            ]
        except (ValueError, TypeError, ValidationError) as exc:
            return _problem(400, f"invalid JsonPatch: {exc}")
        process = self.processes.get(request.path_params["id"])
        if process is None:
            return _problem(404, "Process not found")
        value = dict(process["entity"].get("value") or {})
        for operation in operations:
            if operation.op not in ("add", "replace") or not operation.path.startswith("/"):
                return _problem(400, f"unsupported patch operation {operation.op} {operation.path}")
            name = operation.path[1:].replace("~1", "/").replace("~0", "~")
            value[name] = operation.value
        process["entity"] = {"valid": True, "value": value}
        self.effects[("patch_entity", process["id"])] += 1
        return JSONResponse(process)

    # -- process items ----------------------------------------------------------------------------

    async def _create_item(self, request: Request) -> Response:
        checked = await self._checked(request, ProcessItemCreate)
        if isinstance(checked, Response):
            return checked
        assert isinstance(checked, ProcessItemCreate)
        for name in ("id", "processId", "ownerId"):
            value = getattr(checked, name)
            if value is not None and not _is_uuid(value):
                return _problem(400, f"{name} must be a UUID")
        if checked.processId not in self.processes:
            return _problem(404, "Process not found")
        item_id = checked.id or str(uuid.uuid4())
        if item_id in self.items:
            return JSONResponse(self.items[item_id], status_code=200)
        item: dict[str, Any] = {
            "id": item_id,
            "type": checked.type,
            "processId": checked.processId,
            "processItemDefinitionRef": {"code": checked.processItemDefinitionCode},
        }
        if checked.ownerId or checked.ownerEmail:
            item["ownerId"] = checked.ownerId or str(
                uuid.uuid5(uuid.NAMESPACE_URL, str(checked.ownerEmail))
            )
        if checked.type == "TASK":
            data = checked.task.data.value if checked.task and checked.task.data else {}
            item["task"] = {"state": "READY", "data": {"valid": True, "value": data}, "logs": []}
        elif checked.type == "MESSAGE":
            item["message"] = (
                checked.message.model_dump(exclude_none=True) if checked.message else {}
            )
        self.items[item_id] = item
        self.effects[("create", item_id)] += 1
        return JSONResponse(item, status_code=201)

    def _task(self, request: Request) -> dict[str, Any] | Response:
        item = self.items.get(request.path_params["id"])
        if item is None:
            return _problem(404, "Process item not found")
        if item["type"] != "TASK":
            return _problem(400, "Process item is not a task")
        return item

    async def _get_item(self, request: Request) -> Response:
        checked = await self._checked(request, None)
        if isinstance(checked, Response):
            return checked
        item = self.items.get(request.path_params["id"])
        return JSONResponse(item) if item else _problem(404, "Process item not found")

    async def _task_action(self, request: Request) -> Response:
        action = request.path_params["action"]
        models: dict[str, type[BaseModel] | None] = {
            "claim": None, "complete": None, "assign": Assign, "append-log": AppendLog,
        }  # fmt: skip
        if action not in models:
            return _problem(404, "Unknown action")
        checked = await self._checked(request, models[action])
        if isinstance(checked, Response):
            return checked
        item = self._task(request)
        if isinstance(item, Response):
            return item
        task = item["task"]
        transitions = {"claim": ("READY", "CLAIMED"), "complete": ("CLAIMED", "COMPLETED")}
        if action in transitions:
            before, after = transitions[action]
            if task["state"] != before:
                return _problem(409, f"Task is {task['state']}, not {before}")
            task["state"] = after
            self.effects[(action, item["id"])] += 1
        elif isinstance(checked, Assign):
            if not (checked.ownerId or checked.ownerEmail):
                return _problem(400, "ownerId or ownerEmail is required")
            item["ownerId"] = checked.ownerId or str(
                uuid.uuid5(uuid.NAMESPACE_URL, str(checked.ownerEmail))
            )
        elif isinstance(checked, AppendLog):
            task["logs"].append({"message": checked.message, "level": checked.level})
            self.effects[("append-log", item["id"])] += 1
        return JSONResponse(item)

    async def _task_data(self, request: Request) -> Response:
        checked = await self._checked(request, TaskData)
        if isinstance(checked, Response):
            return checked
        item = self._task(request)
        if isinstance(item, Response):
            return item
        assert isinstance(checked, TaskData)
        item["task"]["data"] = {"valid": True, "value": checked.data.value}
        return JSONResponse(item)


def cancel_rules(base_url: str, defaults: str = "") -> str:
    """A rules file with one rule: cancel the process of every PROCESS.CREATED event."""
    return (
        "version: 1\nconnections:\n"
        f"  kuflow: {{type: kuflow, base_url: '{base_url}', client_id: {CLIENT_ID}, client_secret: {CLIENT_SECRET}}}\n"
        f"{defaults}"
        "rules:\n  - name: cancel\n    when: {type: PROCESS.CREATED}\n"
        "    do:\n      - kuflow.cancel_process: {process_id: '{{ data.processId }}'}\n"
    )
