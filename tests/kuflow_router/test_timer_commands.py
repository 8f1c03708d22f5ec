"""`kuflow-router timers list|cancel` and `events show` of timers, against a real Redis."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from redis.asyncio import Redis

from kuflow_router.cli import main
from store import timers


def seed(redis_url: str, *starts: timers.Start) -> None:
    async def go() -> None:
        async with Redis.from_url(redis_url) as client:
            for start in starts:
                await timers.start(client, start, 3600, timers.Caps())

    asyncio.run(go())


def start(event_id: str, rule: str, due_in_s: int, process_id: str = "p-1") -> timers.Start:
    now = int(time.time() * 1000)
    body = json.dumps({"id": event_id, "type": "PROCESS.CREATED"}).encode()
    return timers.Start(rule, event_id, "PROCESS.CREATED", process_id, body, now,
                        now + due_in_s * 1000, "x")  # fmt: skip


def test_list_shows_pending_timers_soonest_first_by_rule_and_by_process(
    env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(env, start("e-2", "escalate", 7200), start("e-1", "remind", 3600, "p-2"))
    assert main(["timers", "list"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == [
        timers.timer_id("e-1", "remind"),
        timers.timer_id("e-2", "escalate"),
    ]
    assert "remind  started by e-1  process p-2" in lines[0]
    assert "2 shown; 2 timers pending in all" in err
    assert main(["timers", "list", "--rule", "escalate", "--json"]) == 0
    (only,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert only["rule"] == "escalate" and only["state"] == "pending" and only["started_by"] == "e-2"
    assert main(["timers", "list", "--process", "p-2"]) == 0
    assert capsys.readouterr().out.count("remind") == 1


def test_cancel_stops_a_pending_timer_and_says_who(
    env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(env, start("e-1", "remind", 3600))
    tid = timers.timer_id("e-1", "remind")
    assert main(["timers", "cancel", tid]) == 0
    assert "cancelled: its actions will not run" in capsys.readouterr().out
    assert main(["timers", "cancel", tid]) == 1
    assert "is cancelled already" in capsys.readouterr().err
    assert main(["timers", "cancel", "00000000-0000-0000-0000-000000000000"]) == 1
    assert main(["events", "show", tid]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["timer"]["state"] == "cancelled"
    assert shown["timer"]["cancelled_by"].startswith("cli:")
    assert main(["events", "show", "e-1"]) == 1  # no record of the event itself here
