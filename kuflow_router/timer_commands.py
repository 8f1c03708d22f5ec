"""`kuflow-router timers list|cancel`: what rules with `after:` wait for, and stopping one."""

from __future__ import annotations

import argparse
import json
import sys

from redis.asyncio import Redis

from common.settings import CommonSettings
from common.words import plural, rfc3339
from kuflow_router.admin_commands import actor, event_id, record, with_redis
from kuflow_router.arguments import whole_number
from store import timers


async def timers_list(redis: Redis, settings: CommonSettings, args: argparse.Namespace) -> int:
    """The pending timers, soonest first (of one rule), or every timer of one process."""
    shown = await timers.listing(redis, args.rule or "", args.process or "", args.limit)
    for view in shown:
        if args.json:
            print(json.dumps(view.shown(), ensure_ascii=False))
            continue
        parts = [view.timer_id, rfc3339(view.due_ms), f"{view.state:<9}", view.rule,
                 f"started by {view.started_by}",
                 f"process {view.process_id}" if view.process_id else "",
                 f"cancelled by {view.cancelled_by}" if view.cancelled_by else ""]  # fmt: skip
        print("  ".join(part for part in parts if part))
    summary = await timers.summary(redis)
    scope = f" of process {args.process}" if args.process else ""
    overdue = f", {summary.overdue} overdue" if summary.overdue else ""
    pending = plural(summary.pending, "timer")
    print(f"{len(shown)} shown{scope}; {pending} pending in all{overdue}", file=sys.stderr)
    return 0


async def timers_cancel(redis: Redis, settings: CommonSettings, args: argparse.Namespace) -> int:
    """Cancel one pending timer: its actions will not run."""
    who = actor()
    now, state = await timers.cancel(redis, args.timer_id, who)
    await record(redis, "timer.cancel", [args.timer_id],
                 "done" if now else f"unchanged: {state or 'no such timer'}")  # fmt: skip
    if now:
        print(f"timer {args.timer_id} cancelled: its actions will not run")
        return 0
    if not state:
        print(f"no timer {args.timer_id} (unknown, or its record expired)", file=sys.stderr)
    else:
        print(f"timer {args.timer_id} is {state} already: nothing changed", file=sys.stderr)
    return 1


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `timers list` and `timers cancel`."""
    parser = commands.add_parser("timers", help="what rules with after: wait for: list, cancel")
    sub = parser.add_subparsers(dest="timers_command", required=True, metavar="COMMAND")
    listing = sub.add_parser("list", help="pending timers, soonest due first")
    listing.add_argument("--rule", metavar="RULE", help="one rule's pending timers")
    listing.add_argument(
        "--process", metavar="PROCESS_ID", help="every timer of one process, whatever its state"
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument(
        "--limit", type=whole_number(1, 100_000), default=100, help="how many (default 100)"
    )
    listing.set_defaults(handler=with_redis(timers_list))
    cancel = sub.add_parser("cancel", help="cancel a pending timer: its actions will not run")
    cancel.add_argument("timer_id", metavar="TIMER_ID", type=event_id)
    cancel.set_defaults(handler=with_redis(timers_cancel))
