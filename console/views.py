"""The console's pages: overview, events, one event, a process's timeline, timers, failures,
rules and *try it*."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from authoring.dryrun import Hints, dry_run
from console.access import Login
from console.rules_page import Changed, rule_lines, shown_environ, try_rules, what_would_change
from console.web import Form, console_of, render
from handlers.clients.params import parse_duration, parse_earlier
from store import audit, failures, gate, ordering, pauses, reads, records, timers

STATUSES = ("queued", "waiting", "processing", "done", "partial", "dead", "rejected")
CONNECTION_MINUTES = 15  # the overview's recent calls per connection


async def overview(request: Request, session: Login) -> Response:
    console = console_of(request)
    figures = await reads.overview(console.redis)
    held, _ = await ordering.held_summary(console.redis)
    counted = await failures.counts(console.redis)
    live = console.rules
    connections = [
        await gate.report(console.redis, name, connection, CONNECTION_MINUTES)
        for name, connection in live.current.connections.items()
    ]
    return render(request, session, "overview.html", figures=figures, rules=live.current,
                  rules_path=str(live.path), loaded_at=live.loaded_at * 1000,
                  problems=live.problems, now=time.time(), connections=connections,
                  now_ms=int(time.time() * 1000), held=held, failures=counted,
                  message=request.query_params.get("message", ""))  # fmt: skip


def _filters(request: Request) -> tuple[reads.Filters, dict[str, str], str]:
    q = request.query_params
    names = ("status", "type", "rule", "process_id", "event_id", "since", "from", "to")
    shown = {name: q.get(name, "").strip() for name in names}
    error = ""
    since_ms = until_ms = 0
    try:
        if shown["since"]:
            since_ms = int((time.time() - parse_duration(shown["since"])) * 1000)
        if shown["from"]:
            since_ms = max(since_ms, _parse_time(shown["from"]))
        if shown["to"]:
            until_ms = _parse_time(shown["to"])
    except ValueError as exc:
        error = str(exc)
    filters = reads.Filters(shown["status"], shown["type"], shown["rule"], shown["process_id"],
                           shown["event_id"].lower(), since_ms, until_ms)  # fmt: skip
    return filters, shown, error


def _parse_time(text: str) -> int:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a time; write e.g. 2026-11-27T09:30 (UTC) or "
                        "2026-11-27T09:30+01:00") from None  # fmt: skip
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


async def events(request: Request, session: Login) -> Response:
    console = console_of(request)
    filters, shown, error = _filters(request)
    page_ = reads.Page([], None, 0)
    if not error:
        page_ = await reads.events(console.redis, filters, request.query_params.get("cursor", ""))
    if filters.process_id:  # one process: its events in the order they run (ordering's seq)
        page_.rows.sort(key=lambda row: int(row.fields.get("seq") or 0))
    kept = {k: v for k, v in shown.items() if v}
    next_url = (
        f"/events?{urlencode({**kept, 'cursor': page_.next_cursor})}" if page_.next_cursor else ""
    )
    refresh = request.query_params.get("refresh") == "1"
    return render(request, session, "events.html", page=page_, shown=shown, error=error,
                  statuses=STATUSES, next_url=next_url, refresh=refresh,
                  rule_names=[r.name for r in console.rules.current.rules])  # fmt: skip


async def event(request: Request, session: Login) -> Response:
    console = console_of(request)
    event_id = request.path_params["event_id"]
    found = await reads.event(console.redis, event_id)
    if found is None:
        return render(request, session, "missing.html", status=404, event_id=event_id)
    reports = []
    if isinstance(found.body, dict):
        reports = dry_run(console.rules.current, found.body, found.enrichment.get("process"),
                         found.enrichment.get("processItem"), hints=UNREAD)  # fmt: skip
    matched = json.loads(found.record.fields.get("matched") or "null")
    message = request.query_params.get("message", "")
    order = list(matched or []) + [r.name for r in console.rules.current.rules]
    actions = records.in_order(found.record.actions, order)
    fields = found.record.fields
    started = [v for n, v in fields.items() if n.startswith("timer:")]
    cancels = {n.removeprefix("cancels:"): v for n, v in fields.items() if n.startswith("cancels:")}
    own = [timers.View.of(found.record)] if "timer_rule" in fields else []
    return render(request, session, "event.html", event_id=event_id, found=found,
                  reports=reports, matched=matched, message=message, actions=actions,
                  rules_loaded_at=console.rules.loaded_at * 1000,
                  timers=own + await timers.views(console.redis, [*started, *cancels]),
                  cancels=cancels, own_timer=bool(own))  # fmt: skip


async def find_process(request: Request, session: Login) -> Response:
    """`/processes?id=…` opens that process's timeline; without one, the search form."""
    wanted = request.query_params.get("id", "").strip()
    if wanted:
        return RedirectResponse(f"/processes/{quote(wanted, safe='')}", status_code=303)
    return render(request, session, "process.html", process_id="", timeline=[])


async def process(request: Request, session: Login) -> Response:
    """One KuFlow process's story: every event in the order it ran, what each did, and the
    timers its events started."""
    process_id = request.path_params["process_id"]
    redis = console_of(request).redis
    timeline = await reads.process_timeline(redis, process_id)
    started = await timers.listing(redis, process_id=process_id, most=reads.PROCESS_EVENTS)
    return render(request, session, "process.html", process_id=process_id, timeline=timeline,
                  timers=started, status=200 if timeline or started else 404,
                  message=request.query_params.get("message", ""))  # fmt: skip


async def stuck(request: Request, session: Login) -> Response:
    """The processes a dead-lettered event holds, longest held first, with replay and skip."""
    held = await ordering.held(console_of(request).redis)
    return render(request, session, "stuck.html", held=held,
                  message=request.query_params.get("message", ""))  # fmt: skip


TIMERS_SHOWN = 200


async def timers_view(request: Request, session: Login) -> Response:
    """The pending timers, soonest first (of a rule), or every timer of a process."""
    console = console_of(request)
    rule = request.query_params.get("rule", "").strip()
    process_id = request.query_params.get("process_id", "").strip()
    shown = await timers.listing(console.redis, rule, process_id, TIMERS_SHOWN)
    names = [r.name for r in console.rules.current.rules if r.timer is not None]
    return render(request, session, "timers.html", timers=shown, rule=rule,
                  process_id=process_id, rule_names=names, most=TIMERS_SHOWN,
                  summary=await timers.summary(console.redis), request_path="/timers",
                  message=request.query_params.get("message", ""))  # fmt: skip


FAILURES_PER_PAGE = 50
FAILURE_EVENTS_SHOWN = 50
FAILURE_TABS = {"": (failures.OPEN, failures.ACKNOWLEDGED), "all": failures.STATES,
                **{state: (state,) for state in failures.STATES}}  # fmt: skip


async def failures_view(request: Request, session: Login) -> Response:
    """The failures (dead letters grouped by cause) of a state, the latest first."""
    redis = console_of(request).redis
    state = request.query_params.get("state", "")
    state = state if state in FAILURE_TABS else ""
    every = await failures.listing(redis)  # one read for the tab's list and every tab's count
    found = [f for f in every if f.state in FAILURE_TABS[state]]
    pages = max(1, -(-len(found) // FAILURES_PER_PAGE))
    asked = request.query_params.get("page", "1")
    page = min(int(asked), pages) if asked.isdigit() and int(asked) > 0 else 1
    first = (page - 1) * FAILURES_PER_PAGE
    return render(request, session, "failures.html", found=found, state=state,
                  shown=found[first : first + FAILURES_PER_PAGE], page=page, pages=pages,
                  first=first, counts=failures.by_state(every),
                  request_path=request.url.path + (f"?state={state}" if state else ""),
                  message=request.query_params.get("message", ""))  # fmt: skip


async def failure_view(request: Request, session: Login) -> Response:
    """One failure: its state, who set it, and its events."""
    redis = console_of(request).redis
    found = await failures.find(redis, request.path_params["failure_id"])
    if found is None:
        return render(request, session, "missing.html", status=404,
                      event_id=request.path_params["failure_id"], what="failure")  # fmt: skip
    events = (await failures.event_page(redis, found.failure_id, 0, FAILURE_EVENTS_SHOWN))[
        :FAILURE_EVENTS_SHOWN
    ]
    return render(request, session, "failure.html", f=found, events=events,
                  request_path=request.url.path,
                  message=request.query_params.get("message", ""))  # fmt: skip


async def dead(request: Request, session: Login) -> Response:
    """The page's old address: dead letters are worked as failures now."""
    return RedirectResponse("/failures", status_code=303)


AUDIT_SHOWN = 200


def _audit_filters(request: Request) -> tuple[int, str, str, str]:
    """The audit page's filters: since (ms), actor, action, and why `since` is not a time."""
    q = request.query_params
    text = q.get("since", "").strip()
    since_ms, error = 0, ""
    if text:
        try:
            since_ms = parse_earlier(text)
        except ValueError as exc:
            error = str(exc)
    return since_ms, q.get("actor", "").strip(), q.get("action", "").strip(), error


async def audit_view(request: Request, session: Login) -> Response:
    """Who changed what: the latest entries of the audit log, newest first, with filters."""
    redis = console_of(request).redis
    since_ms, actor, action, error = _audit_filters(request)
    shown: list[audit.Entry] = []
    if not error:  # read from the newest end, as far as the page needs: not the whole log
        async for entry in audit.since(redis, since_ms, actor, action, newest_first=True):
            shown.append(entry)
            if len(shown) == AUDIT_SHOWN:
                break
    query = urlencode({k: v for k, v in request.query_params.items() if k in AUDIT_FILTERS})
    return render(request, session, "audit.html", entries=shown, most=AUDIT_SHOWN,
                  error=error, shown=dict(request.query_params), query=query,
                  total=await audit.size(redis))  # fmt: skip


AUDIT_FILTERS = ("since", "actor", "action")


async def audit_export(request: Request, session: Login) -> Response:
    """The audit log (of the filters) as JSON lines, oldest first, for an auditor."""
    redis = console_of(request).redis
    since_ms, actor, action, error = _audit_filters(request)
    if error:
        return Response(error, status_code=400, media_type="text/plain")

    async def lines() -> AsyncIterator[bytes]:
        async for entry in audit.since(redis, since_ms, actor, action):
            yield (json.dumps(entry.shown(), ensure_ascii=False) + "\n").encode()

    await console_of(request).audit(request, session, "audit.export", [],
                                    since=since_ms or None, of=actor or None)  # fmt: skip
    day = time.strftime("%Y-%m-%d", time.gmtime())
    return StreamingResponse(lines(), media_type="application/x-ndjson", headers={
        "Content-Disposition": f'attachment; filename="kuflow-router-audit-{day}.jsonl"',
        "Cache-Control": "no-store"})  # fmt: skip


# On an event's page, a rule that needs what the worker did not read can only say so.
UNREAD: Hints = {
    "process": "the worker read no process for this event (no rule that could match needed it)",
    "processItem": "the worker read no process item for this event",
}
RECENT_LINKS = 20  # recent events offered to *try it*
RECENT_COMPARED = 100  # events *what would change* compares
NO_DOCUMENTS = {"event": "", "process": "", "process_item": ""}


async def _rules_page(
    request: Request, session: Login, form: dict[str, str], **shown: Any
) -> Response:
    """The Rules page: the loaded rules, recent events to try, and what `shown` adds."""
    console = console_of(request)
    recent = (await reads.events(console.redis, reads.Filters())).rows[:RECENT_LINKS]
    context = {"result": None, **shown}
    now_ms = int(time.time() * 1000)
    paused = {name: pause.text for name, pause in (await pauses.paused(console.redis)).items()
              if pause.active(now_ms)}  # fmt: skip
    return render(request, session, "rules.html", live=console.rules,
                  lines=rule_lines(console.rules), recent=recent, form=form, paused=paused,
                  message=request.query_params.get("message", ""), **context)  # fmt: skip


async def rules_view(request: Request, session: Login) -> Response:
    console = console_of(request)
    chosen = request.query_params.get("event_id", "")
    kept = records.documents(await records.load(console.redis, chosen)) if chosen else None
    # The event, and what the worker read from KuFlow for it: the dry run then decides as the
    # worker did.
    shown = [json.dumps(d, indent=2, ensure_ascii=False) if d else "" for d in kept or ()]
    form = dict(zip(NO_DOCUMENTS, shown, strict=True)) if shown else NO_DOCUMENTS
    return await _rules_page(request, session, form)


async def try_it(request: Request, session: Login, form: Form) -> Response:
    given = {name: form.get(name, "") for name in NO_DOCUMENTS}
    tried = try_rules(console_of(request).rules.current, given)
    return await _rules_page(request, session, given, result=tried)


async def compare(request: Request, session: Login, form: Form) -> Response:
    """*What would change*: the recent events a proposed rules file would treat differently."""
    console = console_of(request)
    proposed = form.get("proposed", "")
    changed = Changed(problems=["Paste the proposed rules file."])
    if proposed.strip():
        recent = await records.recent(console.redis, RECENT_COMPARED)
        environ = shown_environ(console.rules)
        # A large proposal takes seconds to load and compare: in a thread, so every other page
        # (and, inside `run`, the webhook and the worker) goes on meanwhile.
        changed = await asyncio.to_thread(
            what_would_change, console.rules.current, proposed, recent, environ
        )
    return await _rules_page(request, session, NO_DOCUMENTS, proposed=proposed, changed=changed)
