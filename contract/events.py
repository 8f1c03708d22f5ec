"""The KuFlow webhook event contract (seeds/kuflow-openapi-v2024-06-14.yaml, `WebhookEvent`):
the event types, the fields of each type's `data` and the values of its enumerations (what rule
authors are warned against), and the envelope the receiver validates.

KuFlow's versioning promises that minor versions add fields and enum values, so validation is
forward-compatible: unknown fields are kept, an unknown `type` or enum value is accepted (rules
can match it), and only what the contract requires — the envelope, and the required `data`
fields of the four known types — can make an event invalid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, StrictStr, ValidationError

Values = tuple[str, ...] | None  # a field's values; None: any
PROCESS_STATES: Values = ("RUNNING", "COMPLETED", "CANCELLED")
ITEM_TYPES: Values = ("TASK", "MESSAGE", "THREAD")
TASK_STATES: Values = ("READY", "CLAIMED", "COMPLETED", "CANCELLED")

_PROCESS: dict[str, Values] = {"processId": None, "processState": PROCESS_STATES}
_ITEM: dict[str, Values] = {
    "processId": None,
    "processItemId": None,
    "processItemType": ITEM_TYPES,
    "processItemState": TASK_STATES,
    "processItemDefinitionCode": None,
}
# type → {data field → its values (None: any)}
EVENTS: dict[str, dict[str, Values]] = {
    "PROCESS.CREATED": _PROCESS,
    "PROCESS.STATE_CHANGED": _PROCESS,
    "PROCESS_ITEM.CREATED": _ITEM,
    "PROCESS_ITEM.TASK_STATE_CHANGED": _ITEM,
}
KNOWN_TYPES = tuple(EVENTS)

# An event, and the process and process item read from KuFlow for it (None: not read): what a
# dry run, a rules diff and the event log's records hold of one event.
Documents = tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]


def type_label(event_type: str | None) -> str:
    """A type as counted (metrics, the overview): a known type, else `other`; `none` when no
    type was parsed — a sender cannot grow the set of labels."""
    if event_type is None:
        return "none"
    return event_type if event_type in KNOWN_TYPES else "other"


@dataclass(frozen=True)
class FieldError:
    """One problem with an event, located by a dotted path such as `data.processId`."""

    loc: str
    msg: str


class NotAnEvent(ValueError):
    """A body is not JSON, or not a KuFlow event; `errors` locates each problem."""

    def __init__(self, detail: str, errors: list[FieldError]) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors

    @property
    def lines(self) -> list[str]:
        """Each problem as `loc: msg` (the detail when none is located)."""
        return [f"{e.loc}: {e.msg}" for e in self.errors] or [self.detail]


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
        NotAnEvent: the body is not JSON, not an event envelope, or a known type's `data`
            lacks a required field; `errors` locates every problem.
    """
    try:
        event = Envelope.model_validate_json(body)
    except ValidationError as exc:
        raise NotAnEvent("The body is not a valid KuFlow event.", _field_errors(exc)) from None
    model = DATA_MODELS.get(event.type)
    if model is not None:
        try:
            model.model_validate(event.data)
        except ValidationError as exc:
            detail = f"The data of this {event.type} event is not valid."
            raise NotAnEvent(detail, _field_errors(exc, "data")) from None
    return event
