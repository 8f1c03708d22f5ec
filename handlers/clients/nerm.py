"""SailPoint Non-Employee Risk Management (seeds/sailpoint-nerm-workflow-sessions.txt).

NERM attribute values are strings: numbers and booleans are sent in their JSON form, null as "",
lists and objects JSON-encoded.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, NamedTuple
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from handlers.clients.base import (
    ActionCall,
    ActionResult,
    Connection,
    ConnectionType,
    Operation,
    PlannedRequest,
    Reply,
    Secret,
    Single,
    as_text,
    drop_none,
    result_from,
    url,
)
from handlers.clients.errors import PermanentError
from handlers.clients.params import Params
from handlers.clients.send import json_body, send


class NermConnection(Connection):
    """`type: nerm` — https://{tenant}.nonemployee.com/api and an API token."""

    type: Literal["nerm"]
    token: Secret = Field(description="The NERM API token, sent as a Bearer token. Use ${NAME}.")


class Find(BaseModel):
    """Query parameters of `GET /workflow_sessions` that must select exactly one session."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workflow_id: str | None = Field(default=None, description="The NERM workflow (a UUID).")
    profile_id: str | None = Field(
        default=None, description="The NERM profile (a UUID) the session is about."
    )
    uid: str | None = Field(default=None, description="The profile's uid.")
    requester_id: str | None = Field(
        default=None, description="Who asks (a UUID of a NERM user or profile)."
    )
    status: str | None = Field(default=None, description="The workflow session's new status.")


Attributes = Annotated[
    dict[str, Any] | None,
    Field(description="Attribute values by name; NERM takes text, so numbers and booleans are "
          "sent in their JSON form."),
]  # fmt: skip


class CreateSession(Params):
    workflow_id: UUID = Field(description="The NERM workflow (a UUID).")
    requester_id: UUID = Field(description="Who asks (a UUID of a NERM user or profile).")
    requester_type: str = Field(description="What the requester is: User, Profile …")
    profile_id: UUID | None = Field(
        default=None, description="The NERM profile (a UUID) the session is about."
    )
    attributes: Attributes = None
    run: bool = Field(
        default=True, description="Run the workflow session now (true) or only save it (false)."
    )


class UpdateSession(Params):
    session_id: UUID | None = Field(
        default=None,
        description="The NERM workflow session (a UUID) to update. Or give find: instead.",
    )
    find: Find | None = Field(
        default=None,
        description="Select the session by its fields instead of its id; exactly one must match.",
    )
    attributes: Attributes = None
    status: str | None = Field(default=None, description="The workflow session's new status.")
    run: bool = Field(
        default=False, description="Run the workflow session now (true) or only save it (false)."
    )

    @model_validator(mode="after")
    def _one_target(self) -> UpdateSession:
        if (self.session_id is None) == (self.find is None):
            raise ValueError("give exactly one of session_id and find")
        return self


def _attributes(values: dict[str, Any] | None) -> dict[str, str] | None:
    return None if values is None else {k: as_text(v) for k, v in values.items()}


def _run(flag: bool) -> tuple[tuple[str, str], ...]:
    return (("run", "true" if flag else "false"),)


def _create_session(c: NermConnection, p: CreateSession, key: str) -> Single:
    session = drop_none(
        {
            "workflow_id": str(p.workflow_id),
            "requester_id": str(p.requester_id),
            "requester_type": p.requester_type,
            "profile_id": str(p.profile_id) if p.profile_id else None,
            "attributes": _attributes(p.attributes) or {},
        }
    )
    path = url(c.base_url, "/workflow_sessions")
    return Single(PlannedRequest("POST", path, {"workflow_session": session}, query=_run(p.run)))


def find_request(c: NermConnection, find: Find) -> PlannedRequest:
    """The list request that must return exactly one session."""
    query = tuple(drop_none(find.model_dump()).items())
    return PlannedRequest("GET", url(c.base_url, "/workflow_sessions"), query=query)


def patch_request(c: NermConnection, p: UpdateSession, session_id: str) -> PlannedRequest:
    """The PATCH of one session."""
    session = drop_none({"attributes": _attributes(p.attributes), "status": p.status})
    path = url(c.base_url, "/workflow_sessions/{id}", id=session_id)
    return PlannedRequest("PATCH", path, {"workflow_session": session}, query=_run(p.run))


class Update(NamedTuple):
    """With `find:`, the list that must hold exactly one session; then the PATCH of it."""

    find: PlannedRequest | None
    patch: PlannedRequest


def _update_session(c: NermConnection, p: UpdateSession, key: str) -> Update:
    if p.session_id is not None:
        return Update(None, patch_request(c, p, str(p.session_id)))
    assert p.find is not None
    patch = patch_request(c, p, "ID")
    shown = patch.url.removesuffix("/ID") + "/<id of the one session found>"
    note = "exactly one must match"
    return Update(
        find_request(c, p.find),
        PlannedRequest(patch.method, shown, patch.json, patch.query, note=note),
    )


async def _headers(call: ActionCall[NermConnection, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {call.connection.token}"}


def _result(body: Any) -> ActionResult:
    session = body.get("workflow_session") if isinstance(body, dict) else None
    if not isinstance(session, dict):
        raise PermanentError("NERM answered without a workflow_session object", 200)
    return result_from(session)


async def _run_update(
    plan: Update, call: ActionCall[NermConnection, UpdateSession]
) -> ActionResult:
    """PATCH the session given by id, or the one session that `find` selects."""
    headers = await _headers(call)
    request = plan.patch
    if plan.find is not None:
        listing = json_body(await send(call.session.http, plan.find, headers, call.timeout_s))
        sessions = listing.get("workflow_sessions") if isinstance(listing, dict) else None
        count = len(sessions) if isinstance(sessions, list) else 0
        if count != 1:
            raise PermanentError(
                f"find selected {count} workflow sessions; it must select exactly one "
                "(add workflow_id, profile_id, uid, requester_id or status to narrow it)",
                200,
            )
        session_id = str(sessions[0].get("id"))  # type: ignore[index]
        request = patch_request(call.connection, call.params, session_id)
    return _result(json_body(await send(call.session.http, request, headers, call.timeout_s)))


OPERATIONS: dict[str, Operation[NermConnection, Any, Any]] = {
    "create_session": Operation(CreateSession, _create_session, "start a workflow session"),
    "update_session": Operation(
        UpdateSession, _update_session, "update a workflow session", run=_run_update
    ),
}


def _stand_in(memory: dict[str, Any], method: str, parts: list[str], body: Any) -> Reply:
    """NERM for `run --demo`: one pending session found, a created or updated one echoed."""
    if method == "GET":
        return 200, {"workflow_sessions": [{"id": str(uuid.uuid4()), "status": "Pending"}]}
    session = body.get("workflow_session", {}) if isinstance(body, dict) else {}
    session_id = parts[1] if len(parts) > 1 else str(uuid.uuid4())
    return 200, {"workflow_session": {**session, "id": session_id}}


NERM = ConnectionType(NermConnection, OPERATIONS, _headers, _result, _stand_in)
