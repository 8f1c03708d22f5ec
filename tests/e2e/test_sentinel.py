"""The router on Redis Sentinel: receiver, worker and tools find the primary through the
sentinels; with ROUTER_REDIS_MIN_REPLICAS a 202 means a replica has the event; a failover is
followed without a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from common.redis_url import client
from handlers.rules.reload import LiveRules
from receiver.app import create_app
from store import keys, timers
from tests.conftest import make_event, make_settings, run_worker_until_idle, serve_app
from tests.e2e.harness import Pipeline
from tests.ha import DOWN_AFTER_MS, SERVICE, Cluster, in_sync, sentinel_cluster, wait

pytestmark = pytest.mark.anyio

RULES = """\
version: 1
connections:
  crm: {{type: http, base_url: "{url}", headers: {{Authorization: "Bearer crm-token"}}}}
rules:
  - name: sync
    when: {{type: PROCESS.CREATED}}
    do:
      - crm.request: {{method: POST, path: /orders, json: {{event: "{{{{ id }}}}"}}}}
"""


REMIND = (
    RULES
    + """\
  - name: remind
    when: {{type: PROCESS.CREATED}}
    after: 2s
    do:
      - crm.request: {{method: POST, path: /reminders, json: {{event: "{{{{ id }}}}"}}}}
"""
)


@asynccontextmanager
async def sentinel_pipeline(
    cluster: Cluster, directory: Path, crm: Any, text: str = RULES, **settings: Any
) -> AsyncIterator[Pipeline]:
    """The receiver app and a client, both through the sentinels, with rules calling the CRM."""
    rules = directory / "rules.yaml"
    rules.write_text(text.format(url=crm.base_url))
    chosen = make_settings(cluster.url, rules_file=rules, **settings)
    async with serve_app(create_app(chosen)) as http, client(cluster.url) as redis:
        yield Pipeline(http, redis, LiveRules(rules), chosen)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with sentinel_cluster(tmp_path_factory.mktemp("sentinel")) as running:
        yield running


async def test_receiver_worker_and_tools_run_through_the_sentinels(
    cluster: Cluster, tmp_path: Path, crm: Any
) -> None:
    event = make_event()
    async with sentinel_pipeline(cluster, tmp_path, crm, redis_min_replicas=1) as pipeline:
        answer = await pipeline.send(event)
        assert answer.status_code == 202, answer.text
        await run_worker_until_idle(pipeline.settings, pipeline.rules)
        assert (await pipeline.record(event["id"])).status == "done"
    # What was acknowledged is on the replica too.
    with cluster.replica.client() as replica:
        assert replica.exists(keys.event(event["id"]))
    assert len(crm.requests("POST", "/api/orders")) == 1


async def test_without_the_replica_a_202_is_not_given_and_the_retry_queues_once(
    cluster: Cluster, tmp_path: Path, crm: Any
) -> None:
    event = make_event()
    async with sentinel_pipeline(
        cluster, tmp_path, crm, redis_min_replicas=1, redis_replica_timeout_ms=100
    ) as pipeline:
        cluster.replica.kill()
        try:
            refused = await pipeline.send(event)
        finally:
            cluster.replica.start()
            wait(lambda: in_sync(cluster.replica), "the replica to catch up")
        assert refused.status_code == 503 and refused.headers["retry-after"]
        retried = await pipeline.send(event)  # KuFlow's retry: the event is there already
        assert retried.status_code == 202 and retried.json()["status"] == "duplicate"
        assert await pipeline.redis.zscore(keys.QUEUE, event["id"]) is not None  # queued, once


async def test_a_failover_is_followed_without_a_restart(
    cluster: Cluster, tmp_path: Path, crm: Any
) -> None:
    before, after = make_event(), make_event()
    async with sentinel_pipeline(cluster, tmp_path, crm) as pipeline:
        assert (await pipeline.send(before)).status_code == 202
        wait(lambda: _replicated(cluster, before["id"]), "the replica to have the event")
        old = cluster.primary
        cluster.set_down_after(60_000)  # no failover can begin yet
        try:
            old.kill()
            # Between the primary's death and the promotion: not ready, and no 2xx.
            assert (await pipeline.client.get("/readyz")).status_code == 503
            assert (await pipeline.send(after)).status_code == 503
        finally:
            cluster.set_down_after(DOWN_AFTER_MS)
        wait(lambda: cluster.primary_port() != old.port, "the sentinels to promote the replica")
        # The same receiver and clients, no restart: they ask the sentinels again.
        answers = await send_until_accepted(pipeline, after)
        assert answers[-1] == 202, answers
        assert set(answers) <= {202, 503}  # never another answer, never a 2xx it cannot keep
        assert (await pipeline.client.get("/readyz")).status_code == 200
        await run_worker_until_idle(pipeline.settings, pipeline.rules)
        assert (await pipeline.record(before["id"])).status == "done"
        assert (await pipeline.record(after["id"])).status == "done"
        old.start(replica_of=cluster.primary_port())  # back, as the new primary's replica
        wait(cluster.follow_sentinels, "a primary and its replica in sync again")


async def test_a_pending_timer_survives_a_failover_and_fires_once(
    cluster: Cluster, tmp_path: Path, crm: Any
) -> None:
    event = make_event()
    async with sentinel_pipeline(cluster, tmp_path, crm, REMIND, redis_min_replicas=1) as p:
        assert (await p.send(event)).status_code == 202
        await run_worker_until_idle(p.settings, p.rules, timers=False)  # the timer waits
        tid = timers.timer_id(event["id"], "remind")
        wait(lambda: _replicated(cluster, tid), "the replica to have the timer")
        old = cluster.primary
        old.kill()
        wait(lambda: cluster.primary_port() != old.port, "the sentinels to promote the replica")
        old.start(replica_of=cluster.primary_port())  # a replica again: runs can begin
        wait(cluster.follow_sentinels, "a primary and its replica in sync again")
        async with asyncio.timeout(60):  # a guard against a hang, not a speed test
            await run_worker_until_idle(p.settings, p.rules)  # until the timer fired
        run = await p.record(tid)
        assert run.fields["timer_state"] == "fired" and run.status == "done"
    (reminder,) = crm.requests("POST", "/api/reminders")
    assert reminder.body == {"event": event["id"]}


async def send_until_accepted(pipeline: Pipeline, event: dict[str, Any]) -> list[int]:
    """Deliver as KuFlow does, again until a 202: the statuses it got (at most 50 tries)."""
    answers: list[int] = []
    while len(answers) < 50 and answers[-1:] != [202]:
        if answers:
            await asyncio.sleep(0.2)
        answers.append((await pipeline.send(event)).status_code)
    return answers


def _replicated(cluster: Cluster, event_id: str) -> bool:
    with cluster.replica.client() as replica:
        return bool(replica.exists(keys.event(event_id)))


async def test_a_demoted_primary_answering_readonly_means_reconnect(
    cluster: Cluster, tmp_path: Path, crm: Any
) -> None:
    """A switchover (SENTINEL FAILOVER): the old primary lives on as a replica, and a client
    still connected to it is answered READONLY — the receiver and worker ask the sentinels
    again instead of taking it for a bad event."""
    before, after = make_event(), make_event()
    async with sentinel_pipeline(cluster, tmp_path, crm) as pipeline:
        assert (await pipeline.send(before)).status_code == 202  # connected to the primary
        old_port = cluster.primary_port()
        with cluster.sentinels[0].client() as sentinel:
            sentinel.execute_command("SENTINEL", "FAILOVER", SERVICE)
        wait(lambda: cluster.primary_port() != old_port, "the switchover")
        wait(cluster.follow_sentinels, "the old primary to follow the new one")
        answers = await send_until_accepted(pipeline, after)
        assert answers[-1] == 202 and set(answers) <= {202, 503}, answers
        await run_worker_until_idle(pipeline.settings, pipeline.rules)
        assert (await pipeline.record(after["id"])).status == "done"
