"""Verify before acting, end to end: a forged event, or one KuFlow does not know, triggers
nothing — its record says why, a WARNING line and a counter say so — while a true one acts, and
a KuFlow that cannot answer leads to retries, not to a rejection."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from tests.conftest import make_event
from tests.doubles.http import TOKEN, HttpDouble
from tests.doubles.kuflow import KuflowDouble
from tests.e2e.harness import pipeline
from tests.e2e.test_kuflow_actions import metric

P2 = "0b8c7a3e-5d5f-4b7a-9f0e-2f6c1d9e8a11"  # a process KuFlow does not know
CLOSE_ON_COMPLETION = """\
- name: on-completion
  when: {type: PROCESS.STATE_CHANGED, data.processState: COMPLETED}
  do:
    - kuflow.create_message: {process_id: "{{ data.processId }}", text: done}
"""


def completed(process_id: str) -> dict[str, Any]:
    return make_event(
        "PROCESS.STATE_CHANGED", data={"processId": process_id, "processState": "COMPLETED"}
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    "case",
    [pytest.param("forged", id="forged-completion"), pytest.param("unknown", id="unknown-process")],
)
async def test_an_event_kuflow_contradicts_triggers_nothing(
    make_pipeline: Callable[..., Any],
    kuflow: KuflowDouble,
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    process = kuflow.add_process()  # RUNNING: its completion would be a forgery
    event = completed(process["id"] if case == "forged" else "0b8c7a3e-5d5f-4b7a-9f0e-2f6c1d9e8a11")
    before = metric("router_events_rejected_total", reason="unverified")
    async with make_pipeline(CLOSE_ON_COMPLETION) as router:
        assert (await router.send(event)).status_code == 202
        with caplog.at_level(logging.WARNING):
            await router.work()
        record = await router.record(event["id"])
        assert await router.dead(event["id"]) == []  # nothing to replay
    assert record.status == "rejected"
    expected = "KuFlow says RUNNING" if case == "forged" else "does not know"
    assert expected in record.fields["rejected"] and record.fields["rejected"].startswith(
        "unverified: "
    )
    assert kuflow.requests("POST", "/process-items") == []
    assert metric("router_events_rejected_total", reason="unverified") == before + 1
    assert "event rejected: unverified" in caplog.text


async def completion_of(
    make_pipeline: Callable[..., Any], process_id: str, verify: bool = True
) -> str:
    """Send a PROCESS.STATE_CHANGED → COMPLETED event, run the worker; the event's status."""
    event = completed(process_id)
    async with make_pipeline(CLOSE_ON_COMPLETION, verify=verify) as router:
        await router.send(event)
        await router.work()
        return (await router.record(event["id"])).status


@pytest.mark.anyio
async def test_a_true_event_acts_with_one_read(
    make_pipeline: Callable[..., Any], kuflow: KuflowDouble
) -> None:
    process = kuflow.add_process()
    process["state"] = "COMPLETED"
    assert await completion_of(make_pipeline, process["id"]) == "done"
    assert len(kuflow.requests("POST", "/process-items")) == 1
    assert len(kuflow.requests("GET", f"/processes/{process['id']}")) == 1


@pytest.mark.anyio
async def test_a_failed_read_is_retried_not_taken_as_a_no(
    make_pipeline: Callable[..., Any], kuflow: KuflowDouble
) -> None:
    process = kuflow.add_process()
    process["state"] = "COMPLETED"
    kuflow.fail("GET", r"/processes/[0-9a-f-]+", status=503, times=1)
    assert await completion_of(make_pipeline, process["id"]) == "done"
    assert len(kuflow.requests("POST", "/process-items")) == 1


@pytest.mark.anyio
async def test_with_verify_off_the_event_is_trusted(
    make_pipeline: Callable[..., Any], kuflow: KuflowDouble
) -> None:
    process = kuflow.add_process()  # RUNNING, but the event says COMPLETED
    assert await completion_of(make_pipeline, process["id"], verify=False) == "done"
    assert kuflow.requests("GET", f"/processes/{process['id']}") == []
    assert len(kuflow.requests("POST", "/process-items")) == 1


OPEN_RULES = """\
version: 1
connections:
  kuflow: {{type: kuflow, base_url: "{kuflow}", client_id: kuflow-app, client_secret: kuflow-secret}}
  crm: {{type: http, base_url: "{crm}", headers: {{Authorization: "Bearer {token}"}}}}
defaults:
  retry: {{attempts: 2, initial: 10ms, max: 20ms}}
rules:
  - name: any-process-event
    when: {{type: {{prefix: PROCESS}}}}
    do:
      - crm.request: {{method: POST, path: /seen, json: {{type: "{{{{ type }}}}"}}}}
  - name: anything-else
    when: {{type: {{anything-but: PROCESS.CREATED}}}}
    do:
      - crm.request: {{method: POST, path: /other, json: {{type: "{{{{ type }}}}"}}}}
{skip}"""
SKIPPING = """\
  - name: custom-feed
    when: {type: {prefix: CUSTOM.}}
    verify: skip
    do:
      - crm.request: {method: POST, path: /custom, json: {type: "{{ type }}"}}
"""


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("kind", "data"),
    [
        pytest.param("PROCESS.FORGED", {}, id="forged-type-without-id"),
        pytest.param("CUSTOM.X", {"note": "hi"}, id="custom-type"),
        pytest.param("PROCESS_ITEM.NEW_THING", {"processItemId": P2}, id="item-without-process"),
    ],
)
async def test_an_event_kuflow_cannot_vouch_for_acts_on_nothing(
    redis_url: str, tmp_path: Path, kuflow: KuflowDouble, crm: HttpDouble, kind: str,
    data: dict[str, Any],
) -> None:  # fmt: skip
    path = tmp_path / "rules.yaml"
    path.write_text(OPEN_RULES.format(kuflow=kuflow.url, crm=crm.base_url, token=TOKEN, skip=""))
    event = make_event(kind, data=data)
    before = metric("router_events_rejected_total", reason="cannot_be_verified")
    async with pipeline(redis_url, path) as router:
        assert (await router.send(event)).status_code == 202
        await router.work()
        record = await router.record(event["id"])
    assert record.status == "rejected"
    assert record.fields["rejected"].startswith("cannot be verified: the event names no process")
    assert crm.requests("POST", "/api/seen") == crm.requests("POST", "/api/other") == []
    assert metric("router_events_rejected_total", reason="cannot_be_verified") == before + 1


@pytest.mark.anyio
async def test_a_rule_with_verify_skip_acts_alone_on_what_cannot_be_verified(
    redis_url: str, tmp_path: Path, kuflow: KuflowDouble, crm: HttpDouble
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        OPEN_RULES.format(kuflow=kuflow.url, crm=crm.base_url, token=TOKEN, skip=SKIPPING)
    )
    event = make_event("CUSTOM.X", data={})
    async with pipeline(redis_url, path) as router:
        await router.send(event)
        await router.work()
        record = await router.record(event["id"])
    assert record.status == "done"
    assert record.fields["unverified"].startswith("cannot be verified")
    assert len(crm.requests("POST", "/api/custom")) == 1
    assert crm.requests("POST", "/api/other") == []  # matched, but it does not skip verification


@pytest.mark.anyio
@pytest.mark.parametrize("known", [True, False], ids=["known-process", "unknown-process"])
async def test_a_new_type_naming_a_process_is_read_back(
    redis_url: str, tmp_path: Path, kuflow: KuflowDouble, crm: HttpDouble, known: bool
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(OPEN_RULES.format(kuflow=kuflow.url, crm=crm.base_url, token=TOKEN, skip=""))
    process_id = kuflow.add_process()["id"] if known else P2
    event = make_event("PROCESS.SOMETHING_NEW", data={"processId": process_id})
    async with pipeline(redis_url, path) as router:
        await router.send(event)
        await router.work()
        record = await router.record(event["id"])
    assert len(kuflow.requests("GET", f"/processes/{process_id}")) == 1
    if known:
        assert record.status == "done"
        assert (
            len(crm.requests("POST", "/api/seen")) == len(crm.requests("POST", "/api/other")) == 1
        )
    else:
        assert record.status == "rejected" and "does not know" in record.fields["rejected"]
        assert crm.requests("POST", "/api/seen") == []


@pytest.mark.anyio
async def test_a_rejected_event_can_be_replayed_and_is_verified_again(
    make_pipeline: Callable[..., Any],
    kuflow: KuflowDouble,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """KuFlow answered 404 (say, a base_url without the version path): once that is fixed, the
    operator replays the event and it acts — it was not lost for good."""
    import anyio

    from kuflow_router.cli import main

    monkeypatch.setenv("ROUTER_REDIS_URL", redis_url)
    event = completed("2c9d4e6f-8a1b-4c3d-9e5f-7a8b9c0d1e2f")  # not known to KuFlow yet
    async with make_pipeline(CLOSE_ON_COMPLETION) as router:
        await router.send(event)
        await router.work()
        assert (await router.record(event["id"])).status == "rejected"
        kuflow.add_process(id=event["data"]["processId"], state="COMPLETED")  # fixed meanwhile
        assert await anyio.to_thread.run_sync(main, ["events", "replay", event["id"]]) == 0
        assert "queued again" in capsys.readouterr().out
        await router.work()
        record = await router.record(event["id"])
        again = await anyio.to_thread.run_sync(main, ["events", "replay", str(uuid4())])
    assert record.status == "done" and "rejected" not in record.fields
    assert len(kuflow.requests("POST", "/process-items")) == 1
    assert again == 1
