"""An Alteryx Server double: OAuth2 client credentials and v3 workflow jobs (seeds/alteryx-…fr.txt).

Tokens expire when `revoke_tokens()` says so (the next call answers 401). A job moves from Queued
through Running to its end one status per `GET /v3/jobs/{id}`; `outcome` sets how it ends.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.doubles.server import Double

CLIENT_ID, CLIENT_SECRET = "ayx-key", "ayx-secret"


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    value: str


class JobContract(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    workerTag: str | None = None
    credentialId: str | None = None
    questions: list[Question] | None = None
    priority: str | None = None


def _problem(status: int, message: str) -> Response:
    return JSONResponse({"message": message}, status_code=status)


class AlteryxDouble(Double):
    """State: valid tokens and jobs."""

    def __init__(self) -> None:
        self.tokens: set[str] = set()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.outcome = ("Completed", "Success")
        routes = [
            Route("/webapi/oauth2/token", self._token, methods=["POST"]),
            Route("/webapi/v3/workflows/{workflow_id}/jobs", self._start, methods=["POST"]),
            Route("/webapi/v3/jobs/{job_id}", self._job, methods=["GET"]),
        ]
        super().__init__(Starlette(routes=routes))

    @property
    def base_url(self) -> str:
        return f"{self.url}/webapi"

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        token = secrets.token_hex(16)
        self.tokens.add(token)
        return JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": 3600})

    def _authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and token in self.tokens

    async def _start(self, request: Request) -> Response:
        if not self._authorized(request):
            return _problem(401, "Unauthorized")
        try:
            contract = JobContract.model_validate_json(await request.body())
        except ValidationError as exc:
            return _problem(400, f"invalid contract: {exc.errors(include_url=False)}")
        job = {
            "id": uuid.uuid4().hex[:24],
            "appId": request.path_params["workflow_id"],
            "createDateTime": datetime.now(UTC).isoformat(),
            "status": "Queued",
            "disposition": "None",
            "priority": contract.priority or "Low",
            "workerTag": contract.workerTag or "none",
            "questions": [q.model_dump() for q in contract.questions or []],
            "outputs": [],
            "messages": [],
        }
        self.jobs[job["id"]] = job
        return JSONResponse(job)

    async def _job(self, request: Request) -> Response:
        if not self._authorized(request):
            return _problem(401, "Unauthorized")
        job = self.jobs.get(request.path_params["job_id"])
        if job is None:
            return _problem(404, "Job not found")
        if job["status"] == "Queued":
            job["status"] = "Running"
        elif job["status"] == "Running":
            job["status"], job["disposition"] = self.outcome
        return JSONResponse(job)
