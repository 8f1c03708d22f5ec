"""`kuflow-router connections`: each connection's breaker, limits and recent calls, shared by
every worker through Redis; `connections reset NAME` closes a breaker by hand."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from common.settings import CommonSettings, load
from handlers.clients.base import Connection
from handlers.rules import paths
from handlers.rules.source import Placeholders
from handlers.worker import gate
from handlers.worker.gate import State
from kuflow_router.arguments import whole_number
from kuflow_router.redis_server import tools_url
from kuflow_router.rules_commands import load_reporting, rules_file_of

STATE_WORDS = {State.CLOSED: "closed", State.OPEN: "open", State.HALF_OPEN: "half-open"}


def _state_text(status: gate.Status, now_ms: int) -> str:
    text = STATE_WORDS[status.state]
    if status.state is State.OPEN and status.open_until_ms > now_ms:
        text += f" ({(status.open_until_ms - now_ms) / 1000:.0f} s left)"
    if status.paused_until_ms > now_ms:
        text += f", paused {(status.paused_until_ms - now_ms) / 1000:.0f} s (Retry-After)"
    return text


async def _describe(
    redis: Redis, name: str, connection: Connection, minutes: int, now_ms: int
) -> dict[str, Any]:
    status = await gate.status(redis, name)
    recent = await gate.recent(redis, name, minutes)
    breaker = connection.breaker
    return {
        "connection": name,
        "type": connection.type,
        "state": STATE_WORDS[status.state],
        "shown": _state_text(status, now_ms),
        "failures_in_a_row": status.failures,
        "open_until": status.open_until_ms or None,
        "paused_until": status.paused_until_ms if status.paused_until_ms > now_ms else None,
        "opened": status.opened,
        "probes": status.probes,
        "in_flight": status.in_flight,
        "limits": connection.limits.describe() if connection.limits else "none",
        "breaker": breaker.describe() if breaker else "off",
        f"last_{minutes}_min": recent,
    }


async def _list(redis: Redis, args: argparse.Namespace, connections: dict[str, Connection]) -> int:
    now_ms = int(time.time() * 1000)
    rows = [await _describe(redis, n, c, args.minutes, now_ms) for n, c in connections.items()]
    if args.json:
        for row in rows:
            del row["shown"]
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        recent = row[f"last_{args.minutes}_min"]
        print(f"{row['connection']} ({row['type']}): {row['shown']}")
        print(f"  limits: {row['limits']}; breaker: {row['breaker']}")
        print(f"  last {args.minutes} min: {recent['calls']} calls, {recent['failures']} "
              f"failed, {recent['held']} held; in flight now: {row['in_flight']}; failures in "
              f"a row: {row['failures_in_a_row']}; opened {row['opened']} times")  # fmt: skip
    return 0


async def _reset(redis: Redis, args: argparse.Namespace, connections: dict[str, Connection]) -> int:
    if args.name not in connections:
        choices = list(connections) or ["(none defined)"]
        print(f"kuflow-router: no connection '{args.name}' in the rules"
              f"{paths.suggest(args.name, choices)}", file=sys.stderr)  # fmt: skip
        return 2
    await gate.reset(redis, args.name)
    print(f"{args.name}: closed; its calls go through again")
    return 0


def _run(args: argparse.Namespace) -> int:
    # Only names and limits are needed: a secret not set here is no reason to refuse.
    rules = load_reporting(rules_file_of(args), Placeholders(os.environ))
    if rules is None:
        return 2
    settings = load(CommonSettings)

    async def go() -> int:
        url = tools_url(settings.redis_url)
        async with Redis.from_url(url, socket_connect_timeout=5) as redis:
            if getattr(args, "name", None) is not None:
                return await _reset(redis, args, rules.connections)
            return await _list(redis, args, rules.connections)

    return asyncio.run(go())


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `connections` and `connections reset NAME`."""
    described = "each connection's breaker, limits and recent calls (shared by every worker)"
    parser = commands.add_parser("connections", help=described, description=described)
    parser.add_argument("--rules", type=Path, metavar="FILE", help="default: $ROUTER_RULES_FILE")
    parser.add_argument("--minutes", type=whole_number(1, 120), default=15,
                        help="the recent calls of how many minutes (default 15)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="as JSON")
    parser.set_defaults(handler=_run, name=None)
    sub = parser.add_subparsers(dest="connections_command", metavar="COMMAND")
    reset = sub.add_parser("reset", help="close a connection's breaker and lift its pause by hand")
    reset.add_argument("name", metavar="NAME")
    reset.set_defaults(handler=_run)
