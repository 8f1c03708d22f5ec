"""Alteryx Server API v3 (seeds/alteryx-server-v3-workflows.fr.txt): start a workflow job.

Authentication is OAuth2 client credentials at `{base_url}/oauth2/token`; the token is cached
until it expires. With `wait:`, the action polls `GET /v3/jobs/{id}` until the job ends.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from common import redact
from handlers.clients.base import (
    ActionCall,
    ActionResult,
    ClientId,
    ClientSecret,
    Connection,
    ConnectionType,
    Operation,
    Pending,
    PlannedRequest,
    Reply,
    as_text,
    drop_none,
    result_from,
    url,
)
from handlers.clients.errors import PermanentError
from handlers.clients.params import Duration, Params
from handlers.clients.send import json_body, send


class AlteryxConnection(Connection):
    """`type: alteryx` — an API key and secret of an Alteryx Server user (base_url ends /webapi)."""

    type: Literal["alteryx"]
    client_id: ClientId
    client_secret: ClientSecret


class Wait(BaseModel):
    """`wait: {until: Completed, timeout: 30m}`: the action ends when the job does."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    until: Literal["Completed"] = Field(
        default="Completed", description="What to wait for: Completed."
    )
    timeout: Duration = Field(
        default=1800.0, description="How long to wait at most; then the action fails."
    )


class StartJob(Params):
    workflow_id: str = Field(min_length=1, description="The Alteryx Server workflow to run.")
    questions: dict[str, Any] | None = Field(
        default=None, description="The workflow's questions by name; values are sent as text."
    )
    priority: str = Field(default="Default", description="Default, Low, Medium, High or Critical.")
    worker_tag: str | None = Field(default=None, description="Run on workers with this tag.")
    credential_id: str | None = Field(
        default=None, description="The Alteryx credential the job runs as."
    )
    wait: Wait | None = Field(
        default=None,
        description="Wait for the job to end: {until: Completed, timeout: 30m}. Without it the "
        "action ends when the job is queued.",
    )


def token_request(c: AlteryxConnection) -> PlannedRequest:
    """The client-credentials token request."""
    form = (
        ("grant_type", "client_credentials"),
        ("client_id", c.client_id),
        ("client_secret", c.client_secret),
    )
    return PlannedRequest(
        "POST", url(c.base_url, "/oauth2/token"), form=form, note="only without a cached token"
    )


def job_url(c: AlteryxConnection, job_id: str) -> str:
    """The URL of one job, for polling its status."""
    return url(c.base_url, "/v3/jobs/{id}", id=job_id)


class Start(NamedTuple):
    """A token (unless one is cached), the job's start, and with `wait:` the checks on it."""

    token: PlannedRequest
    start: PlannedRequest
    poll: PlannedRequest | None


def _start_job(c: AlteryxConnection, p: StartJob, key: str) -> Start:
    questions = [{"name": k, "value": as_text(v)} for k, v in (p.questions or {}).items()]
    body = drop_none(
        {
            "workerTag": p.worker_tag,
            "credentialId": p.credential_id,
            "questions": questions,
            "priority": p.priority,
        }
    )
    path = url(c.base_url, "/v3/workflows/{id}/jobs", id=p.workflow_id)
    poll = None
    if p.wait:
        note = f"repeated until the job ends, at most {p.wait.timeout:g} s"
        poll = PlannedRequest("GET", c.base_url + "/v3/jobs/<job id>", note=note)
    return Start(token_request(c), PlannedRequest("POST", path, body), poll)


TOKEN_MARGIN_S = 60  # renew a cached token this long before it expires
POLL_FIRST_S, POLL_MAX_S = 2.0, 60.0
FAILED_DISPOSITIONS = frozenset({"Error", "Failed", "Cancelled"})


Call = ActionCall[AlteryxConnection, Any]


async def _token(call: Call, renew: bool = False) -> str:
    """A client-credentials access token, cached per connection until shortly before expiry."""
    cached = call.session.tokens.get(call.connection_name)
    if cached and not renew and cached[1] > time.time() + TOKEN_MARGIN_S:
        return cached[0]
    response = await send(call.session.http, token_request(call.connection), {}, call.timeout_s)
    body = json_body(response)
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str):
        raise PermanentError("Alteryx's token endpoint answered without an access_token", 200)
    # A live credential: never into a record or a log (it replaces the connection's last one).
    redact.register([token], slot=f"alteryx:{call.connection_name}")
    lifetime = body.get("expires_in", 3600)
    expires = time.time() + (float(lifetime) if isinstance(lifetime, int | float) else 3600.0)
    call.session.tokens[call.connection_name] = (token, expires)
    return token


async def _headers(call: Call) -> dict[str, str]:
    return {"Authorization": f"Bearer {await _token(call)}"}


async def _authorized(call: Call, request: PlannedRequest) -> Any:
    """Send with the cached token; on a 401, get a new token once and send again."""
    try:
        response = await send(call.session.http, request, await _headers(call), call.timeout_s)
    except PermanentError as exc:
        if exc.status != 401:
            raise
        headers = {"Authorization": f"Bearer {await _token(call, renew=True)}"}
        response = await send(call.session.http, request, headers, call.timeout_s)
    return json_body(response)


def _job(body: Any) -> ActionResult:
    if not isinstance(body, dict) or body.get("id") is None:
        raise PermanentError("Alteryx answered without a job id", 200)
    return result_from(body)


async def _run_start(plan: Start, call: ActionCall[AlteryxConnection, StartJob]) -> ActionResult:
    """Queue the job; with `wait:`, come back (without holding a worker) until it ends."""
    params = call.params
    previous = call.previous or {}
    if not previous.get("id"):
        job = _job(await _authorized(call, plan.start))
        if params.wait is None:
            return job
        state = {**job.data, "started_at": time.time(), "polls": 0}
        raise Pending(state, POLL_FIRST_S, f"job {job.id} queued")
    job = _job(
        await _authorized(
            call, PlannedRequest("GET", job_url(call.connection, str(previous["id"])))
        )
    )
    status = job.data.get("status")
    disposition = job.data.get("disposition")
    if status == "Cancelled" or (status == "Completed" and disposition in FAILED_DISPOSITIONS):
        raise PermanentError(f"Alteryx job {job.id} ended {status} ({disposition})", 200)
    if status == "Completed":
        return job
    assert params.wait is not None
    waited = time.time() - float(previous.get("started_at", time.time()))
    if waited > params.wait.timeout:
        raise PermanentError(
            f"Alteryx job {job.id} still {status} after {params.wait.timeout:g} s", 200
        )
    polls = int(previous.get("polls", 0)) + 1
    state = {**previous, **job.data, "polls": polls}
    raise Pending(state, min(POLL_MAX_S, POLL_FIRST_S * 2**polls), f"job {job.id} {status}")


OPERATIONS: dict[str, Operation[AlteryxConnection, Any, Any]] = {
    "start_job": Operation(StartJob, _start_job, "queue a workflow job", run=_run_start),
}


def _stand_in(memory: dict[str, Any], method: str, parts: list[str], body: Any) -> Reply:
    """Alteryx Server for `run --demo`: a token, a queued job, and that job completed."""
    if parts == ["oauth2", "token"]:
        return 200, {"access_token": "demo-access-token", "token_type": "bearer",
                     "expires_in": 3600}  # fmt: skip
    if parts[-1:] == ["jobs"]:
        return 200, {"id": uuid.uuid4().hex[:24], "status": "Queued"}
    return 200, {"id": parts[-1], "status": "Completed", "disposition": "Success"}


ALTERYX = ConnectionType(AlteryxConnection, OPERATIONS, _headers, _job, _stand_in)
