"""The console's pages over real events: lists and filters, one event with its rules' verdicts and
every try's request and answer, dead letters by cause, replay, rules and *try it*."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from store import failures, keys
from tests.conftest import make_event
from tests.console.conftest import Stand
from tests.doubles.http import HttpDouble
from tests.doubles.kuflow import KuflowDouble
from tests.e2e.conftest import loan_event


async def failing_run(stand: Stand, kuflow: KuflowDouble, crm: HttpDouble) -> dict[str, Any]:
    """One event done, one whose CRM call fails for good (422); the failing one is returned."""
    crm.fail("POST", "/api/contacts", status=422, times=1)
    bad = loan_event(kuflow)
    await stand.router.send(bad)
    await stand.router.work()
    await stand.router.send(loan_event(kuflow))
    await stand.router.work()
    await stand.login()
    return bad


@pytest.mark.anyio
async def test_events_filter_by_status_and_show_their_rules(
    make_stand: Callable[..., Any], kuflow: KuflowDouble, crm: HttpDouble
) -> None:
    async with make_stand() as stand:
        bad = await failing_run(stand, kuflow, crm)
        every = (await stand.console.get("/events")).text
        partial = (await stand.console.get("/events?status=partial")).text
        by_rule = (await stand.console.get("/events?rule=notify-crm&since=1h")).text
        by_process = await stand.console.get(f"/events?process_id={bad['data']['processId']}")
        unknown = (await stand.console.get("/events?since=tomorrow")).text
    assert every.count('href="/events/') == 2
    assert partial.count('href="/events/') == 1 and bad["id"] in partial
    assert by_rule.count('href="/events/') == 2
    assert by_process.text.count('href="/events/') == 1
    assert "is not a duration" in unknown


@pytest.mark.anyio
async def test_the_event_page_shows_every_try_and_why_each_rule_matched(
    make_stand: Callable[..., Any], kuflow: KuflowDouble, crm: HttpDouble
) -> None:
    async with make_stand() as stand:
        bad = await failing_run(stand, kuflow, crm)
        page = (await stand.console.get(f"/events/{bad['id']}")).text
    assert "partial" in page
    assert f"POST</strong> <code>{crm.base_url}/contacts</code>" in page
    assert "Answer <strong>422</strong>" in page
    assert "Authorization: ***" in page and "crm-token" not in page
    assert "re-evaluated now" in page
    assert 'on-completion</td><td><span class="verdict not-matched">not matched</span>' in page
    assert (
        "type: expected equals &#39;PROCESS.STATE_CHANGED&#39;, actual &#39;PROCESS.CREATED&#39;"
        in page
    )
    assert "At processing time, matched: <strong>open-review, notify-crm</strong>" in page
    assert bad["data"]["processId"] in page  # the body as received


@pytest.mark.anyio
async def test_event_data_is_shown_as_text_never_as_markup(
    make_stand: Callable[..., Any], kuflow: KuflowDouble
) -> None:
    async with make_stand() as stand:
        event = loan_event(kuflow)
        event["data"]["note"] = '<script>alert(1)</script><a href="javascript:alert(2)">x</a>'
        await stand.router.send(event)
        await stand.router.work()
        await stand.login()
        page = (await stand.console.get(f"/events/{event['id']}")).text
    assert "<script>alert" not in page and 'href="javascript:' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.anyio
async def test_dead_letters_are_one_failure_replayed_once_after_the_fix(
    make_stand: Callable[..., Any], kuflow: KuflowDouble, crm: HttpDouble, rdb: Any
) -> None:
    async with make_stand() as stand:
        crm.fail("POST", "/api/contacts", status=422, times=2)
        events = [loan_event(kuflow), loan_event(kuflow)]
        for event in events:
            await stand.router.send(event)
        await stand.router.work()
        await stand.login()
        assert (await stand.console.get("/dead")).headers["location"] == "/failures"
        page = (await stand.console.get("/failures")).text
        assert "notify-crm · crm.request · HTTP 422" in page
        assert "2 events dead-lettered now, 2 dead letters in all" in page
        (failure,) = await failures.listing(stand.router.redis)
        csrf = await stand.csrf("/failures")
        answer = await stand.console.post(
            f"/failures/{failure.failure_id}/replay", data={"csrf": csrf, "back": "/failures"}
        )
        assert "2+events+queued+again%2C+each+process+in+order" in answer.headers["location"]
        again = await stand.console.post(
            f"/events/{events[0]['id']}/replay", data={"csrf": csrf}
        )  # already queued: not a second time
        assert "replay+it+once+it+finished" in again.headers["location"]
        assert rdb.zcard(keys.QUEUE) == 2
        await stand.router.work()
        for event in events:
            assert (await stand.router.record(event["id"])).status == "done"
        assert len(crm.requests("POST", "/api/contacts")) == 4
        assert len(kuflow.tasks()) == 2  # completed actions stayed skipped
        assert "No open failure" in (await stand.console.get("/failures")).text
        resolved = (await stand.console.get("/failures?state=resolved")).text
        assert "Resolved by admin" in resolved and "0 events dead-lettered now" in resolved


@pytest.mark.anyio
async def test_events_are_paged_newest_first_without_repeats(
    make_stand: Callable[..., Any], redis_url: str
) -> None:
    from tests.conftest import enqueue_events

    events = [make_event() for _ in range(60)]
    async with make_stand() as stand:
        await enqueue_events(redis_url, events)
        await stand.login()
        first = (await stand.console.get("/events")).text
        marker = 'rel="next"'
        assert marker in first
        start = first.rindex('href="', 0, first.index(marker)) + len('href="')
        link = first[start : first.index('"', start)].replace("&amp;", "&")
        second = (await stand.console.get(link)).text
    shown = [e["id"] for e in events if f'href="/events/{e["id"]}"' in first]
    rest = [e["id"] for e in events if f'href="/events/{e["id"]}"' in second]
    assert len(shown) == 50 and len(rest) == 10 and not set(shown) & set(rest)
    assert marker not in second


@pytest.mark.anyio
async def test_try_it_shows_the_dry_run_of_a_pasted_event(
    make_stand: Callable[..., Any], kuflow: KuflowDouble
) -> None:
    async with make_stand() as stand:
        await stand.login()
        rules_page = (await stand.console.get("/rules")).text
        csrf = await stand.csrf("/rules")
        event = json.dumps(loan_event(kuflow))
        tried = await stand.console.post(
            "/rules/try", data={"csrf": csrf, "event": event, "process": "", "process_item": ""}
        )
        broken = await stand.console.post(
            "/rules/try", data={"csrf": csrf, "event": "{", "process": "", "process_item": ""}
        )
    assert "open-review" in rules_page and "A task for every new process" in rules_page
    assert "<title>Rules · kuflow-router console</title>" in rules_page
    assert rules_page.index("<h1>Rules</h1>") < rules_page.index('id="compare"')  # in the page
    assert "- name: notify-crm\n    when: {type: PROCESS.CREATED}" in rules_page  # as written
    assert "rule open-review: MATCHED" in tried.text
    assert "rule on-completion: NOT MATCHED" in tried.text
    assert "POST " in tried.text and "/contacts" in tried.text
    assert "The event is not JSON" in broken.text


@pytest.mark.anyio
async def test_the_overview_counts_what_happened(
    make_stand: Callable[..., Any], kuflow: KuflowDouble, crm: HttpDouble
) -> None:
    async with make_stand() as stand:
        await failing_run(stand, kuflow, crm)
        page = (await stand.console.get("/")).text
    assert "Last hour: 2 received" in page
    assert 'status=partial&since=1h">partial</a></td><td>1<' in page
    assert 'status=done&since=1h">done</a></td><td>1<' in page
    assert "PROCESS.CREATED" in page and "<svg" in page
    # Each connection's breaker and its calls of the last 15 minutes (the 422 counts as failed).
    assert "<td>crm <small>(http)</small></td><td>closed</td><td>2</td><td>1</td><td>0</td>" in page
    assert "<td>kuflow <small>(kuflow)</small></td><td>closed</td><td>2</td><td>0</td>" in page


@pytest.mark.anyio
async def test_what_would_change_lists_the_recent_events_a_proposal_treats_differently(
    make_stand: Callable[..., Any], kuflow: KuflowDouble, crm: HttpDouble
) -> None:
    from tests.console.conftest import RULES

    async with make_stand() as stand:
        event = loan_event(kuflow)
        await stand.router.send(event)
        await stand.router.work()
        await stand.login()
        csrf = await stand.csrf("/rules")
        current = RULES.replace("KUFLOW_URL", kuflow.url).replace("CRM_URL", crm.base_url)
        proposed = current.replace("path: /contacts", "path: /people")
        changed = await stand.console.post(
            "/rules/compare", data={"csrf": csrf, "proposed": proposed}
        )
        same = await stand.console.post("/rules/compare", data={"csrf": csrf, "proposed": current})
        broken = await stand.console.post(
            "/rules/compare", data={"csrf": csrf, "proposed": current.replace("when:", "wen:")}
        )
    assert "<strong>1 of 1</strong> recent events" in changed.text
    assert f'href="/events/{event["id"]}"' in changed.text
    assert "notify-crm: - POST" in changed.text and "/api/people" in changed.text
    assert "<strong>0 of 1</strong> recent events" in same.text
    assert "unknown key &#39;wen&#39;" in broken.text


@pytest.mark.anyio
async def test_one_process_is_listed_in_the_order_it_runs(
    make_stand: Callable[..., Any], kuflow: KuflowDouble
) -> None:
    async with make_stand() as stand:
        process = kuflow.add_process()["id"]
        events = [
            make_event(
                "PROCESS.STATE_CHANGED", data={"processId": process, "processState": "RUNNING"}
            )
            for _ in range(3)
        ]
        for event in events:
            await stand.router.send(event)
        await stand.router.work()
        await stand.login()
        page = (await stand.console.get(f"/events?process_id={process}")).text
    positions = [page.index(f'href="/events/{e["id"]}"') for e in events]
    assert positions == sorted(positions)  # first accepted, first listed
    assert "<td>#1</td>" in page and "<td>#3</td>" in page


@pytest.mark.anyio
async def test_failures_keep_counts_and_come_in_pages(
    make_stand: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from console import views
    from store import dlq

    monkeypatch.setattr(views, "FAILURES_PER_PAGE", 2)
    monkeypatch.setattr(views, "FAILURE_EVENTS_SHOWN", 20)
    async with make_stand() as stand:
        for n in range(30):  # 25 of one cause, then five causes of one entry each
            rule = "sync" if n < 25 else f"other-{n}"
            await dlq.add(stand.router.redis, dlq.Limits(), b"{}", event_id=f"ev-{n}",
                          rule=rule, action="crm.request", status=422, error="no")  # fmt: skip
        await stand.login()
        first = (await stand.console.get("/failures")).text
        last = (await stand.console.get("/failures?page=3")).text
        (sync,) = [f for f in await failures.listing(stand.router.redis) if f.rule == "sync"]
        one = (await stand.console.get(f"/failures/{sync.failure_id[:6]}")).text
    assert first.count('<article class="group failure open">') == 2
    assert "Failures 1\u20132 of 6" in first
    assert "25 events dead-lettered now, 25 dead letters in all" in last
    assert "(the first 20 of 25)" in one and one.count('href="/events/ev-') == 20 + 1  # + last


@pytest.mark.anyio
async def test_the_event_page_says_why_a_rule_matched_and_lists_actions_as_they_ran(
    make_stand: Callable[..., Any], kuflow: KuflowDouble
) -> None:
    async with make_stand() as stand:
        event = loan_event(kuflow)
        await stand.router.send(event)
        await stand.router.work()
        await stand.login()
        page = (await stand.console.get(f"/events/{event['id']}")).text
    # open-review comes first in the file (not in the alphabet, nor the hash)
    assert page.index("action:open-review:0") < page.index("action:notify-crm:0")
    assert "type: equals &#39;PROCESS.CREATED&#39; (actual &#39;PROCESS.CREATED&#39;)" in page


def test_try_it_asks_in_the_page_s_words_not_a_command_s_flags() -> None:
    from console.rules_page import try_rules
    from handlers.rules.loader import load_text

    rules = load_text(
        "version: 1\nconnections:\n  kf: {type: kuflow, base_url: 'https://kf.example/v1', "
        "client_id: i, client_secret: s}\nrules:\n  - name: big\n    when: {type: "
        "PROCESS.CREATED, process.entity.value.amount: {numeric: ['>', 10]}}\n    do:\n"
        "      - kf.complete_process: {process_id: '{{ data.processId }}'}\n",
        "rules.yaml",
    )
    event = make_event(data={"processId": "3f9c2a1e-7b8d-4c6e-9a0f-1b2c3d4e5f60",
                             "processState": "RUNNING"})  # fmt: skip
    tried = try_rules(rules, {"event": json.dumps(event), "process": "", "process_item": ""})
    assert "paste the process" in tried.text and "into the Process box" in tried.text
    assert "--process" not in tried.text


@pytest.mark.anyio
async def test_an_event_links_its_trace_and_its_process_s_timeline(
    make_stand: Callable[..., Any], kuflow: KuflowDouble
) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with make_stand(trace_url="http://jaeger.example:16686/trace/{trace_id}") as stand:
        event = loan_event(kuflow)
        process = event["data"]["processId"]
        await stand.router.send(event)
        await stand.router.work()
        await stand.router.redis.hset(keys.event(event["id"]), "trace_id", trace)
        await stand.login()
        page = (await stand.console.get(f"/events/{event['id']}")).text
        timeline = await stand.console.get(f"/processes/{process}")
        unknown = await stand.console.get("/processes/no-such-process")
        found = await stand.console.get(f"/processes?id={process}", follow_redirects=False)
    link = f'href="http://jaeger.example:16686/trace/{trace}"'
    assert link in page and f'href="/processes/{process}"' in page
    assert link in timeline.text and f'href="/events/{event["id"]}"' in timeline.text
    assert "open-review" in timeline.text and "kuflow.create_task" in timeline.text
    assert unknown.status_code == 404 and "holds no event of this process" in unknown.text
    assert found.status_code == 303 and found.headers["location"] == f"/processes/{process}"
