"""The console's web app: its routes with the role each needs, and the rule that a console
without a login answers only requests addressed to this machine. Mounted on its own listener,
never on the webhook's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from console import changes, sso, views
from console.access import ADMIN, OPERATOR, VIEWER, Access, Person
from console.login import login, login_form, logout, sso_begin, sso_return
from console.web import (
    HERE,
    SECURITY_HEADERS,
    Console,
    change,
    page,
    redis_unreachable,
)
from handlers.rules.reload import LiveRules
from store import audit, bulk, failures

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
