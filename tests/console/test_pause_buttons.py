"""Pause and resume from the console: a connection on the overview, a rule on the Rules page —
each with the session's CSRF token, each audited under the session's name and role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from store import audit, gate, keys, ordering, pauses
from tests.doubles.http import HttpDouble
from tests.doubles.kuflow import KuflowDouble


@pytest.mark.anyio
async def test_a_connection_is_paused_and_resumed_from_the_overview(
    make_stand: Callable[..., Any], kuflow: KuflowDouble, crm: HttpDouble
) -> None:
    async with make_stand() as stand:
        await stand.login()
        csrf = await stand.csrf("/")
        form = {"csrf": csrf, "back": "/", "reason": "maintenance", "until": "2h"}
        paused = await stand.console.post("/connections/crm/pause", data=form)
        overview = (await stand.console.get(paused.headers["location"])).text
        status = await gate.status(stand.router.redis, "crm")
        bad = await stand.console.post("/connections/crm/pause", data={**form, "until": "soon"})
        unknown = await stand.console.post("/connections/nope/pause", data=form)
        resumed = await stand.console.post("/connections/crm/resume", data={"csrf": csrf})
        after = await gate.status(stand.router.redis, "crm")
        forged = await stand.console.post("/connections/crm/pause", data={"back": "/"})
        logged = await audit.entries(stand.router.redis)
    assert paused.status_code == 303 and "crm paused" in overview
    assert "HELD: paused by admin since" in overview and "Resume</button>" in overview
    assert "maintenance" in status.hold and "(until " in status.hold
    assert "neither a time" in bad.headers["location"].replace("+", " ").replace("%27", "'")
    assert "no+connection+nope" in unknown.headers["location"]
    assert resumed.status_code == 303 and after.hold == ""
    assert forged.status_code == 403
    assert [(e.actor, e.role, e.action, e.outcome.split(":")[0]) for e in logged] == [
        ("admin", "admin", "connection.pause", "denied"),  # no CSRF token
        ("admin", "admin", "connection.resume", "done"),
        ("admin", "admin", "connection.pause", "refused"),  # no such connection
        ("admin", "admin", "connection.pause", "refused"),  # "soon" is no time
        ("admin", "admin", "connection.pause", "done"),
        ("admin", "admin", "login", "done"),
    ]
    assert all(e.address == "127.0.0.1" for e in logged)


@pytest.mark.anyio
async def test_a_rule_is_paused_and_resumed_from_the_rules_page(
    make_stand: Callable[..., Any], kuflow: KuflowDouble, crm: HttpDouble
) -> None:
    async with make_stand() as stand:
        await stand.login()
        csrf = await stand.csrf("/rules")
        answer = await stand.console.post(
            "/rules/notify-crm/pause", data={"csrf": csrf, "back": "/rules", "reason": "noisy"}
        )
        page = (await stand.console.get("/rules")).text
        held = await pauses.paused(stand.router.redis)
        await stand.console.post("/rules/notify-crm/resume", data={"csrf": csrf, "back": "/rules"})
        left = await pauses.paused(stand.router.redis)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/rules?")
    assert '<span class="status waiting">paused</span>' in page and "noisy" in page
    assert held["notify-crm"].by == "admin" and left == {}


@pytest.mark.anyio
async def test_a_stuck_process_is_listed_and_skipped_from_the_console(
    make_stand: Callable[..., Any], kuflow: KuflowDouble, crm: HttpDouble
) -> None:
    async with make_stand() as stand:
        redis = stand.router.redis
        await redis.rpush(keys.process_line("p-1"), "ev-1", "ev-2")
        await redis.hset(keys.event("ev-1"), mapping={"process_id": "p-1", "status": "dead"})
        await ordering.finish(redis, "p-1", "ev-1", 3600, {"status": "dead"}, "dead", True,
                              holds=True)  # fmt: skip
        await stand.login()
        overview = (await stand.console.get("/")).text
        page = (await stand.console.get("/stuck")).text
        csrf = await stand.csrf("/stuck")
        answer = await stand.console.post("/events/ev-1/skip", data={"csrf": csrf})
        after = (await stand.console.get(answer.headers["location"])).text
        record = await redis.hgetall(keys.event("ev-1"))
    assert '<a href="/stuck">1</a>' in overview
    assert 'href="/events/ev-1"' in page and "1 event" in page and "Skip</button>" in page
    assert "skipped: its process" in after and "No process is held." in after
    assert record[b"skipped_by"] == b"admin"


def test_events_list_held_and_dlq_skip_from_the_command_line(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from redis.asyncio import Redis

    from kuflow_router.cli import main

    async def seed() -> None:
        async with Redis.from_url(redis_url) as redis:
            await redis.rpush(keys.process_line("p-1"), "ev-1", "ev-2", "ev-3")
            await redis.hset(keys.event("ev-1"), mapping={"process_id": "p-1"})
            await ordering.finish(redis, "p-1", "ev-1", 3600, {"status": "dead"}, "dead", True,
                                  holds=True)  # fmt: skip

    asyncio.run(seed())
    monkeypatch.setenv("ROUTER_REDIS_URL", redis_url)
    assert main(["events", "list", "--held"]) == 0
    out = capsys.readouterr().out
    assert "process p-1  waits on ev-1" in out and "2 events behind it" in out
    assert main(["dlq", "skip", "ev-1"]) == 0
    assert "skipped" in capsys.readouterr().out
    assert main(["dlq", "skip", "ev-1"]) == 1
    assert main(["events", "list", "--held"]) == 0
    assert "0 processes held" in capsys.readouterr().err
