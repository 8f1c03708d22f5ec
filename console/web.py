"""What the console's pages share: templates, security headers, the guards that every page
(a session) and every change (a session and its CSRF token) pass, and the form reader."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
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
from console.access import COOKIE, Access, Login, Person, allows
from console.sso import SignOn
from console.throttle import LoginThrottle
from handlers.rules.reload import LiveRules
from store import audit, sessions

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
        audit_keep: audit.Keep | None = None,
    ) -> None:
        self.redis, self.rules, self.access, self.event_ttl_s = redis, rules, access, event_ttl_s
        self.audit_keep = audit_keep or audit.Keep()  # ROUTER_AUDIT_RETENTION_DAYS, …_MAX_ENTRIES
        self.sign_on: SignOn | None = None  # single sign-on (ROUTER_OIDC_ISSUER …)
        self.trace_url = trace_url  # ROUTER_TRACE_URL: a trace's page, `{trace_id}` in it
        self.https = https  # reached over https (ROUTER_CONSOLE_URL), if behind a TLS proxy
        self.demo = demo  # `run --demo`: every page says so
        self.throttle = LoginThrottle()  # wrong tokens and refused sign-ons, by address
        self.sso_starts = LoginThrottle(per_address=30, overall=600)  # sign-ons begun
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

    async def audit(
        self,
        request: Request,
        who: Login | Person | None,
        action: str,
        objects: Sequence[str],
        outcome: str = "done",
        **detail: Any,
    ) -> None:
        """Write one change (or a login, or a refusal) to the audit log: by whom — the
        session's (or the person's logging in) name and role; none: not known — and from which
        address."""
        name, role = (who.name, who.role) if who else ("", "")
        await audit.write(self.redis, name, action, objects, outcome, role=role,
                          address=address_of(request), keep=self.audit_keep,
                          **detail)  # fmt: skip

    async def end(self, session: Login) -> None:
        """End `session` for good, on the server: its cookie is refused from now on, even if
        kept (until it would have expired anyway)."""
        await sessions.end(self.redis, session.nonce, session.expires)


def address_of(request: Request) -> str:
    """The address a request came from (the proxy's, behind one)."""
    return request.client.host if request.client else ""


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def render(
    request: Request, session: Login, name: str, status: int = 200, **context: Any
) -> Response:
    """A page, with the CSRF token its forms carry and the console's security headers."""
    console = console_of(request)
    context |= {"csrf": console.access.csrf(session), "path": request.url.path,
                "open": console.access.open, "demo": console.demo, "who": session,
                "may": lambda needed: allows(session.role, needed),
                "trace_link": console.trace_link}  # fmt: skip
    response = TEMPLATES.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)


def page(handler: Page, role: str) -> Callable[[Request], Awaitable[Response]]:
    """A GET page: a session is needed (else the login page), of `role` or above (else 403)."""

    async def endpoint(request: Request) -> Response:
        session = await console_of(request).session(request)
        if session is None:
            return to_login(request)
        if not allows(session.role, role):
            return await denied(request, session, role)
        response = await handler(request, session)
        console_of(request).redis_down_since = None  # it answered
        return response

    endpoint.role = role  # type: ignore[attr-defined]  # the table test reads it
    return endpoint


@dataclass
class Audited:
    """How a change ended, for its audit entry: set by its handler (`audited`)."""

    outcome: str = "done"
    detail: dict[str, Any] = field(default_factory=dict)


def audited(request: Request, outcome: str = "done", **detail: Any) -> None:
    """Say how a change ended: its audit entry, written once it returns, says so."""
    request.state.audited = Audited(outcome, detail)


def change(
    handler: Callable[[Request, Login, Form], Awaitable[Response]], role: str, action: str
) -> Callable[[Request], Awaitable[Response]]:
    """A POST that changes something: a session of `role` or above (else 403) and its CSRF
    token are needed. Every one is audited as `action` — done (with what its handler said:
    `audited`), or denied; `action` '' for a POST that changes nothing (*try it*)."""

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
            await console_of(request).audit(request, session, action or request.url.path,
                                            list(request.path_params.values()),
                                            "denied: no CSRF token, or a wrong one")  # fmt: skip
            return Response("The form's CSRF token is missing or wrong: reload the page and try "
                            "again.", status_code=403, headers=SECURITY_HEADERS)  # fmt: skip
        if not allows(session.role, role):
            return await denied(request, session, role, action)
        response = await handler(request, session, form)
        if not action:  # it changes nothing (*try it*): nothing to audit
            return response
        said: Audited = getattr(request.state, "audited", None) or Audited()
        objects = list(request.path_params.values())  # an event id, a failure, a connection …
        await console_of(request).audit(request, session, action, objects, said.outcome,
                                        **said.detail)  # fmt: skip
        return response

    endpoint.role = role  # type: ignore[attr-defined]  # the table test reads it
    return endpoint


async def denied(request: Request, session: Login, needed: str, action: str = "") -> Response:
    """403: the session's role may not do this; nothing changes, and the attempt is audited."""
    await console_of(request).audit(request, session, action or f"GET {request.url.path}",
                                    list(request.path_params.values()), "denied",
                                    needed=needed)  # fmt: skip
    return render(request, session, "denied.html", status=403, needed=needed)


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
