"""A SailPoint NERM double: workflow sessions (seeds/sailpoint-nerm-workflow-sessions.txt)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.doubles.server import Double

TOKEN = "nerm-api-token"
FILTERS = ("workflow_id", "profile_id", "uid", "requester_id", "status")


class NewSession(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    workflow_id: str
    requester_id: str
    requester_type: Literal["User", "NeprofileUser", "NeaccessUser"]
    profile_id: str | None = None
    attributes: dict[str, str] = {}


class SessionChange(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    attributes: dict[str, str] | None = None
    status: str | None = None


def _problem(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


class NermDouble(Double):
    """State: workflow sessions by id."""

    def __init__(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        routes = [
            Route("/api/workflow_sessions", self._create, methods=["POST"]),
            Route("/api/workflow_sessions", self._list, methods=["GET"]),
            Route("/api/workflow_sessions/{id}", self._get, methods=["GET"]),
            Route("/api/workflow_sessions/{id}", self._patch, methods=["PATCH"]),
        ]
        super().__init__(Starlette(routes=routes))

    @property
    def base_url(self) -> str:
        return f"{self.url}/api"

    def add_session(self, **fields: Any) -> dict[str, Any]:
        session = {
            "id": str(uuid.uuid4()),
            "uid": uuid.uuid4().hex,
            "status": "new",
            "attributes": {},
            **fields,
        }
        self.sessions[session["id"]] = session
        return session

    @staticmethod
    def _denied(request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return _problem(401, "Unauthorized")
        run = request.query_params.get("run")
        if request.method in ("POST", "PATCH") and run not in ("true", "false"):
            return _problem(400, "run must be true or false")
        return None

    @staticmethod
    def _payload(body: Any) -> Any:
        if not isinstance(body, dict) or set(body) != {"workflow_session"}:
            raise ValueError('the body must be {"workflow_session": {...}}')
        return body["workflow_session"]

    async def _create(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied:
            return denied
        try:
            new = NewSession.model_validate(self._payload(await request.json()))
            for name in ("workflow_id", "requester_id", "profile_id"):
                value = getattr(new, name)
                if value is not None:
                    uuid.UUID(value)
        except (ValueError, ValidationError) as exc:
            return _problem(400, str(exc))
        session = self.add_session(**new.model_dump(exclude_none=True))
        return JSONResponse({"workflow_session": session}, status_code=201)

    async def _list(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied:
            return denied
        unknown = set(request.query_params) - set(FILTERS) - {"metadata"}
        if unknown:
            return _problem(400, f"unknown filters {sorted(unknown)}")
        found = [
            s for s in self.sessions.values()
            if all(s.get(k) == v for k, v in request.query_params.items() if k in FILTERS)
        ]  # fmt: skip
        return JSONResponse(
            {
                "workflow_sessions": found,
                "_metadata": {"limit": 100, "offset": 0, "total": len(found)},
            }
        )

    async def _get(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied:
            return denied
        session = self.sessions.get(request.path_params["id"])
        return (
            JSONResponse({"workflow_session": session}) if session else _problem(404, "Not found")
        )

    async def _patch(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied:
            return denied
        session = self.sessions.get(request.path_params["id"])
        if session is None:
            return _problem(404, "Not found")
        try:
            change = SessionChange.model_validate(self._payload(await request.json()))
        except (ValueError, ValidationError) as exc:
            return _problem(400, str(exc))
        if change.attributes:
            session["attributes"] = {**session["attributes"], **change.attributes}
        if change.status:
            session["status"] = change.status
        return JSONResponse({"workflow_session": session})
