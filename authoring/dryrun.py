"""`kuflow-router rules test`: which rules an event matches, why not, and what each would send.

No network: `process.*` and `processItem.*` come from files the user passes, and results of
earlier actions are stand-ins — except a KuFlow item's id, which is known in advance because it
is the action's idempotency key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from common.redact import redact
from common.words import elapsed, rfc3339
from contract.events import rfc3339_time
from handlers.clients.base import Connection, PlannedRequest
from handlers.clients.errors import UnsafePathValue
from handlers.rules import evaluate, paths, verify
from handlers.rules.errors import ParamsError, TemplateError
from handlers.rules.idempotency import action_key
from handlers.rules.model import Action, Rule, RuleSet, Timer

Hints = Mapping[str, str]  # how to give what a rule needs, by root, in the caller's words
CLI_HINTS: Hints = {
    "process": "pass the process with --process P.json (GET /processes/{id} from KuFlow)",
    "processItem": "pass the item with --process-item I.json (GET /process-items/{id})",
}


@dataclass
class ActionReport:
    """What one action would send, or why it cannot."""

    name: str
    requests: list[PlannedRequest] = field(default_factory=list)
    error: str = ""
    gate: str = ""  # the limits and breaker its calls go through
    # `results.<as>` for later actions: (name, what the dry run put there, whether it is made up)
    result: tuple[str, dict[str, Any], bool] | None = None


@dataclass
class RuleReport:
    """The verdict on one rule."""

    name: str
    status: str  # "matched", "not matched", "not evaluated"
    reason: str = ""
    actions: list[ActionReport] = field(default_factory=list)
    timer: str = ""  # a matched rule with `after:`: "waits", or "fires" (its actions shown)
    waits: str = ""  # what it waits for, in words
    cancels: str = ""  # the event matches its `unless:`: which of its timers it would cancel


def _stand_in(action: Action, key: str) -> dict[str, Any]:
    if action.operation.key_is_id:
        return {"id": key}  # created with the idempotency key as its id: known in advance
    return {"id": str(uuid5(NAMESPACE_URL, f"dry-run/{key}")), "status": "Completed"}


def _actions(rules: RuleSet, rule: Rule, doc: Mapping[str, Any]) -> list[ActionReport]:
    reports = []
    results: dict[str, Any] = {}
    for action in rule.actions:
        key = action_key(str(doc.get("id", "")), rule.name, action.index)
        report = ActionReport(action.name, gate=gate_text(rules.connections[action.connection]))
        try:
            values = evaluate.context(doc, rule, key, results)
            report.requests = evaluate.plan(rules, rule, action, values, key)
        except (TemplateError, ParamsError, UnsafePathValue) as exc:
            report.error = str(exc)
            reports.append(report)
            break  # a permanent error stops the rule, as in the worker
        if action.result_as:
            results[action.result_as] = _stand_in(action, key)
            made_up = not action.operation.key_is_id
            report.result = (action.result_as, results[action.result_as], made_up)
        reports.append(report)
    return reports


def gate_text(connection: Connection) -> str:
    """The limits and breaker a connection's calls go through, in words."""
    limits = f"limits {connection.limits.describe()}" if connection.limits else "no limits"
    breaker = connection.breaker
    return f"{limits}; " + (f"breaker {breaker.describe()}" if breaker else "no breaker")


def _waits(timer: Timer) -> str:
    """What a timer waits for, in words."""
    text = f"would wait {elapsed(int(timer.after_s * 1000)).lstrip('+')}"
    if timer.unless is None:
        return text + ", then act"
    conditions = [c for c in timer.unless.children] if timer.unless.kind == "all" else []
    pattern = ", ".join(
        f"{c.path} {c.matcher.description}" for c in conditions if c.matcher is not None
    )
    same = f" about the same {', '.join(timer.same)}" if timer.same else ""
    awaited = pattern or "its unless.event"
    return f"{text} for an event with {awaited}{same}; unless it comes first, act"


def _cancels(rule: Rule, event: Mapping[str, Any]) -> str:
    """Which timers of `rule` the event would cancel, in words ("": none)."""
    timer = rule.timer
    if timer is None or timer.unless is None:
        return ""
    if timer.unless.evaluate(event, paths.EVENT_ROOTS) is not True:
        return ""
    values = [
        f"{path} = {', '.join(json.dumps(v) for v in paths.resolve(event, segments)) or 'absent'}"
        for path, segments in zip(timer.same, timer.same_segments, strict=True)
    ]
    scope = f"of events with {'; '.join(values)}" if values else "of every event"
    return (f"matches its unless: it would cancel the pending timers {scope}, started before "
            "it came and due after")  # fmt: skip


def _timer_fields(event: Mapping[str, Any], timer: Timer) -> dict[str, Any]:
    """`timer.*` as the dry run shows it: due counted from the event's KuFlow timestamp (the
    worker counts from its receipt)."""
    try:
        start_ms = int(rfc3339_time(str(event.get("timestamp"))).timestamp() * 1000)
    except ValueError:
        start_ms = 0
    due = start_ms + int(timer.after_s * 1000)
    return {"due_at": rfc3339(due), "started_by": str(event.get("id", ""))}


def dry_run(
    rules: RuleSet,
    event: Mapping[str, Any],
    process: Mapping[str, Any] | None = None,
    process_item: Mapping[str, Any] | None = None,
    late: bool = False,
    hints: Hints = CLI_HINTS,
    at_s: float | None = None,
) -> list[RuleReport]:
    """A report per rule of the file, in file order; `late`: as if KuFlow had redelivered the
    event after a newer one of its process (`ordering.late`). `at_s`: as this long after the
    event came (math.inf: when its timers fire) — a rule with `after:` then shows its actions
    if its timer is due by then, as they would be sent when it fires."""
    doc = evaluate.document(event, process, process_item, {"late": late})
    available = {
        root
        for root, value in (("process", process), ("processItem", process_item))
        if value is not None
    }
    reports = []
    for rule in rules.rules:
        verdict = rule.when.evaluate(doc, (*paths.EVENT_ROOTS, *available))
        missing = sorted(rule.needs - available)
        if verdict is False:
            failure = rule.when.first_failure(doc)
            reason = f"{failure[0]}: expected {failure[1]}, actual {failure[2]}" if failure else ""
            report = RuleReport(rule.name, "not matched", reason)
        elif missing:
            hint = "; ".join(hints[root] for root in missing)
            report = RuleReport(rule.name, "not evaluated", f"needs {', '.join(missing)}.*: {hint}")
        else:
            why = "; ".join(f"{p}: {e} (actual {a})" for p, e, a in rule.when.reasons(doc))
            report = _matched(rules, rule, doc, why, at_s)
        report.cancels = _cancels(rule, event)
        reports.append(report)
    return reports


def _matched(
    rules: RuleSet, rule: Rule, doc: dict[str, Any], why: str, at_s: float | None
) -> RuleReport:
    if rule.timer is None:
        return RuleReport(rule.name, "matched", why, actions=_actions(rules, rule, doc))
    waits = _waits(rule.timer)
    if at_s is None or at_s < rule.timer.after_s:
        return RuleReport(rule.name, "matched", why, timer="waits", waits=waits)
    fired = {**doc, paths.TIMER_ROOT: _timer_fields(doc, rule.timer)}
    actions = _actions(rules, rule, fired)
    return RuleReport(rule.name, "matched", why, actions, timer="fires", waits=waits)


def verification(
    rules: RuleSet,
    event: Mapping[str, Any],
    process: Mapping[str, Any] | None = None,
    process_item: Mapping[str, Any] | None = None,
    hints: Hints = CLI_HINTS,
) -> str | None:
    """The verification step as the worker would take it (`handlers/rules/verify.py`), or None when
    it does not apply (`verify: false`, or no kuflow connection)."""
    if not rules.verify:
        return None
    root = verify.subject(event)
    if root is None:
        return _rejected(rules, verify.UNVERIFIABLE, verify.NO_SUBJECT)
    given = {"process": process, "processItem": process_item}[root]
    read = "GET /processes/{processId}" if root == "process" else "GET /process-items/{id}"
    if given is None:
        return (
            f"verify: before acting, the worker reads the event's {root} back ({read}) and "
            f"rejects the event if KuFlow contradicts it — not evaluated: {hints[root]}"
        )
    differs = verify.disagreement(event, {root: given})
    if differs:
        return _rejected(rules, verify.UNVERIFIED, differs)
    return f"verify: the event agrees with KuFlow's {root} ({read})"


def _rejected(rules: RuleSet, kind: str, reason: str) -> str:
    skipping = ", ".join(rule.name for rule in rules.rules if not rule.verified)
    allowed = f"only {skipping} (verify: skip) may act" if skipping else "no rule would act"
    return f"verify: REJECTED ({kind}): {reason} — {allowed}"


def _result_line(name: str, shown: dict[str, Any], made_up: bool) -> str:
    if made_up:
        return (
            f"as {name}: a STAND-IN {json.dumps(shown)} — the API gives the real one; later "
            "actions show the stand-in in its place"
        )
    return f"as {name}: id {shown['id']} (the idempotency key, kept as the new object's id)"


def explained(
    rules: RuleSet,
    reports: list[RuleReport],
    event: Mapping[str, Any],
    process: Mapping[str, Any] | None = None,
    process_item: Mapping[str, Any] | None = None,
    hints: Hints = CLI_HINTS,
) -> str:
    """The dry run as `rules test` and the console's *try it* show it: the verification step,
    then each rule's report (secrets masked)."""
    step = verification(rules, event, process, process_item, hints)
    return redact("\n".join(filter(None, [step, format_reports(reports)])))


def format_reports(reports: list[RuleReport]) -> str:
    """The human-readable dry run."""
    lines = []
    for report in reports:
        head = f"rule {report.name}: {report.status.upper()}"
        lines.append(head + (f" — {report.reason}" if report.reason else ""))
        if report.timer == "waits":
            lines.append(f"  TIMER: {report.waits} (see what it sends with --fired or --at)")
        elif report.timer == "fires":
            lines.append(f"  TIMER: {report.waits}; as it FIRES, unless cancelled:")
        if report.cancels:
            lines.append(f"  UNLESS: {report.cancels}")
        for action in report.actions:
            lines.append(f"  {action.name}   ({action.gate})")
            if action.error:
                lines.append(f"    ERROR {action.error}")
            for request in action.requests:
                lines.extend("    " + line for line in request.describe().splitlines())
            if action.result:
                lines.append("    " + _result_line(*action.result))
    matched = sum(r.status == "matched" for r in reports)
    lines.append(f"{matched} of {len(reports)} rules matched")
    return "\n".join(lines)


def reports_json(reports: list[RuleReport]) -> str:
    """The dry run as JSON, for scripts and tests."""
    return json.dumps(
        [
            {
                "rule": r.name,
                "status": r.status,
                "reason": r.reason,
                "timer": r.timer or None,
                "cancels": r.cancels or None,
                "actions": [
                    {
                        "action": a.name,
                        "error": a.error,
                        "gate": a.gate,
                        "stand_in": a.result[1] if a.result and a.result[2] else None,
                        "requests": [
                            {"method": q.method, "url": q.full_url, "json": q.json, "note": q.note}
                            for q in a.requests
                        ],
                    }
                    for a in r.actions
                ],
            }
            for r in reports
        ],
        indent=2,
        ensure_ascii=False,
    )
