"""`kuflow-router audit` against a real Redis: what the command line changed, by `cli:user@host`,
filtered by time, person and action, as text or one JSON object per line."""

from __future__ import annotations

import asyncio
import json

import pytest
from redis.asyncio import Redis

from kuflow_router.admin_commands import actor
from kuflow_router.cli import main
from store import audit, reads


def test_what_the_command_line_did_is_audited_and_read_back(
    env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    unknown = "0b6f8f3e-5a55-4c35-9d7e-6c1f3f8f0a11"
    assert main(["timers", "cancel", unknown]) == 1
    assert main(["dlq", "replay", unknown]) == 1
    assert main(["failover", "confirm"]) == 0

    async def console_entry() -> int:
        async with Redis.from_url(env) as redis:
            await audit.write(redis, "ops-lead", "event.replay", ["ev-1"], role="operator",
                              address="10.0.0.7")  # fmt: skip
            return (await reads.gauges(redis)).audit_entries

    assert asyncio.run(console_entry()) == 4
    capsys.readouterr()
    assert main(["audit", "--json", "--since", "1h"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["actor"], e["role"], e["action"], e["outcome"]) for e in lines] == [
        (actor(), "cli", "timer.cancel", "unchanged: no such timer"),
        (actor(), "cli", "event.replay", "unchanged: has no dead-letter entry"),
        (actor(), "cli", "failover.confirm", "done"),
        ("ops-lead", "operator", "event.replay", "done"),
    ]
    assert lines[0]["objects"] == [unknown] and lines[0]["at"].endswith("Z")
    assert main(["audit", "--actor", "ops-lead"]) == 0
    out = capsys.readouterr()
    assert out.out.count("\n") == 1 and "ops-lead (operator)  event.replay  ev-1  done" in out.out
    assert "from 10.0.0.7" in out.out and "1 entries; 4 kept in all" in out.err
    assert main(["audit", "--action", "event."]) == 0
    assert capsys.readouterr().out.count("event.replay") == 2
    assert main(["audit", "--since", "2999-01-01T00:00Z"]) == 0
    assert capsys.readouterr().out == ""
    with pytest.raises(SystemExit):
        main(["audit", "--since", "yesterday"])
    assert "neither a duration" in capsys.readouterr().err
