"""Patterns of a rule's `when` (paths and combinators), compiled once at load, evaluated per event.

Evaluation is three-valued: a condition on `process.*` or `processItem.*` is *unknown* until
that object has been fetched, so the cheap conditions can rule an event out before the worker
pays for a KuFlow call. AND is false if any part is false, OR is true if any part is true;
otherwise an unknown part makes the whole unknown.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from handlers.rules import paths
from handlers.rules.matchers import COMBINATORS, Matcher, compile_matcher, show
from handlers.rules.source import Path, Source

Verdict = bool | None  # None: not decidable yet (needs enrichment)


@dataclass(frozen=True)
class Node:
    """A compiled pattern: a condition on one path, or a combinator of patterns."""

    kind: str  # "path", "all", "any", "not"
    path: str = ""
    segments: paths.Segments = ()
    matcher: Matcher | None = None
    children: tuple[Node, ...] = ()
    roots: frozenset[str] = field(default_factory=frozenset)  # roots referenced below

    def evaluate(self, document: Any, available: Collection[str]) -> Verdict:
        """True, False, or None when a needed enrichment root is not in `available`."""
        if self.kind == "path":
            root = str(self.segments[0])
            if root in paths.ENRICHMENT_ROOTS and root not in available:
                return None
            assert self.matcher is not None
            return self.matcher.test(paths.resolve(document, self.segments))
        if self.kind == "not":
            inner = self.children[0].evaluate(document, available)
            return None if inner is None else not inner
        unknown = False
        decisive = self.kind == "any"  # the value that ends the loop early
        for child in self.children:
            verdict = child.evaluate(document, available)
            if verdict is decisive:
                return decisive
            unknown = unknown or verdict is None
        return None if unknown else not decisive

    def reasons(self, document: Any) -> list[tuple[str, str, str]]:
        """Why a matching pattern matches: (path, expected, actual) of each condition that holds
        and counts — every one of `all`, the first that holds of `any`; a `not` says its inner
        pattern did not match."""
        if self.kind == "path":
            assert self.matcher is not None
            values = paths.resolve(document, self.segments)
            actual = "absent" if not values else ", ".join(show(v) for v in values)
            return [(self.path, self.matcher.description, actual)]
        if self.kind == "not":
            return [("not", "the inner pattern not to match", "it did not")]
        holding = [c for c in self.children if c.evaluate(document, paths.MATCH_ROOTS) is True]
        if self.kind == "any":
            holding = holding[:1]
        return [reason for child in holding for reason in child.reasons(document)]

    def first_failure(self, document: Any) -> tuple[str, str, str] | None:
        """(path, expected, actual) of the first condition that fails, or None if it matches."""
        if self.evaluate(document, paths.MATCH_ROOTS):
            return None
        if self.kind == "path":
            assert self.matcher is not None
            values = paths.resolve(document, self.segments)
            actual = "absent" if not values else ", ".join(show(v) for v in values)
            return self.path, self.matcher.description, actual
        if self.kind == "all":
            for child in self.children:
                failure = child.first_failure(document)
                if failure:
                    return failure
        if self.kind == "not":
            return "not", "the inner pattern not to match", "it matched"
        reasons = "; ".join(
            f"{f[0]}: expected {f[1]}, actual {f[2]}"
            for f in (child.first_failure(document) for child in self.children)
            if f
        )
        return "any", f"one of {len(self.children)} alternatives to match", f"none did ({reasons})"


# -- compiling --------------------------------------------------------------------------------


def compile_when(source: Source, raw: Any, at: Path) -> Node | None:
    """Compile a `when` mapping; problems are recorded on `source`, None returned on any."""
    before = len(source.problems)
    if not isinstance(raw, dict):
        source.problem(
            at, "`when` must be a mapping of paths to matchers, e.g. `type: PROCESS.CREATED`"
        )
        return None
    node = _pattern(source, raw, at)
    return node if len(source.problems) == before else None


def _pattern(source: Source, raw: dict[str, Any], at: Path) -> Node:
    children: list[Node] = []
    for key, value in raw.items():
        here = (*at, key)
        if key in COMBINATORS:
            children.append(_combinator(source, key, value, here))
            continue
        try:
            segments = paths.parse(key)
        except ValueError as exc:
            source.problem(here, str(exc))
            continue
        root = str(segments[0])
        if root not in paths.MATCH_ROOTS:
            choices = (*paths.MATCH_ROOTS, *COMBINATORS)
            source.problem(here, f"unknown path root '{root}'{paths.suggest(root, choices)}")
            continue
        matcher = compile_matcher(source, value, here)
        if matcher is not None:
            children.append(Node("path", key, segments, matcher, roots=frozenset({root})))
    return _combine("all", children)


def _combine(kind: str, children: list[Node]) -> Node:
    roots = frozenset().union(*(child.roots for child in children))
    return Node(kind, children=tuple(children), roots=roots)


def _combinator(source: Source, key: str, value: Any, at: Path) -> Node:
    if key == "not":
        if not isinstance(value, dict):
            source.problem(at, "`not` takes one pattern (a mapping of paths to matchers)")
            return _combine("all", [])
        return _combine("not", [_pattern(source, value, at)])
    if not isinstance(value, list) or not value:
        source.problem(at, f"`{key}` takes a non-empty list of patterns")
        return _combine(key, [])
    children = []
    for index, item in enumerate(value):
        if isinstance(item, dict):
            children.append(_pattern(source, item, (*at, index)))
        else:
            source.problem((*at, index), f"each item of `{key}` is a pattern (a mapping)")
    return _combine(key, children)
