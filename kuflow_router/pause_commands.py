"""`kuflow-router rules pause NAME` and `rules resume NAME`: hold a rule's actions on purpose (a
rule that misbehaves, a change being prepared) and let them go again (store/pauses.py)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from redis.asyncio import Redis

from common.settings import CommonSettings
from common.words import plural, rfc3339
from handlers.rules.source import Placeholders
from kuflow_router.admin_commands import actor, known, record, with_redis
from kuflow_router.arguments import add_pause_parsers
from kuflow_router.rules_commands import load_reporting, rules_file_of
from store import pauses


def _known(name: str) -> bool:
    """Whether the rules file has a rule `name` (else say so, with the nearest)."""
    rules = load_reporting(rules_file_of(argparse.Namespace(rules=None)), Placeholders(os.environ))
    return known("rule", name, [rule.name for rule in rules.rules] if rules else [])


async def _pause(redis: Redis, settings: CommonSettings, args: argparse.Namespace) -> int:
    if not _known(args.name):
        return 2
    who = actor()
    await pauses.pause(redis, args.name, who, args.reason or "", args.until or 0)
    await record(redis, "rule.pause", [args.name], reason=args.reason or "",
                 until=rfc3339(args.until) if args.until else None)  # fmt: skip
    until = f" until {rfc3339(args.until)}" if args.until else " until `rules resume`"
    print(f"rule {args.name}: paused{until} — the events it matches wait, nothing is lost")
    return 0


async def _resume(redis: Redis, settings: CommonSettings, args: argparse.Namespace) -> int:
    brought = await pauses.resume(redis, args.name)
    await record(redis, "rule.resume", [args.name], jobs=brought)
    print(f"rule {args.name}: resumed; {plural(brought, 'held job')} back in the queue")
    return 0


def add_rule_parsers(sub: Any) -> None:
    """Register `rules pause NAME [--until TIME] [--reason TEXT]` and `rules resume NAME`."""
    add_pause_parsers(sub, "a rule's actions", with_redis(_pause), with_redis(_resume))
