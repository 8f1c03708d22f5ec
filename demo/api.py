"""A stand-in for the five APIs, served at `/demo-api/{type}/…` by `run --demo`.

It accepts what the router's clients send, answers in each API's shape (from the same documents
as the test doubles, but lenient: no credential or body checks), keeps what is created in memory
so later reads agree, and logs one line per request: the method, the path and the JSON body.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

log = logging.getLogger("kuflow_router.demo")

PREFIX = "/demo-api"
APIS = ("kuflow", "ultracart", "alteryx", "nerm", "http")  # connection types, one method each
Reply = tuple[int, Any]


def _process(process_id: str) -> dict[str, Any]:
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


def _item(item_id: str) -> dict[str, Any]:
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


class DemoApis:
    """The stand-ins' memory: what was created, by id."""

    def __init__(self) -> None:
        self.processes: dict[str, dict[str, Any]] = {}
        self.items: dict[str, dict[str, Any]] = {}

    def kuflow(self, method: str, parts: list[str], body: Any) -> Reply:
        if parts[:1] == ["processes"]:
            if len(parts) == 1:
                found = list(self.processes.values())[:1]
                meta = {"size": 1, "page": 0, "totalElements": len(found), "totalPages": 1}
                return 200, {"metadata": meta, "content": found}
            process = self.processes.setdefault(parts[1], _process(parts[1]))
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
            self.items[item["id"]] = item
            return 201, item
        if parts[:1] == ["process-items"] and len(parts) > 1:
            item = self.items.setdefault(parts[1], _item(parts[1]))
            action = parts[4] if parts[2:4] == ["task", "~actions"] and len(parts) > 4 else ""
            states = {"claim": "CLAIMED", "complete": "COMPLETED"}
            if action in states:
                item.setdefault("task", {})["state"] = states[action]
            return 200, item
        return 404, {"message": f"the demo KuFlow has no {method} /{'/'.join(parts)}"}

    def ultracart(self, method: str, parts: list[str], body: Any) -> Reply:
        if parts[-1:] == ["search"]:
            return 200, {"success": True, "tasks": []}
        task = {**(body if isinstance(body, dict) else {})}
        task.setdefault("workflow_task_uuid", parts[2] if len(parts) > 2 else str(uuid.uuid4()))
        return 200, {"success": True, "task": task}

    def alteryx(self, method: str, parts: list[str], body: Any) -> Reply:
        if parts == ["oauth2", "token"]:
            return 200, {"access_token": "demo-access-token", "token_type": "bearer",
                         "expires_in": 3600}  # fmt: skip
        if parts[-1:] == ["jobs"]:
            return 200, {"id": uuid.uuid4().hex[:24], "status": "Queued"}
        return 200, {"id": parts[-1], "status": "Completed", "disposition": "Success"}

    def nerm(self, method: str, parts: list[str], body: Any) -> Reply:
        if method == "GET":
            return 200, {"workflow_sessions": [{"id": str(uuid.uuid4()), "status": "Pending"}]}
        session = body.get("workflow_session", {}) if isinstance(body, dict) else {}
        session_id = parts[1] if len(parts) > 1 else str(uuid.uuid4())
        return 200, {"workflow_session": {**session, "id": session_id}}

    def http(self, method: str, parts: list[str], body: Any) -> Reply:
        return 201, {"id": str(uuid.uuid4())}

    async def handle(self, request: Request) -> JSONResponse:
        api, path = request.path_params["api"], request.path_params["path"]
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")  # a form (Alteryx's token request)
        if api not in APIS:
            return JSONResponse({"message": f"no demo API '{api}'"}, status_code=404)
        handler: Callable[[str, list[str], Any], Reply] = getattr(self, api)
        shown = json.dumps(body, ensure_ascii=False) if isinstance(body, dict | list) else ""
        log.info("demo %s API received %s /%s %s", api, request.method, path, shown[:500])
        status, answer = handler(request.method, [p for p in path.split("/") if p], body)
        return JSONResponse(answer, status_code=status)


def routes(apis: DemoApis) -> list[Route]:
    """The stand-ins' routes, to add to the router's own app."""
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return [Route(PREFIX + "/{api}/{path:path}", apis.handle, methods=methods)]
