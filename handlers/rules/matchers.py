"""Value matchers of rules.yaml (`{prefix: …}`, `[a, b]`, `{numeric: […]}`, …), compiled at load.

A matcher tests the values found at one path (an empty list: the path is absent). Equality is
JSON's: `1` equals `1.0`, but `"10"` is not `10` and `true` is not `1`. Equality and prefix
matchers also carry index keys, so the rule index can find their rules without evaluating them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from handlers.rules import paths
from handlers.rules.source import Path, Source
from handlers.rules.text import MAX_REGEX_CHARS, regex_problem, wildcard, wildcard_matches

SCALAR = (str, int, float, bool, type(None))
MATCHERS = (
    "prefix",
    "suffix",
    "wildcard",
    "equals-ignore-case",
    "anything-but",
    "numeric",
    "exists",
    "regex",
)
COMBINATORS = ("any", "all", "not")
NUMERIC_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


Key = tuple[str, Any]
PREFIX_KEY = "p"


def value_key(value: Any) -> Key | None:
    """A hashable key under which values that `equal` considers equal meet (None: no key)."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", float(value))
    if isinstance(value, str):
        return ("s", value)
    if value is None:
        return ("z", None)
    return None


def equal(expected: Any, actual: Any) -> bool:
    """JSON equality: 1 equals 1.0, but "10" is not 10 and true is not 1."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return bool(expected == actual)
    return type(expected) is type(actual) and bool(expected == actual)


def show(value: Any) -> str:
    """A value as a rule author wrote it: strings quoted, lists in brackets."""
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Matcher:
    """A test of the values found at a path; `description` says what it expects."""

    description: str
    test_one: Callable[[Any], bool]
    presence: bool | None = None  # only for `exists`: the test is on presence alone
    keys: tuple[Key, ...] = ()  # index keys, for the matchers an index can serve (equals, prefix)

    def test(self, values: list[Any]) -> bool:
        """Whether the values found at a path (empty: absent) satisfy the matcher."""
        if self.presence is not None:
            return bool(values) == self.presence
        candidates: list[Any] = []
        for value in values:
            candidates.extend(value if isinstance(value, list) else (value,))
        return any(self.test_one(candidate) for candidate in candidates)


def compile_matcher(source: Source, raw: Any, at: Path) -> Matcher | None:
    """Compile one value matcher: a literal, a list of alternatives, or `{kind: argument}`."""
    if isinstance(raw, SCALAR):
        expected = raw
        key = value_key(raw)
        return Matcher(
            f"equals {show(raw)}", lambda v: equal(expected, v), keys=(key,) if key else ()
        )
    if isinstance(raw, list):
        if not raw:
            source.problem(at, "an empty list matches nothing; list the accepted values")
            return None
        options = [compile_matcher(source, item, (*at, i)) for i, item in enumerate(raw)]
        if any(option is None for option in options):
            return None
        tests = [option.test_one for option in options if option]
        described = " or ".join(option.description for option in options if option)
        # Indexable only if every alternative is: otherwise one could match unseen by the index.
        keys = tuple(k for o in options if o for k in o.keys)
        indexable = all(o and o.keys for o in options)
        return Matcher(
            described, lambda v: any(test(v) for test in tests), keys=keys if indexable else ()
        )
    assert isinstance(raw, dict)
    if len(raw) != 1:
        source.problem(
            at,
            "a matcher has exactly one key (e.g. `{prefix: LOAN}`); "
            "to combine matchers use `all: [...]` or `any: [...]`",
        )
        return None
    kind, argument = next(iter(raw.items()))
    if kind not in MATCHERS:
        source.problem((*at, kind), f"unknown matcher '{kind}'{paths.suggest(kind, MATCHERS)}")
        return None
    return _BUILDERS[kind](source, argument, (*at, kind))


def _string_arg(source: Source, kind: str, argument: Any, at: Path) -> str | None:
    if not isinstance(argument, str):
        source.problem(at, f"`{kind}` takes a string, e.g. `{{{kind}: ABC}}`")
        return None
    return argument


def _string_matcher(kind: str, test: Callable[[str, str], bool]) -> Callable[..., Matcher | None]:
    def build(source: Source, argument: Any, at: Path) -> Matcher | None:
        text = _string_arg(source, kind, argument, at)
        if text is None:
            return None
        keys: tuple[Key, ...] = ((PREFIX_KEY, text),) if kind == "prefix" else ()
        return Matcher(
            f"{kind} {show(text)}", lambda v: isinstance(v, str) and test(v, text), keys=keys
        )

    return build


def _wildcard(source: Source, argument: Any, at: Path) -> Matcher | None:
    text = _string_arg(source, "wildcard", argument, at)
    if text is None:
        return None
    segments = wildcard(text)  # matched by a scan, never a regex: linear in the value
    return Matcher(
        f"wildcard {show(text)}", lambda v: isinstance(v, str) and wildcard_matches(segments, v)
    )


def _regex(source: Source, argument: Any, at: Path) -> Matcher | None:
    text = _string_arg(source, "regex", argument, at)
    if text is None:
        return None
    try:
        pattern = re.compile(text)
    except re.error as exc:
        source.problem(at, f"invalid regex {show(text)}: {exc}")
        return None
    slow = regex_problem(text)
    if slow:
        source.problem(at, f"regex {show(text)} {slow}")
        return None
    return Matcher(
        f"regex {show(text)} (full match)",
        lambda v: isinstance(v, str) and len(v) <= MAX_REGEX_CHARS and bool(pattern.fullmatch(v)),
    )


def _anything_but(source: Source, argument: Any, at: Path) -> Matcher | None:
    excluded = argument if isinstance(argument, list) else [argument]
    if not excluded or not all(isinstance(item, SCALAR) for item in excluded):
        source.problem(at, "`anything-but` takes a value or a list of values")
        return None
    return Matcher(
        f"anything but {' or '.join(show(e) for e in excluded)}",
        lambda v: not any(equal(e, v) for e in excluded),
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _numeric(source: Source, argument: Any, at: Path) -> Matcher | None:
    usage = 'e.g. `{numeric: [">=", 10, "<", 20]}`'
    if not isinstance(argument, list) or len(argument) not in (2, 4):
        source.problem(at, f"`numeric` takes one or two comparisons, {usage}")
        return None
    checks: list[tuple[Callable[[float, float], bool], float]] = []
    for operator, bound in zip(argument[::2], argument[1::2], strict=True):
        if operator not in NUMERIC_OPERATORS:
            choices = NUMERIC_OPERATORS
            source.problem(
                at, f"unknown comparison {show(operator)}{paths.suggest(str(operator), choices)}"
            )
            return None
        if not _is_number(bound):
            source.problem(
                at, f"`numeric` compares with numbers; {show(bound)} is not one ({usage})"
            )
            return None
        checks.append((NUMERIC_OPERATORS[operator], bound))
    described = "numeric " + " ".join(show(a) for a in argument)
    return Matcher(described, lambda v: _is_number(v) and all(op(v, b) for op, b in checks))


def _exists(source: Source, argument: Any, at: Path) -> Matcher | None:
    if not isinstance(argument, bool):
        source.problem(at, "`exists` takes true or false")
        return None
    return Matcher(f"exists: {show(argument)}", lambda _: True, presence=argument)


def _ignore_case(source: Source, argument: Any, at: Path) -> Matcher | None:
    text = _string_arg(source, "equals-ignore-case", argument, at)
    if text is None:
        return None
    folded = text.casefold()
    return Matcher(
        f"equals-ignore-case {show(text)}",
        lambda v: isinstance(v, str) and v.casefold() == folded,
    )


_BUILDERS: dict[str, Callable[[Source, Any, Path], Matcher | None]] = {
    "prefix": _string_matcher("prefix", str.startswith),
    "suffix": _string_matcher("suffix", str.endswith),
    "wildcard": _wildcard,
    "equals-ignore-case": _ignore_case,
    "anything-but": _anything_but,
    "numeric": _numeric,
    "exists": _exists,
    "regex": _regex,
}
