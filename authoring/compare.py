"""How two rule sets treat one event differently: the rules each matches and the requests each
plans (dry runs: no network). For `rules diff` and the console's *what would change*."""

from __future__ import annotations

import json

from authoring.dryrun import dry_run
from common.redact import redact
from contract.events import Documents
from handlers.clients.base import PlannedRequest
from handlers.rules.model import RuleSet


def _line(request: PlannedRequest) -> str:
    body = "" if request.json is None else " " + json.dumps(request.json, sort_keys=True)
    return f"{request.method} {request.full_url}{body}"


def _plan(rules: RuleSet, documents: Documents) -> dict[str, list[str]]:
    """What the rules do with one event: for each matched rule, its requests as lines."""
    event, process, item = documents
    planned: dict[str, list[str]] = {}
    for report in dry_run(rules, event, process, item):
        if report.status != "matched":
            continue
        lines = []
        for action in report.actions:
            lines += [_line(request) for request in action.requests]
            if action.error:
                lines.append(f"ERROR {action.error}")
        planned[report.name] = lines
    return planned


def differences(current: RuleSet, new: RuleSet, documents: Documents) -> list[str]:
    """How `new` would treat the event differently from `current` (empty: the same)."""
    before, after = _plan(current, documents), _plan(new, documents)
    said: list[str] = []
    if sorted(before) != sorted(after):
        said.append(f"matched: now {sorted(before)}, with the change {sorted(after)}")
    for rule in sorted(set(before) & set(after)):
        gone = [line for line in before[rule] if line not in after[rule]]
        added = [line for line in after[rule] if line not in before[rule]]
        said += [f"{rule}: - {line}" for line in gone] + [f"{rule}: + {line}" for line in added]
    return said


def changed_events(
    current: RuleSet, new: RuleSet, recent: list[tuple[str, Documents]]
) -> list[tuple[str, list[str]]]:
    """The events of `recent` that `new` would treat differently from `current`, each with how
    (secrets masked): `rules diff` and the console's *what would change*."""
    found = []
    for event_id, documents in recent:
        said = differences(current, new, documents)
        if said:
            found.append((event_id, [redact(line) for line in said]))
    return found
