"""A finished event's job ends with the event's final write (`Job.finish`), so the worker skips
arq's own finishing round trip; a job that comes back is still re-scheduled by arq."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from arq import Worker
from redis.asyncio import Redis

from handlers.rules.reload import LiveRules
from store import keys
from tests.conftest import enqueue_events, make_event, make_settings, run_worker_until_idle
from tests.doubles import http as crm_double
from tests.doubles.http import HttpDouble

RULES = """\
version: 1
verify: false
defaults: {retry: {attempts: 3, initial: 2ms, max: 2ms}}
connections:
  crm: {type: http, base_url: "CRM_URL", headers: {Authorization: "Bearer TOKEN"}}
rules:
  - name: log
    when: {type: PROCESS.CREATED}
    do:
      - crm.request: {method: POST, path: /log, json: {event: "{{ id }}"}}
"""


@pytest.mark.anyio
@pytest.mark.parametrize("ordering", ["process", "none"])
async def test_a_finished_job_is_ended_with_its_event_and_a_retried_one_by_arq(
    redis_url: str, crm: HttpDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    ordering: str,
) -> None:  # fmt: skip
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.replace("CRM_URL", crm.base_url).replace("TOKEN", crm_double.TOKEN))
    crm.fail("POST", "/api/log", status=503)  # the first call fails: its event comes back once
    arq_finished: list[tuple[str, bool]] = []
    arq_finish_job = Worker.finish_job

    async def finish_job(self: Worker, job_id: str, finish: bool, *args: Any) -> None:
        arq_finished.append((job_id, finish))
        await arq_finish_job(self, job_id, finish, *args)

    monkeypatch.setattr(Worker, "finish_job", finish_job)
    events = [make_event(data={"processId": f"p{n}", "processState": "RUNNING"}) for n in range(3)]
    await enqueue_events(redis_url, events)
    settings = make_settings(redis_url, rules_file=path, ordering=ordering)
    await run_worker_until_idle(settings, LiveRules(path))

    async with Redis.from_url(redis_url) as redis:
        statuses = [await redis.hget(keys.event(e["id"]), "status") for e in events]
        assert statuses == [b"done"] * 3
        assert await redis.zcard(keys.QUEUE) == 0
        for event in events:  # nothing of arq's is left behind for any job
            assert not await redis.exists(*keys.job_keys(event["id"]))
    assert len(crm.requests("POST", "/api/log")) == 4
    # arq finished only the run that came back (re-scheduling it), never a done one.
    assert [finish for _, finish in arq_finished] == [False]
    assert arq_finished[0][0] in {e["id"] for e in events}
