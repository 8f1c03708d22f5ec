"""`kuflow-router events …` and `kuflow-router dlq …`: look at what happened, and fix it."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

from redis.asyncio import Redis

from common import tracing
from common.redis_url import client as redis_client
from common.settings import CommonSettings, load
from common.words import elapsed, plural
from handlers.rules import paths
from kuflow_router.arguments import whole_number
from kuflow_router.redis_server import tools_url
from store import audit, bulk, dlq, failures, ordering, queue, reads, records, timers

T = TypeVar("T")


def event_id(text: str) -> str:
    """An event id as the router keeps it: a UUID in lower-case, hyphenated form.

    Anything else is kept as typed: a refused job is dead-lettered under its job id.
    """
    try:
        return str(UUID(text))
    except ValueError:
        return text


def actor() -> str:
    """Who runs this command, as records and the audit log name them: `cli:user@host`."""
    return f"cli:{getpass.getuser()}@{socket.gethostname()}"


async def record(
    redis: Redis, action: str, objects: list[str], outcome: str = "done", **detail: Any
) -> None:
    """Write what this command changed to the audit log, as `cli:user@host` (role `cli`)."""
    keep = audit.Keep.of(load(CommonSettings))
    await audit.write(redis, actor(), action, objects, outcome, role="cli", keep=keep, **detail)


def known(what: str, name: str, names: list[str]) -> bool:
    """Whether `name` is one of the rules file's `names` (its connections, its rules); if not,
    say so, with the nearest."""
    if name in names:
        return True
    print(f"kuflow-router: no {what} '{name}' in the rules"
          f"{paths.suggest(name, names or ['(none defined)'])}", file=sys.stderr)  # fmt: skip
    return False


def in_redis(action: Callable[[Redis], Awaitable[T]], settings: CommonSettings | None = None) -> T:
    """What `action` does with a client of the tools' Redis (ROUTER_REDIS_URL, else the embedded
    one of a `run` here)."""
    url = tools_url((settings or load(CommonSettings)).redis_url)

    async def go() -> T:
        async with redis_client(url, socket_connect_timeout=5) as redis:
            return await action(redis)

    return asyncio.run(go())


def with_redis(
    action: Callable[[Redis, CommonSettings, argparse.Namespace], Awaitable[int]],
) -> Any:
    """A command handler that runs `action` with a client of the tools' Redis."""

    def handler(args: argparse.Namespace) -> int:
        settings = load(CommonSettings)
        return in_redis(lambda redis: action(redis, settings, args), settings)

    return handler


def _when(value: str) -> str:
    try:
        seconds = float(value) / (1000 if float(value) > 1e11 else 1)
    except ValueError:
        return value
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + "Z"


async def events_list(redis: Redis, settings: CommonSettings, args: argparse.Namespace) -> int:
    """The most recent events (id, received, status, type), one process's timeline, or the
    processes a failed event holds."""
    if args.held:
        return await _held(redis, args.limit)
    if args.process:
        return await _process_timeline(redis, settings, args.process, args.limit)
    rows = await reads.all_events(redis, reads.Filters(), args.limit)
    for row in rows:
        fields = row.fields
        when, status = _when(fields.get("received_at", "")), fields.get("status", "")
        print(f"{row.event_id}  {when}  {status:<10}  {fields.get('type', '')}")
    total = await reads.event_count(redis)
    print(f"{min(len(rows), args.limit)} of {plural(total, 'event')}", file=sys.stderr)
    return 0


async def _process_timeline(
    redis: Redis, settings: CommonSettings, process_id: str, limit: int
) -> int:
    """What the console's process page shows, a line per event in the order they ran."""
    timeline = await reads.process_timeline(redis, process_id)
    for row in timeline[:limit]:
        fields = row.event.record.fields
        actions = ", ".join(
            f"{state.action or name} {state.state}"
            + (f" ({plural(state.attempts, 'try', 'tries')})" if state.attempts > 1 else "")
            for name, state in row.actions
        )
        trace = fields.get("trace_id")
        parts = [
            f"#{row.seq:<4} {row.event_id}", elapsed(row.after_ms).ljust(12),
            f"{fields.get('status', ''):<10}", fields.get("type", ""),
            "late" if fields.get("late") == "1" else "",
            f"matched: {', '.join(row.matched) or 'none'}",
            f"actions: {actions}" if actions else "",
            plural(len(row.event.dead_letters), "dead letter") if row.event.dead_letters else "",
            f"trace {tracing.link(settings.trace_url, trace) or trace}" if trace else "",
        ]  # fmt: skip
        print("  ".join(part for part in parts if part))
    shown = min(len(timeline), limit)
    print(f"{shown} of {plural(len(timeline), 'event')} of process {process_id}", file=sys.stderr)
    return 0


async def _held(redis: Redis, limit: int) -> int:
    """The processes a dead-lettered event holds (ROUTER_ORDERING_ON_FAILURE=hold)."""
    held = await ordering.held(redis, limit)
    now_ms = int(time.time() * 1000)
    for process in held:
        since = elapsed(now_ms - process.since_ms).lstrip("+")
        print(f"process {process.process_id}  waits on {process.event_id}  for {since}  "
              f"{plural(process.waiting, 'event')} behind it")  # fmt: skip
    print(
        f"{plural(len(held), 'process', 'processes')} held: `dlq replay EVENT_ID` once its "
        "cause is fixed, or `dlq skip EVENT_ID` to let the process move on",
        file=sys.stderr,
    )
    return 0


async def dlq_skip(redis: Redis, settings: CommonSettings, args: argparse.Namespace) -> int:
    """Let the process a dead-lettered event holds move on without it."""
    who = actor()
    skipped = await ordering.skip(redis, args.event_id, who)
    await record(redis, "event.skip", [args.event_id],
                 "done" if skipped else "unchanged: it holds no process")  # fmt: skip
    if not skipped:
        print(f"event {args.event_id} holds no process's line: nothing to skip", file=sys.stderr)
        return 1
    print(f"event {args.event_id} skipped: its process's later events run; its dead letters "
          "stay for `dlq show`")  # fmt: skip
    return 0


def _action(name: str, state: records.ActionState) -> dict[str, Any]:
    rule, _, index = name.removeprefix(records.ACTION_PREFIX).rpartition(":")
    return {
        "rule": rule,
        "index": int(index),
        "action": state.action or None,
        "state": state.state,
        "attempts": state.attempts,
        "remote_id": state.id,
        "status": state.status or None,
        "error": state.error or None,
        "at": _when(str(state.at)) if state.at else None,
    }


def shown_record(record: records.EventRecord) -> dict[str, Any]:
    """An event's record as typed JSON: one meaning per field (docs/guarantees.md, "The event
    log", says each)."""
    fields = record.fields
    enrichment = record.actions.get(records.action_field("enrichment", 0))
    actions = {n: s for n, s in record.actions.items() if s is not enrichment}
    matched = json.loads(fields["matched"]) if "matched" in fields else None
    shown: dict[str, Any] = {
        "event_id": record.event_id,
        "type": fields.get("type"),
        "status": fields.get("status"),
        "received_at": _when(fields["received_at"]) if "received_at" in fields else None,
        "runs": int(fields.get("runs", 0)),
        "matched": matched,
        "rejected": fields.get("rejected"),
        "unverified": fields.get(records.UNVERIFIED),
        "process_id": fields.get("process_id") or None,
        "trace_id": fields.get("trace_id"),
        "seq": int(fields["seq"]) if "seq" in fields else None,
        "late": fields.get("late") == "1",
        "after_failed": fields.get("after_failed"),
        "waiting_for": fields.get("waiting_for"),
        "enrichment": _action("enrichment:0", enrichment) if enrichment else None,
        "actions": [_action(n, s) for n, s in records.in_order(actions, matched or [])],
    }
    if shown["enrichment"]:
        for name in ("rule", "index"):
            del shown["enrichment"][name]
    started = {n.removeprefix("timer:"): v for n, v in fields.items() if n.startswith("timer:")}
    if started:
        shown["timers_started"] = started  # by rule: `timers list`, `events show TIMER_ID`
    cancels = {n.removeprefix("cancels:"): v for n, v in fields.items() if n.startswith("cancels:")}
    if cancels:
        shown["timers_cancelled"] = cancels  # timer id → cancelled, or late (changed nothing)
    if "timer_rule" in fields:
        shown["timer"] = timers.View.of(record).shown()
    return shown


async def events_show(redis: Redis, settings: CommonSettings, args: argparse.Namespace) -> int:
    """One event's record: status, matched rules, each action's outcome."""
    record = await records.load(redis, args.event_id)
    if not record.fields and not record.actions:
        print(
            f"no record of event {args.event_id} (unknown, or older than ROUTER_EVENT_TTL_S)",
            file=sys.stderr,
        )
        return 1
    shown = shown_record(record)
    link = tracing.link(settings.trace_url, shown["trace_id"])
    if link:
        shown["trace_url"] = link
    print(json.dumps(shown, indent=2, ensure_ascii=False))
    return 0


async def dlq_list(redis: Redis, settings: CommonSettings, args: argparse.Namespace) -> int:
    """Dead-lettered events: id, entries, last rule/action and error."""
    by_event: dict[str, list[dlq.Entry]] = {}
    async for entry in dlq.iterate(redis):  # a page at a time
        by_event.setdefault(entry.event_id, []).append(entry)
    for event_id, found in by_event.items():
        last = found[-1].fields
        count = f"{len(found)} entr{'y' if len(found) == 1 else 'ies'}"
        where = f"{last['rule']} / {last['action']}"
        print(f"{event_id}  {count}  {_when(last['time'])}  {where}: {last['error'][:120]}")
    print(f"{len(by_event)} events in the dead-letter queue", file=sys.stderr)
    return 0


def shown_entry(entry: dlq.Entry, body: bytes | None) -> dict[str, Any]:
    """A dead-letter entry as typed JSON, the event as the object it is."""
    fields = entry.fields

    def number(name: str) -> int | None:
        value = fields.get(name, "")
        return int(value) if value.isdigit() else None

    try:
        event: Any = json.loads(body) if body is not None else None  # None: no longer kept
    except ValueError:
        event = body.decode(errors="replace") if body else None  # a refused job's payload
    return {
        "entry": entry.entry_id,
        "event_id": entry.event_id,
        "time": _when(fields["time"]) if "time" in fields else None,
        "rule": fields.get("rule"),
        "action": fields.get("action"),
        "index": number("index"),
        "attempts": number("attempts"),
        "status": number("status") or None,
        "error": fields.get("error") or None,
        "remote": fields.get("remote") or None,
        "excerpt": fields.get("excerpt") or None,
        "event": event,
    }


async def dlq_show(redis: Redis, settings: CommonSettings, args: argparse.Namespace) -> int:
    """Every entry of one event, in full (the event included), as a JSON list."""
    found = await dlq.entries(redis, args.event_id)
    if not found:
        print(f"event {args.event_id} has no dead-letter entry", file=sys.stderr)
        return 1
    body = await dlq.event_body(redis, found[-1])
    print(json.dumps([shown_entry(e, body) for e in found], indent=2, ensure_ascii=False))
    return 0


def _one_or_all(args: argparse.Namespace, what: str) -> bool:
    """Whether exactly one of EVENT_ID and --all was given; if not, say so."""
    if bool(args.event_id) == bool(args.all):
        print(f"name an EVENT_ID or --all ({what}), not both or neither", file=sys.stderr)
        return False
    return True


async def dlq_replay(redis: Redis, settings: CommonSettings, args: argparse.Namespace) -> int:
    """Queue dead-lettered events again; their completed actions stay skipped."""
    if not _one_or_all(args, "every event in the dead-letter queue"):
        return 2
    if args.all:
        done = await _every_failure(redis, settings, bulk.REPLAY)
        await record(redis, "dlq.replay", ["--all"], events=done)
        print(f"{plural(done, 'event')} queued again")
        return 0
    replay = dlq.replay(redis, args.event_id, settings.event_ttl_s)
    if not await _replayed(redis, args.event_id, replay, "has no dead-letter entry"):
        return 1
    print("1 event queued again")
    return 0


async def _replayed(redis: Redis, event_id: str, replay: Awaitable[bool], nothing: str) -> bool:
    """Await one event's replay, audit it, and say why when nothing was queued (`nothing`)."""
    try:
        queued = await replay
    except LookupError as exc:
        await record(redis, "event.replay", [event_id], f"failed: {exc}")
        print(f"kuflow-router: {exc}", file=sys.stderr)
        return False
    await record(redis, "event.replay", [event_id], "done" if queued else f"unchanged: {nothing}")
    if not queued:
        print(f"event {event_id} {nothing}: nothing to replay", file=sys.stderr)
    return queued


async def _every_failure(redis: Redis, settings: CommonSettings, action: str) -> int:
    """Replay or discard every dead-lettered event, failure by failure, a page at a time (each
    process in order); how many events it acted on."""
    done = 0
    for failure in await failures.listing(redis, most=100_000):
        result = await bulk.run(redis, failure.failure_id, action, actor(), settings.event_ttl_s)
        for problem in result.problems:
            print(f"kuflow-router: {problem}", file=sys.stderr)
        done += result.done
    return done


async def dlq_purge(redis: Redis, settings: CommonSettings, args: argparse.Namespace) -> int:
    """Delete the entries of one event, or (with --all) every entry."""
    if not _one_or_all(args, "to empty the dead-letter queue"):
        return 2
    if args.all:
        done = await _every_failure(redis, settings, bulk.DISCARD)
        left = await dlq.purge(redis)  # entries of no failure: none, unless written meanwhile
        await record(redis, "dlq.purge", ["--all"], events=done, entries=left or None)
        print(f"the dead letters of {plural(done, 'event')} deleted"
              + (f", and {plural(left, 'entry', 'entries')} more" if left else ""))  # fmt: skip
        return 0
    removed = await dlq.purge(redis, args.event_id)
    await record(redis, "event.purge", [args.event_id], entries=removed)
    print(f"{removed} entr{'y' if removed == 1 else 'ies'} deleted")
    return 0


async def events_replay(redis: Redis, settings: CommonSettings, args: argparse.Namespace) -> int:
    """Run a finished event again (rejected, dead-lettered or done); completed actions skip."""
    replay = dlq.replay_finished(redis, args.event_id, settings.event_ttl_s)
    if not await _replayed(redis, args.event_id, replay, "is not in the event log"):
        return 1
    print(f"event {args.event_id} queued again (its completed actions stay skipped; "
          "verified against KuFlow again)")  # fmt: skip
    return 0


async def failover_confirm(redis: Redis, settings: CommonSettings, args: argparse.Namespace) -> int:
    """Let receivers that found the Redis primary behind accept events again."""
    counted = await queue.confirm_failover(redis)
    await record(redis, "failover.confirm", [], acked=counted)
    print(
        f"confirmed: receivers accept events again (the enqueue counter is at {counted}). The "
        "events they had acknowledged and the primary lacks are not in Redis: KuFlow does not "
        "send them again; find them by their ids in the receivers' logs before the failover."
    )
    return 0


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `events list|show`, `dlq list|show|replay|purge` and `failover confirm`."""
    failover = commands.add_parser(
        "failover", help="after Redis lost acknowledged events in a failover: confirm it"
    )
    sub = failover.add_subparsers(dest="failover_command", required=True, metavar="COMMAND")
    sub.add_parser(
        "confirm", help="receivers that found the primary behind accept events again"
    ).set_defaults(handler=with_redis(failover_confirm))
    events = commands.add_parser("events", help="the event log: what happened to each event")
    sub = events.add_subparsers(dest="events_command", required=True, metavar="COMMAND")
    listing = sub.add_parser("list", help="the most recent events")
    listing.add_argument(
        "--limit", type=whole_number(1, 100_000), default=50, help="how many (default 50)"
    )
    listing.add_argument(
        "--process", metavar="PROCESS_ID", help="one process's events, in the order they run"
    )
    listing.add_argument(
        "--held", action="store_true",
        help="the processes a dead-lettered event holds (ROUTER_ORDERING_ON_FAILURE=hold)",
    )  # fmt: skip
    listing.set_defaults(handler=with_redis(events_list))
    show = sub.add_parser("show", help="one event: status, matched rules, each action's outcome")
    show.add_argument("event_id", metavar="EVENT_ID", type=event_id)
    show.set_defaults(handler=with_redis(events_show))
    replay = sub.add_parser(
        "replay",
        help="run a finished event again: rejected, dead-lettered or done "
        "(completed actions stay skipped)",
    )
    replay.add_argument("event_id", metavar="EVENT_ID", type=event_id)
    replay.set_defaults(handler=with_redis(events_replay))

    queue = commands.add_parser("dlq", help="the dead-letter queue: list, show, replay, purge")
    sub = queue.add_subparsers(dest="dlq_command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="dead-lettered events").set_defaults(handler=with_redis(dlq_list))
    show = sub.add_parser("show", help="one event's entries, with the errors")
    show.add_argument("event_id", metavar="EVENT_ID", type=event_id)
    show.set_defaults(handler=with_redis(dlq_show))
    skip = sub.add_parser(
        "skip", help="let the process a dead-lettered event holds move on without it"
    )
    skip.add_argument("event_id", metavar="EVENT_ID", type=event_id)
    skip.set_defaults(handler=with_redis(dlq_skip))
    for name, handler, help_ in (
        ("replay", dlq_replay, "run an event again (completed actions stay skipped)"),
        ("purge", dlq_purge, "delete entries"),
    ):
        parser = sub.add_parser(name, help=help_)
        parser.add_argument("event_id", nargs="?", metavar="EVENT_ID", type=event_id)
        parser.add_argument("--all", action="store_true", help="every event in the queue")
        parser.set_defaults(handler=with_redis(handler))
