"""Verify before acting: is the event consistent with what KuFlow itself says?

KuFlow signs no webhook, so whoever learns the URL's token can post events. Before any action
runs for a KuFlow event, the worker reads the event's subject back from KuFlow — the process,
or the process item — through the same enrichment fetch the rules use (no extra request when a
rule already needs `process.*` or `processItem.*`), and checks the claim:

- the subject exists (KuFlow answering 404 means it does not);
- a process item belongs to the process the event names, and is of the type it names;
- the state the event names is KuFlow's current state, or one that can follow it: a process
  goes RUNNING → COMPLETED or CANCELLED; a task READY ⇄ CLAIMED → COMPLETED or CANCELLED; the
  last two of each are final. So a forged `PROCESS.STATE_CHANGED → COMPLETED` for a process that
  is still RUNNING is refused, while a true event that KuFlow has since moved past is not.

Verification fails closed: an event that names no process or process item (`CUSTOM.X`, or a
`PROCESS.FORGED` without `data.processId`) cannot be vouched for, so it acts on nothing — unless
a rule opts out with `verify: skip`. Such a rule is not held to verification at all: it acts
whatever KuFlow says. A rejected event's record says why (`cannot be verified: …` or
`unverified: …`).

Only KuFlow's own answer rejects an event that names its subject; a failed read (5xx, timeout,
401, 403) is retried and then dead-lettered, like any enrichment. Values this module does not
know (a new state, a new event type) are not held against the event: KuFlow adds them in minor
versions, so an event of an unknown type that names a process or process item is read back and
acts if KuFlow knows its subject.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

UNVERIFIED = "unverified"  # KuFlow contradicts the event, or does not know its subject
UNVERIFIABLE = "cannot be verified"  # the event names nothing KuFlow could vouch for
NO_SUBJECT = (
    "the event names no process (data.processId) or process item (data.processItemId) that "
    "KuFlow could vouch for; a rule that must act on such events says `verify: skip`"
)


class Unverified(Exception):
    """KuFlow's own answer contradicts the event, or nothing in it can be checked."""

    def __init__(self, reason: str, kind: str = UNVERIFIED) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind


PROCESS_FINAL = {"COMPLETED", "CANCELLED"}
PROCESS_STATES = {"RUNNING"} | PROCESS_FINAL
TASK_FINAL = {"COMPLETED", "CANCELLED"}
TASK_STATES = {"READY", "CLAIMED"} | TASK_FINAL


def _data(event: Mapping[str, Any]) -> Mapping[str, Any]:
    data = event.get("data")
    return data if isinstance(data, dict) else {}


def subject(event: Mapping[str, Any]) -> str | None:
    """The enrichment root that holds the event's subject, or None for an event not about one.

    A `PROCESS.*` event is about its process; any other (a `PROCESS_ITEM.*` one, or a type this
    version does not know) about the process item it names, else the process it names.
    """
    data = _data(event)
    has_process, has_item = (isinstance(data.get(k), str) for k in ("processId", "processItemId"))
    if str(event.get("type", "")).startswith("PROCESS.") and has_process:
        return "process"
    if has_item and has_process:
        return "processItem"
    return "process" if has_process else None


def _follows(claimed: Any, current: Any, known: set[str], final: set[str]) -> bool:
    """Whether KuFlow's `current` state is the `claimed` one or can have followed it."""
    if claimed not in known or current not in known:
        return True  # a state this version does not know: not held against the event
    return claimed == current or claimed not in final


def _process(event: Mapping[str, Any], process: Any) -> str | None:
    data = _data(event)
    if not isinstance(process, dict):
        return "KuFlow answered without a process"
    claimed, current = data.get("processState"), process.get("state")
    if claimed is not None and not _follows(claimed, current, PROCESS_STATES, PROCESS_FINAL):
        return f"the event says the process is {claimed}, KuFlow says {current}"
    return None


def _item(event: Mapping[str, Any], item: Any) -> str | None:
    data = _data(event)
    if not isinstance(item, dict):
        return "KuFlow answered without a process item"
    if item.get("processId") != data.get("processId"):
        return (
            f"the event says the item belongs to process {data.get('processId')}, KuFlow says "
            f"{item.get('processId')}"
        )
    kind = data.get("processItemType")
    if kind is not None and item.get("type") not in (None, kind):
        return f"the event says the item is a {kind}, KuFlow says {item.get('type')}"
    task = item.get("task")
    claimed = data.get("processItemState")
    current = task.get("state") if isinstance(task, dict) else None
    if claimed is not None and not _follows(claimed, current, TASK_STATES, TASK_FINAL):
        return f"the event says the task is {claimed}, KuFlow says {current}"
    ref = item.get("processItemDefinitionRef")
    code, known = (
        data.get("processItemDefinitionCode"),
        ref.get("code") if isinstance(ref, dict) else None,
    )
    if code is not None and known is not None and code != known:
        return f"the event names the definition {code}, KuFlow says {known}"
    return None


def disagreement(event: Mapping[str, Any], fetched: Mapping[str, Any]) -> str | None:
    """What the event claims that KuFlow's answer contradicts, or None when they agree."""
    root = subject(event)
    if root == "process":
        return _process(event, fetched.get("process"))
    if root == "processItem":
        return _item(event, fetched.get("processItem"))
    return None
