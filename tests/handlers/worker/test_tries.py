"""A try's outcome is recorded, counted and logged in one place, for an action and for the read
of KuFlow alike; a transient failure is retried until the policy gives up."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY

from handlers.clients.errors import PermanentError, TransientError
from handlers.rules.model import RetryPolicy
from handlers.worker import tries
from handlers.worker.job import Job
from handlers.worker.outcomes import Outcome
from store import dlq, records
from store.records import ActionState, ActionStatus

ACTION = tries.Target("r", 0, "crm.request", "crm", "request", RetryPolicy(attempts=2))
READ = tries.Target("enrichment", 0, "kf enrichment", "kf", "enrichment", RetryPolicy(attempts=2),
                    whole_event=True)  # fmt: skip


def counted(target: tries.Target, outcome: str) -> float:
    labels = {"connection": target.connection, "operation": target.operation, "outcome": outcome}
    return REGISTRY.get_sample_value("router_actions_total", labels) or 0.0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("target", "rule", "message"),
    [
        pytest.param(ACTION, "r", "action dead-lettered", id="action"),
        pytest.param(READ, "*", "enrichment failed: event dead-lettered", id="enrichment"),
    ],
)
async def test_a_permanent_failure_is_dead_at_once(
    job: Job, caplog: pytest.LogCaptureFixture, target: tries.Target, rule: str, message: str
) -> None:
    before = counted(target, "dead")
    with caplog.at_level(logging.WARNING):
        step = await tries.failed(job, target, None, PermanentError("refused", 403), 0.0)
    assert step.outcome is Outcome.DEAD and step.wait_s is None
    state = (await records.load(job.deps.redis, job.event_id)).actions[target.field]
    assert (state.state, state.attempts, state.status) == ("dead", 1, 403)
    (entry,) = await dlq.entries(job.deps.redis, job.event_id)
    assert (entry.fields["rule"], entry.fields["action"]) == (rule, target.name)
    assert counted(target, "dead") == before + 1
    (line,) = [r for r in caplog.records if r.getMessage() == message]
    assert line.levelno == logging.WARNING and line.status == 403  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_a_transient_failure_waits_then_gives_up(job: Job) -> None:
    first = await tries.failed(job, ACTION, None, TransientError("503", 503, retry_after_s=7), 0.0)
    assert first.outcome is Outcome.RETRYING and first.wait_s == 7  # Retry-After is a minimum
    state = (await records.load(job.deps.redis, job.event_id)).actions[ACTION.field]
    assert (state.state, state.attempts) == ("retrying", 1)
    last = await tries.failed(job, ACTION, state, TransientError("503 again", 503), 0.0)
    assert last.outcome is Outcome.DEAD
    (entry,) = await dlq.entries(job.deps.redis, job.event_id)
    assert entry.fields["error"] == "gave up after 2 attempts: 503 again"


@pytest.mark.anyio
async def test_a_failed_check_on_a_remote_job_keeps_its_id(job: Job) -> None:
    pending = ActionState(ActionStatus.PENDING, 0, "job-9", {"id": "job-9", "polls": 1})
    step = await tries.failed(job, ACTION, pending, TransientError("timeout"), 0.0)
    assert step.outcome is Outcome.RETRYING
    state = (await records.load(job.deps.redis, job.event_id)).actions[ACTION.field]
    assert (state.state, state.id, state.result["polls"]) == ("pending", "job-9", 1)
