"""Per event: which rules match, what enrichment they need, and each action's exact requests.

The worker and the dry run (`kuflow-router rules test`) both go through these functions, so a
dry run shows exactly what the worker would do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from handlers.clients.base import PlannedRequest
from handlers.clients.params import Params
from handlers.rules import paths
from handlers.rules.errors import ParamsError
from handlers.rules.index import Lookup
from handlers.rules.match import Verdict
from handlers.rules.model import Action, Rule, RuleSet
from handlers.rules.template import render


@dataclass(frozen=True)
class Candidate:
    """A rule whose conditions on the event itself hold; `verdict` None: enrichment decides."""

    position: int
    rule: Rule
    verdict: Verdict


@dataclass(frozen=True)
class Selection:
    """What the event alone decides: candidates now, and index tables to consult once enriched;
    `only`, when set, the rules that may match at all."""

    candidates: list[Candidate]
    lookup: Lookup
    only: frozenset[int] | None = None

    @property
    def verified(self) -> bool:
        """Whether a rule that may match must have its event verified first."""
        return any(c.rule.verified for c in self.candidates) or (
            bool(self.lookup.deferred) and self.only is None
        )


def unverified(rules: RuleSet, selection: Selection) -> Selection | None:
    """The part of `selection` that may act on an event KuFlow does not vouch for: the rules with
    `verify: skip`; None when no such rule may match."""
    skipping = frozenset(p for p, rule in enumerate(rules.rules) if not rule.verified)
    candidates = [c for c in selection.candidates if c.position in skipping]
    if not candidates and not (skipping and selection.lookup.deferred):
        return None
    return Selection(candidates, selection.lookup, skipping)


def document(
    event: Mapping[str, Any],
    process: Mapping[str, Any] | None = None,
    process_item: Mapping[str, Any] | None = None,
    ordering: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What `when` paths and templates look into: the event, what ordering says of it
    (`ordering.late`, `ordering.seq`), plus enrichment when fetched."""
    doc = dict(event)
    for key in (*paths.ENRICHMENT_ROOTS, paths.ORDERING_ROOT, paths.TIMER_ROOT):
        doc.pop(key, None)  # an event field may not pose as fetched data or as the router's
    doc[paths.ORDERING_ROOT] = {"late": False, "seq": 0, **(ordering or {})}
    if process is not None:
        doc["process"] = process
    if process_item is not None:
        doc["processItem"] = process_item
    return doc


def select(rules: RuleSet, doc: Mapping[str, Any]) -> Selection:
    """Rules not ruled out by the event alone (no enrichment is fetched here)."""
    lookup = rules.index.lookup(doc)
    found = []
    for position in sorted(lookup.direct):
        rule = rules.rules[position]
        verdict = rule.when.evaluate(doc, paths.EVENT_ROOTS)
        if verdict is not False:
            found.append(Candidate(position, rule, verdict))
    return Selection(found, lookup)


def alone(rules: RuleSet, rule: Rule) -> Selection:
    """`rule` selected as matching without looking at its `when` (a timer's run: its `when`
    matched the starting event)."""
    return Selection([Candidate(rules.rules.index(rule), rule, True)], Lookup(set(), []))


def needed(selection: Selection) -> set[str]:
    """Enrichment roots (process, processItem) to fetch before the final decision."""
    roots = {root for candidate in selection.candidates for root in candidate.rule.needs}
    return roots | selection.lookup.roots


def matched(rules: RuleSet, selection: Selection, doc: Mapping[str, Any]) -> list[Rule]:
    """The rules that match, in file order, once the needed enrichment is in `doc`."""
    positions = {c.position for c in selection.candidates if c.verdict is not False}
    positions |= selection.lookup.after_enrichment(doc)
    if selection.only is not None:
        positions &= selection.only
    return [
        rules.rules[p]
        for p in sorted(positions)
        if rules.rules[p].when.evaluate(doc, paths.MATCH_ROOTS) is True
    ]


def context(
    doc: Mapping[str, Any], rule: Rule, key: str, results: Mapping[str, Any]
) -> dict[str, Any]:
    """What an action's templates can refer to."""
    return {**doc, "results": dict(results), "rule": {"name": rule.name}, "idempotency_key": key}


def prepare(owner: str, action: Action, values: Mapping[str, Any]) -> Params:
    """Render an action's parameters and validate them for its operation; `owner` names what
    the action belongs to in messages (`rule 'notify'`, `alert 'ops'`).

    Raises:
        TemplateError: a template refers to a missing path.
        ParamsError: the rendered parameters are not valid for the operation.
    """
    where = f"{owner}, action {action.index} ({action.name})"
    params = {
        name: render(
            value,
            values,
            f"{where}, parameter '{name}'",
            encode=_encode if name in action.operation.url_params else None,
        )
        for name, value in action.params.items()
    }
    try:
        model: type[Params] = action.operation.params
        return model.model_validate(params)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'parameters'}: "
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise ParamsError(f"{where}: {problems}") from None


def plan(
    rules: RuleSet, rule: Rule, action: Action, values: Mapping[str, Any], key: str
) -> list[PlannedRequest]:
    """The requests an action sends, as the dry run shows them.

    Raises:
        TemplateError, ParamsError: as `prepare`.
    """
    params = prepare(owner(rule), action, values)
    return action.operation.requests(rules.connections[action.connection], params, key)


def owner(rule: Rule) -> str:
    """A rule as messages about its actions name it."""
    return f"rule '{rule.name}'"


def _encode(text: str) -> str:
    return quote(text, safe="")
