"""One run of an event's job: fields wait for the next write, which carries them in one trip."""

from __future__ import annotations

import pytest

from handlers.worker.job import Job
from store import dlq, keys, records
from store.records import ActionState, ActionStatus


@pytest.mark.anyio
async def test_unsaved_fields_go_with_the_next_write(job: Job) -> None:
    field = records.action_field("r", 0)
    job.unsaved[field] = ActionState(ActionStatus.DONE, 1, "remote-1").encode()
    assert job.completion_unsaved
    assert (await records.load(job.deps.redis, "ev-1")).actions == {}
    await job.write({"status": "done"})
    assert not job.completion_unsaved and job.unsaved == {}
    record = await records.load(job.deps.redis, "ev-1")
    assert record.status == "done" and record.actions[field].id == "remote-1"
    assert 0 < await job.deps.redis.ttl(keys.event("ev-1")) <= 3600


@pytest.mark.anyio
async def test_a_field_that_is_no_action_does_not_hold_up_the_next_action(job: Job) -> None:
    job.unsaved["matched"] = "[]"
    assert not job.completion_unsaved


@pytest.mark.anyio
async def test_dead_letter_keeps_the_event_and_the_reason(job: Job) -> None:
    await job.dead_letter("*", "(job)", 0, 7, "gave up after 7 runs")
    (entry,) = await dlq.entries(job.deps.redis, "ev-1")
    assert (entry.fields["attempts"], entry.fields["error"]) == ("7", "gave up after 7 runs")
    assert await dlq.event_body(job.deps.redis, entry) == b"{}"
