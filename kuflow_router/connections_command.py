"""`kuflow-router connections`: each connection's breaker, limits and recent calls, shared by
every worker through Redis; `connections reset NAME` closes a breaker by hand; `connections
pause NAME` holds its calls on purpose (a maintenance window), `connections resume NAME` lets
them go again."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from common.settings import CommonSettings
from common.words import plural, rfc3339
from handlers.clients.base import Connection
from handlers.rules.source import Placeholders
from kuflow_router.admin_commands import actor, known, record, with_redis
from kuflow_router.arguments import add_pause_parsers, whole_number
from kuflow_router.rules_commands import load_reporting, rules_file_of
from store import gate


def _json(row: gate.Report) -> dict[str, Any]:
    status = row.status
    return {
        "connection": row.name,
        "type": row.type,
        "state": status.state.word,
        "failures_in_a_row": status.failures,
        "open_until": status.open_until_ms or None,
        "paused_until": status.paused_until_ms or None,
        "held_by_operator": status.hold or None,
        "opened": status.opened,
        "probes": status.probes,
        "in_flight": status.in_flight,
        "limits": row.limits,
        "breaker": row.breaker,
        f"last_{row.minutes}_min": row.recent,
    }


async def _list(redis: Redis, args: argparse.Namespace, connections: dict[str, Connection]) -> int:
    rows = [await gate.report(redis, n, c, args.minutes) for n, c in connections.items()]
    if args.json:
        print(json.dumps([_json(row) for row in rows], indent=2))
        return 0
    now_ms = int(time.time() * 1000)
    for row in rows:
        status, recent = row.status, row.recent
        print(f"{row.name} ({row.type}): {row.state_text(now_ms)}")
        print(f"  limits: {row.limits}; breaker: {row.breaker}")
        print(f"  last {row.minutes} min: {recent['calls']} calls, {recent['failures']} failed, "
              f"{recent['held']} held; in flight now: {status.in_flight}; failures in a row: "
              f"{status.failures}; opened {status.opened} times")  # fmt: skip
    return 0


async def _reset(redis: Redis, args: argparse.Namespace, connections: dict[str, Connection]) -> int:
    if not known("connection", args.name, list(connections)):
        return 2
    await gate.reset(redis, args.name)
    await record(redis, "connection.reset", [args.name])
    print(f"{args.name}: closed; its calls go through again")
    return 0


async def _pause(redis: Redis, args: argparse.Namespace, connections: dict[str, Connection]) -> int:
    if not known("connection", args.name, list(connections)):
        return 2
    if not gate.gated(connections[args.name]):
        print(f"kuflow-router: connection '{args.name}' has `breaker: false` and no `limits:`: "
              "its calls pass no gate, so nothing can hold them — give it a breaker (remove "
              "`breaker: false`) to pause it", file=sys.stderr)  # fmt: skip
        return 2
    who = actor()
    await gate.pause(redis, args.name, who, args.reason or "", args.until or 0)
    await record(redis, "connection.pause", [args.name], reason=args.reason or "",
                 until=rfc3339(args.until) if args.until else None)  # fmt: skip
    until = f" until {rfc3339(args.until)}" if args.until else " until `connections resume`"
    print(f"{args.name}: paused{until} — actions that call it wait, nothing is lost or "
          "dead-lettered")  # fmt: skip
    return 0


async def _resume(
    redis: Redis, args: argparse.Namespace, connections: dict[str, Connection]
) -> int:
    if not known("connection", args.name, list(connections)):
        return 2
    brought = await gate.resume(redis, args.name)
    await record(redis, "connection.resume", [args.name], jobs=brought)
    print(f"{args.name}: resumed; {plural(brought, 'held job')} back in the queue")
    return 0


async def _run(redis: Redis, settings: CommonSettings, args: argparse.Namespace) -> int:
    # Only names and limits are needed: a secret not set here is no reason to refuse.
    rules = load_reporting(rules_file_of(args), Placeholders(os.environ))
    if rules is None:
        return 2
    command = getattr(args, "connections_command", None)
    if command == "pause":
        return await _pause(redis, args, rules.connections)
    if command == "resume":
        return await _resume(redis, args, rules.connections)
    if args.name is not None:
        return await _reset(redis, args, rules.connections)
    return await _list(redis, args, rules.connections)


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `connections` and `connections reset NAME`."""
    described = "each connection's breaker, limits and recent calls (shared by every worker)"
    parser = commands.add_parser("connections", help=described, description=described)
    parser.add_argument("--rules", type=Path, metavar="FILE", help="default: $ROUTER_RULES_FILE")
    parser.add_argument("--minutes", type=whole_number(1, 120), default=15,
                        help="the recent calls of how many minutes (default 15)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="as JSON")
    parser.set_defaults(handler=with_redis(_run), name=None)
    sub = parser.add_subparsers(dest="connections_command", metavar="COMMAND")
    reset = sub.add_parser("reset", help="close a connection's breaker and lift its pause by hand")
    reset.add_argument("name", metavar="NAME")
    reset.set_defaults(handler=with_redis(_run))
    add_pause_parsers(sub, "a connection's calls", with_redis(_run), with_redis(_run))
