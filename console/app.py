"""The console's web app: server-rendered pages, filters and pages in the URL, POST forms with
a CSRF token for every change. Mounted on its own listener, never on the webhook's."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from console import reads
from console.access import COOKIE, SESSION_S, Access, Session
from console.rules_page import rule_lines, try_rules
from handlers.clients.params import parse_duration
from handlers.rules.dryrun import dry_run
from handlers.rules.reload import LiveRules
from handlers.worker import dlq

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
STATUSES = ("queued", "processing", "done", "partial", "dead", "rejected")
MAX_FORM_BYTES = 1024 * 1024  # a pasted event in *try it* is the largest form
Page = Callable[[Request, Session], Awaitable[Response]]
Form = dict[str, str]


async def _form(request: Request) -> Form | None:
    """The urlencoded form of a POST (what the console's pages send); None for anything else.

    Parsed here with the standard library: no multipart, no files, so no extra dependency.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    return dict(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))


def _iso(ms: int | float | str | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(float(ms) / 1000, UTC).isoformat(timespec="seconds")


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.filters["iso"] = _iso
    env.filters["iso_s"] = lambda s: _iso(float(s) * 1000) if s else ""
    env.filters["pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False, default=str)
    env.filters["urlq"] = lambda v: quote(str(v), safe="")
    return templates


TEMPLATES = _templates()


class Console:
    """What the pages share: Redis, the live rules, access control, the event time to live."""

    def __init__(self, redis: Redis, rules: LiveRules, access: Access, event_ttl_s: int) -> None:
        self.redis, self.rules, self.access, self.event_ttl_s = redis, rules, access, event_ttl_s


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def _render(request: Request, session: Session, name: str, status: int = 200,
            **context: Any) -> Response:  # fmt: skip
    context |= {"csrf": _console(request).access.csrf(session), "path": request.url.path,
                "open": _console(request).access.open}  # fmt: skip
    response = TEMPLATES.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def _safe_next(value: str | None) -> str:
    """Only a path of this site: never `//host` or a full URL (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)


def page(handler: Page) -> Callable[[Request], Awaitable[Response]]:
    """A GET page: a session is needed (else the login page)."""

    async def endpoint(request: Request) -> Response:
        session = _console(request).access.session(request.cookies.get(COOKIE))
        if session is None:
            return _to_login(request)
        return await handler(request, session)

    return endpoint


def change(handler: Callable[[Request, Session, Form], Awaitable[Response]]) -> Any:
    """A POST that changes something: a session and its CSRF token are needed."""

    async def endpoint(request: Request) -> Response:
        access = _console(request).access
        session = access.session(request.cookies.get(COOKIE))
        if session is None:
            return _to_login(request)
        form = await _form(request)
        if form is None or not access.csrf_ok(session, form.get("csrf", "")):
            return Response("The form's CSRF token is missing or wrong: reload the page and try "
                            "again.", status_code=403, headers=SECURITY_HEADERS)  # fmt: skip
        return await handler(request, session, form)

    return endpoint


def _with_cookie(response: Response, request: Request, value: str, max_age: int) -> Response:
    response.set_cookie(COOKIE, value, max_age=max_age, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")  # fmt: skip
    return response


async def login_form(request: Request) -> Response:
    console = _console(request)
    target = _safe_next(request.query_params.get("next"))
    if console.access.open or console.access.session(request.cookies.get(COOKIE)):
        onward = RedirectResponse(target, status_code=303)
        if console.access.session(request.cookies.get(COOKIE)) is None:
            _with_cookie(onward, request, console.access.new_session(), SESSION_S)
        return onward
    form = TEMPLATES.TemplateResponse(request, "login.html", {"next": target, "error": ""})
    form.headers.update(SECURITY_HEADERS)
    return form


async def login(request: Request) -> Response:
    console = _console(request)
    form = await _form(request) or {}
    target = _safe_next(form.get("next", ""))
    if not console.access.login(form.get("token", "")):
        refused = TEMPLATES.TemplateResponse(
            request, "login.html", {"next": target, "error": "That is not the admin token."},
            status_code=401,
        )  # fmt: skip
        refused.headers.update(SECURITY_HEADERS)
        return refused
    onward = RedirectResponse(target, status_code=303)
    return _with_cookie(onward, request, console.access.new_session(), SESSION_S)


async def logout(request: Request, session: Session, form: Form) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


async def overview(request: Request, session: Session) -> Response:
    console = _console(request)
    figures = await reads.overview(console.redis)
    live = console.rules
    return _render(request, session, "overview.html", figures=figures, rules=live.current,
                   rules_path=str(live.path), loaded_at=live.loaded_at * 1000,
                   problems=live.problems, now=time.time())  # fmt: skip


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


async def events(request: Request, session: Session) -> Response:
    console = _console(request)
    filters, shown, error = _filters(request)
    page_ = reads.Page([], None, 0)
    if not error:
        page_ = await reads.events(console.redis, filters, request.query_params.get("cursor", ""))
    kept = {k: v for k, v in shown.items() if v}
    next_url = (
        f"/events?{urlencode({**kept, 'cursor': page_.next_cursor})}" if page_.next_cursor else ""
    )
    refresh = request.query_params.get("refresh") == "1"
    return _render(request, session, "events.html", page=page_, shown=shown, error=error,
                   statuses=STATUSES, next_url=next_url, refresh=refresh,
                   rule_names=[r.name for r in console.rules.current.rules])  # fmt: skip


async def event(request: Request, session: Session) -> Response:
    console = _console(request)
    event_id = request.path_params["event_id"]
    found = await reads.event(console.redis, event_id)
    if found is None:
        return _render(request, session, "missing.html", status=404, event_id=event_id)
    reports = []
    if isinstance(found.body, dict):
        reports = dry_run(console.rules.current, found.body, found.enrichment.get("process"),
                          found.enrichment.get("processItem"))  # fmt: skip
    matched = json.loads(found.record.fields.get("matched") or "null")
    message = request.query_params.get("message", "")
    return _render(request, session, "event.html", event_id=event_id, found=found,
                   reports=reports, matched=matched, message=message,
                   rules_loaded_at=console.rules.loaded_at * 1000)  # fmt: skip


def _back(path: str, message: str) -> Response:
    return RedirectResponse(f"{path}?{urlencode({'message': message})}", status_code=303)


async def _replay(console: Console, event_id: str) -> str:
    try:
        queued = await dlq.replay(console.redis, event_id, console.event_ttl_s)
    except LookupError as exc:
        return str(exc)
    return "queued again" if queued else "nothing to replay: no dead letter for this event"


async def replay_event(request: Request, session: Session, form: Form) -> Response:
    event_id = request.path_params["event_id"]
    return _back(f"/events/{quote(event_id)}", await _replay(_console(request), event_id))


async def purge_event(request: Request, session: Session, form: Form) -> Response:
    event_id = request.path_params["event_id"]
    removed = await dlq.purge(_console(request).redis, event_id)
    return _back(f"/events/{quote(event_id)}", f"{removed} dead-letter entries removed")


async def dead(request: Request, session: Session) -> Response:
    groups = await reads.groups(_console(request).redis)
    return _render(request, session, "dead.html", groups=groups,
                   message=request.query_params.get("message", ""))  # fmt: skip


async def _group(console: Console, key: str) -> reads.Group | None:
    return next((g for g in await reads.groups(console.redis) if g.key == key), None)


async def replay_group(request: Request, session: Session, form: Form) -> Response:
    console = _console(request)
    group = await _group(console, form.get("group", ""))
    if group is None:
        return _back("/dead", "that group is gone (replayed or purged meanwhile)")
    results = [await _replay(console, event_id) for event_id in group.event_ids]
    queued = results.count("queued again")
    return _back("/dead", f"{queued} of {len(results)} events queued again")


async def purge_group(request: Request, session: Session, form: Form) -> Response:
    console = _console(request)
    group = await _group(console, form.get("group", ""))
    if group is None:
        return _back("/dead", "that group is gone (replayed or purged meanwhile)")
    removed = 0
    for event_id in group.event_ids:
        removed += await dlq.purge(console.redis, event_id)
    return _back("/dead", f"{removed} dead-letter entries of {len(group.event_ids)} events removed")


async def rules_view(request: Request, session: Session) -> Response:
    console = _console(request)
    recent = await reads.events(console.redis, reads.Filters())
    chosen = request.query_params.get("event_id", "")
    event_text = ""
    if chosen:
        found = await reads.event(console.redis, chosen)
        if found is not None and found.body is not None:
            event_text = json.dumps(found.body, indent=2, ensure_ascii=False)
    return _render(request, session, "rules.html", live=console.rules,
                   lines=rule_lines(console.rules), recent=recent.rows[:20], result=None,
                   form={"event": event_text, "process": "", "process_item": ""})  # fmt: skip


async def try_it(request: Request, session: Session, form: Form) -> Response:
    console = _console(request)
    given = {name: form.get(name, "") for name in ("event", "process", "process_item")}
    recent = await reads.events(console.redis, reads.Filters())
    return _render(request, session, "rules.html", live=console.rules,
                   lines=rule_lines(console.rules), recent=recent.rows[:20],
                   result=try_rules(console.rules.current, given), form=given)  # fmt: skip


LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})


class _LocalHostsOnly:
    """Without a login, answer only requests addressed to this machine by name: a web page
    that rebinds its own domain to 127.0.0.1 (DNS rebinding) must not read the console."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode(errors="replace")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name.lower() not in LOCAL_HOSTS:
                refused = Response(
                    "This console has no login (ROUTER_ADMIN_TOKEN is unset), so it answers "
                    "only requests for 127.0.0.1 or localhost.", status_code=421,
                    headers=SECURITY_HEADERS,
                )  # fmt: skip
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_console(redis: Redis, rules: LiveRules, admin_token: str | None,
                   event_ttl_s: int) -> Starlette:  # fmt: skip
    """The console app over one Redis and one live rule set."""
    app = Starlette(
        routes=[
            Route("/login", login_form, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", change(logout), methods=["POST"]),
            Route("/", page(overview)),
            Route("/events", page(events)),
            Route("/events/{event_id}", page(event)),
            Route("/events/{event_id}/replay", change(replay_event), methods=["POST"]),
            Route("/events/{event_id}/purge", change(purge_event), methods=["POST"]),
            Route("/dead", page(dead)),
            Route("/dead/replay", change(replay_group), methods=["POST"]),
            Route("/dead/purge", change(purge_group), methods=["POST"]),
            Route("/rules", page(rules_view)),
            Route("/rules/try", change(try_it), methods=["POST"]),
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        ]
    )
    app.state.console = Console(redis, rules, Access(admin_token), event_ttl_s)
    if admin_token is None:
        app.add_middleware(_LocalHostsOnly)
    return app
