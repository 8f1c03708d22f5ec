"""A failed enrichment is never silent: dead-lettered with the URL and status, logged at WARNING,
counted, and told the same way by the record, the DLQ and the metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import make_event
from tests.doubles.kuflow import KuflowDouble
from tests.e2e.conftest import loan_event
from tests.e2e.test_kuflow_actions import metric


@pytest.mark.anyio
@pytest.mark.parametrize(
    "status", [pytest.param(404, id="unknown-process"), pytest.param(401, id="unauthorized")]
)
async def test_a_refused_enrichment_is_dead_lettered_logged_and_counted(
    make_pipeline: Callable[..., Any],
    kuflow: KuflowDouble,
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    labels = {"connection": "kuflow", "operation": "enrichment", "outcome": "dead"}
    before = metric("router_actions_total", **labels)
    event = make_event()  # KuFlow does not know its process: GET /processes/{id} → 404
    if status == 401:
        event = loan_event(kuflow)
        kuflow.fail("GET", r"/processes/.*", status=401)
    # With verification on, a 404 is KuFlow saying "no such process": the event is rejected
    # (tests/e2e/test_verify.py). Without it, a 404 is a failure like any other.
    async with make_pipeline(verify=False) as router:
        await router.send(event)
        with caplog.at_level(logging.WARNING):
            await router.work()
        record = await router.record(event["id"])
        (entry,) = await router.dead(event["id"])
    assert record.status == "dead"
    state = record.actions["action:enrichment:0"]
    assert (state.state, state.status) == ("dead", status)
    assert entry.fields["status"] == str(status)
    assert f"/processes/{event['data']['processId']}" in entry.fields["error"]  # the URL
    assert metric("router_actions_total", **labels) == before + 1
    (line,) = [r for r in caplog.records if r.getMessage().startswith("enrichment failed")]
    assert line.levelno == logging.WARNING
    assert line.status == status and str(status) in line.error  # type: ignore[attr-defined]
    assert kuflow.tasks() == []


@pytest.mark.anyio
async def test_a_recovered_enrichment_leaves_no_stale_retrying_state(
    make_pipeline: Callable[..., Any], kuflow: KuflowDouble
) -> None:
    kuflow.fail("GET", r"/processes/.*", status=503, times=1)
    event = loan_event(kuflow)
    async with make_pipeline() as router:
        await router.send(event)
        await router.work()
        record = await router.record(event["id"])
    assert record.status == "done"
    assert record.actions["action:enrichment:0"].state == "done"
    assert len(kuflow.tasks()) == 1
