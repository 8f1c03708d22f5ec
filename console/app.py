"""The console's web app: login, the routes, and the rule that a console without a login
answers only requests addressed to this machine. Mounted on its own listener, never on the
webhook's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from console import changes, sso, views
from console.access import ADMIN, COOKIE, OPERATOR, SESSION_S, VIEWER, Access, Login, Person
from console.web import (
    HERE,
    SECURITY_HEADERS,
    TEMPLATES,
    Console,
    Form,
    address_of,
    change,
    console_of,
    page,
    read_form,
    redis_unreachable,
    safe_next,
)
from handlers.rules.reload import LiveRules
from store import audit, bulk, failures


async def login_form(request: Request) -> Response:
    console = console_of(request)
    target = safe_next(request.query_params.get("next"))
    session = await console.session(request)
    if console.access.open or session:
        onward = RedirectResponse(target, status_code=303)
        if session is None:
            local = console.access.login("")
            assert local is not None  # open: everyone is `local`
            with_cookie(onward, request, console.access.new_session(local), SESSION_S)
        return onward
    form = TEMPLATES.TemplateResponse(request, "login.html", {
        "next": target, "error": "", "sso": console.sign_on is not None,
        "tokens": console.access.has_tokens})  # fmt: skip
    form.headers.update(SECURITY_HEADERS)
    return form


SSO_COOKIE = "kuflow_router_sso"  # the state of a sign-on this browser began


async def sso_begin(request: Request) -> Response:
    """Send the browser to the OpenID provider to sign in."""
    console = console_of(request)
    if console.sign_on is None:
        return Response("Single sign-on is not set up (ROUTER_OIDC_ISSUER).", status_code=404,
                        headers=SECURITY_HEADERS)  # fmt: skip
    url, state = await console.sign_on.begin(safe_next(request.query_params.get("next")))
    onward = RedirectResponse(url, status_code=303)
    # Lax, not Strict: it must come back with the provider's redirect, a cross-site navigation.
    onward.set_cookie(SSO_COOKIE, state, max_age=sso.STATE_S, httponly=True, samesite="lax",
                      secure=request.url.scheme == "https" or console.https,
                      path="/login/sso")  # fmt: skip
    return onward


async def sso_return(request: Request) -> Response:
    """The provider's redirect back: check everything, then make a session."""
    console = console_of(request)
    if console.sign_on is None:
        return Response("Single sign-on is not set up.", status_code=404, headers=SECURITY_HEADERS)
    q = request.query_params
    try:
        if q.get("error"):
            raise sso.Refused(f"the provider said {q['error']}: {q.get('error_description', '')}")
        person, target = await console.sign_on.finish(
            q.get("state", ""), q.get("code", ""), request.cookies.get(SSO_COOKIE, "")
        )
    except sso.Refused as exc:
        await console.audit(request, None, "login", [], f"failed: {exc}", actor="", via="sso")
        refused = _login_refused(request, "/", f"Single sign-on refused: {exc}", 403, {})
        refused.delete_cookie(SSO_COOKIE, path="/login/sso")
        return refused
    await audit.write(console.redis, person.name, "login", [], role=person.role, via="sso",
                      address=address_of(request), keep=console.audit_keep)  # fmt: skip
    # A page of this site that moves on (not a redirect): the session cookie is SameSite=Strict,
    # and a browser keeps it off the rest of a redirect chain that began at the provider.
    said = {"target": safe_next(target), "name": person.name}
    onward = TEMPLATES.TemplateResponse(request, "signed_in.html", said)
    onward.headers.update(SECURITY_HEADERS)
    onward.delete_cookie(SSO_COOKIE, path="/login/sso")
    return with_cookie(onward, request, console.access.new_session(person), SESSION_S)


async def login(request: Request) -> Response:
    console = console_of(request)
    form = await read_form(request) or {}
    target = safe_next(form.get("next", ""))
    address = request.client.host if request.client else ""
    wait_s = console.throttle.wait_s(address)
    if wait_s:
        error = f"Too many wrong tokens from this address: try again in {wait_s} s."
        await console.audit(request, None, "login", [], "refused: throttled", actor="")
        return _login_refused(request, target, error, 429, {"Retry-After": str(wait_s)})
    person = console.access.login(form.get("token", ""))
    if person is None:
        console.throttle.failed(address)
        await console.audit(request, None, "login", [], "failed: no such token", actor="")
        return _login_refused(request, target, "That is not a console token.", 401, {})
    onward = RedirectResponse(target, status_code=303)
    await audit.write(console.redis, person.name, "login", [], role=person.role,
                      address=address, keep=console.audit_keep)  # fmt: skip
    return with_cookie(onward, request, console.access.new_session(person), SESSION_S)


def _login_refused(
    request: Request, target: str, error: str, status: int, headers: dict[str, str]
) -> Response:
    console = console_of(request)
    context = {"next": target, "error": error, "sso": console.sign_on is not None,
               "tokens": console.access.has_tokens}  # fmt: skip
    refused = TEMPLATES.TemplateResponse(request, "login.html", context, status_code=status)
    refused.headers.update({**SECURITY_HEADERS, **headers})
    return refused


async def logout(request: Request, session: Login, form: Form) -> Response:
    await console_of(request).end(session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def with_cookie(response: Response, request: Request, value: str, max_age: int) -> Response:
    """`response` setting the session cookie: `Secure` when the console is reached over https,
    seen directly or said by ROUTER_CONSOLE_URL (a TLS-terminating proxy in front)."""
    secure = request.url.scheme == "https" or console_of(request).https
    response.set_cookie(COOKIE, value, max_age=max_age, httponly=True, samesite="strict",
                        secure=secure, path="/")  # fmt: skip
    return response


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


def create_console(
    redis: Redis,
    rules: LiveRules,
    tokens: str | Sequence[tuple[Person, str]] | None,
    event_ttl_s: int,
    public_url: str = "",
    demo: bool = False,
    trace_url: str = "",
    audit_keep: audit.Keep | None = None,
    provider: sso.Provider | None = None,
) -> Starlette:
    """The console app over one Redis and one live rule set. `tokens`: who may log in — (whom,
    token) pairs, or ROUTER_ADMIN_TOKEN alone; none: loopback only, no login. `public_url`: where
    operators reach it (ROUTER_CONSOLE_URL), if set; `trace_url` a trace's page
    (ROUTER_TRACE_URL); `provider` the OpenID provider of single sign-on (ROUTER_OIDC_*)."""
    people = [(Person(ADMIN, ADMIN), tokens)] if isinstance(tokens, str) else list(tokens or ())
    app = Starlette(routes=routes())
    for unreachable in (RedisError, OSError):
        app.add_exception_handler(unreachable, redis_unreachable)
    https = public_url.lower().startswith("https://")
    access = Access(people, provider.client_secret if provider else "")
    app.state.console = Console(
        redis, rules, access, event_ttl_s, https, demo, trace_url, audit_keep
    )
    if provider is not None:
        app.state.console.sign_on = sso.SignOn(provider, redis)
    if access.open:
        app.add_middleware(_LocalHostsOnly)
    return app


def routes() -> list[Route | Mount]:
    """Every route, with the role it needs: viewers read, operators change, admins export."""
    failure_moves = [
        Route(f"/failures/{{failure_id}}/{move}",
              change(changes.failure_state, OPERATOR, f"failure.{move}"), methods=["POST"])
        for move in failures.MOVES
    ]  # fmt: skip
    failure_bulk = [
        Route(f"/failures/{{failure_id}}/{action}",
              change(changes.failure_bulk, OPERATOR, f"failure.{action}"), methods=["POST"])
        for action in bulk.ACTIONS
    ]  # fmt: skip
    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/login/sso", sso_begin, methods=["GET"]),
        Route("/login/sso/callback", sso_return, methods=["GET"]),
        Route("/logout", change(logout, VIEWER, "logout"), methods=["POST"]),
        Route("/", page(views.overview, VIEWER)),
        Route("/events", page(views.events, VIEWER)),
        Route("/events/{event_id}", page(views.event, VIEWER)),
        Route("/events/{event_id}/replay", change(changes.replay_event, OPERATOR, "event.replay"),
              methods=["POST"]),
        Route("/events/{event_id}/purge", change(changes.purge_event, OPERATOR, "event.purge"),
              methods=["POST"]),
        Route("/events/{event_id}/skip", change(changes.skip_event, OPERATOR, "event.skip"),
              methods=["POST"]),
        Route("/stuck", page(views.stuck, VIEWER)),
        Route("/processes", page(views.find_process, VIEWER)),
        Route("/processes/{process_id}", page(views.process, VIEWER)),
        Route("/timers", page(views.timers_view, VIEWER)),
        Route("/connections/{name}/pause", change(changes.pause, OPERATOR, "connection.pause"),
              methods=["POST"]),
        Route("/connections/{name}/resume",
              change(changes.resume, OPERATOR, "connection.resume"), methods=["POST"]),
        Route("/rules/{name}/pause", change(changes.pause, OPERATOR, "rule.pause"),
              methods=["POST"]),
        Route("/rules/{name}/resume", change(changes.resume, OPERATOR, "rule.resume"),
              methods=["POST"]),
        Route("/timers/{timer_id}/cancel",
              change(changes.cancel_timer, OPERATOR, "timer.cancel"), methods=["POST"]),
        Route("/dead", page(views.dead, VIEWER)),
        Route("/failures", page(views.failures_view, VIEWER)),
        Route("/failures/{failure_id}", page(views.failure_view, VIEWER)),
        *failure_moves,
        *failure_bulk,
        Route("/audit", page(views.audit_view, OPERATOR)),
        Route("/audit/export", page(views.audit_export, ADMIN)),
        Route("/rules", page(views.rules_view, VIEWER)),
        # Trying rules changes nothing (not audited): a POST only for the size of what is pasted.
        Route("/rules/try", change(views.try_it, VIEWER, ""), methods=["POST"]),
        Route("/rules/compare", change(views.compare, VIEWER, ""),
              methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]  # fmt: skip
