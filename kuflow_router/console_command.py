"""`kuflow-router console`, and the console inside `run`: its own listener, never the webhook's.

On loopback it may run without ROUTER_ADMIN_TOKEN (whoever can reach the port is on this
machine); bound to any other address it refuses to start without one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette

from common.embedded_server import serving
from common.errors import SettingsError
from common.logs import configure_logging
from common.redis_url import client as redis_client
from console.access import Person
from console.app import create_console
from console.settings import ConsoleSettings, load_settings
from handlers.rules.loader import withheld
from handlers.rules.reload import LiveRules
from kuflow_router import env_file
from kuflow_router.arguments import whole_number
from kuflow_router.redis_server import tools_url
from receiver.protocol import router_protocol
from store import audit

DEFAULT_PORT = 8001


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def people(settings: ConsoleSettings, host: str) -> list[tuple[Person, str]]:
    """Who may log in with a token (ROUTER_ADMIN_TOKEN, ROUTER_CONSOLE_TOKENS); refuses a
    non-loopback address with no way to log in (no token, no single sign-on).

    Raises:
        SettingsError: bound beyond loopback without a token.
    """
    found = settings.people()
    if not found and settings.provider() is None and not is_loopback(host):
        raise SettingsError(
            f"the console would listen on {host} without a login: set ROUTER_ADMIN_TOKEN "
            "(python3 -c 'import secrets; print(secrets.token_urlsafe(24))') or "
            "ROUTER_CONSOLE_TOKENS or single sign-on (ROUTER_OIDC_ISSUER …), or bind it to "
            "127.0.0.1"
        )
    return found


def cmd_console(args: argparse.Namespace) -> int:
    """The console alone, beside receivers and workers that share its Redis."""
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    port = args.port or settings.console_port
    tokens = people(settings, args.host)  # refuse before anything starts
    # The console holds no API credential: each ${VAR} but a connection's address reads as <VAR>.
    rules = LiveRules(settings.rules_file, withheld(os.environ), before_reload=env_file.refresh)
    redis = redis_client(tools_url(settings.redis_url), socket_connect_timeout=5)
    app = create_console(
        redis,
        rules,
        tokens,
        settings.event_ttl_s,
        settings.console_url,
        trace_url=settings.trace_url,
        audit_keep=audit.Keep.of(settings),
        provider=settings.provider(),
    )
    watching: list[asyncio.Task[None]] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        watching.append(asyncio.create_task(rules.watch()))
        try:
            yield
        finally:
            watching[0].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching[0]
            await redis.aclose()

    app.router.lifespan_context = lifespan
    print(f"kuflow-router: console at http://{args.host}:{port}/", flush=True)
    uvicorn.run(app, host=args.host, port=port, log_config=None, access_log=False,
                http=router_protocol(listener="console"))  # fmt: skip
    return 0


@asynccontextmanager
async def running_console(
    settings: ConsoleSettings, redis_url: str, rules: LiveRules, port: int, demo: bool = False
) -> AsyncIterator[None]:
    """The console on 127.0.0.1:`port` for as long as the block runs (inside `run`)."""
    redis = redis_client(redis_url, socket_connect_timeout=5)
    tokens = people(settings, "127.0.0.1")
    app = create_console(
        redis, rules, tokens, settings.event_ttl_s, settings.console_url, demo, settings.trace_url,
        audit.Keep.of(settings), settings.provider(),
    )  # fmt: skip
    try:
        async with serving(app, "127.0.0.1", port, http=router_protocol(listener="console")):
            yield
    finally:
        await redis.aclose()


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `console`."""
    help_ = "the operator's web console: events, dead letters, rules (its own port)"
    sub = commands.add_parser("console", help=help_, description=help_)
    sub.set_defaults(handler=cmd_console)
    sub.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1 (this machine only)")
    sub.add_argument("--port", type=whole_number(1, 65535),
                     help=f"default: ROUTER_CONSOLE_PORT, else {DEFAULT_PORT}")  # fmt: skip
