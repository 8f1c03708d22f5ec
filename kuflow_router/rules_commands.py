"""`kuflow-router rules check` and `kuflow-router rules test`: the rule author's tools."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from authoring import lint, rules_history, schema
from authoring.cases import CaseResult, load_cases, run_case
from authoring.dryrun import RuleReport, dry_run, explained, reports_json
from common.redact import redact
from common.words import plural
from contract.events import Documents, NotAnEvent, parse_event
from handlers.clients.params import parse_duration
from handlers.rules.errors import RulesLoadError
from handlers.rules.loader import load_file
from handlers.rules.model import RuleSet
from handlers.rules.source import Placeholders, read_yaml
from handlers.worker.settings import load_settings
from kuflow_router.admin_commands import event_id, in_redis
from kuflow_router.arguments import whole_number


def rules_file_of(args: argparse.Namespace) -> Path:
    """`--rules FILE`, else ROUTER_RULES_FILE."""
    given: Path | None = args.rules
    return given if given is not None else load_settings().rules_file


def load_reporting(path: Path, environ: Mapping[str, str] | None = None) -> RuleSet | None:
    """The rules of `path`, or None with every problem printed."""
    try:
        return load_file(path, environ)
    except RulesLoadError as exc:
        print(exc, file=sys.stderr)
        count = len(exc.problems)
        print(f"{path}: {count} problem{'s' * (count != 1)}", file=sys.stderr)
        return None


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a rules file: exit 0, or 1 with every problem as file:line:column: message."""
    path = rules_file_of(args)
    rules = load_reporting(path)
    if rules is None:
        return 1
    found = lint.warnings(read_yaml(path.read_text(encoding="utf-8"), os.environ))
    for problem in found:
        print(f"{path}:{problem.line}:{problem.column}: warning: {problem.message}",
              file=sys.stderr)  # fmt: skip
    counts = (f"{plural(len(rules.rules), 'rule')}, "
              f"{plural(len(rules.connections), 'connection')}")  # fmt: skip
    warned = f", {plural(len(found), 'warning')}" if found else ""
    if found and args.strict:
        print(f"{path}: failed (--strict: warnings count as problems) — {counts}{warned}")
        return 1
    print(f"{path}: OK — {counts}{warned}")
    return 0


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SystemExit(f"kuflow-router: cannot read {what} {path}: {exc}") from None


def _junit(outcomes: list[CaseResult], path: Path) -> None:
    failed = sum(not o.passed for o in outcomes)
    suite = ElementTree.Element(
        "testsuite", name="rules", tests=str(len(outcomes)), failures=str(failed)
    )
    for outcome in outcomes:
        case = ElementTree.SubElement(suite, "testcase", classname="rules.cases", name=outcome.name)
        if not outcome.passed:
            failure = ElementTree.SubElement(case, "failure", message=outcome.failures[0])
            failure.text = "\n".join(outcome.failures)
    ElementTree.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def cmd_cases(args: argparse.Namespace) -> int:
    """Run a cases file against the rules: exit 0 when every case passes, 1 with the differences."""
    path = rules_file_of(args)
    # A dry run sends nothing: an unset ${NAME} shows as <NAME> (never masked), and is named.
    environ = Placeholders(os.environ)
    try:
        rules = load_file(path, environ)
        cases = load_cases(args.cases)
    except RulesLoadError as exc:
        print(exc, file=sys.stderr)
        return 1
    outcomes = [run_case(rules, case) for case in cases]
    for outcome in outcomes:
        print(f"{'PASS' if outcome.passed else 'FAIL'}  {outcome.name}")
        for failure in outcome.failures:
            print(f"      {redact(failure)}")
    passed = sum(o.passed for o in outcomes)
    print(f"{passed} of {len(outcomes)} cases passed ({args.cases} against {path})")
    if args.junit_xml:
        _junit(outcomes, args.junit_xml)
    unset_verdict(environ.filled, accepted=True)  # cases run in CI, without credentials
    return 0 if passed == len(outcomes) else 1


def unset_verdict(filled: set[str], accepted: bool) -> int:
    """Say which variables were filled in; 1 unless that was accepted (--placeholders): a file
    the running router would refuse must not pass as it is."""
    if not filled:
        return 0
    names = ", ".join(f"${{{name}}}" for name in sorted(filled))
    if accepted:
        print(f"kuflow-router: warning: {names} not set: shown as <NAME>", file=sys.stderr)
        return 0
    print(
        f"kuflow-router: {names} not set: shown as <NAME> above, but the router would refuse "
        "this file — set them (in the environment, or in .env), or pass --placeholders to "
        "accept stand-ins here",
        file=sys.stderr,
    )
    return 1


def _later(text: str) -> float:
    """Seconds from `+48h` (the plus is optional)."""
    try:
        return parse_duration(text.removeprefix("+"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_test(args: argparse.Namespace) -> int:
    """Dry run: which rules match an event, why not, and the exact requests; no network."""
    if args.cases:
        return cmd_cases(args)
    if (args.event is None) == (args.event_id is None):
        print("kuflow-router: rules test needs EVENT.json or --event-id ID (or --cases FILE)",
              file=sys.stderr)  # fmt: skip
        return 2
    # A dry run sends nothing: an unset ${NAME} shows as <NAME> instead of stopping it.
    environ = Placeholders(os.environ)
    rules = load_reporting(rules_file_of(args), environ)
    if rules is None:
        return 1
    documents = _documents(args)
    if documents is None:
        return 1
    event, process, item = documents
    for line in _mismatches(event, process, item):
        print(f"kuflow-router: warning: {line}", file=sys.stderr)
    at_s = math.inf if args.fired else args.at
    reports = dry_run(rules, event, process, item, late=args.late, at_s=at_s)
    if args.json:
        print(redact(reports_json(reports)))
    else:
        print(explained(rules, reports, event, process, item))
        if any(r.cancels for r in reports) and not any(r.status == "matched" for r in reports):
            print("kuflow-router: no rule acts on this event; it would cancel timers (UNLESS "
                  "above)", file=sys.stderr)  # fmt: skip
        elif not any(r.status == "matched" for r in reports):
            print("kuflow-router: NO RULE MATCHED this event: nothing would be done (each "
                  "rule's reason is above)", file=sys.stderr)  # fmt: skip
    verdict = _verdict(reports, args.expect_match)
    return max(verdict, unset_verdict(environ.filled, args.placeholders))


def _documents(args: argparse.Namespace) -> Documents | None:
    """The event, process and process item: from files, or as the event log recorded them."""
    if args.event_id is not None:
        wanted = event_id(args.event_id)
        found = in_redis(lambda redis: rules_history.recorded(redis, wanted))
        if isinstance(found, str):
            print(f"kuflow-router: {found}", file=sys.stderr)
            return None
        return found
    try:
        parse_event(args.event.read_bytes())
    except NotAnEvent as exc:
        problems = "; ".join(exc.lines)
        print(f"{args.event}: not a valid KuFlow event: {problems}", file=sys.stderr)
        return None
    except OSError as exc:
        print(f"kuflow-router: cannot read {args.event}: {exc}", file=sys.stderr)
        return None
    event = _read_json(args.event, "the event")
    process = _read_json(args.process, "the process") if args.process else None
    item = _read_json(args.process_item, "the process item") if args.process_item else None
    return event, process, item


def _mismatches(
    event: dict[str, Any], process: dict[str, Any] | None, item: dict[str, Any] | None
) -> list[str]:
    """Files that are not about the event's own process or item: a dry run of the wrong pair."""
    raw = event.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    found = []
    for given, field, what in (
        (process, "processId", "process"),
        (item, "processItemId", "process item"),
    ):
        wanted = data.get(field)
        if given is not None and wanted and given.get("id") != wanted:
            found.append(
                f"the {what} given has id {given.get('id')}, the event's {field} is {wanted}"
            )
    return found


def _verdict(reports: list[RuleReport], expect_match: bool) -> int:
    """1 when a matched rule's action could not be planned, or nothing matched but should have."""
    failed = [f"{r.name}: {a.name}: {a.error}" for r in reports for a in r.actions if a.error]
    for line in failed:
        print(f"kuflow-router: {redact(line)}", file=sys.stderr)
    if expect_match and not any(r.status == "matched" for r in reports):
        print("kuflow-router: no rule matched (--expect-match)", file=sys.stderr)
        return 1
    return 1 if failed else 0


def cmd_diff(args: argparse.Namespace) -> int:
    """Which recent events the rules in NEW.yaml would treat differently from the ones in use."""
    environ = Placeholders(os.environ)  # one for both files: its `filled` names every stand-in
    new = load_reporting(args.new, environ)
    if new is None:
        return 1  # its problems are listed; nothing was evaluated
    current = load_reporting(rules_file_of(args), environ)
    if current is None:
        return 1
    since_ms = 0
    if args.since:
        try:
            since_ms = int((time.time() - parse_duration(args.since)) * 1000)
        except ValueError as exc:
            print(f"kuflow-router: --since: {exc}", file=sys.stderr)
            return 2
    recent, changed = in_redis(
        lambda redis: rules_history.diff(redis, current, new, args.last, since_ms)
    )
    for name, pending, why in in_redis(lambda r: rules_history.orphaned(r, current, new)):
        print(f"rule {name} ({why}): its {plural(pending, 'pending timer')} would be "
              "cancelled as each falls due, its actions not run")  # fmt: skip
    if not recent:
        print("no recent events in the event log to compare (nothing received, or all expired)")
    types = {id_: documents[0].get("type") for id_, documents in recent}
    for changed_id, lines in changed:
        print(f"event {changed_id} ({types[changed_id]}):")
        print("\n".join(f"  {line}" for line in lines))
    if recent:
        print(f"{len(changed)} of {len(recent)} recent events would be handled differently")
    return unset_verdict(environ.filled, args.placeholders)


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema of rules.yaml (what `rules.schema.json` holds)."""
    print(schema.text(), end="")
    return 0


PLACEHOLDERS_HELP = "an unset ${NAME} reads as <NAME> without failing (exit 0)"


def add_parser(commands: Any) -> Any:
    """Register `rules check`, `test`, `diff` and `schema` under the main parser's sub-commands;
    the `rules` sub-commands, for others to add to."""
    rules = commands.add_parser("rules", help="check rules.yaml, or dry-run it on an event")
    sub = rules.add_subparsers(dest="rules_command", required=True, metavar="COMMAND")
    check = sub.add_parser("check", help="validate a rules file (default: $ROUTER_RULES_FILE)")
    check.add_argument("rules", nargs="?", type=Path, metavar="FILE")
    check.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 on a warning too (a type, field or value KuFlow does not send)",
    )
    check.set_defaults(handler=cmd_check)
    test = sub.add_parser(
        "test", help="which rules an event matches and the requests they would send (no network)"
    )
    test.add_argument("event", type=Path, metavar="EVENT.json", nargs="?")
    test.add_argument("--rules", type=Path, metavar="FILE", help="default: $ROUTER_RULES_FILE")
    test.add_argument("--process", type=Path, metavar="P.json", help="the process, for process.*")
    test.add_argument(
        "--process-item", type=Path, metavar="I.json", help="the process item, for processItem.*"
    )
    test.add_argument("--json", action="store_true", help="print the report as JSON")
    test.add_argument(
        "--cases",
        type=Path,
        metavar="CASES.yaml",
        help="run the rule tests of a cases file instead (exit 1 when one fails)",
    )
    test.add_argument("--junit-xml", type=Path, metavar="OUT", help="with --cases: a JUnit report")
    test.add_argument(
        "--event-id",
        metavar="ID",
        help="take the event, and what the worker read from KuFlow for it, from the event log",
    )
    test.add_argument(
        "--expect-match", action="store_true", help="exit 1 when no rule matches the event"
    )
    test.add_argument(
        "--late",
        action="store_true",
        help="as if KuFlow redelivered the event after a newer one of its process "
        "(ordering.late: true)",
    )
    when = test.add_mutually_exclusive_group()
    when.add_argument(
        "--at",
        type=_later,
        metavar="+DURATION",
        help="as this long after the event came (+48h): a rule with after: whose timer is due "
        "by then shows what it would send",
    )
    when.add_argument(
        "--fired", action="store_true", help="as when every timer the event starts fires"
    )
    test.add_argument("--placeholders", action="store_true", help=PLACEHOLDERS_HELP)
    test.set_defaults(handler=cmd_test)
    described = "which recent events NEW.yaml would treat differently (no network, no writes)"
    diff = sub.add_parser("diff", help=described, description=described)
    diff.add_argument("new", type=Path, metavar="NEW.yaml")
    diff.add_argument("--rules", type=Path, metavar="FILE", help="the rules in use (default: "
                      "$ROUTER_RULES_FILE)")  # fmt: skip
    recent = diff.add_mutually_exclusive_group()
    recent.add_argument("--last", type=whole_number(1, rules_history.MAX_EVENTS), default=100,
                        metavar="N", help="the N most recent events (default 100)")  # fmt: skip
    recent.add_argument("--since", metavar="DURATION", help="the events of the last 1h, 30m …")
    diff.add_argument("--placeholders", action="store_true", help=PLACEHOLDERS_HELP)
    diff.set_defaults(handler=cmd_diff)
    described = "print the JSON Schema of rules.yaml, for editors (rules.schema.json)"
    sub.add_parser("schema", help=described, description=described).set_defaults(handler=cmd_schema)
    return sub
