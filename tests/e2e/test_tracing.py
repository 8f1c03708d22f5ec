"""One trace per event, exported over OTLP to a real receiver: the webhook's SERVER span (continuing
the sender's `traceparent`), the worker's run, its read of KuFlow and each action, and a CLIENT
span per call — whose id the API received in `traceparent`. Off, nothing is made or exported."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from common import tracing
from common.logs import JsonFormatter
from store import keys
from tests.conftest import TOKEN
from tests.doubles.kuflow import KuflowDouble
from tests.doubles.otlp import OtlpDouble
from tests.e2e.conftest import loan_event

SENDER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SENDER_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def otlp() -> Iterator[OtlpDouble]:
    double = OtlpDouble()
    double.start()
    yield double
    double.stop()


@pytest.fixture
def traced(otlp: OtlpDouble, monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpDouble]:
    """Tracing on, exporting to `otlp`; flushed and off again after the test."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.url)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    assert tracing.configure("router")
    yield otlp
    tracing.shutdown()


@pytest.mark.anyio
async def test_one_trace_from_the_webhook_to_each_api_call(
    traced: OtlpDouble, kuflow: KuflowDouble, make_pipeline: Callable[..., Any]
) -> None:
    event = loan_event(kuflow)
    sender = {"traceparent": f"00-{SENDER_TRACE}-{SENDER_SPAN}-01"}
    async with make_pipeline() as pipe:
        assert (await pipe.send(event, headers=sender)).status_code == 202
        await pipe.work()
        record = await pipe.record(event["id"])
    tracing.shutdown()  # exports what is buffered

    (server,) = traced.named("POST /webhooks/kuflow")
    assert server.kind == "server" and server.trace_id == SENDER_TRACE  # the sender's trace
    assert server.parent_id == SENDER_SPAN
    assert server.attributes["kuflow.event.id"] == event["id"]
    assert server.attributes["http.response.status_code"] == 202
    assert server.attributes["http.route"] == "/webhooks/kuflow/{token}"
    (run,) = traced.named("process event")
    assert run.kind == "consumer" and run.trace_id == SENDER_TRACE
    assert run.parent_id == server.span_id  # through the job, across Redis
    assert run.attributes["kuflow_router.rules.matched"] == ["open-review"]
    assert run.attributes["kuflow_router.status"] == "done"
    (read,) = traced.named("read KuFlow")
    actions = [s for s in traced.spans if s.name.startswith("action ")]
    assert {s.name for s in actions} == {"action kuflow.create_task", "action kuflow.append_log"}
    assert all(s.parent_id == run.span_id for s in [read, *actions])
    # The worker's probe of KuFlow at its start is a trace of its own; the event's are in one.
    (probe,) = [s for s in traced.spans if not s.parent_id and s.kind == "client"]
    assert probe.attributes["url.full"].endswith("/processes")
    calls = [s for s in traced.spans if s.kind == "client" and s is not probe]
    assert {s.parent_id for s in calls} == {read.span_id, *(s.span_id for s in actions)}
    assert all(s.trace_id == SENDER_TRACE for s in traced.spans if s is not probe)
    assert all(s.attributes["http.response.status_code"] in (200, 201) for s in calls)

    # The API's own trace joins ours: each request names its CLIENT span as parent.
    sent = [r.headers["traceparent"].split("-")[2] for r in kuflow.requests()]
    assert sorted(sent) == sorted(s.span_id for s in [probe, *calls])
    assert record.fields["trace_id"] == SENDER_TRACE
    exported = json.dumps([s.attributes for s in traced.spans])
    assert "kuflow-secret" not in exported and TOKEN not in exported


@pytest.mark.anyio
async def test_a_retry_and_a_dead_letter_are_in_the_trace(
    traced: OtlpDouble, kuflow: KuflowDouble, make_pipeline: Callable[..., Any]
) -> None:
    event = loan_event(kuflow)
    kuflow.fail("POST", "/process-items", status=503, times=1)
    kuflow.fail("POST", r"/process-items/.*/append-log", status=400, times=3)
    async with make_pipeline() as pipe:
        assert (await pipe.send(event)).status_code == 202
        await pipe.work()
    tracing.shutdown()

    notes = [name for span in traced.spans for name, _ in span.events]
    assert "action retrying" in notes and "action dead-lettered" in notes
    runs = traced.named("process event")
    assert len(runs) >= 2 and "comes back" in notes  # a run that comes back is no failure
    assert not any(run.failed for run in runs)
    failed = [s for s in traced.spans if s.kind == "client" and s.failed]
    assert {s.attributes["http.response.status_code"] for s in failed} == {503, 400}
    retried = [s for s in traced.spans if s.attributes.get("http.request.resend_count") == 1]
    assert retried  # the second try of create_task says it is a resend


@pytest.mark.anyio
async def test_off_nothing_is_traced_and_the_job_carries_no_context(
    otlp: OtlpDouble, kuflow: KuflowDouble, make_pipeline: Callable[..., Any]
) -> None:
    assert not tracing.configure("router", environ={})
    event = loan_event(kuflow)
    sender = {"traceparent": f"00-{SENDER_TRACE}-{SENDER_SPAN}-01"}
    async with make_pipeline() as pipe:
        assert (await pipe.send(event, headers=sender)).status_code == 202
        job = json.loads(await pipe.redis.get(keys.job(event["id"])))
        await pipe.work()
        record = await pipe.record(event["id"])
    assert job["k"] == {} and "trace_id" not in record.fields
    assert not any("traceparent" in r.headers for r in kuflow.requests())
    assert otlp.spans == [] and otlp.received == []


def test_a_log_line_written_in_a_span_names_its_trace(traced: OtlpDouble) -> None:
    record = logging.makeLogRecord({"msg": "event received", "event_id": "e-1"})
    with tracing.span("POST /webhooks/kuflow") as current:
        assert current is not None
        line = json.loads(JsonFormatter().format(record))
        context = current.get_span_context()
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")
    outside = json.loads(JsonFormatter().format(record))
    assert "trace_id" not in outside
