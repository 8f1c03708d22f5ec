"""Alteryx Server API v3 (seeds/alteryx-server-v3-workflows.fr.txt): start a workflow job.

Authentication is OAuth2 client credentials at `{base_url}/oauth2/token`; the token is cached
until it expires. With `wait:`, the action polls `GET /v3/jobs/{id}` until the job ends.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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


class AlteryxConnection(Connection):
    """`type: alteryx` — an API key and secret of an Alteryx Server user (base_url ends /webapi)."""

    type: Literal["alteryx"]
    client_id: str
    client_secret: str


class Wait(BaseModel):
    """`wait: {until: Completed, timeout: 30m}`: the action ends when the job does."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    until: Literal["Completed"] = "Completed"
    timeout: str = "30m"


class StartJob(Params):
    workflow_id: str = Field(min_length=1)
    questions: dict[str, Any] | None = None
    priority: str = "Default"
    worker_tag: str | None = None
    credential_id: str | None = None
    wait: Wait | None = None


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


def _start_job(c: AlteryxConnection, p: StartJob, key: str) -> list[PlannedRequest]:
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
    requests = [token_request(c), PlannedRequest("POST", path, body)]
    if p.wait:
        note = f"repeated until the job ends, at most {p.wait.timeout}"
        requests.append(PlannedRequest("GET", c.base_url + "/v3/jobs/<job id>", note=note))
    return requests


OPERATIONS = {"start_job": Operation(StartJob, _start_job, "queue a workflow job")}

ALTERYX = ConnectionType(AlteryxConnection, OPERATIONS)
