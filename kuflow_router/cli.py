"""`kuflow-router` — the command line (SPEC §7).

Exit codes: 0 success, 1 a check failed, 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import uvicorn
from starlette.applications import Starlette

from kuflow_router import rules_commands
from kuflow_router.redis_server import RedisServer, RedisServerError
from receiver.app import create_app
from receiver.errors import SettingsError
from receiver.logs import configure_logging
from receiver.settings import Settings, load_settings

EMBEDDED_REDIS_DIR = Path("var/redis")


def _serve(app: Starlette, host: str, port: int) -> None:
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,  # our configure_logging owns the format
        access_log=False,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=20,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    """Receiver only."""
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    _serve(create_app(settings), args.host, args.port)
    return 0


def _print_banner(settings: Settings, host: str, port: int) -> None:
    shown_host = "localhost" if host in ("0.0.0.0", "::") else host  # noqa: S104
    url = f"http://{shown_host}:{port}/webhooks/kuflow"
    if settings.webhook_tokens:
        # The token is a secret: shown to a person at a terminal, never written into a log.
        shown = settings.webhook_tokens[0].get_secret_value()
        token = shown if sys.stdout.isatty() else "<a token of ROUTER_WEBHOOK_TOKENS>"
        url += f"/{token}"
    print(f"kuflow-router: register this webhook URL in KuFlow: {url}", flush=True)
    print(f"kuflow-router: rules file: {settings.rules_file}", flush=True)


def _stop_after(app: Starlette, server: RedisServer) -> None:
    """Stop the embedded Redis when the app shuts down, after everything that still uses it.

    uvicorn re-raises SIGTERM once it has shut down, so code after `uvicorn.run` never runs.
    """
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            async with inner(app):
                yield
        finally:
            await anyio.to_thread.run_sync(server.stop)

    app.router.lifespan_context = lifespan


def cmd_run(args: argparse.Namespace) -> int:
    """Receiver in one process, on an embedded Redis when ROUTER_REDIS_URL is unset."""
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    embedded: RedisServer | None = None
    if not settings.redis_url:
        embedded = RedisServer(EMBEDDED_REDIS_DIR.resolve(), persistent=True)
        embedded.start()
        print(
            f"kuflow-router: embedded Redis at {embedded.url} (data in {EMBEDDED_REDIS_DIR})",
            flush=True,
        )
        settings = settings.model_copy(update={"redis_url": embedded.url})
    try:
        app = create_app(settings)
        if embedded is not None:
            _stop_after(app, embedded)
        _print_banner(settings, args.host, args.port)
        _serve(app, args.host, args.port)
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kuflow-router",
        description="Receive KuFlow webhooks, queue them durably, and run the rules of rules.yaml.",
        epilog="Configuration comes from ROUTER_* environment variables; see the README.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, handler, help_ in (
        ("run", cmd_run, "receiver and worker in one process (embedded Redis by default)"),
        ("serve", cmd_serve, "the webhook receiver only"),
    ):
        sub = commands.add_parser(name, help=help_, description=help_)
        sub.set_defaults(handler=handler)
        sub.add_argument("--host", default="0.0.0.0", help="default: 0.0.0.0")  # noqa: S104
        sub.add_argument("--port", type=int, default=8000, help="default: 8000")
    rules_commands.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `kuflow-router` console script."""
    args = _parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except (SettingsError, RedisServerError) as exc:
        print(f"kuflow-router: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
