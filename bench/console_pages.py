"""The console's pages with 100,000 events stored (issue 16): server time per page.

    .venv/bin/python -m bench.console_pages [EVENTS]

Fills a private Redis with EVENTS event records as the receiver and the worker leave them (one
in 20 partial, with a dead letter), then renders each page in-process through its ASGI app —
the server's whole work, Redis round trips included, without a network hop or a browser — and
reports the median of 30 renders, with the ratio to a bare page through the same app (the
baseline of this run: these machines differ by 2x from day to day). Goals: the events page
(50 rows, filtered) and the event page ≤ 50 ms, the overview ≤ 100 ms.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from redis.asyncio import Redis
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bench import machine
from bench.harness import body, console_client, event, redis_server
from console.app import create_console
from handlers.rules.reload import LiveRules
from store import dlq, keys
from store.records import ActionState, ActionStatus

RULES = """\
version: 1
connections:
  crm: {type: http, base_url: "http://127.0.0.1:9", headers: {Authorization: Bearer x}}
rules:
  - name: notify
    when: {type: PROCESS.CREATED}
    do:
      - crm.request: {method: POST, path: /contacts, json: {id: "{{ data.processId }}"}}
"""
RENDERS = 30


async def fill(redis: Redis, count: int) -> str:
    """`count` events over the last 24 hours; returns the id of a partial one."""
    now_ms = int(time.time() * 1000)
    sample = ""
    exchange = {"method": "POST", "url": "http://127.0.0.1:9/contacts", "headers": {},
                "body": "{}", "status": 201, "duration_ms": 3.1, "answer": '{"id": "c-1"}',
                "error": ""}  # fmt: skip
    for start in range(0, count, 5000):
        async with redis.pipeline(transaction=False) as pipe:
            for n in range(start, min(count, start + 5000)):
                payload = event()
                event_id = str(payload["id"])
                at = now_ms - (count - n) * 86_400_000 // count
                partial = n % 20 == 0
                history = [{"at": at / 1000, "outcome": "done", "exchanges": [exchange]}]
                state = ActionState(ActionStatus.DEAD if partial else ActionStatus.DONE, 1,
                                    "c-1", {}, history=history, action="crm.request")  # fmt: skip
                pipe.hset(keys.event(event_id), mapping={
                    "received_at": at, "type": "PROCESS.CREATED",
                    "status": "partial" if partial else "done", "process_id": str(uuid.uuid4()),
                    "matched": '["notify"]', "event": body(payload).decode(),
                    "action:notify:0": state.encode(), "started_at": at, "finished_at": at + 5,
                })  # fmt: skip
                pipe.zadd(keys.EVENTS, {event_id: at})
                minute = keys.stats(at // 60_000)
                pipe.hincrby(minute, "received", 1)
                pipe.hincrby(minute, "type:PROCESS.CREATED", 1)
                pipe.hincrby(minute, "partial" if partial else "done", 1)
                if partial:
                    sample = event_id
            await pipe.execute()
        print(f"\r  stored {min(count, start + 5000):,} events", end="", file=sys.stderr)
    print(file=sys.stderr)
    await dlq.add(redis, dlq.Limits(), b"{}", event_id=sample, rule="notify",
                  action="crm.request", error="POST answered 422", status=422)  # fmt: skip
    return sample


async def median_ms(client: httpx.AsyncClient, path: str) -> float:
    times = []
    for _ in range(RENDERS):
        started = time.perf_counter()
        answer = await client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (path, answer.status_code)
    return statistics.median(times)


async def main(count: int) -> None:
    print(machine.describe())
    with tempfile.TemporaryDirectory() as place, redis_server(Path(place)) as server:
        rules_path = Path(place) / "rules.yaml"
        rules_path.write_text(RULES)
        async with Redis.from_url(server.url) as redis:
            sample = await fill(redis, count)
            app = create_console(redis, LiveRules(rules_path), None, 7 * 24 * 3600)
            app.router.routes.append(Route("/bare", lambda r: PlainTextResponse("ok")))
            async with console_client(app) as client:
                bare = await median_ms(client, "/bare")
                pages = {
                    "events page (50 rows, status=partial)": "/events?status=partial",
                    "events page (50 rows, no filter)": "/events",
                    "event page": f"/events/{sample}",
                    "overview": "/",
                    "dead letters": "/dead",
                }
                figures = {name: await median_ms(client, path) for name, path in pages.items()}
    print(f"\n{count:,} events stored; median of {RENDERS} renders, server side (in-process)\n")
    print("| page | ms | vs a bare page |")
    print("|---|---:|---:|")
    print(f"| bare page (baseline) | {bare:.2f} | 1x |")
    for name, ms in figures.items():
        print(f"| {name} | {ms:.1f} | {ms / bare:.0f}x |")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
