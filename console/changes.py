"""What the console changes: replay and purge, of one event or a group of dead letters; a
pending timer cancelled; a connection or a rule paused and resumed. Each change is audited."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from console.access import Login
from console.web import Console, Form, console_of, safe_next
from handlers.clients.params import parse_later
from store import audit, dlq, gate, ordering, pauses, reads, timers


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


async def skip_event(request: Request, session: Login, form: Form) -> Response:
    """Let the process a dead-lettered event holds move on without it."""
    event_id = request.path_params["event_id"]
    redis = console_of(request).redis
    skipped = await ordering.skip(redis, event_id, "console")
    await audit.write(redis, "console", "event.skip", [event_id],
                      "done" if skipped else "unchanged: it holds no process")  # fmt: skip
    said = "skipped: its process's later events run" if skipped else "it holds no process"
    return _back("/stuck", f"event {event_id[:8]}… {said}")


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


def _until(form: Form) -> tuple[int, str]:
    """The pause's end from the form (0: until resumed), or why it is not a time."""
    text = form.get("until", "").strip()
    if not text:
        return 0, ""
    try:
        return parse_later(text), ""
    except ValueError as exc:
        return 0, str(exc)


async def pause(request: Request, session: Login, form: Form) -> Response:
    """Pause a connection (`/connections/NAME/pause`) or a rule (`/rules/NAME/pause`)."""
    console, name = console_of(request), request.path_params["name"]
    kind = request.url.path.split("/")[1]
    back = safe_next(form.get("back"))
    until_ms, error = _until(form)
    if error:
        return _back(back, error)
    reason = form.get("reason", "").strip()[:200]
    if kind == "connections":
        if name not in console.rules.current.connections:
            return _back(back, f"no connection {name} in the rules")
        await gate.pause(console.redis, name, "console", reason, until_ms)
    else:
        if console.rules.current.rule(name) is None:
            return _back(back, f"no rule {name} in the rules")
        await pauses.pause(console.redis, name, "console", reason, until_ms)
    await audit.write(console.redis, "console", f"{kind[:-1]}.pause", [name], reason=reason,
                      until=until_ms or None)  # fmt: skip
    return _back(back, f"{name} paused: its actions wait, nothing is lost")


async def resume(request: Request, session: Login, form: Form) -> Response:
    """Resume a paused connection or rule: what it held runs once, each process in order."""
    console, name = console_of(request), request.path_params["name"]
    kind = request.url.path.split("/")[1]
    if kind == "connections":
        brought = await gate.resume(console.redis, name)
    else:
        brought = await pauses.resume(console.redis, name)
    await audit.write(console.redis, "console", f"{kind[:-1]}.resume", [name], jobs=brought)
    return _back(safe_next(form.get("back")), f"{name} resumed: {brought} held jobs run again")
