"""What the console changes: replay and purge of one event; a failure's state, and its events
replayed, skipped or discarded in bulk; a pending timer cancelled; a connection or a rule paused
and resumed. Each change is audited by the route (console/web.py's `change`) with what its
handler says of how it ended (`audited`)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from common.words import plural
from console.access import Login
from console.web import Console, Form, audited, console_of, safe_next
from handlers.clients.params import parse_later
from store import bulk, dlq, failures, gate, ordering, pauses, timers


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
    said = await _replay(console_of(request), event_id)
    audited(request, "done" if said == "queued again" else f"unchanged: {said}")
    return _back(f"/events/{quote(event_id)}", said)


async def skip_event(request: Request, session: Login, form: Form) -> Response:
    """Let the process a dead-lettered event holds move on without it."""
    event_id = request.path_params["event_id"]
    redis = console_of(request).redis
    skipped = await ordering.skip(redis, event_id, session.name)
    audited(request, "done" if skipped else "unchanged: it holds no process")
    said = "skipped: its process's later events run" if skipped else "it holds no process"
    return _back("/stuck", f"event {event_id[:8]}… {said}")


async def purge_event(request: Request, session: Login, form: Form) -> Response:
    event_id = request.path_params["event_id"]
    removed = await dlq.purge(console_of(request).redis, event_id)
    audited(request, entries=removed)
    return _back(f"/events/{quote(event_id)}", f"{removed} dead-letter entries removed")


BULK_PER_REQUEST = 5000  # events one press acts on; a larger failure takes more presses


async def failure_state(request: Request, session: Login, form: Form) -> Response:
    """Acknowledge (with a note), resolve or reopen a failure."""
    redis = console_of(request).redis
    fid, move = request.path_params["failure_id"], request.url.path.rsplit("/", 1)[1]
    back = safe_next(form.get("back") or f"/failures/{fid}")
    note = form.get("note", "").strip()[:500]
    was, moved = await failures.change_state(redis, fid, failures.MOVES[move], session.name, note)
    audited(request, "done" if moved else f"unchanged: {was or 'no such failure'}",
            note=note or None)  # fmt: skip
    if not was:
        return _back(back, f"no failure {fid} (it expired)")
    said = failures.SAID[failures.MOVES[move]] if moved else f"it is {was}: nothing changed"
    return _back(back, f"failure {fid} {said}")


async def failure_bulk(request: Request, session: Login, form: Form) -> Response:
    """Replay (resolving it first), skip or discard a failure's events — up to
    BULK_PER_REQUEST a press; a press again goes on where the last stopped."""
    console = console_of(request)
    fid, action = request.path_params["failure_id"], request.url.path.rsplit("/", 1)[1]
    back = safe_next(form.get("back") or f"/failures/{fid}")
    if await failures.one(console.redis, fid) is None:
        audited(request, "unchanged: no such failure")
        return _back(back, f"no failure {fid} (it expired)")
    result = await bulk.work(console.redis, fid, action, session.name, console.event_ttl_s,
                             most=BULK_PER_REQUEST)  # fmt: skip
    audited(request, "done" if not result.left else "partly done", events=result.done,
            unchanged=result.unchanged, problems=result.problem_count,
            left=result.left)  # fmt: skip
    message = f"{plural(result.done, 'event')} {bulk.DONE[action]}"
    if result.unchanged:
        message += f"; {result.unchanged} needed nothing"
    if result.problem_count:
        message += f"; {result.problem_count} could not be: {result.problems[0]}"
    if result.left:
        message += f"; {result.left} left: press again to go on"
    return _back(back, message)


CANCELLED = {
    timers.CANCELLED: "the timer was cancelled already",
    timers.FIRED: "too late: the timer fired already",
    "": "no such timer (or it expired)",
}


async def cancel_timer(request: Request, session: Login, form: Form) -> Response:
    timer_id = request.path_params["timer_id"]
    redis = console_of(request).redis
    now, state = await timers.cancel(redis, timer_id, f"{session.name}, in the console")
    audited(request, "done" if now else f"unchanged: {state or 'no such timer'}")
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
        audited(request, f"refused: {error}")
        return _back(back, error)
    reason = form.get("reason", "").strip()[:200]
    if kind == "connections":
        if name not in console.rules.current.connections:
            audited(request, "refused: no such connection")
            return _back(back, f"no connection {name} in the rules")
        await gate.pause(console.redis, name, session.name, reason, until_ms)
    else:
        if console.rules.current.rule(name) is None:
            audited(request, "refused: no such rule")
            return _back(back, f"no rule {name} in the rules")
        await pauses.pause(console.redis, name, session.name, reason, until_ms)
    audited(request, reason=reason, until=until_ms or None)
    return _back(back, f"{name} paused: its actions wait, nothing is lost")


async def resume(request: Request, session: Login, form: Form) -> Response:
    """Resume a paused connection or rule: what it held runs once, each process in order."""
    console, name = console_of(request), request.path_params["name"]
    kind = request.url.path.split("/")[1]
    if kind == "connections":
        brought = await gate.resume(console.redis, name)
    else:
        brought = await pauses.resume(console.redis, name)
    audited(request, jobs=brought)
    return _back(safe_next(form.get("back")), f"{name} resumed: {brought} held jobs run again")
