"""What the console's pages share: templates, security headers, the guards that every page
(a session) and every change (a session and its CSRF token) pass, and the form reader."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from common import redis_url, tracing
from common.redact import redact
from common.words import elapsed, plural
from console.access import COOKIE, Access, Login
from console.throttle import LoginThrottle
from handlers.rules.reload import LiveRules
from store import sessions

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
MAX_FORM_BYTES = 1024 * 1024  # a pasted event in *try it* is the largest form
Page = Callable[[Request, Login], Awaitable[Response]]
Form = dict[str, str]


async def read_form(request: Request) -> Form | None:
    """The urlencoded form of a POST (what the console's pages send); None for anything else.

    Parsed here with the standard library: no multipart, no files, so no extra dependency.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    if not body:
        return {}  # nothing sent: no token either (403 follows)
    if kind != "application/x-www-form-urlencoded":
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
    env.filters["plural"] = plural
    env.filters["elapsed"] = elapsed
    env.filters["short"] = lambda v: f"{str(v)[:8]}…" if len(str(v)) > 12 else str(v)
    return templates


TEMPLATES = _templates()


class Console:
    """What the pages share: Redis, the live rules, access control, the event time to live."""

    def __init__(
        self,
        redis: Redis,
        rules: LiveRules,
        access: Access,
        event_ttl_s: int,
        https: bool,
        demo: bool = False,
        trace_url: str = "",
    ) -> None:
        self.redis, self.rules, self.access, self.event_ttl_s = redis, rules, access, event_ttl_s
        self.trace_url = trace_url  # ROUTER_TRACE_URL: a trace's page, `{trace_id}` in it
        self.https = https  # reached over https (ROUTER_CONSOLE_URL), if behind a TLS proxy
        self.demo = demo  # `run --demo`: every page says so
        self.throttle = LoginThrottle()
        self.redis_down_since: float | None = None  # since when pages cannot reach Redis

    def trace_link(self, trace_id: str | None) -> str | None:
        """The tracing backend's page of `trace_id`, with ROUTER_TRACE_URL set."""
        return tracing.link(self.trace_url, trace_id)

    async def session(self, request: Request) -> Login | None:
        """The session the request's cookie proves, unless it logged out (or none)."""
        session = self.access.session(request.cookies.get(COOKIE))
        if session is None or await sessions.ended(self.redis, session.nonce):
            return None
        return session

    async def end(self, session: Login) -> None:
        """End `session` for good, on the server: its cookie is refused from now on, even if
        kept (until it would have expired anyway)."""
        await sessions.end(self.redis, session.nonce, session.expires)


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def render(
    request: Request, session: Login, name: str, status: int = 200, **context: Any
) -> Response:
    """A page, with the CSRF token its forms carry and the console's security headers."""
    console = console_of(request)
    context |= {"csrf": console.access.csrf(session), "path": request.url.path,
                "open": console.access.open, "demo": console.demo,
                "trace_link": console.trace_link}  # fmt: skip
    response = TEMPLATES.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)


def page(handler: Page) -> Callable[[Request], Awaitable[Response]]:
    """A GET page: a session is needed (else the login page)."""

    async def endpoint(request: Request) -> Response:
        session = await console_of(request).session(request)
        if session is None:
            return to_login(request)
        response = await handler(request, session)
        console_of(request).redis_down_since = None  # it answered
        return response

    return endpoint


def change(handler: Callable[[Request, Login, Form], Awaitable[Response]]) -> Any:
    """A POST that changes something: a session and its CSRF token are needed."""

    async def endpoint(request: Request) -> Response:
        access = console_of(request).access
        session = await console_of(request).session(request)
        if session is None:
            return to_login(request)
        form = await read_form(request)
        if form is None:
            return Response(f"The form could not be read: send the page's own form, of at most "
                            f"{MAX_FORM_BYTES // 1024} KB.", status_code=400,
                            headers=SECURITY_HEADERS)  # fmt: skip
        if not access.csrf_ok(session, form.get("csrf", "")):
            return Response("The form's CSRF token is missing or wrong: reload the page and try "
                            "again.", status_code=403, headers=SECURITY_HEADERS)  # fmt: skip
        return await handler(request, session, form)

    return endpoint


async def redis_unreachable(request: Request, exc: Exception) -> Response:
    """A clear page while Redis does not answer (every page needs it), instead of a 500; it
    looks again by itself every 5 s."""
    console = console_of(request)
    if console.redis_down_since is None:
        console.redis_down_since = time.time()
    context = {
        "address": redis_url.address(console.redis),
        "error": redact(str(exc)) or type(exc).__name__,
        "since": _iso(console.redis_down_since * 1000),
    }
    page = TEMPLATES.TemplateResponse(request, "unavailable.html", context, status_code=503)
    page.headers.update({**SECURITY_HEADERS, "Retry-After": "5"})
    return page


def safe_next(value: str | None) -> str:
    """Only a path of this site: never `//host` or a full URL (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"
