"""The console's web app: login, the routes, and the rule that a console without a login
answers only requests addressed to this machine. Mounted on its own listener, never on the
webhook's."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from console import changes, views
from console.access import COOKIE, SESSION_S, Access, Login
from console.web import (
    HERE,
    SECURITY_HEADERS,
    TEMPLATES,
    Console,
    Form,
    change,
    console_of,
    page,
    read_form,
    redis_unreachable,
    safe_next,
)
from handlers.rules.reload import LiveRules
from store import bulk, failures


async def login_form(request: Request) -> Response:
    console = console_of(request)
    target = safe_next(request.query_params.get("next"))
    session = await console.session(request)
    if console.access.open or session:
        onward = RedirectResponse(target, status_code=303)
        if session is None:
            with_cookie(onward, request, console.access.new_session(), SESSION_S)
        return onward
    form = TEMPLATES.TemplateResponse(request, "login.html", {"next": target, "error": ""})
    form.headers.update(SECURITY_HEADERS)
    return form


async def login(request: Request) -> Response:
    console = console_of(request)
    form = await read_form(request) or {}
    target = safe_next(form.get("next", ""))
    address = request.client.host if request.client else ""
    wait_s = console.throttle.wait_s(address)
    if wait_s:
        error = f"Too many wrong tokens from this address: try again in {wait_s} s."
        return _login_refused(request, target, error, 429, {"Retry-After": str(wait_s)})
    if not console.access.login(form.get("token", "")):
        console.throttle.failed(address)
        return _login_refused(request, target, "That is not the admin token.", 401, {})
    onward = RedirectResponse(target, status_code=303)
    return with_cookie(onward, request, console.access.new_session(), SESSION_S)


def _login_refused(
    request: Request, target: str, error: str, status: int, headers: dict[str, str]
) -> Response:
    refused = TEMPLATES.TemplateResponse(
        request, "login.html", {"next": target, "error": error}, status_code=status
    )
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
    admin_token: str | None,
    event_ttl_s: int,
    public_url: str = "",
    demo: bool = False,
    trace_url: str = "",
) -> Starlette:
    """The console app over one Redis and one live rule set; `public_url` is where operators
    reach it (ROUTER_CONSOLE_URL), if set; `trace_url` a trace's page (ROUTER_TRACE_URL)."""
    app = Starlette(
        routes=[
            Route("/login", login_form, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", change(logout), methods=["POST"]),
            Route("/", page(views.overview)),
            Route("/events", page(views.events)),
            Route("/events/{event_id}", page(views.event)),
            Route("/events/{event_id}/replay", change(changes.replay_event), methods=["POST"]),
            Route("/events/{event_id}/purge", change(changes.purge_event), methods=["POST"]),
            Route("/events/{event_id}/skip", change(changes.skip_event), methods=["POST"]),
            Route("/stuck", page(views.stuck)),
            Route("/processes", page(views.find_process)),
            Route("/processes/{process_id}", page(views.process)),
            Route("/timers", page(views.timers_view)),
            Route("/connections/{name}/pause", change(changes.pause), methods=["POST"]),
            Route("/connections/{name}/resume", change(changes.resume), methods=["POST"]),
            Route("/rules/{name}/pause", change(changes.pause), methods=["POST"]),
            Route("/rules/{name}/resume", change(changes.resume), methods=["POST"]),
            Route("/timers/{timer_id}/cancel", change(changes.cancel_timer), methods=["POST"]),
            Route("/dead", page(views.dead)),
            Route("/failures", page(views.failures_view)),
            Route("/failures/{failure_id}", page(views.failure_view)),
            *[
                Route(
                    f"/failures/{{failure_id}}/{move}",
                    change(changes.failure_state),
                    methods=["POST"],
                )
                for move in failures.MOVES
            ],
            *[
                Route(
                    f"/failures/{{failure_id}}/{action}",
                    change(changes.failure_bulk),
                    methods=["POST"],
                )
                for action in bulk.ACTIONS
            ],
            Route("/rules", page(views.rules_view)),
            Route("/rules/try", change(views.try_it), methods=["POST"]),
            Route("/rules/compare", change(views.compare), methods=["POST"]),
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        ]
    )
    for unreachable in (RedisError, OSError):
        app.add_exception_handler(unreachable, redis_unreachable)
    https = public_url.lower().startswith("https://")
    app.state.console = Console(
        redis, rules, Access(admin_token), event_ttl_s, https, demo, trace_url
    )
    if admin_token is None:
        app.add_middleware(_LocalHostsOnly)
    return app
