"""An index from event values to the rules that could match them.

Each rule is filed under its most selective indexable condition (an equality or a prefix, the
one shared by the fewest rules) on the event itself — `type`, `data.*` — and, within that, under
its most selective one on fetched data (`process.*`, `processItem.*`), if it has one. An event
first looks up the rules filed under its own values; the second level is looked up once the
enrichment it needs has been fetched. Rules with no indexable condition are always candidates.
So the cost per event stays nearly flat as rules are added, and KuFlow is asked for a process
only when some rule still in the running depends on it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from handlers.rules import paths
from handlers.rules.match import Node
from handlers.rules.matchers import PREFIX_KEY, Key, value_key


@dataclass
class _Table:
    """Rules filed under the values of one path."""

    segments: paths.Segments
    entries: dict[Key, list[Any]] = field(default_factory=dict)
    prefixes: bool = False  # some keys are prefixes: probe every prefix of a string value

    def lookup(self, document: Any) -> list[Any]:
        found: list[Any] = []
        for value in paths.resolve(document, self.segments):
            for item in value if isinstance(value, list) else (value,):
                for key in self._probes(item):
                    found.extend(self.entries.get(key, ()))
        return found

    def _probes(self, item: Any) -> Iterable[Key]:
        key = value_key(item)
        if key is not None:
            yield key
        if self.prefixes and isinstance(item, str):
            for end in range(len(item) + 1):
                yield (PREFIX_KEY, item[:end])


@dataclass
class _Bucket:
    """Rules sharing a first-level key: those filed no further, and those filed by fetched data."""

    direct: list[int] = field(default_factory=list)
    deferred: dict[str, _Table] = field(default_factory=dict)


@dataclass
class Lookup:
    """The first level's answer: candidate rules now, and tables to consult after enrichment."""

    direct: set[int]
    deferred: list[_Table]

    @property
    def roots(self) -> set[str]:
        """Enrichment roots the deferred tables need."""
        return {str(table.segments[0]) for table in self.deferred}

    def after_enrichment(self, document: Any) -> set[int]:
        """Rules of the deferred tables that the enriched document may match."""
        return {position for table in self.deferred for position in table.lookup(document)}


def indexable(when: Node) -> list[Node]:
    """Top-level conditions an index can serve (children of the implicit AND)."""
    children = when.children if when.kind == "all" else ()
    return [c for c in children if c.kind == "path" and c.matcher is not None and c.matcher.keys]


def _keys(condition: Node) -> tuple[Key, ...]:
    return condition.matcher.keys if condition.matcher else ()


def _file(tables: dict[str, _Table], condition: Node, item: Any) -> None:
    table = tables.setdefault(condition.path, _Table(condition.segments))
    for key in _keys(condition):
        table.entries.setdefault(key, []).append(item)
        table.prefixes |= key[0] == PREFIX_KEY


class RuleIndex:
    """Candidate rules for an event, looked up in two steps."""

    def __init__(self, patterns: Sequence[Node]) -> None:
        conditions = [indexable(when) for when in patterns]
        counts = Counter((c.path, k) for found in conditions for c in found for k in _keys(c))

        def best(found: list[Node]) -> Node | None:
            return min(
                found, key=lambda c: sum(counts[(c.path, k)] for k in _keys(c)), default=None
            )

        self._tables: dict[str, _Table] = {}
        self._always = _Bucket()
        buckets: dict[tuple[str, tuple[Key, ...]], _Bucket] = {}
        for position, found in enumerate(conditions):
            first = best([c for c in found if str(c.segments[0]) in paths.EVENT_ROOTS])
            second = best([c for c in found if str(c.segments[0]) in paths.ENRICHMENT_ROOTS])
            bucket = self._always
            if first is not None:
                # Rules whose first-level condition is the same share one bucket.
                token = (first.path, _keys(first))
                if token not in buckets:
                    buckets[token] = _Bucket()
                    _file(self._tables, first, buckets[token])
                bucket = buckets[token]
            if second is None:
                bucket.direct.append(position)
            else:
                _file(bucket.deferred, second, position)

    def lookup(self, document: Any) -> Lookup:
        """Rules the event's own fields leave in the running."""
        buckets = [self._always]
        for table in self._tables.values():
            buckets.extend(table.lookup(document))
        direct: set[int] = set()
        deferred: list[_Table] = []
        seen: set[int] = set()
        for bucket in buckets:
            if id(bucket) in seen:
                continue
            seen.add(id(bucket))
            direct.update(bucket.direct)
            deferred.extend(bucket.deferred.values())
        return Lookup(direct, deferred)
