"""Timers in the console: counted on the overview, listed on /timers, on the starting event's
and the process's pages, cancelled by a button (with the session's CSRF token)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from store import timers
from tests.conftest import make_event
from tests.doubles.http import HttpDouble
from tests.doubles.kuflow import KuflowDouble

NUDGE = """\
  - name: nudge
    when: {type: PROCESS.CREATED}
    after: 1h
    unless:
      event: {type: PROCESS.STATE_CHANGED}
      same: [data.processId]
    do:
      - crm.request: {method: POST, path: /nudge, json: {process: "{{ data.processId }}"}}
"""


@pytest.mark.anyio
async def test_a_pending_timer_is_shown_everywhere_and_cancelled_by_its_button(
    make_stand: Callable[..., Any], kuflow: KuflowDouble, crm: HttpDouble
) -> None:
    event = make_event()
    process_id = event["data"]["processId"]
    tid = timers.timer_id(event["id"], "nudge")
    async with make_stand(rules=NUDGE) as stand:
        await stand.router.send(event)
        await stand.router.enqueued_only()
        await stand.login()
        overview = (await stand.console.get("/")).text
        listed = (await stand.console.get("/timers")).text
        by_rule = (await stand.console.get("/timers?rule=open-review")).text
        started = (await stand.console.get(f"/events/{event['id']}")).text
        own = (await stand.console.get(f"/events/{tid}")).text
        story = await stand.console.get(f"/processes/{process_id}")
        csrf = await stand.csrf("/timers")
        answer = await stand.console.post(f"/timers/{tid}/cancel",
                                          data={"csrf": csrf, "back": "/timers"})  # fmt: skip
        after = (await stand.console.get(answer.headers["location"])).text
        again = await stand.console.post(f"/timers/{tid}/cancel",
                                         data={"csrf": csrf, "back": "//evil.example"})  # fmt: skip
        forged = await stand.console.post(f"/timers/{tid}/cancel", data={"back": "/timers"})
    assert '<a href="/timers">1</a>' in overview and "next due" in overview
    assert f'href="/events/{tid}"' in listed and "nudge" in listed and "Cancel</button>" in listed
    assert "No timer" in by_rule
    assert "<h2>Timers</h2>" in started and f'href="/events/{tid}"' in started
    assert "This is the run of a timer" in own
    assert story.status_code == 200 and f'href="/events/{tid}"' in story.text
    assert answer.status_code == 303 and answer.headers["location"].startswith("/timers?")
    assert "timer cancelled: its actions will not run" in after and "0 timers pending" in after
    assert again.headers["location"].startswith("/?")  # only a path of this site
    assert forged.status_code == 403
    assert crm.requests("POST", "/api/nudge") == []


@pytest.mark.anyio
async def test_the_cancelling_event_says_which_timer_it_cancelled(
    make_stand: Callable[..., Any], kuflow: KuflowDouble, crm: HttpDouble
) -> None:
    event = make_event()
    ended = make_event("PROCESS.STATE_CHANGED", data={**event["data"], "processState": "COMPLETED"})
    async with make_stand(rules=NUDGE) as stand:
        await stand.router.send(event)
        await stand.router.send(ended)
        await stand.router.enqueued_only()
        await stand.login()
        page = (await stand.console.get(f"/events/{ended['id']}")).text
    assert "it cancelled timer" in page and "cancelled" in page
