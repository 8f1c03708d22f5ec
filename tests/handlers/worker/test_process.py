"""One event's job, called as arq calls it, against a real Redis and the KuFlow double: what it
returns, what it records, when it asks to come back, and that a re-run never acts twice."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from arq import Retry
from redis.asyncio import Redis

from handlers.clients.base import Session
from handlers.clients.network import Client
from handlers.rules.reload import LiveRules
from handlers.worker import process
from handlers.worker.job import Deps
from store import dlq, keys, records
from tests.conftest import make_event
from tests.doubles.kuflow import CLIENT_ID, CLIENT_SECRET, KuflowDouble

ASK = "  - name: ask\n    when: {type: PROCESS.CREATED}\n    do:\n      - kuflow.create_task: {process_id: '{{ data.processId }}', task_code: REVIEW}\n"
BROKEN = "  - name: broken\n    when: {type: PROCESS.CREATED}\n    do:\n      - kuflow.create_task: {process_id: '{{ data.nothing }}', task_code: X}\n"


def rules_text(url: str, *rules: str) -> str:
    return (
        "version: 1\nverify: false\n"
        "defaults: {retry: {attempts: 3, initial: 1ms, max: 2ms}}\nconnections:\n"
        f"  kuflow: {{type: kuflow, base_url: '{url}', client_id: {CLIENT_ID}, client_secret: {CLIENT_SECRET}}}\n"
        "rules:\n" + "".join(rules)
    )


@pytest.fixture
async def shared(redis_url: str) -> AsyncIterator[tuple[Redis, Session]]:
    async with Redis.from_url(redis_url) as redis, Client(10) as http:
        yield redis, Session(http)


@pytest.fixture
def make_deps(shared: tuple[Redis, Session], tmp_path: Path) -> Callable[[str], Deps]:
    """What a worker's jobs share, running the rules of the given text."""

    def make(text: str) -> Deps:
        path = tmp_path / "rules.yaml"
        path.write_text(text)
        return Deps(shared[0], shared[1], LiveRules(path), 3600, dlq.Limits())

    return make


def process_created(kuflow: KuflowDouble) -> dict[str, Any]:
    """A PROCESS.CREATED event about a process KuFlow knows."""
    return make_event(data={"processId": kuflow.add_process()["id"], "processState": "RUNNING"})


async def run(deps: Deps, event: dict[str, Any], attempt: int = 1) -> Any:
    ctx = {"router": deps, "job_try": attempt, "job_id": event.get("id", "j")}
    return await process.process_event(ctx, json.dumps(event), 0)


@pytest.mark.anyio
async def test_a_matched_rule_acts_once_and_is_on_record(
    make_deps: Callable[[str], Deps], kuflow: KuflowDouble
) -> None:
    deps = make_deps(rules_text(kuflow.url, ASK))
    event = process_created(kuflow)
    assert await run(deps, event) == "done"
    record = await records.load(deps.redis, event["id"])
    (task,) = kuflow.tasks()
    state = record.actions["action:ask:0"]
    assert (record.status, record.fields["matched"]) == ("done", '["ask"]')
    assert (state.state, state.attempts, state.id) == ("done", 1, task["id"])
    assert await run(deps, event, attempt=2) == "done"  # a re-run (a crash, say) skips it
    assert len(kuflow.tasks()) == 1


@pytest.mark.anyio
async def test_a_transient_failure_asks_to_come_back_then_goes_on(
    make_deps: Callable[[str], Deps], kuflow: KuflowDouble
) -> None:
    deps = make_deps(rules_text(kuflow.url, ASK))
    event = process_created(kuflow)
    kuflow.fail("POST", "/process-items", status=503)
    with pytest.raises(Retry) as retry:
        await run(deps, event)
    assert 0 <= (retry.value.defer_score or 0) <= 2  # ms: within the backoff's ceiling
    state = (await records.load(deps.redis, event["id"])).actions["action:ask:0"]
    assert (state.state, state.attempts, state.status) == ("retrying", 1, 503)
    assert await run(deps, event, attempt=2) == "done"
    assert len(kuflow.tasks()) == 1


@pytest.mark.anyio
async def test_retries_give_up_into_the_dead_letter_queue(
    make_deps: Callable[[str], Deps], kuflow: KuflowDouble
) -> None:
    deps = make_deps(rules_text(kuflow.url, ASK))
    event = process_created(kuflow)
    kuflow.fail("POST", "/process-items", status=503, times=3)
    for attempt in (1, 2):
        with pytest.raises(Retry):
            await run(deps, event, attempt)
    assert await run(deps, event, attempt=3) == "dead"
    (entry,) = await dlq.entries(deps.redis, event["id"])
    assert entry.fields["error"].startswith("gave up after 3 attempts: ")
    assert (entry.fields["rule"], entry.fields["attempts"]) == ("ask", "3")


@pytest.mark.anyio
async def test_one_dead_rule_leaves_the_others_and_the_event_partial(
    make_deps: Callable[[str], Deps], kuflow: KuflowDouble
) -> None:
    deps = make_deps(rules_text(kuflow.url, BROKEN, ASK))
    event = process_created(kuflow)
    assert await run(deps, event) == "partial"
    record = await records.load(deps.redis, event["id"])
    assert record.actions["action:broken:0"].state == "dead"
    assert record.actions["action:ask:0"].state == "done"
    (entry,) = await dlq.entries(deps.redis, event["id"])
    assert "data.nothing" in entry.fields["error"]


@pytest.mark.anyio
async def test_a_job_out_of_time_defers_without_acting(
    make_deps: Callable[[str], Deps], kuflow: KuflowDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps = make_deps(rules_text(kuflow.url, ASK))
    event = process_created(kuflow)
    monkeypatch.setattr(process, "JOB_BUDGET_S", -1.0)
    with pytest.raises(Retry) as retry:
        await run(deps, event)
    assert retry.value.defer_score == 0
    assert kuflow.tasks() == []


@pytest.mark.anyio
async def test_a_crash_looping_job_is_dead_lettered(
    make_deps: Callable[[str], Deps], kuflow: KuflowDouble
) -> None:
    deps = make_deps(rules_text(kuflow.url, ASK))
    event = process_created(kuflow)
    # Runs are counted in the record (a parked job's returns are none): this is one too many.
    await deps.redis.hset(keys.event(event["id"]), "runs", process.MAX_RUNS)
    assert await run(deps, event) == "dead"
    (entry,) = await dlq.entries(deps.redis, event["id"])
    assert (entry.fields["rule"], entry.fields["action"]) == ("*", "(job)")
    assert kuflow.tasks() == []
    # A replay (the cause fixed) counts its own runs: it runs, as a repeat that checks first.
    assert await dlq.replay(deps.redis, event["id"], 3600)
    assert await run(deps, event) == "done"
    assert len(kuflow.tasks()) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    "text", [pytest.param("not json", id="not-json"), pytest.param('{"id": "x"}', id="no-uuid")]
)
async def test_a_job_without_an_event_is_dead_lettered(
    make_deps: Callable[[str], Deps], kuflow: KuflowDouble, text: str
) -> None:
    deps = make_deps(rules_text(kuflow.url, ASK))
    ctx = {"router": deps, "job_try": 1, "job_id": "job-1"}
    assert await process.process_event(ctx, text, 0) == "dead"
    (entry,) = await dlq.entries(deps.redis, "job-1")
    assert entry.fields["error"] == "the job does not hold a KuFlow event"


@pytest.mark.anyio
async def test_a_refused_job_is_dead_lettered_with_its_reason(
    make_deps: Callable[[str], Deps], kuflow: KuflowDouble
) -> None:
    deps = make_deps(rules_text(kuflow.url, ASK))
    ctx = {"router": deps, "job_id": "job-2"}
    assert await process.refused_job(ctx, "a pickle", "\\x80\\x04") == "dead"
    (entry,) = await dlq.entries(deps.redis, "job-2")
    assert entry.fields["error"] == "refused job: a pickle"


@pytest.mark.anyio
async def test_each_try_keeps_what_it_sent_and_got_back_without_credentials(
    make_deps: Callable[[str], Deps], kuflow: KuflowDouble
) -> None:
    deps = make_deps(rules_text(kuflow.url, ASK))
    event = process_created(kuflow)
    kuflow.fail("POST", "/process-items", status=503)
    with pytest.raises(Retry):
        await run(deps, event)
    assert await run(deps, event, attempt=2) == "done"
    record = await records.load(deps.redis, event["id"])
    first, second = record.actions["action:ask:0"].history
    assert (first["outcome"], first["status"], second["outcome"]) == ("retrying", 503, "done")
    assert first["retry_in_s"] >= 0
    (failed,) = first["exchanges"]
    (sent,) = second["exchanges"]
    assert (failed["status"], sent["status"]) == (503, 201)
    assert (sent["method"], sent["url"]) == ("POST", f"{kuflow.url}/process-items")
    assert sent["headers"]["Authorization"] == "***"
    assert '"task_code"' not in sent["body"] and '"REVIEW"' in sent["body"]
    assert json.loads(sent["answer"])["id"] == kuflow.tasks()[0]["id"]
    assert CLIENT_SECRET not in json.dumps(record.actions["action:ask:0"].history)
    assert (record.fields["status"], "started_at" in record.fields) == ("done", True)
    assert int(record.fields["finished_at"]) >= int(record.fields["started_at"])


LATE = "  - name: stale\n    when: {ordering.late: true}\n    do:\n      - kuflow.create_message: {process_id: '{{ data.processId }}', text: late}\n"


@pytest.mark.anyio
async def test_a_redelivered_older_event_runs_marked_late(
    make_deps: Callable[[str], Deps], kuflow: KuflowDouble
) -> None:
    deps = make_deps(rules_text(kuflow.url, ASK, LATE))
    process_id = kuflow.add_process()["id"]
    data = {"processId": process_id, "processState": "RUNNING"}
    newer = make_event(data=data, timestamp="2026-11-27T10:00:00Z")
    older = make_event(data=data, timestamp="2026-11-27T09:00:00Z")
    assert await run(deps, newer) == "done"
    assert await run(deps, older) == "done"
    late = await records.load(deps.redis, older["id"])
    assert (late.fields.get("late"), late.fields["matched"]) == ("1", '["ask", "stale"]')
    assert "late" not in (await records.load(deps.redis, newer["id"])).fields


@pytest.mark.anyio
async def test_runs_that_only_waited_for_their_turn_are_no_crash_loop(
    make_deps: Callable[[str], Deps], kuflow: KuflowDouble
) -> None:
    limited = rules_text(kuflow.url, ASK).replace(
        f"client_secret: {CLIENT_SECRET}}}",
        f"client_secret: {CLIENT_SECRET}, limits: {{rate: 1/h}}}}",
    )
    deps = make_deps(limited)
    assert await run(deps, process_created(kuflow)) == "done"  # the hour's one call
    event = process_created(kuflow)
    with pytest.raises(Retry):  # held: the next turn is an hour away
        await run(deps, event)
    record = await records.load(deps.redis, event["id"])
    assert record.fields["held_runs"] == "1" and "action:ask:0" not in record.actions
    # As many runs as a crash loop, but most of them held: it runs (and is held) again.
    await deps.redis.hset(keys.event(event["id"]), mapping={"runs": process.MAX_RUNS + 3,
                                                             "held_runs": 10})  # fmt: skip
    with pytest.raises(Retry):
        await run(deps, event)
    assert await dlq.entries(deps.redis, event["id"]) == []
    assert len(kuflow.tasks()) == 1


@pytest.mark.anyio
async def test_redis_failing_mid_run_brings_the_job_back_instead_of_ending_it(
    make_deps: Callable[[str], Deps], kuflow: KuflowDouble
) -> None:
    deps = make_deps(rules_text(kuflow.url, ASK))
    async with Redis(port=1, socket_connect_timeout=0.2) as nowhere:  # nothing listens on 1
        deps.redis = nowhere
        with pytest.raises(Retry) as retry:
            await run(deps, process_created(kuflow))
    assert retry.value.defer_score == process.REDIS_RETRY_S * 1000
    assert kuflow.tasks() == []


@pytest.mark.anyio
async def test_an_unexpected_error_brings_the_job_back_then_dead_letters_the_event(
    make_deps: Callable[[str], Deps], kuflow: KuflowDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """arq ends a job that raises anything but Retry for good: the event would stay
    `processing` for ever. It comes back later each time, and is dead-lettered with the error."""
    deps = make_deps(rules_text(kuflow.url, ASK))
    event = process_created(kuflow)

    def broken(*args: object) -> None:
        raise AttributeError("'NoneType' object has no attribute 'writelines'")

    monkeypatch.setattr(process.evaluate, "select", broken)
    defers = []
    for _ in range(process.CRASH_LIMIT):
        with pytest.raises(Retry) as retry:
            await run(deps, event)
        defers.append(retry.value.defer_score)
    assert defers == sorted(defers) and defers[0] == process.CRASH_RETRY_S * 1000
    assert await run(deps, event) == "dead"
    (entry,) = await dlq.entries(deps.redis, event["id"])
    assert entry.fields["error"] == (
        f"the worker failed on this event {process.CRASH_LIMIT} times, last: "
        "AttributeError: 'NoneType' object has no attribute 'writelines'"
    )
    assert (await records.load(deps.redis, event["id"])).status == "dead"
    assert kuflow.tasks() == []
    monkeypatch.undo()  # the bug is fixed: a replay starts with no errors counted
    assert await dlq.replay(deps.redis, event["id"], 3600)
    assert await run(deps, event) == "done"
    assert len(kuflow.tasks()) == 1
