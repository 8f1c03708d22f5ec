"""The KuFlow webhook event contract (seeds/kuflow-openapi-v2024-06-14.yaml, `WebhookEvent`).

KuFlow's versioning promises that minor versions add fields and enum values, so validation is
forward-compatible: unknown fields are kept, an unknown `type` or enum value is accepted (rules
can match it), and only what the contract requires — the envelope, and the required `data`
fields of the four known types — can make an event invalid.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, StrictStr, ValidationError

from receiver.errors import FieldError, InvalidEvent

KNOWN_TYPES = (
    "PROCESS.CREATED",
    "PROCESS.STATE_CHANGED",
    "PROCESS_ITEM.CREATED",
    "PROCESS_ITEM.TASK_STATE_CHANGED",
)

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def rfc3339_time(value: str) -> datetime:
    """The moment an RFC 3339 date-time (as `_RFC3339` accepts it) names.

    Raises:
        ValueError: it is not a real date-time.
    """
    return datetime.fromisoformat(value.upper().replace(" ", "T"))


def _rfc3339(value: str) -> str:
    if not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time such as 2024-06-14T10:00:00Z")
    try:
        rfc3339_time(value)
    except ValueError:
        raise ValueError("is not a real date-time (check the month, day and hour)") from None
    return value


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _uuid(value: str) -> str:
    if _CANONICAL_UUID.fullmatch(value):  # as KuFlow sends them: already what str(UUID) gives
        return value
    try:
        return str(UUID(value))
    except ValueError:
        raise ValueError("must be a UUID such as 0b8c7a3e-5d5f-4b7a-9f0e-2f6c1d9e8a11") from None


Uuid = Annotated[StrictStr, AfterValidator(_uuid)]
Rfc3339 = Annotated[StrictStr, AfterValidator(_rfc3339)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Envelope(_Open):
    """Fields every event carries, whatever its type; `id` is normalised to lower-case UUID form."""

    id: Uuid
    version: StrictStr
    type: StrictStr
    timestamp: Rfc3339
    data: dict[str, Any]


class ProcessData(_Open):
    """`data` of PROCESS.CREATED and PROCESS.STATE_CHANGED."""

    processId: Uuid
    processState: StrictStr  # RUNNING / COMPLETED / CANCELLED, and whatever KuFlow adds


class ProcessItemCreatedData(_Open):
    """`data` of PROCESS_ITEM.CREATED."""

    processId: Uuid
    processItemId: Uuid
    processItemType: StrictStr  # TASK / MESSAGE / THREAD, and whatever KuFlow adds
    processItemState: StrictStr | None = None
    processItemDefinitionCode: StrictStr | None = None


class ProcessItemTaskStateChangedData(_Open):
    """`data` of PROCESS_ITEM.TASK_STATE_CHANGED."""

    processId: Uuid
    processItemId: Uuid
    processItemType: StrictStr
    processItemState: StrictStr  # READY / CLAIMED / COMPLETED / CANCELLED, and more
    processItemDefinitionCode: StrictStr


DATA_MODELS: dict[str, type[_Open]] = {
    "PROCESS.CREATED": ProcessData,
    "PROCESS.STATE_CHANGED": ProcessData,
    "PROCESS_ITEM.CREATED": ProcessItemCreatedData,
    "PROCESS_ITEM.TASK_STATE_CHANGED": ProcessItemTaskStateChangedData,
}


def _field_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    errors = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        loc = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
        msg = error["msg"].removeprefix("Value error, ")
        errors.append(FieldError(loc=loc or "(body)", msg=msg))
    return errors


def parse_event(body: bytes) -> Envelope:
    """Parse and validate a webhook body.

    Raises:
        InvalidEvent: the body is not JSON, not an event envelope, or a known type's `data`
            lacks a required field; `errors` locates every problem.
    """
    try:
        event = Envelope.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidEvent("The body is not a valid KuFlow event.", _field_errors(exc)) from None
    model = DATA_MODELS.get(event.type)
    if model is not None:
        try:
            model.model_validate(event.data)
        except ValidationError as exc:
            detail = f"The data of this {event.type} event is not valid."
            raise InvalidEvent(detail, _field_errors(exc, "data")) from None
    return event
