"""The rule index: selective, in file order, and never drops a rule that matches."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.rules import paths
from handlers.rules.index import RuleIndex
from handlers.rules.match import Node, compile_when
from handlers.rules.source import Source


def compile_all(patterns: list[dict[str, Any]]) -> list[Node]:
    nodes = []
    for pattern in patterns:
        source = Source(data=pattern)
        node = compile_when(source, pattern, ())
        assert node is not None, source.problems
        nodes.append(node)
    return nodes


def test_lookup_is_selective_and_ordered() -> None:
    patterns: list[dict[str, Any]] = [
        {"type": "PROCESS_ITEM.CREATED", "data.processItemDefinitionCode": f"CODE_{i}"}
        for i in range(1000)
    ]
    patterns.append({"data.processItemDefinitionCode": {"prefix": "CODE_1"}})  # not indexable
    patterns.append({"type": ["PROCESS.CREATED", "PROCESS.STATE_CHANGED"]})
    index = RuleIndex(compile_all(patterns))
    event = {"type": "PROCESS_ITEM.CREATED", "data": {"processItemDefinitionCode": "CODE_17"}}
    assert index.candidates(event) == [17, 1000]
    assert index.candidates({"type": "PROCESS.STATE_CHANGED", "data": {}}) == [1000, 1001]


def test_numbers_and_booleans_meet_as_json_does() -> None:
    index = RuleIndex(compile_all([{"data.n": 1}, {"data.n": True}, {"data.n": "1"}]))
    assert index.candidates({"data": {"n": 1.0}}) == [0]
    assert index.candidates({"data": {"n": True}}) == [1]
    assert index.candidates({"data": {"n": ["x", "1"]}}) == [2]


values = st.sampled_from(["A", "B", "C", 1, 2.0, True, None])
conditions = st.dictionaries(
    st.sampled_from(["type", "data.a", "data.b", "process.c"]),
    st.one_of(values, st.lists(values, min_size=1, max_size=3), st.just({"prefix": "A"})),
    max_size=3,
)
events = st.fixed_dictionaries(
    {
        "type": values,
        "data": st.fixed_dictionaries({"a": values, "b": st.one_of(values, st.lists(values))}),
        "process": st.fixed_dictionaries({"c": values}),
    }
)


@settings(max_examples=300)
@given(patterns=st.lists(conditions, max_size=12), event=events)
def test_index_never_drops_a_matching_rule(patterns: list[dict[str, Any]], event: Any) -> None:
    nodes = compile_all(patterns)
    found = set(RuleIndex(nodes).candidates(event))
    for position, node in enumerate(nodes):
        if node.evaluate(event, paths.MATCH_ROOTS):
            assert position in found
