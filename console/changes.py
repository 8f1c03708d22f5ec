"""What the console changes: replay and purge, of one event or a group of dead letters; a
pending timer cancelled."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from console.access import Login
from console.web import Console, Form, console_of, safe_next
from store import audit, dlq, reads, timers


def _back(path: str, message: str) -> Response:
    return RedirectResponse(f"{path}?{urlencode({'message': message})}", status_code=303)


async def _replay(console: Console, event_id: str) -> str:
    try:
        queued = await dlq.replay_finished(console.redis, event_id, console.event_ttl_s)
    except LookupError as exc:
        return str(exc)
    return "queued again" if queued else "nothing to replay: no such event"


async def replay_event(request: Request, session: Login, form: Form) -> Response:
    event_id = request.path_params["event_id"]
    return _back(f"/events/{quote(event_id)}", await _replay(console_of(request), event_id))


async def purge_event(request: Request, session: Login, form: Form) -> Response:
    event_id = request.path_params["event_id"]
    removed = await dlq.purge(console_of(request).redis, event_id)
    return _back(f"/events/{quote(event_id)}", f"{removed} dead-letter entries removed")


async def _group(console: Console, key: str) -> reads.Group | None:
    return next((g for g in await reads.groups(console.redis) if g.key == key), None)


async def replay_group(request: Request, session: Login, form: Form) -> Response:
    console = console_of(request)
    group = await _group(console, form.get("group", ""))
    if group is None:
        return _back("/dead", "that group is gone (replayed or purged meanwhile)")
    results = [await _replay(console, event_id) for event_id in group.event_ids]
    queued = results.count("queued again")
    return _back("/dead", f"{queued} of {len(results)} events queued again")


async def purge_group(request: Request, session: Login, form: Form) -> Response:
    console = console_of(request)
    group = await _group(console, form.get("group", ""))
    if group is None:
        return _back("/dead", "that group is gone (replayed or purged meanwhile)")
    removed = 0
    for event_id in group.event_ids:
        removed += await dlq.purge(console.redis, event_id)
    return _back("/dead", f"{removed} dead-letter entries of {len(group.event_ids)} events removed")


CANCELLED = {
    timers.CANCELLED: "the timer was cancelled already",
    timers.FIRED: "too late: the timer fired already",
    "": "no such timer (or it expired)",
}


async def cancel_timer(request: Request, session: Login, form: Form) -> Response:
    timer_id = request.path_params["timer_id"]
    redis = console_of(request).redis
    now, state = await timers.cancel(redis, timer_id, "an operator, in the console")
    await audit.write(redis, "console", "timer.cancel", [timer_id],
                      "done" if now else f"unchanged: {state or 'no such timer'}")  # fmt: skip
    message = "timer cancelled: its actions will not run" if now else CANCELLED[state]
    return _back(safe_next(form.get("back")), message)
