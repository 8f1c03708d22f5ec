"""`kuflow-router audit [--since] [--actor] [--action] [--json]`: who changed what, when, from
where — what the console and the command line did, logins, and refused attempts."""

from __future__ import annotations

import argparse
import json
import sys

from redis.asyncio import Redis

from common.settings import CommonSettings
from common.words import rfc3339
from handlers.clients.params import parse_earlier
from kuflow_router.admin_commands import with_redis
from store import audit


def since_ms(text: str) -> int:
    """`--since`: a duration back from now (`24h`, `7d`) or a time (`2026-12-01T00:00Z`)."""
    try:
        return parse_earlier(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _line(entry: audit.Entry) -> str:
    who = f"{entry.actor or '(unknown)'}" + (f" ({entry.role})" if entry.role else "")
    detail = "; ".join(f"{k}: {v}" for k, v in entry.detail.items())
    parts = [rfc3339(entry.at_ms), who, entry.action, ",".join(entry.objects), entry.outcome,
             f"from {entry.address}" if entry.address else "", detail]  # fmt: skip
    return "  ".join(part for part in parts if part)


async def audit_list(redis: Redis, settings: CommonSettings, args: argparse.Namespace) -> int:
    """Every entry from --since on, oldest first (of --actor, --action)."""
    count = 0
    async for entry in audit.since(redis, args.since or 0, args.actor or "", args.action or ""):
        print(json.dumps(entry.shown(), ensure_ascii=False) if args.json else _line(entry))
        count += 1
    if not args.json:
        print(f"{count} entries; {await audit.size(redis)} kept in all", file=sys.stderr)
    return 0


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `audit`."""
    parser = commands.add_parser(
        "audit", help="the audit log: who changed what, when, from where (oldest first)"
    )
    parser.add_argument(
        "--since",
        type=since_ms,
        metavar="WHEN",
        help="from this long ago (24h, 7d) or this time (2026-12-01T00:00Z)",
    )
    parser.add_argument("--actor", metavar="WHO", help="one person: ops-lead, cli:ops@host")
    parser.add_argument(
        "--action", metavar="WHAT", help="actions starting with this: event.replay, failure., login"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(handler=with_redis(audit_list))
