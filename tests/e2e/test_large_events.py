"""A large event is matched off the event loop, and a hostile wildcard costs it nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from handlers.worker import process
from tests.doubles.kuflow import KuflowDouble
from tests.e2e.conftest import loan_event

WILDCARD_RULE = """\
- name: needle
  when: {type: PROCESS.CREATED, data.note: {wildcard: "*a*b*needle*"}}
  do:
    - kuflow.create_message: {process_id: "{{ data.processId }}", text: found}
"""


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("note", "found"),
    [pytest.param("ab" * 20_000 + "needle", True, id="match"),
     pytest.param("ab" * 20_000, False, id="adversarial")],
)  # fmt: skip
async def test_a_large_event_is_matched_in_a_thread(
    make_pipeline: Callable[..., Any],
    kuflow: KuflowDouble,
    monkeypatch: pytest.MonkeyPatch,
    note: str,
    found: bool,
) -> None:
    offloaded: list[str] = []
    real = asyncio.to_thread

    async def spy(function: Callable[..., Any], *args: Any) -> Any:
        offloaded.append(function.__name__)
        return await real(function, *args)

    monkeypatch.setattr(process.asyncio, "to_thread", spy)
    event = loan_event(kuflow)
    event["data"]["note"] = note
    async with make_pipeline(WILDCARD_RULE) as router:
        assert (await router.send(event)).status_code == 202
        await router.work()
        record = await router.record(event["id"])
    assert offloaded == ["select", "matched"]
    assert record.status == "done"
    messages = [i for i in kuflow.items.values() if i["type"] == "MESSAGE"]
    assert len(messages) == (1 if found else 0)
