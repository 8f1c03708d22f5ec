"""`kuflow-router run`, `serve` and `worker`: the long-running processes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import anyio
import uvicorn
from starlette.applications import Starlette

from handlers.rules.reload import LiveRules
from handlers.worker import GRACE_S, build_worker
from kuflow_router.redis_server import RedisServer
from receiver.app import create_app
from receiver.deadline import with_header_deadline
from receiver.errors import SettingsError
from receiver.logs import configure_logging
from receiver.settings import Settings, load_settings

EMBEDDED_REDIS_DIR = Path("var/redis")


def freeze_startup_heap() -> None:
    """Keep what start-up allocated (modules, settings, rules) out of the garbage collector's
    full passes: scanning it is what made the receiver's slowest 1% of answers take 3x longer
    (issue 7: p99 19 ms → 5 ms under load). It is kept for the process's life anyway."""
    gc.collect()
    gc.freeze()


def _serve(app: Starlette, settings: Settings, host: str, port: int) -> None:
    freeze_startup_heap()
    uvicorn.run(
        app,
        host=host,
        port=port,
        http=with_header_deadline(settings.read_timeout_s),
        log_config=None,  # our configure_logging owns the format
        access_log=False,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=20,
    )


def _settings() -> Settings:
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    return settings


def _need_redis(settings: Settings, command: str) -> None:
    if not settings.redis_url:
        raise SettingsError(
            f"ROUTER_REDIS_URL is not set: `{command}` needs the Redis shared by receivers and "
            "workers, e.g. redis://redis:6379/0 (or use `kuflow-router run` for an embedded one)."
        )


def cmd_serve(args: argparse.Namespace) -> int:
    """Receiver only."""
    settings = _settings()
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
    settings = _settings()
    if args.concurrency:
        settings = settings.model_copy(update={"worker_concurrency": args.concurrency})
    _need_redis(settings, "worker")
    rules = LiveRules(settings.rules_file)
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


def _worker_in(app: Starlette, settings: Settings, rules: LiveRules) -> None:
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
            await worker.close()

    _wrap(app, running)


def _redis_in(app: Starlette, server: RedisServer) -> None:
    @asynccontextmanager
    async def running() -> AsyncIterator[None]:
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(server.stop)

    _wrap(app, running)


def _print_banner(settings: Settings, host: str, port: int, rules: LiveRules) -> None:
    shown_host = "localhost" if host in ("0.0.0.0", "::") else host  # noqa: S104
    url = f"http://{shown_host}:{port}/webhooks/kuflow"
    if settings.webhook_tokens:
        # The token is a secret: shown to a person at a terminal, never written into a log.
        shown = settings.webhook_tokens[0].get_secret_value()
        token = shown if sys.stdout.isatty() else "<a token of ROUTER_WEBHOOK_TOKENS>"
        url += f"/{token}"
    print(f"kuflow-router: register this webhook URL in KuFlow: {url}", flush=True)
    print(f"kuflow-router: rules: {len(rules.current.rules)} loaded from {rules.path}", flush=True)


def cmd_run(args: argparse.Namespace) -> int:
    """Receiver and worker in one process, on an embedded Redis when ROUTER_REDIS_URL is unset."""
    settings = _settings()
    if args.concurrency:
        settings = settings.model_copy(update={"worker_concurrency": args.concurrency})
    rules = LiveRules(settings.rules_file)  # invalid rules stop the start, every problem shown
    embedded: RedisServer | None = None
    if not settings.redis_url:
        embedded = RedisServer.embedded(EMBEDDED_REDIS_DIR.resolve())
        embedded.start()
        print(
            f"kuflow-router: embedded Redis at {embedded.url} (data in {EMBEDDED_REDIS_DIR})",
            flush=True,
        )
        settings = settings.model_copy(update={"redis_url": embedded.url})
    try:
        app = create_app(settings)
        _worker_in(app, settings, rules)
        if embedded is not None:
            _redis_in(app, embedded)
        _print_banner(settings, args.host, args.port, rules)
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
            sub.add_argument("--host", default="0.0.0.0", help="default: 0.0.0.0")  # noqa: S104
            sub.add_argument("--port", type=int, default=8000, help="default: 8000")
        if name != "serve":
            sub.add_argument(
                "--concurrency",
                type=int,
                help="events processed at once (ROUTER_WORKER_CONCURRENCY)",
            )
