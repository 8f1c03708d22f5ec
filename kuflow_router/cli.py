"""`kuflow-router` — the command line (SPEC §7).

Exit codes: 0 success, 1 a check failed, 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

from redis.exceptions import RedisError

from common.errors import SettingsError
from common.redact import redact
from handlers.rules.errors import RulesLoadError
from kuflow_router import (
    admin_commands,
    audit_command,
    connections_command,
    console_command,
    env_file,
    failure_commands,
    pause_commands,
    rules_commands,
    send_command,
    serve_commands,
    timer_commands,
)
from kuflow_router.redis_server import RedisServerError


def _version() -> str:
    try:
        return package_version("kuflow-router")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kuflow-router",
        description="Receive KuFlow webhooks, queue them durably, and run the rules of rules.yaml.",
        epilog="Configuration comes from ROUTER_* environment variables, and from ./.env for "
        "those not set (as scripts/run does); see the README and docs/.",
    )
    parser.add_argument("--version", action="version", version=f"kuflow-router {_version()}")
    parser.add_argument(
        "--env-file",
        type=Path,
        metavar="FILE",
        help="read variables from FILE instead of ./.env (variables already set win)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve_commands.add_parsers(commands)
    pause_commands.add_rule_parsers(rules_commands.add_parser(commands))
    admin_commands.add_parsers(commands)
    timer_commands.add_parser(commands)
    failure_commands.add_parser(commands)
    audit_command.add_parser(commands)
    connections_command.add_parser(commands)
    send_command.add_parser(commands)
    console_command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `kuflow-router` console script."""
    args = _parser().parse_args(argv)
    try:
        env_file.load(args.env_file)
        code: int = args.handler(args)
    except (SettingsError, RedisServerError) as exc:
        print(f"kuflow-router: {exc}", file=sys.stderr)
        return 2
    except (RedisError, OSError) as exc:
        # Redis unreachable or refusing (a wrong password): say so, without a traceback.
        reason = redact(f"{type(exc).__name__}: {exc}")
        print(f"kuflow-router: Redis did not answer: {reason} (check ROUTER_REDIS_URL)",
              file=sys.stderr)  # fmt: skip
        return 2
    except RulesLoadError as exc:
        print(exc, file=sys.stderr)
        print(f"kuflow-router: {exc.filename} is invalid; nothing was started", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
