"""Event data can never move a request to another path: `.` and `..` as a path value are a
permanent, explained failure, and nothing is sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_event
from tests.doubles import alteryx as ayx
from tests.doubles.kuflow import CLIENT_ID, CLIENT_SECRET, KuflowDouble
from tests.e2e.harness import pipeline


@pytest.mark.anyio
@pytest.mark.parametrize("value", [pytest.param("..", id="dot-dot"), pytest.param(".", id="dot")])
async def test_alteryx_workflow_id_of_dots_is_refused(
    redis_url: str, alteryx: Any, tmp_path: Path, value: str
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nconnections:\n"
        f"  reports: {{type: alteryx, base_url: '{alteryx.base_url}', client_id: {ayx.CLIENT_ID}, "
        f"client_secret: {ayx.CLIENT_SECRET}}}\n"
        "rules:\n  - name: r\n    when: {type: CUSTOM.EVENT}\n    do:\n"
        "      - reports.start_job: {workflow_id: '{{ data.wf }}'}\n"
    )
    event = make_event("CUSTOM.EVENT", data={"wf": value})
    async with pipeline(redis_url, rules) as router:
        await router.send(event)
        await router.work()
        (entry,) = await router.dead(event["id"])
    assert "would change the path" in entry.fields["error"]
    assert [r for r in alteryx.received if "/jobs" in r.path] == []  # nothing reached /v3/jobs


@pytest.mark.anyio
async def test_enrichment_with_a_process_id_of_dots_is_refused(
    redis_url: str, kuflow: KuflowDouble, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nconnections:\n"
        f"  kuflow: {{type: kuflow, base_url: '{kuflow.url}', client_id: {CLIENT_ID}, "
        f"client_secret: {CLIENT_SECRET}}}\n"
        "rules:\n  - name: r\n    when: {type: CUSTOM.EVENT, process.state: RUNNING}\n    do:\n"
        "      - kuflow.cancel_process: {process_id: '{{ process.id }}'}\n"
    )
    event = make_event("CUSTOM.EVENT", data={"processId": ".."})
    async with pipeline(redis_url, rules) as router:
        await router.send(event)
        await router.work()
        (entry,) = await router.dead(event["id"])
    assert "would change the path" in entry.fields["error"]
    assert [r for r in kuflow.received if r.path != "/processes"] == []  # only the start probe
