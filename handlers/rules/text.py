"""Text tests whose cost an event cannot blow up: wildcards in linear time, regexes bounded.

An event's values come from outside. `{wildcard: "*a*b*c*"}` compiled to a regex backtracks:
a 36 KB value froze a receiver for 24 s. Here a wildcard is a scan for its literal segments in
order — the leftmost place of each is always the right one to take, so there is nothing to
backtrack and the cost is linear in the value. A regex is the rule author's, so it can be
anything: one that nests repetitions (`(a+)+`, exponential on a short value) is refused at
load, and a regex looks at no value longer than `MAX_REGEX_CHARS`.
"""

from __future__ import annotations

import re

# The parser `re` itself uses (`re._parser` since Python 3.11, the oldest the router runs on).
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

MAX_REGEX_CHARS = 4096


def wildcard(pattern: str) -> tuple[str, ...]:
    """A wildcard's literal segments: `"LOAN*_V2"` → `("LOAN", "_V2")`."""
    return tuple(pattern.split("*"))


def wildcard_matches(segments: tuple[str, ...], text: str) -> bool:
    """Whether `text` has the shape (`*` is any text, the rest literal); linear in `text`."""
    if len(segments) == 1:
        return text == segments[0]
    first, *middle, last = segments
    if len(text) < len(first) + len(last) or not text.startswith(first):
        return False
    if not text.endswith(last):
        return False
    position, end = len(first), len(text) - len(last)
    for segment in middle:
        found = text.find(segment, position, end)
        if found < 0:
            return False
        position = found + len(segment)
    return True


_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT}


def _children(op: Any, arg: Any) -> list[Any]:
    """The sub-patterns of a group or an alternation (not of a repetition)."""
    if op is sre_constants.SUBPATTERN:
        return [arg[-1]]
    if op is sre_constants.BRANCH:
        return list(arg[1])
    return []


def _has_repeat(items: Any) -> bool:
    return any(
        op in _REPEATS or any(_has_repeat(child) for child in _children(op, arg))
        for op, arg in items
    )


def _nested(items: Any) -> bool:
    """Whether a repetition (of more than one) holds another repetition, at any depth."""
    for op, arg in items:
        if op in _REPEATS:
            _low, high, inner = arg
            if (high > 1 and _has_repeat(inner)) or _nested(inner):
                return True
        elif any(_nested(child) for child in _children(op, arg)):
            return True
    return False


def regex_problem(pattern: str) -> str | None:
    """Why a regex may take exponential time on a short value, or None.

    A repetition of something that itself repeats (`(a+)+`, `(\\w*\\s?)*`) can try every way of
    splitting a value between the two; possessive forms (`a++`, `(?>…)`) cannot, and are fine.
    """
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return None  # the caller's compile reports it
    if _nested(parsed):
        return (
            "repeats a part that repeats itself (like `(a+)+`), which can take exponential time "
            "on a short value; rewrite it without the nesting, or make the inner repetition "
            "possessive (`a++`) or atomic (`(?>a+)`)"
        )
    return None
