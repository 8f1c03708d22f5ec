"""Every matcher and combinator of SPEC §5, and three-valued evaluation with enrichment."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.rules import paths
from handlers.rules.match import Node, compile_when
from handlers.rules.source import Source

EVENT: dict[str, Any] = {
    "id": "0b8c7a3e-5d5f-4b7a-9f0e-2f6c1d9e8a11",
    "type": "PROCESS_ITEM.TASK_STATE_CHANGED",
    "data": {
        "processItemDefinitionCode": "LOAN_REVIEW",
        "processItemState": "COMPLETED",
        "amount": 1500,
        "ratio": 0.5,
        "flag": True,
        "nothing": None,
        "count": "10",
        "tags": ["vip", "eu"],
        "lines": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}],
    },
    "process": {"processDefinitionRef": {"code": "LOAN_APPLICATION"}},
}


def when(pattern: dict[str, Any]) -> Node:
    source = Source(data=pattern)
    node = compile_when(source, pattern, ("when",))
    assert not source.problems, source.problems
    assert node is not None
    return node


def matches(pattern: dict[str, Any], event: dict[str, Any] = EVENT) -> bool:
    return when(pattern).evaluate(event, paths.MATCH_ROOTS) is True


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        pytest.param({"type": "PROCESS_ITEM.TASK_STATE_CHANGED"}, True, id="equals"),
        pytest.param({"type": "PROCESS.CREATED"}, False, id="equals-other"),
        pytest.param({"data.amount": 1500.0}, True, id="equals-int-float"),
        pytest.param({"data.count": 10}, False, id="text-is-not-number"),
        pytest.param({"data.flag": True}, True, id="equals-bool"),
        pytest.param({"data.amount": True}, False, id="bool-is-not-number"),
        pytest.param({"data.nothing": None}, True, id="equals-null"),
        pytest.param({"data.missing": None}, False, id="null-needs-presence"),
        pytest.param({"data.processItemState": ["READY", "COMPLETED"]}, True, id="any-of"),
        pytest.param({"data.processItemState": ["READY", "CLAIMED"]}, False, id="any-of-none"),
        pytest.param(
            {"data.processItemState": ["READY", {"prefix": "COMP"}]}, True, id="mixed-list"
        ),
        pytest.param({"data.processItemDefinitionCode": {"prefix": "LOAN_"}}, True, id="prefix"),
        pytest.param(
            {"data.processItemDefinitionCode": {"prefix": "loan"}}, False, id="prefix-case"
        ),
        pytest.param({"data.amount": {"prefix": "15"}}, False, id="prefix-number"),
        pytest.param({"data.processItemDefinitionCode": {"suffix": "_REVIEW"}}, True, id="suffix"),
        pytest.param(
            {"data.processItemDefinitionCode": {"wildcard": "LOAN*W"}}, True, id="wildcard"
        ),
        pytest.param(
            {"data.processItemDefinitionCode": {"wildcard": "*OAN"}}, False, id="wildcard-end"
        ),
        pytest.param(
            {"data.processItemDefinitionCode": {"wildcard": "L?AN*"}}, False, id="wildcard-literal"
        ),
        pytest.param(
            {"data.processItemState": {"equals-ignore-case": "completed"}}, True, id="ignore-case"
        ),
        pytest.param({"data.processItemState": {"anything-but": "READY"}}, True, id="anything-but"),
        pytest.param(
            {"data.processItemState": {"anything-but": ["READY", "COMPLETED"]}},
            False,
            id="anything-but-list",
        ),
        pytest.param(
            {"data.missing": {"anything-but": "x"}}, False, id="anything-but-needs-presence"
        ),
        pytest.param(
            {"data.amount": {"numeric": [">=", 1000, "<", 2000]}}, True, id="numeric-range"
        ),
        pytest.param({"data.amount": {"numeric": [">", 1500]}}, False, id="numeric-strict"),
        pytest.param({"data.ratio": {"numeric": ["=", 0.5]}}, True, id="numeric-equals"),
        pytest.param({"data.count": {"numeric": [">", 1]}}, False, id="numeric-not-text"),
        pytest.param({"data.flag": {"numeric": [">", 0]}}, False, id="numeric-not-bool"),
        pytest.param({"data.amount": {"exists": True}}, True, id="exists"),
        pytest.param({"data.nothing": {"exists": True}}, True, id="exists-null"),
        pytest.param({"data.missing": {"exists": False}}, True, id="not-exists"),
        pytest.param({"data.amount": {"exists": False}}, False, id="not-exists-present"),
        pytest.param(
            {"data.processItemDefinitionCode": {"regex": "LOAN_[A-Z]+"}}, True, id="regex"
        ),
        pytest.param({"data.processItemDefinitionCode": {"regex": "LOAN"}}, False, id="regex-full"),
        pytest.param({"data.tags": "vip"}, True, id="list-any-element"),
        pytest.param({"data.tags.1": "eu"}, True, id="list-index"),
        pytest.param({"data.tags.5": {"exists": False}}, True, id="list-index-absent"),
        pytest.param({"data.lines.sku": {"prefix": "B-"}}, True, id="through-list"),
        pytest.param({"data.lines.0.qty": {"numeric": [">", 1]}}, True, id="index-then-key"),
        pytest.param({"any": [{"type": "X"}, {"data.amount": 1500}]}, True, id="any"),
        pytest.param({"any": [{"type": "X"}, {"data.amount": 1}]}, False, id="any-none"),
        pytest.param({"all": [{"data.amount": 1500}, {"data.flag": True}]}, True, id="all"),
        pytest.param({"not": {"data.processItemState": "READY"}}, True, id="not"),
        pytest.param({"not": {"data.processItemState": "COMPLETED"}}, False, id="not-false"),
        pytest.param(
            {
                "any": [
                    {"not": {"type": "X"}, "data.flag": False},
                    {"all": [{"data.nothing": None}]},
                ]
            },
            True,
            id="nested",
        ),
        pytest.param({"process.processDefinitionRef.code": {"prefix": "LOAN"}}, True, id="process"),
    ],
)
def test_matchers(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern) is expected


@pytest.mark.parametrize(
    ("pattern", "verdict"),
    [
        pytest.param({"type": "X", "process.state": "RUNNING"}, False, id="cheap-false-decides"),
        pytest.param(
            {"type": "PROCESS_ITEM.TASK_STATE_CHANGED", "process.state": "R"}, None, id="unknown"
        ),
        pytest.param(
            {"any": [{"type": "PROCESS_ITEM.TASK_STATE_CHANGED"}, {"process.x": 1}]},
            True,
            id="any-true",
        ),
        pytest.param({"any": [{"type": "X"}, {"process.x": 1}]}, None, id="any-unknown"),
        pytest.param({"not": {"process.x": 1}}, None, id="not-unknown"),
    ],
)
def test_enrichment_conditions_are_unknown_until_fetched(
    pattern: dict[str, Any], verdict: bool | None
) -> None:
    assert when(pattern).evaluate(EVENT, paths.EVENT_ROOTS) is verdict


def test_first_failure_names_path_expected_and_actual() -> None:
    node = when(
        {"type": "PROCESS_ITEM.TASK_STATE_CHANGED", "data.amount": {"numeric": [">", 2000]}}
    )
    assert node.first_failure(EVENT) == ("data.amount", "numeric '>' 2000", "1500")
    assert when({"data.zzz": "x"}).first_failure(EVENT) == ("data.zzz", "equals 'x'", "absent")
    assert when({"data.count": 10}).first_failure(EVENT) == ("data.count", "equals 10", "'10'")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
ALL_MATCHERS = when(
    {
        "any": [
            {"data.a": "x", "data.b": [1, "y"], "data.c": {"prefix": "p"}},
            {"data.a": {"suffix": "s"}, "data.b": {"wildcard": "a*b"}},
            {"data.a": {"equals-ignore-case": "Q"}, "data.b": {"anything-but": [1, None]}},
            {"data.a": {"numeric": [">", 0, "<=", 5]}, "data.b": {"exists": False}},
            {"data.a.0": {"regex": "[a-z]+"}, "not": {"data.c.d": True}},
        ]
    }
)


@settings(max_examples=300)
@given(data=json_values)
def test_arbitrary_json_never_crashes_the_matcher(data: Any) -> None:
    for document in ({"data": data}, data, {"data": {"a": data, "b": data, "c": data}}):
        assert ALL_MATCHERS.evaluate(document, paths.MATCH_ROOTS) in (True, False)
        ALL_MATCHERS.first_failure(document)
