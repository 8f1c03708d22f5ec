"""`kuflow-router failures …`: the dead letters grouped by cause, worked as a short list —
acknowledge, resolve, reopen — and their events replayed, skipped or discarded in bulk."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from types import FrameType

from redis.asyncio import Redis

from common.settings import CommonSettings
from common.words import plural, rfc3339
from kuflow_router.admin_commands import actor, record, with_redis
from store import bulk, failures

SHOWN_EVENTS = 20


def _line(failure: failures.Failure) -> str:
    who = ""
    if failure.state == failures.ACKNOWLEDGED:
        who = f"by {failure.fields.get('acked_by', '')}"
        if failure.fields.get("note"):
            who += f": {failure.fields['note']}"
    elif failure.state == failures.RESOLVED:
        who = f"by {failure.fields.get('resolved_by', '')}"
    parts = [failure.failure_id, f"{failure.state:<12}", failure.rule_title, failure.action,
             failure.cause, plural(failure.events, "event"),
             f"last {rfc3339(failure.ms('last_at'))}", who]  # fmt: skip
    return "  ".join(part for part in parts if part)


async def failures_list(redis: Redis, settings: CommonSettings, args: argparse.Namespace) -> int:
    """The failures, latest first: open and acknowledged ones unless --state says otherwise."""
    states = failures.STATES if args.state == "all" else (
        (args.state,) if args.state else (failures.OPEN, failures.ACKNOWLEDGED))  # fmt: skip
    found = await failures.listing(redis, states)
    for failure in found:
        print(json.dumps(failure.shown(), ensure_ascii=False) if args.json else _line(failure))
    if not args.json:
        counts = await failures.counts(redis)
        print(", ".join(f"{n} {state}" for state, n in counts.items()), file=sys.stderr)
    return 0


async def _found(redis: Redis, wanted: str) -> failures.Failure | None:
    failure = await failures.find(redis, wanted)
    if failure is None:
        print(f"kuflow-router: no failure '{wanted}' (give its id, or the first 4 or more "
              "characters of it that only it has: `failures list --state all`)",
              file=sys.stderr)  # fmt: skip
    return failure


async def failures_show(redis: Redis, settings: CommonSettings, args: argparse.Namespace) -> int:
    """One failure: its state, who set it, and the first of its events (oldest first)."""
    failure = await _found(redis, args.failure_id)
    if failure is None:
        return 1
    events = await failures.event_page(redis, failure.failure_id, 0, SHOWN_EVENTS)
    print(json.dumps({**failure.shown(), "events_shown": events}, indent=2, ensure_ascii=False))
    return 0


async def failures_state(redis: Redis, settings: CommonSettings, args: argparse.Namespace) -> int:
    """Acknowledge, resolve or reopen a failure (audited)."""
    failure = await _found(redis, args.failure_id)
    if failure is None:
        return 1
    command, note, who = args.failures_command, getattr(args, "note", "") or "", actor()
    state = failures.MOVES[command]
    was, moved = await failures.change_state(redis, failure.failure_id, state, who, note)
    outcome = "done" if moved else f"unchanged: it is {was}"
    await record(redis, f"failure.{command}", [failure.failure_id], outcome,
                 note=note or None)  # fmt: skip
    if not moved:
        print(f"failure {failure.failure_id} is {was}: nothing changed", file=sys.stderr)
        return 1
    print(f"failure {failure.failure_id} {failures.SAID[state]}")
    return 0


class _Interrupt:
    """Ctrl-C stops a bulk action between pages (a second one stops at once)."""

    def __init__(self) -> None:
        self.asked = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.asked:
            raise KeyboardInterrupt
        self.asked = True
        print("\nstopping after this page (Ctrl-C again to stop now)", file=sys.stderr)


async def failures_bulk(redis: Redis, settings: CommonSettings, args: argparse.Namespace) -> int:
    """Replay, skip or discard every event of a failure: a page at a time, stoppable with
    Ctrl-C, safe to run again. A replay resolves the failure first (it reopens and alerts once
    if the events fail again)."""
    failure = await _found(redis, args.failure_id)
    if failure is None:
        return 1
    action, who = args.failures_command, actor()
    interrupt = _Interrupt()
    previous = signal.signal(signal.SIGINT, interrupt)
    terminal = sys.stderr.isatty()

    def told(result: bulk.Result) -> None:
        if terminal:
            print(f"\r{action}: {result.seen} of {failure.events} events", end="",
                  file=sys.stderr, flush=True)  # fmt: skip

    try:
        result = await bulk.work(redis, failure.failure_id, action, who, settings.event_ttl_s,
                                 stop=lambda: interrupt.asked, told=told)  # fmt: skip
    finally:
        signal.signal(signal.SIGINT, previous)
    if terminal:
        print(file=sys.stderr)
    await record(redis, f"failure.{action}", [failure.failure_id],
                 "stopped" if interrupt.asked else "done", events=result.done,
                 unchanged=result.unchanged, problems=result.problem_count,
                 left=result.left)  # fmt: skip
    for problem in result.problems:
        print(f"kuflow-router: {problem}", file=sys.stderr)
    print(f"{plural(result.done, 'event')} {bulk.DONE[action]}"
          + (f", {result.unchanged} unchanged" if result.unchanged else "")
          + (f", {result.problem_count} could not be" if result.problem_count else "")
          + (f"; stopped with {result.left} left: run it again to go on" if interrupt.asked
             else ""))  # fmt: skip
    return 1 if interrupt.asked else 0


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `failures list|show|ack|resolve|reopen|replay|skip|discard`."""
    parser = commands.add_parser(
        "failures", help="dead letters grouped by cause: list, acknowledge, resolve, replay all"
    )
    sub = parser.add_subparsers(dest="failures_command", required=True, metavar="COMMAND")
    listing = sub.add_parser("list", help="open and acknowledged failures, latest first")
    listing.add_argument("--state", choices=[*failures.STATES, "all"],
                         help="only these (default: open and acknowledged)")  # fmt: skip
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=with_redis(failures_list))
    helps = {
        "show": "one failure and its latest events",
        "ack": "acknowledge: someone is on it; no more alerts for it",
        "resolve": "resolved: if it fails again it reopens and alerts once",
        "reopen": "open it again (no alert)",
        "replay": "resolve it and replay all its events, each process in order",
        "skip": "let the processes its events hold move on without them",
        "discard": "delete its dead letters (they cannot be replayed afterwards)",
    }
    handlers = {"show": failures_show, "ack": failures_state, "resolve": failures_state,
                "reopen": failures_state}  # fmt: skip
    for name, help_ in helps.items():
        command = sub.add_parser(name, help=help_)
        command.add_argument("failure_id", metavar="FAILURE_ID",
                             help="its id, or the first 4+ characters of it")  # fmt: skip
        if name in ("ack", "resolve"):
            command.add_argument("--note", default="", help="what is being done, or was done")
        command.set_defaults(handler=with_redis(handlers.get(name, failures_bulk)))
