"""Rule tests that live beside the rules: `kuflow-router rules test --cases cases.yaml`.

A case names an event (a file, or the event inline), optional process / process-item JSON, and
what must happen: the rules matched (exactly, or at least), rules not matched, the requests
planned — in order, each a subset of a planned request (method, the URL path or its end, body,
query) — or a template error; and of rules with `after:`, the timers the event starts or
cancels, and (`at: 48h`, `at: fired`) those that have fired. Everything runs through the dry
run: no network. A cases file with its own mistakes gets `file:line:column` problems, as
rules.yaml does.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from authoring.dryrun import RuleReport, dry_run
from handlers.clients.base import PlannedRequest
from handlers.clients.params import Duration
from handlers.rules.errors import Problem, RulesLoadError
from handlers.rules.model import RuleSet
from handlers.rules.source import Source, read_yaml, validate


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExpectedRequest(_Strict):
    """A request the case expects among the planned ones."""

    method: str | None = None
    path: str | None = None  # the URL's path, or its end
    body: Any = None  # a subset of the JSON body
    query: dict[str, str] | None = None  # a subset of the query parameters


class Expect(_Strict):
    """What must happen."""

    matched: list[str] | None = None  # exactly these rules
    matched_at_least: list[str] | None = None
    not_matched: list[str] = []
    requests: list[ExpectedRequest] = []  # in order, a subsequence of the planned requests
    error: str | None = None  # a template or parameter error whose text contains this
    starts_timer: list[str] = []  # rules with `after:` whose timer the event starts
    fires: list[str] = []  # … whose timer has fired by the case's `at:` (its requests planned)
    cancels: list[str] = []  # rules whose pending timers the event cancels (`unless:`)


class CaseModel(_Strict):
    name: str = Field(min_length=1)
    event: str | dict[str, Any]
    process: str | dict[str, Any] | None = None
    process_item: str | dict[str, Any] | None = None
    at: Duration | Literal["fired"] | None = None  # as this long after the event came
    expect: Expect


class CasesFile(_Strict):
    cases: list[dict[str, Any]] = Field(min_length=1)


@dataclass
class Case:
    """A case ready to run: its documents read."""

    name: str
    event: dict[str, Any]
    process: dict[str, Any] | None
    process_item: dict[str, Any] | None
    expect: Expect
    at_s: float | None = None  # as this long after the event came (math.inf: timers fired)


@dataclass
class CaseResult:
    """A case's result: the differences between what it expects and what the dry run says."""

    name: str
    failures: list[str] = field(default_factory=list)
    reports: list[RuleReport] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def _document(source: Source, value: Any, at: tuple[str | int, ...], base: FilePath) -> Any:
    if value is None or isinstance(value, dict):
        return value
    path = base / value
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        source.problem(at, f"cannot read {path}: {exc}")
        return None


def load_cases(path: FilePath) -> list[Case]:
    """Read a cases file; event files are relative to it.

    Raises:
        RulesLoadError: with every problem, at its file:line:column.
    """
    filename = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesLoadError(filename, [Problem(1, 1, f"cannot read the file: {exc}")]) from None
    source = read_yaml(text, {})
    top = validate(source, CasesFile, source.data, ()) if source.data is not None else None
    cases: list[Case] = []
    for index, raw in enumerate(top.cases if top else []):
        at = ("cases", index)
        model = validate(source, CaseModel, raw, at)
        if model is None:
            continue
        event = _document(source, model.event, (*at, "event"), path.parent)
        process = _document(source, model.process, (*at, "process"), path.parent)
        item = _document(source, model.process_item, (*at, "process_item"), path.parent)
        at_s = math.inf if model.at == "fired" else model.at
        if isinstance(event, dict):
            cases.append(Case(model.name, event, process, item, model.expect, at_s))
    if source.problems:
        raise RulesLoadError(filename, source.problems)
    return cases


def _subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and _subset(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(_subset(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return bool(expected == actual)


def _fits(expected: ExpectedRequest, request: PlannedRequest) -> bool:
    return (
        (expected.method is None or expected.method.upper() == request.method)
        and (expected.path is None or urlsplit(request.url).path.endswith(expected.path))
        and (expected.body is None or _subset(expected.body, request.json))
        and (expected.query is None or _subset(expected.query, dict(request.query)))
    )


def _shown(request: ExpectedRequest) -> str:
    return json.dumps(request.model_dump(exclude_none=True), ensure_ascii=False)


def _matches(expect: Expect, reports: list[RuleReport]) -> list[str]:
    failures = []
    matched = [r.name for r in reports if r.status == "matched"]
    unevaluated = {r.name: r.reason for r in reports if r.status == "not evaluated"}
    if expect.matched is not None and sorted(expect.matched) != sorted(matched):
        failures.append(f"matched: expected {expect.matched}, actual {matched}")
    failures += [f"matched_at_least: {name} did not match"
                 for name in expect.matched_at_least or [] if name not in matched]  # fmt: skip
    failures += [f"{name} was not evaluated: {unevaluated[name]}"
                 for name in sorted({*(expect.matched or []), *(expect.matched_at_least or [])})
                 if name in unevaluated]  # fmt: skip
    failures += [f"not_matched: {name} matched" for name in expect.not_matched if name in matched]
    return failures


def _requests(expect: Expect, reports: list[RuleReport]) -> list[str]:
    planned = [q for r in reports for a in r.actions for q in a.requests]
    position = 0
    for wanted in expect.requests:
        found = next((i for i in range(position, len(planned)) if _fits(wanted, planned[i])), None)
        if found is None:
            sent = "; ".join(f"{q.method} {q.full_url}" for q in planned) or "none"
            return [f"requests: no planned request {_shown(wanted)} after the ones matched "
                    f"before it (planned: {sent})"]  # fmt: skip
        position = found + 1
    return []


def _errors(expect: Expect, reports: list[RuleReport]) -> list[str]:
    errors = [a.error for r in reports for a in r.actions if a.error]
    if expect.error is not None and not any(expect.error in e for e in errors):
        return [f"error: expected one containing {expect.error!r}, actual {errors or 'none'}"]
    if expect.error is None and errors:
        return [f"unexpected error: {errors[0]}"]
    return []


def _timers(expect: Expect, reports: list[RuleReport]) -> list[str]:
    waiting = {r.name for r in reports if r.timer == "waits"}
    fired = {r.name for r in reports if r.timer == "fires"}
    cancelling = {r.name for r in reports if r.cancels}
    failures = [f"starts_timer: {name} starts no timer"
                for name in expect.starts_timer if name not in waiting | fired]  # fmt: skip
    for name in expect.fires:
        if name in waiting:
            failures.append(f"fires: {name}'s timer is not due yet: give the case `at: fired` "
                            "or a duration")  # fmt: skip
        elif name not in fired:
            failures.append(f"fires: {name} starts no timer")
    failures += [f"cancels: {name}'s unless: does not match"
                 for name in expect.cancels if name not in cancelling]  # fmt: skip
    return failures


def run_case(rules: RuleSet, case: Case) -> CaseResult:
    """Dry-run one case and list what differs from its expectations."""
    reports = dry_run(rules, case.event, case.process, case.process_item, at_s=case.at_s)
    failures = [
        *_matches(case.expect, reports),
        *_requests(case.expect, reports),
        *_errors(case.expect, reports),
        *_timers(case.expect, reports),
    ]
    return CaseResult(case.name, failures, reports)
