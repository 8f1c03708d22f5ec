"""Text tests whose cost an event cannot blow up: wildcards in linear time, regexes bounded.

An event's values come from outside. `{wildcard: "*a*b*c*"}` compiled to a regex backtracks:
a 36 KB value froze a receiver for 24 s. Here a wildcard is a scan for its literal segments in
order — the leftmost place of each is always the right one to take, so there is nothing to
backtrack and the cost is linear in the value. A regex is the rule author's, so it can be
anything: one that nests repetitions (`(a+)+`) or repeats alternatives that can start alike
(`(a|aa)*`, `(\\d|\\d\\d)*`) — both exponential on a short value — is refused at load, and a regex
looks at no value longer than `MAX_REGEX_CHARS`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

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
    """Whether `items` repeats a part a varying number of times, more than once (`{2}` and `?`
    make no choice a repetition around them multiplies; `_ambiguous` judges an optional part)."""
    return any(
        (op in _REPEATS and ((arg[0] != arg[1] and arg[1] > 1) or _has_repeat(arg[2])))
        or any(_has_repeat(child) for child in _children(op, arg))
        for op, arg in items
    )


def _repeats_a_part_that(items: Any, test: Callable[[Any], bool]) -> bool:
    """Whether a repetition (of more than one), at any depth, repeats a part that `test`
    finds: one that repeats itself (`_has_repeat`), or matches a text two ways (`_ambiguous`)."""
    for op, arg in items:
        if op in _REPEATS:
            _low, high, inner = arg
            if (high > 1 and test(inner)) or _repeats_a_part_that(inner, test):
                return True
        elif any(_repeats_a_part_that(child, test) for child in _children(op, arg)):
            return True
    return False


Ranges = list[tuple[int, int]]  # the characters a part can start with, as code point ranges
_ANYTHING: Ranges = [(0, 0x10FFFF)]
_CATEGORIES: dict[Any, Ranges] = {
    sre_constants.CATEGORY_DIGIT: [(48, 57), (128, 0x10FFFF)],
    sre_constants.CATEGORY_WORD: [(48, 57), (65, 90), (95, 95), (97, 122), (128, 0x10FFFF)],
    sre_constants.CATEGORY_SPACE: [(9, 13), (28, 32), (128, 0x10FFFF)],
}
_ZERO_WIDTH = {sre_constants.AT, sre_constants.ASSERT, sre_constants.ASSERT_NOT}


def _class(items: Any) -> Ranges:
    """What a character class (`[a-z\\d]`) matches; a negated one, anything."""
    ranges: Ranges = []
    for op, arg in items:
        if op is sre_constants.NEGATE:
            return _ANYTHING
        if op is sre_constants.LITERAL:
            ranges.append((arg, arg))
        elif op is sre_constants.RANGE:
            ranges.append(arg)
        else:  # a category (\d, \w, \s and their negations)
            ranges += _CATEGORIES.get(arg, _ANYTHING)
    return ranges


def _first(items: Any) -> tuple[Ranges, bool]:
    """The characters `items` can start with, and whether it can match the empty string."""
    ranges: Ranges = []
    for op, arg in items:
        if op in _ZERO_WIDTH:
            continue
        if op is sre_constants.LITERAL:
            return [*ranges, (arg, arg)], False
        if op is sre_constants.IN:
            return ranges + _class(arg), False
        if op is sre_constants.SUBPATTERN:
            inner, empty = _first(arg[-1])
        elif op is sre_constants.BRANCH:
            parts = [_first(alternative) for alternative in arg[1]]
            inner = [r for part, _ in parts for r in part]
            empty = any(e for _, e in parts)
        elif op in _REPEATS or op is sre_constants.POSSESSIVE_REPEAT:
            inner, empty = _first(arg[2])
            empty = empty or arg[0] == 0
        else:  # ANY (.), a back reference, anything else: it could start with anything
            return ranges + _ANYTHING, False
        ranges += inner
        if not empty:
            return ranges, False
    return ranges, True


def _overlap(a: Ranges, b: Ranges) -> bool:
    return any(lo1 <= hi2 and lo2 <= hi1 for lo1, hi1 in a for lo2, hi2 in b)


def _ambiguous(body: Any) -> bool:
    """Whether a repeated `body` can match one text in more than one way: it matches the empty
    text; two alternatives of it can start alike (`(\\w|\\d)*`); or an optional part of it can
    start as the body starts (`(a|aa)*`, which `re` reads as `(a(|a))*`: is `aa` one turn or
    two?). Each such choice doubles the ways a failing match is tried."""
    while len(body) == 1 and body[0][0] is sre_constants.SUBPATTERN:
        body = body[0][1][-1]
    start, empty = _first(body)
    if empty:
        return True
    for op, arg in body:
        if op is sre_constants.BRANCH:
            firsts = [_first(alternative) for alternative in arg[1]]
            if sum(e for _, e in firsts) > 1 or any(
                _overlap(firsts[i][0], firsts[j][0])
                for i in range(len(firsts))
                for j in range(i + 1, len(firsts))
            ):
                return True
        if op not in _ZERO_WIDTH:
            part, optional = _first([(op, arg)])
            if optional and _overlap(part, start):
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
    if _repeats_a_part_that(parsed, _has_repeat):
        return (
            "repeats a part that repeats itself (like `(a+)+`), which can take exponential time "
            "on a short value; rewrite it without the nesting, or make the inner repetition "
            "possessive (`a++`) or atomic (`(?>a+)`)"
        )
    if _repeats_a_part_that(parsed, _ambiguous):
        return (
            "repeats a part that can match the same text in more than one way (like `(a|aa)*`: "
            "is `aa` one turn or two?), which can take exponential time on a short value; make "
            "its alternatives start with different characters (`a+` for `(a|aa)*`), or make the "
            "repetition possessive (`(a|aa)*+`)"
        )
    return None
