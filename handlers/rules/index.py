"""An index from event values to the rules that could match them.

Each rule is filed under one of its exact-value conditions on the event itself (`type`,
`data.*`, …) — the one shared by the fewest rules, so the index stays selective whatever the
rules look like. An event then looks up only the rules filed under its own values, plus the
rules with no exact condition, and the cost per event stays nearly flat as rules are added.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from handlers.rules import paths
from handlers.rules.match import Node

Key = tuple[str, Any]


def value_key(value: Any) -> Key | None:
    """A hashable key under which equal JSON values (as `match.equal` sees them) meet."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", float(value))
    if isinstance(value, str):
        return ("s", value)
    if value is None:
        return ("z", None)
    return None


def exact_conditions(when: Node) -> list[Node]:
    """Top-level conditions on event fields (not enrichment) that test equality only."""
    children = when.children if when.kind == "all" else ()
    return [
        child
        for child in children
        if child.kind == "path"
        and child.matcher is not None
        and child.matcher.exact
        and str(child.segments[0]) in paths.EVENT_ROOTS
    ]


def _values(condition: Node) -> tuple[Any, ...]:
    return condition.matcher.exact if condition.matcher else ()


class RuleIndex:
    """Candidate rules for an event, in file order."""

    def __init__(self, patterns: Sequence[Node]) -> None:
        conditions = [exact_conditions(when) for when in patterns]
        counts: Counter[tuple[str, Key | None]] = Counter(
            (c.path, value_key(v)) for found in conditions for c in found for v in _values(c)
        )

        def sharing(condition: Node) -> int:
            return sum(counts[(condition.path, value_key(v))] for v in _values(condition))

        self._always: list[int] = []
        self._tables: dict[str, tuple[paths.Segments, dict[Key, list[int]]]] = {}
        for position, found in enumerate(conditions):
            if not found:
                self._always.append(position)
                continue
            best = min(found, key=sharing)
            _, table = self._tables.setdefault(best.path, (best.segments, defaultdict(list)))
            for value in _values(best):
                key = value_key(value)
                if key is not None:
                    table[key].append(position)

    def candidates(self, document: Any) -> list[int]:
        """Positions of the rules that may match `document`, ascending."""
        found = set(self._always)
        for segments, table in self._tables.values():
            for value in paths.resolve(document, segments):
                for item in value if isinstance(value, list) else (value,):
                    key = value_key(item)
                    if key is not None and key in table:
                        found.update(table[key])
        return sorted(found)
