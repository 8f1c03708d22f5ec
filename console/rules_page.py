"""The Rules page's two parts: where each loaded rule stands in the file, and *try it* — the dry
run of `kuflow-router rules test` on a pasted event, with no network call."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from authoring.compare import changed_events
from authoring.dryrun import Hints, RuleReport, dry_run, explained
from common.redact import redact
from contract.events import Documents, NotAnEvent, parse_event
from handlers.rules.errors import RulesLoadError
from handlers.rules.loader import load_text, withheld
from handlers.rules.model import RuleSet
from handlers.rules.reload import LiveRules
from handlers.rules.source import Placeholders, read_yaml

# What the page asks for, in its own words: it has boxes, not a command's flags.
PAGE_HINTS: Hints = {
    "process": "paste the process (GET /processes/{id} from KuFlow) into the Process box",
    "processItem": "paste the item (GET /process-items/{id}) into the Process item box",
}


@dataclass(frozen=True)
class RuleLine:
    """A loaded rule and the line of the file where it starts."""

    name: str
    description: str
    line: int
    actions: list[str]
    source: str  # the rule as written, up to the next rule (secrets masked)
    end: int  # its last line


def rule_lines(live: LiveRules) -> list[RuleLine]:
    """The loaded rules with their lines in the file as it is now (1 when it moved on)."""
    try:
        text = live.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    source = read_yaml(text, {}) if text else None
    lines = text.splitlines()
    starts = [
        source.position(("rules", p))[0] if source else 1 for p in range(len(live.current.rules))
    ]
    found = []
    for position, rule in enumerate(live.current.rules):
        start = starts[position]
        end = starts[position + 1] - 1 if position + 1 < len(starts) else len(lines)
        written = redact("\n".join(lines[start - 1 : end]).rstrip()) if source else ""
        actions = [a.name for a in rule.actions]
        last = start + max(0, written.count("\n"))
        found.append(RuleLine(rule.name, rule.description, start, actions, written, last))
    return found


@dataclass
class Tried:
    """What *try it* shows: the dry run's text and verdicts, or what is wrong with the input."""

    errors: list[str] = field(default_factory=list)
    reports: list[RuleReport] = field(default_factory=list)
    text: str = ""


def _json(text: str, what: str, errors: list[str]) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        errors.append(f"The {what} is not JSON: {exc}")
        return None


def try_rules(rules: RuleSet, given: dict[str, str]) -> Tried:
    """Dry-run the pasted event (and process, process item) against `rules`."""
    tried = Tried()
    event = _json(given["event"], "event", tried.errors)
    process = _json(given["process"], "process", tried.errors)
    item = _json(given["process_item"], "process item", tried.errors)
    if event is None and not tried.errors:
        tried.errors.append("Paste an event (the JSON KuFlow posts), or pick a recent one.")
    if event is not None:
        try:
            parse_event(json.dumps(event).encode())
        except NotAnEvent as exc:
            tried.errors += [redact(line) for line in exc.lines]
    if tried.errors:
        return tried
    tried.reports = dry_run(rules, event, process, item, hints=PAGE_HINTS)
    tried.text = explained(rules, tried.reports, event, process, item, hints=PAGE_HINTS)
    return tried


@dataclass
class Changed:
    """What *what would change* shows: the proposed file's problems, or the events it changes."""

    problems: list[str] = field(default_factory=list)
    events: list[tuple[str, list[str]]] = field(default_factory=list)  # (event id, differences)
    compared: int = 0


def shown_environ(live: LiveRules) -> Placeholders:
    """The environment a pasted file is read with: the values the live file shows anyway (its
    connections' addresses), and `<VAR>` for every other `${VAR}` — never a secret's value,
    nor any variable the live file does not show (the console's process has them all)."""
    environ = withheld(os.environ)
    with contextlib.suppress(OSError, UnicodeDecodeError):
        read_yaml(live.path.read_text(encoding="utf-8"), environ)
    return Placeholders(environ.shown)


def what_would_change(
    current: RuleSet, text: str, recent: list[tuple[str, Documents]], environ: Placeholders
) -> Changed:
    """The recent events that the rules in `text`, read with `environ`, would treat differently
    from `current`."""
    try:
        proposed = load_text(text, "proposed rules", environ)
    except RulesLoadError as exc:
        return Changed(problems=[redact(p.format(exc.filename)) for p in exc.problems])
    return Changed(events=changed_events(current, proposed, recent), compared=len(recent))
