"""The consistency check between an event and KuFlow's own answer."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.rules.verify import disagreement, subject

P = "4c2e1b7a-9d3f-4e6a-8b1c-5f7d9e2a3b4c"
OTHER = "11111111-2222-4333-8444-555555555555"


def process_event(state: str) -> dict[str, Any]:
    return {"type": "PROCESS.STATE_CHANGED", "data": {"processId": P, "processState": state}}


def task_event(state: str, process: str = P, code: str = "LOAN_REVIEW") -> dict[str, Any]:
    data = {"processId": process, "processItemId": "i", "processItemType": "TASK",
            "processItemState": state, "processItemDefinitionCode": code}  # fmt: skip
    return {"type": "PROCESS_ITEM.TASK_STATE_CHANGED", "data": data}


def item(state: str) -> dict[str, Any]:
    return {"id": "i", "type": "TASK", "processId": P, "task": {"state": state},
            "processItemDefinitionRef": {"code": "LOAN_REVIEW"}}  # fmt: skip


@pytest.mark.parametrize(
    ("claimed", "current", "agrees"),
    [
        pytest.param("RUNNING", "RUNNING", True, id="same"),
        pytest.param("RUNNING", "COMPLETED", True, id="moved-on-since"),
        pytest.param("COMPLETED", "RUNNING", False, id="forged-completion"),
        pytest.param("CANCELLED", "COMPLETED", False, id="other-final-state"),
        pytest.param("COMPLETED", "COMPLETED", True, id="completed"),
        pytest.param("ARCHIVED", "RUNNING", True, id="unknown-state-not-held-against"),
    ],
)
def test_process_states(claimed: str, current: str, agrees: bool) -> None:
    fetched = {"process": {"id": P, "state": current}}
    assert (disagreement(process_event(claimed), fetched) is None) is agrees


@pytest.mark.parametrize(
    ("event", "current", "expected"),
    [
        pytest.param(task_event("COMPLETED"), item("COMPLETED"), None, id="agrees"),
        pytest.param(task_event("READY"), item("CLAIMED"), None, id="claimed-since"),
        pytest.param(
            task_event("COMPLETED"),
            item("READY"),
            "the task is COMPLETED, KuFlow says READY",
            id="forged-completion",
        ),
        pytest.param(
            task_event("COMPLETED", process=OTHER),
            item("COMPLETED"),
            "belongs to process",
            id="other-process",
        ),
        pytest.param(
            task_event("COMPLETED", code="PAYOUT"),
            item("COMPLETED"),
            "definition PAYOUT",
            id="other-definition",
        ),
    ],
)
def test_task_claims(event: dict[str, Any], current: dict[str, Any], expected: str | None) -> None:
    found = disagreement(event, {"processItem": current})
    assert found is None if expected is None else (found is not None and expected in found)


def test_which_object_is_the_subject() -> None:
    assert subject(process_event("RUNNING")) == "process"
    assert subject(task_event("READY")) == "processItem"
    # Forward-compatible: a type this version does not know is checked by what it names.
    assert subject({"type": "SOMETHING.NEW", "data": {"processId": P}}) == "process"
    assert subject({"type": "SOMETHING.NEW", "data": {"processId": P, "processItemId": P}}) == (
        "processItem"
    )
    assert subject({"type": "PROCESS.FORGED", "data": {}}) is None
    assert subject({"type": "CUSTOM.X", "data": {"processItemId": P}}) is None
