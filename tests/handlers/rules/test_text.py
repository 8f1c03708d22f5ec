"""Text tests an event cannot make expensive: wildcards agree with fnmatch, in linear time."""

from __future__ import annotations

import fnmatch
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.rules import evaluate
from handlers.rules.loader import load_text
from handlers.rules.text import MAX_REGEX_CHARS, regex_problem, wildcard, wildcard_matches
from tests.handlers.rules.test_loader import problems, rule


def fnmatch_star_only(pattern: str, text: str) -> bool:
    """fnmatch's answer for a pattern whose only special character is `*`."""
    escaped = "".join(c if c == "*" else re.sub(r"([\[\]?])", r"[\1]", c) for c in pattern)
    return fnmatch.fnmatchcase(text, escaped)


@settings(max_examples=2000)
@given(st.text(alphabet="ab*?[", max_size=8), st.text(alphabet="ab?[", max_size=20))
def test_wildcards_agree_with_fnmatch(pattern: str, text: str) -> None:
    assert wildcard_matches(wildcard(pattern), text) == fnmatch_star_only(pattern, text)


def test_the_adversarial_wildcard_is_linear() -> None:
    """`*a*b*c*` against 36 KB without a `c`: a backtracking regex took 24 s on this."""
    value = "ab" * 18_000
    assert not wildcard_matches(wildcard("*a*b*c*"), value)
    assert wildcard_matches(wildcard("*a*b*c*"), value + "c")
    assert not wildcard_matches(wildcard("a*a*a*a*a*a*a*a*b"), "a" * 100_000)


@pytest.mark.parametrize("pattern", ["(a+)+b", r"(\w*\s?)*$", "(x|y+)*z", "((ab)+)+"])
def test_nested_repetitions_are_refused(pattern: str) -> None:
    assert regex_problem(pattern) is not None


@pytest.mark.parametrize(
    "pattern",
    ["(a|aa)*c", "(a|a)*$", r"(\d|\d\d)*-", "(x|)*y", "(a?a)*b", r"(\w|_x)*!"],
)
def test_repeated_alternatives_that_start_alike_are_refused(pattern: str) -> None:
    problem = regex_problem(pattern)
    assert problem is not None and "exponential time" in problem


@pytest.mark.parametrize(
    "pattern",
    ["ONBOARD(ING)?_[A-Z_]+", "(ab)+", "a{2,5}", "(a|b)*c", "(?>a+)+b", "(a++)+b",
     "(a|aa)*+c", "(LOAN|CREDIT)-\\d+", "(foo|bar)+baz", "(ab?)*c", r"(\s|\S)*",
     r"(?:[A-Z]{2}-)+\d"],
)  # fmt: skip
def test_ordinary_regexes_load(pattern: str) -> None:
    assert regex_problem(pattern) is None


def test_a_slow_regex_is_a_load_error_that_says_what_to_do() -> None:
    text = rule(
        '- name: a\n  when: {data.code: {regex: "(a+)+b"}}\n'
        '  do:\n    - kuflow.complete_task: {task_id: "{{ data.id }}"}\n'
    )
    (problem,) = problems(text)
    assert "exponential time" in problem and "possessive" in problem


def test_a_regex_looks_at_no_value_longer_than_its_bound() -> None:
    rules = load_text(
        rule("- name: a\n  when: {data.code: {regex: 'a*'}}\n"
             '  do:\n    - kuflow.complete_task: {task_id: "{{ data.id }}"}\n'),
        "r.yaml",
        {},
    )  # fmt: skip

    def matches(code: str) -> bool:
        event = {"id": "x", "type": "T", "data": {"code": code}}
        doc = evaluate.document(event)
        return bool(evaluate.matched(rules, evaluate.select(rules, doc), doc))

    assert matches("a" * MAX_REGEX_CHARS)
    assert not matches("a" * (MAX_REGEX_CHARS + 1))
