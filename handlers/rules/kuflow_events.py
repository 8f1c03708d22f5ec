"""KuFlow's webhook events as its OpenAPI document (v2024-06-14, `WebhookEvent`) describes them:
the event types, the fields of each type's `data`, and the values of its enumerations. Used to
warn a rule author of a type, field or value KuFlow never sends."""

from __future__ import annotations

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
